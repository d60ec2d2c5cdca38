// SQL for live-tracking links. Every function takes the Kysely instance or a transaction first.
import type { Insertable, Kysely, Transaction } from 'kysely'
import type { Database, ShareLinkRow, ShareLinksTable } from '../../db/schema.ts'

type Db = Kysely<Database> | Transaction<Database>

export function insertLink(db: Db, row: Insertable<ShareLinksTable>): Promise<ShareLinkRow> {
  return db.insertInto('share_links').values(row).returningAll().executeTakeFirstOrThrow()
}

export function findByHash(db: Db, hash: string): Promise<ShareLinkRow | undefined> {
  return db.selectFrom('share_links').selectAll().where('token_hash', '=', hash).executeTakeFirst()
}

export function findById(db: Db, id: number): Promise<ShareLinkRow | undefined> {
  return db.selectFrom('share_links').selectAll().where('id', '=', id).executeTakeFirst()
}

export function linksOfSos(db: Db, sosId: number): Promise<Array<ShareLinkRow & { contact_name: string | null }>> {
  return db
    .selectFrom('share_links')
    .leftJoin('sos_contacts', 'sos_contacts.id', 'share_links.sos_contact_id')
    .selectAll('share_links')
    .select('sos_contacts.name as contact_name')
    .where('share_links.sos_request_id', '=', sosId)
    .orderBy('share_links.id')
    .execute()
}

export function countLinks(db: Db, sosId: number): Promise<number> {
  return db
    .selectFrom('share_links')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('sos_request_id', '=', sosId)
    .executeTakeFirstOrThrow()
    .then((row) => Number(row.n))
}

/** Revokes a link of this SOS once (the condition decides a race; a second revoke changes nothing). */
export function revoke(db: Db, sosId: number, id: number, now: string): Promise<ShareLinkRow | undefined> {
  return db.updateTable('share_links').set({ revoked_at: now }).where('id', '=', id).where('sos_request_id', '=', sosId).where('revoked_at', 'is', null).returningAll().executeTakeFirst()
}

export function markOnTheWay(db: Db, id: number, now: string): Promise<ShareLinkRow | undefined> {
  return db.updateTable('share_links').set({ on_the_way_at: now }).where('id', '=', id).where('on_the_way_at', 'is', null).returningAll().executeTakeFirst()
}

export function linkStates(db: Db, ids: number[]): Promise<Array<Pick<ShareLinkRow, 'id' | 'revoked_at' | 'expires_at' | 'on_the_way_at'>>> {
  if (ids.length === 0) return Promise.resolve([])
  return db.selectFrom('share_links').select(['id', 'revoked_at', 'expires_at', 'on_the_way_at']).where('id', 'in', ids).execute()
}
