// Applies the frozen migrations in order; throws (so the CLI exits non-zero) on any failure.
import { Migrator, PostgresAdapter, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely'
import * as initial from './migrations/20261123_0001_initial.ts'
import * as incidentLog from './migrations/20261202_0002_incident_log.ts'
import * as idempotency from './migrations/20261202_0003_idempotency.ts'
import * as unitPositions from './migrations/20261202_0004_unit_positions.ts'
import * as contacts from './migrations/20261202_0005_contacts.ts'
import * as imageDigests from './migrations/20261202_0006_image_digests.ts'
import type { Database } from './schema.ts'

// Listed explicitly (not read from disk) so the set is the same under tsx, a bundle or a test.
const MIGRATIONS: Record<string, Migration> = {
  '20261123_0001_initial': initial,
  '20261202_0002_incident_log': incidentLog,
  '20261202_0003_idempotency': idempotency,
  '20261202_0004_unit_positions': unitPositions,
  '20261202_0005_contacts': contacts,
  '20261202_0006_image_digests': imageDigests,
}

const provider: MigrationProvider = { getMigrations: async () => MIGRATIONS }

export async function migrateToLatest(db: Kysely<Database>): Promise<string[]> {
  // A migration may rightly run for minutes (an index on a big table): on PostgreSQL it runs on one
  // connection with the serving statement timeout lifted, restored before the connection goes back.
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return migrate(db)
  return db.connection().execute(async (conn) => {
    await sql`set statement_timeout = 0`.execute(conn)
    try {
      return await migrate(conn)
    } finally {
      await sql`reset statement_timeout`.execute(conn)
    }
  })
}

async function migrate(db: Kysely<Database>): Promise<string[]> {
  const migrator = new Migrator({ db, provider })
  const { error, results } = await migrator.migrateToLatest()
  const failed = results?.find((r) => r.status === 'Error')
  if (error || failed) {
    const reason = error instanceof Error ? error.message : String(error ?? 'unknown error')
    throw new Error(`migration ${failed?.migrationName ?? ''} failed: ${reason}`)
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName)
}
