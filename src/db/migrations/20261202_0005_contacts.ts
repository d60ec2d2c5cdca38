// Trusted contacts (issue 12): an account's contacts, the contacts of each SOS, live-tracking share links
// (token hashes only) and the durable notification outbox (SMS and webhooks). Frozen.
import { PostgresAdapter, type CreateTableBuilder, type Kysely } from 'kysely'

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDb = Kysely<any>

function withId<T extends string>(table: CreateTableBuilder<T>, pg: boolean): CreateTableBuilder<T, 'id'> {
  return pg
    ? table.addColumn('id', 'integer', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    : table.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
}

export async function up(db: AnyDb): Promise<void> {
  const pg = db.getExecutor().adapter instanceof PostgresAdapter

  // A signed-in citizen's contacts, kept on the server (the original app kept them on the phone only).
  await withId(db.schema.createTable('contacts'), pg)
    .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('phone', 'varchar(16)', (c) => c.notNull())
    .addColumn('email', 'varchar(254)')
    .addColumn('priority', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .addUniqueConstraint('contacts_user_phone_unique', ['user_id', 'phone'])
    .execute()

  // The contacts of one SOS: copied from the account at creation (later edits of the account list do not
  // change who an SOS alerted), named in the create request, or added later with the SOS token.
  await withId(db.schema.createTable('sos_contacts'), pg)
    .addColumn('sos_request_id', 'integer', (c) => c.notNull().references('sos_requests.id').onDelete('cascade'))
    .addColumn('contact_id', 'integer', (c) => c.references('contacts.id').onDelete('set null'))
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('phone', 'varchar(16)', (c) => c.notNull())
    .addColumn('email', 'varchar(254)')
    .addColumn('priority', 'integer', (c) => c.notNull())
    .addColumn('source', 'varchar(10)', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addUniqueConstraint('sos_contacts_sos_phone_unique', ['sos_request_id', 'phone'])
    .execute()

  await withId(db.schema.createTable('share_links'), pg)
    .addColumn('sos_request_id', 'integer', (c) => c.notNull().references('sos_requests.id').onDelete('cascade'))
    .addColumn('sos_contact_id', 'integer', (c) => c.references('sos_contacts.id').onDelete('set null'))
    .addColumn('label', 'varchar(255)', (c) => c.notNull())
    // SHA-256 (hex) of the link token; the token itself is never stored.
    .addColumn('token_hash', 'varchar(64)', (c) => c.notNull().unique())
    // Random per link: with the server's key it re-derives the token when a message is (re)sent.
    .addColumn('token_salt', 'varchar(64)', (c) => c.notNull())
    .addColumn('created_by', 'varchar(12)', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('expires_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('revoked_at', 'varchar(32)')
    .addColumn('on_the_way_at', 'varchar(32)')
    .execute()
  await db.schema.createIndex('share_links_sos_idx').on('share_links').column('sos_request_id').execute()

  // The outbox: one row per message, written in the transaction of the change that causes it, sent by the
  // dispatcher job (jobs/outbox.job.ts), which claims a row by a conditional UPDATE of `attempts`.
  await withId(db.schema.createTable('outbox'), pg)
    .addColumn('sos_request_id', 'integer', (c) => c.references('sos_requests.id').onDelete('cascade'))
    .addColumn('channel', 'varchar(10)', (c) => c.notNull())
    .addColumn('kind', 'varchar(10)', (c) => c.notNull())
    // Stable across retries and restarts: the dedup key handed to the provider / the webhook-id.
    .addColumn('message_id', 'varchar(64)', (c) => c.notNull().unique())
    .addColumn('recipient', 'text', (c) => c.notNull())
    .addColumn('sos_contact_id', 'integer', (c) => c.references('sos_contacts.id').onDelete('set null'))
    .addColumn('share_link_id', 'integer', (c) => c.references('share_links.id').onDelete('set null'))
    // A closing message waits for the alert it follows (and is dropped if that alert never went out).
    .addColumn('follows_id', 'integer')
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('status', 'varchar(16)', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('not_before', 'varchar(32)', (c) => c.notNull())
    .addColumn('claimed_until', 'varchar(32)')
    .addColumn('last_error', 'text')
    .addColumn('provider_ref', 'varchar(64)')
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('sent_at', 'varchar(32)')
    .execute()
  await db.schema.createIndex('outbox_due_idx').on('outbox').columns(['status', 'not_before']).execute()
  await db.schema.createIndex('outbox_sos_idx').on('outbox').column('sos_request_id').execute()
}

export async function down(db: AnyDb): Promise<void> {
  await db.schema.dropTable('outbox').execute()
  await db.schema.dropTable('share_links').execute()
  await db.schema.dropTable('sos_contacts').execute()
  await db.schema.dropTable('contacts').execute()
}
