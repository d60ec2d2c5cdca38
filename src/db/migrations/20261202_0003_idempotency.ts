// Retry-safe creates: one row per Idempotency-Key (or socket client_request_id) of a create, holding only
// hashes and a random salt, never the key or the SOS token. Frozen.
import type { Kysely } from 'kysely'

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDb = Kysely<any>

export async function up(db: AnyDb): Promise<void> {
  await db.schema
    .createTable('idempotency_keys')
    // SHA-256 (hex) of (operation, caller scope, key). Its primary key is what decides two racing
    // first attempts: the second INSERT fails (or waits for the first to commit, then fails).
    .addColumn('key_hash', 'varchar(64)', (c) => c.notNull())
    // SHA-256 (hex) of the canonical request: the same key with another request is refused.
    .addColumn('request_hash', 'varchar(64)', (c) => c.notNull())
    .addColumn('sos_request_id', 'integer', (c) => c.notNull().references('sos_requests.id').onDelete('cascade'))
    // Random, per row: with the key (which only the client has) it derives the SOS token again.
    .addColumn('token_salt', 'varchar(64)', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('expires_at', 'varchar(32)', (c) => c.notNull())
    .addPrimaryKeyConstraint('idempotency_keys_pkey', ['key_hash'])
    .execute()
  await db.schema.createIndex('idempotency_keys_expires_idx').on('idempotency_keys').column('expires_at').execute()
  await db.schema.createIndex('idempotency_keys_sos_idx').on('idempotency_keys').column('sos_request_id').execute()
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.dropTable('idempotency_keys').execute()
}
