// Initial schema: users, tokens, SOS requests with their locations, assignments and images,
// officers' last positions, settings. Frozen: later changes go in new migration files.
import { PostgresAdapter, type Kysely, type CreateTableBuilder } from 'kysely'

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDb = Kysely<any>

function isPostgres(db: AnyDb): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter
}

// SQLite: INTEGER PRIMARY KEY AUTOINCREMENT (ids never reused); PostgreSQL: an identity column.
function withId<T extends string>(table: CreateTableBuilder<T>, pg: boolean): CreateTableBuilder<T, 'id'> {
  return pg
    ? table.addColumn('id', 'integer', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    : table.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
}

export async function up(db: AnyDb): Promise<void> {
  const pg = isPostgres(db)

  await withId(db.schema.createTable('users'), pg)
    .addColumn('username', 'varchar(150)', (c) => c.notNull().unique())
    .addColumn('email', 'varchar(254)', (c) => c.notNull().defaultTo(''))
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .addColumn('role', 'varchar(20)', (c) => c.notNull())
    .addColumn('unit_number', 'varchar(50)')
    .addColumn('is_active', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .execute()

  await withId(db.schema.createTable('api_tokens'), pg)
    .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('token_hash', 'varchar(64)', (c) => c.notNull().unique())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('api_tokens_user_id_idx').on('api_tokens').column('user_id').execute()

  await withId(db.schema.createTable('sos_requests'), pg)
    .addColumn('user_id', 'integer', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('sos_type', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('status', 'varchar(20)', (c) => c.notNull())
    .addColumn('status_flag', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('acknowledged_flag', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('initial_latitude', 'double precision', (c) => c.notNull())
    .addColumn('initial_longitude', 'double precision', (c) => c.notNull())
    .addColumn('unit_number_dispatched', 'varchar(50)')
    .addColumn('room_id', 'varchar(36)', (c) => c.notNull().unique())
    .addColumn('sos_token_hash', 'varchar(64)', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('sos_requests_user_id_idx').on('sos_requests').column('user_id').execute()
  await db.schema.createIndex('sos_requests_status_idx').on('sos_requests').column('status').execute()

  await withId(db.schema.createTable('location_updates'), pg)
    .addColumn('sos_request_id', 'integer', (c) => c.notNull().references('sos_requests.id').onDelete('cascade'))
    .addColumn('latitude', 'double precision', (c) => c.notNull())
    .addColumn('longitude', 'double precision', (c) => c.notNull())
    .addColumn('timestamp', 'varchar(32)', (c) => c.notNull())
    .execute()
  await db.schema
    .createIndex('location_updates_sos_ts_idx')
    .on('location_updates')
    .columns(['sos_request_id', 'timestamp', 'id'])
    .execute()

  await withId(db.schema.createTable('officer_assignments'), pg)
    .addColumn('sos_request_id', 'integer', (c) => c.notNull().references('sos_requests.id').onDelete('cascade'))
    .addColumn('officer_name', 'varchar(255)', (c) => c.notNull())
    .addColumn('unit_number', 'varchar(50)', (c) => c.notNull())
    .addColumn('assigned_by', 'integer', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('assigned_at', 'varchar(32)', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('officer_assignments_sos_idx').on('officer_assignments').column('sos_request_id').execute()

  await withId(db.schema.createTable('sos_images'), pg)
    .addColumn('sos_request_id', 'integer', (c) => c.notNull().references('sos_requests.id').onDelete('cascade'))
    .addColumn('image', 'varchar(255)', (c) => c.notNull().unique())
    .addColumn('content_type', 'varchar(50)', (c) => c.notNull())
    .addColumn('size_bytes', 'integer', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('uploaded_at', 'varchar(32)', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('sos_images_sos_idx').on('sos_images').column('sos_request_id').execute()

  await db.schema
    .createTable('unit_locations')
    .addColumn('unit_number', 'varchar(50)', (c) => c.primaryKey())
    .addColumn('latitude', 'double precision', (c) => c.notNull())
    .addColumn('longitude', 'double precision', (c) => c.notNull())
    .addColumn('timestamp', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_by', 'integer', (c) => c.references('users.id').onDelete('set null'))
    .execute()

  await db.schema
    .createTable('app_settings')
    .addColumn('key', 'varchar(100)', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .execute()
}

export async function down(db: AnyDb): Promise<void> {
  for (const table of ['app_settings', 'unit_locations', 'sos_images', 'officer_assignments', 'location_updates', 'sos_requests', 'api_tokens', 'users']) {
    await db.schema.dropTable(table).execute()
  }
}
