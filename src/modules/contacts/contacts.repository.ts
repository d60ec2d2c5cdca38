// SQL for an account's contacts and the contacts of each SOS. Every function takes the Kysely or a transaction first.
import type { Insertable, Kysely, Transaction } from 'kysely'
import type { ContactRow, ContactsTable, Database, SosContactRow, SosContactsTable } from '../../db/schema.ts'

type Db = Kysely<Database> | Transaction<Database>

/** Priority first (1 is alerted first), then the order they were added. */
export function contactsOf(db: Db, userId: number): Promise<ContactRow[]> {
  return db.selectFrom('contacts').selectAll().where('user_id', '=', userId).orderBy('priority').orderBy('id').execute()
}

export function findContact(db: Db, userId: number, id: number): Promise<ContactRow | undefined> {
  return db.selectFrom('contacts').selectAll().where('id', '=', id).where('user_id', '=', userId).executeTakeFirst()
}

export function insertContact(db: Db, row: Insertable<ContactsTable>): Promise<ContactRow> {
  return db.insertInto('contacts').values(row).returningAll().executeTakeFirstOrThrow()
}

export function updateContact(db: Db, userId: number, id: number, changes: Partial<Insertable<ContactsTable>>): Promise<ContactRow | undefined> {
  return db.updateTable('contacts').set(changes).where('id', '=', id).where('user_id', '=', userId).returningAll().executeTakeFirst()
}

export async function deleteContact(db: Db, userId: number, id: number): Promise<boolean> {
  const result = await db.deleteFrom('contacts').where('id', '=', id).where('user_id', '=', userId).executeTakeFirst()
  return Number(result.numDeletedRows) > 0
}

export function contactsOfSos(db: Db, sosId: number): Promise<SosContactRow[]> {
  return db.selectFrom('sos_contacts').selectAll().where('sos_request_id', '=', sosId).orderBy('priority').orderBy('id').execute()
}

export async function insertSosContacts(db: Db, rows: Insertable<SosContactsTable>[]): Promise<SosContactRow[]> {
  if (rows.length === 0) return []
  return db.insertInto('sos_contacts').values(rows).returningAll().execute()
}
