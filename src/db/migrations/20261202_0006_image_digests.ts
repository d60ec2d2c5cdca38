// Evidence integrity: the SHA-256 of every stored image (computed while it streamed in). Frozen.
import type { Kysely } from 'kysely'

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDb = Kysely<any>

export async function up(db: AnyDb): Promise<void> {
  // Null only for images stored before this version.
  await db.schema.alterTable('sos_images').addColumn('sha256', 'varchar(64)').execute()
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.alterTable('sos_images').dropColumn('sha256').execute()
}
