// The incident: the full lifecycle (responding, on_scene, outcome), one event log with a global cursor and a
// per-SOS sequence, escalation state, and phone-side times/accuracy on location points. Frozen.
import { PostgresAdapter, sql, type Kysely } from 'kysely'

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDb = Kysely<any>

export async function up(db: AnyDb): Promise<void> {
  const pg = db.getExecutor().adapter instanceof PostgresAdapter

  for (const [column, type] of [
    ['outcome', 'varchar(20)'],
    ['resolution_note', 'text'],
    ['cancel_reason', 'text'],
    ['acknowledged_at', 'varchar(32)'],
    ['dispatched_at', 'varchar(32)'],
    ['accepted_at', 'varchar(32)'],
    ['arrived_at', 'varchar(32)'],
    ['closed_at', 'varchar(32)'],
    // Escalation: the next moment a job should look at this SOS, and the level it reached.
    ['next_escalation_at', 'varchar(32)'],
  ] as const) {
    await db.schema.alterTable('sos_requests').addColumn(column, type).execute()
  }
  await db.schema.alterTable('sos_requests').addColumn('escalation_level', 'integer', (c) => c.notNull().defaultTo(0)).execute()
  // The per-SOS sequence: bumped in the same transaction as each event it numbers.
  await db.schema.alterTable('sos_requests').addColumn('last_seq', 'integer', (c) => c.notNull().defaultTo(0)).execute()
  await db.schema.createIndex('sos_requests_escalation_idx').on('sos_requests').columns(['next_escalation_at']).execute()

  const events = pg
    ? db.schema.createTable('sos_events').addColumn('id', 'integer', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    : db.schema.createTable('sos_events').addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
  await events
    .addColumn('sos_request_id', 'integer', (c) => c.notNull().references('sos_requests.id').onDelete('cascade'))
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('kind', 'varchar(30)', (c) => c.notNull())
    .addColumn('actor_kind', 'varchar(12)', (c) => c.notNull())
    .addColumn('actor_user_id', 'integer', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('actor_role', 'varchar(20)')
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull().defaultTo('{}'))
    .addUniqueConstraint('sos_events_sos_seq_unique', ['sos_request_id', 'seq'])
    .execute()
  await db.schema.createIndex('sos_events_created_idx').on('sos_events').column('created_at').execute()
  await db.schema.createIndex('sos_events_actor_idx').on('sos_events').column('actor_user_id').execute()
  await db.schema.createIndex('sos_events_kind_idx').on('sos_events').column('kind').execute()

  // Every existing SOS gets its `created` event (and its close, if closed), so every SOS has a log.
  await sql`
    INSERT INTO sos_events (sos_request_id, seq, kind, actor_kind, actor_user_id, actor_role, created_at, payload)
    SELECT id, 1, 'created', 'system', NULL, NULL, created_at, '{"migrated":true}' FROM sos_requests
  `.execute(db)
  await sql`UPDATE sos_requests SET last_seq = 1`.execute(db)

  // Phone-side time and accuracy. `timestamp` stays the point's time (the phone's when it sent one);
  // `received_at` is when the server stored it; `client_time` marks points whose time came from the
  // phone, which are de-duplicated on (SOS, time).
  await db.schema.alterTable('location_updates').addColumn('accuracy', 'double precision').execute()
  await db.schema.alterTable('location_updates').addColumn('received_at', 'varchar(32)').execute()
  await db.schema.alterTable('location_updates').addColumn('client_time', 'integer', (c) => c.notNull().defaultTo(0)).execute()
  await sql`UPDATE location_updates SET received_at = timestamp`.execute(db)
  await db.schema
    .createIndex('location_updates_client_time_unique')
    .on('location_updates')
    .columns(['sos_request_id', 'timestamp'])
    .unique()
    .where(sql.ref('client_time'), '=', 1)
    .execute()
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.dropIndex('location_updates_client_time_unique').execute()
  for (const column of ['client_time', 'received_at', 'accuracy']) await db.schema.alterTable('location_updates').dropColumn(column).execute()
  await db.schema.dropTable('sos_events').execute()
  await db.schema.dropIndex('sos_requests_escalation_idx').execute()
  for (const column of ['last_seq', 'escalation_level', 'next_escalation_at', 'closed_at', 'arrived_at', 'accepted_at', 'dispatched_at', 'acknowledged_at', 'cancel_reason', 'resolution_note', 'outcome']) {
    await db.schema.alterTable('sos_requests').dropColumn(column).execute()
  }
}
