// Officers' side: a bounded recent history of every unit's reported positions, and the indexes that let the
// units list and the nearest-unit search find officers, dispatches and busy units without scanning. Frozen.
import { PostgresAdapter, type Kysely } from 'kysely'

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDb = Kysely<any>

export async function up(db: AnyDb): Promise<void> {
  const pg = db.getExecutor().adapter instanceof PostgresAdapter

  // One row per report (socket `officer_location_update` or REST), written in the same transaction as the
  // unit's last-position upsert and trimmed there to the newest N per unit. `timestamp` is the fix's time
  // (the phone's, when it sent one), `received_at` when the server stored it.
  const history = pg
    ? db.schema.createTable('unit_location_history').addColumn('id', 'integer', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    : db.schema.createTable('unit_location_history').addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
  await history
    .addColumn('unit_number', 'varchar(50)', (c) => c.notNull())
    .addColumn('latitude', 'double precision', (c) => c.notNull())
    .addColumn('longitude', 'double precision', (c) => c.notNull())
    .addColumn('timestamp', 'varchar(32)', (c) => c.notNull())
    .addColumn('received_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_by', 'integer', (c) => c.references('users.id').onDelete('set null'))
    .execute()
  // Reads and the trim walk one unit's rows newest first (ids grow in the order reports are stored).
  await db.schema.createIndex('unit_location_history_unit_idx').on('unit_location_history').columns(['unit_number', 'id']).execute()

  // The units a system knows: officers' units, dispatched units (current and past), busy units.
  await db.schema.createIndex('users_unit_number_idx').on('users').column('unit_number').execute()
  await db.schema.createIndex('sos_requests_unit_idx').on('sos_requests').columns(['unit_number_dispatched', 'status']).execute()
  await db.schema.createIndex('officer_assignments_unit_idx').on('officer_assignments').column('unit_number').execute()
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.dropIndex('officer_assignments_unit_idx').execute()
  await db.schema.dropIndex('sos_requests_unit_idx').execute()
  await db.schema.dropIndex('users_unit_number_idx').execute()
  await db.schema.dropTable('unit_location_history').execute()
}
