// The outbox's SQL: rows are written by the module causing a message (inside its own transaction) and claimed,
// marked and listed by the dispatcher (jobs/outbox.job.ts). Every function takes the Kysely or a transaction first.
import crypto from 'node:crypto'
import type { Kysely, Transaction } from 'kysely'
import type { Database, NewOutbox, OutboxRow, OutboxStatus } from '../db/schema.ts'

type Db = Kysely<Database> | Transaction<Database>

/** States in which a row still waits for a (next) try. */
export const PENDING: OutboxStatus[] = ['queued', 'failed']
/** States a row never leaves. */
export const FINAL: OutboxStatus[] = ['sent', 'dead', 'not_configured', 'cancelled']

/** A fresh message id: the dedup key a provider (or a webhook receiver) sees on every try of one message. */
export function newMessageId(prefix = 'msg'): string {
  return `${prefix}_${crypto.randomUUID().replaceAll('-', '')}`
}

export type OutboxInsert = Omit<NewOutbox, 'status' | 'attempts' | 'created_at' | 'updated_at' | 'claimed_until' | 'last_error' | 'provider_ref' | 'sent_at'>

export async function enqueue(trx: Db, rows: OutboxInsert[], now: string): Promise<OutboxRow[]> {
  if (rows.length === 0) return []
  return trx
    .insertInto('outbox')
    .values(rows.map((row) => ({ ...row, status: 'queued' as const, created_at: now, updated_at: now })))
    .returningAll()
    .execute()
}

/**
 * Rows due now: waiting ones whose `not_before` has come, and `sending` ones whose lease ran out (the node
 * that claimed them died between claim and mark). A closing message waits until the alert it follows is done.
 */
export function dueRows(db: Db, now: string, limit: number): Promise<OutboxRow[]> {
  return db
    .selectFrom('outbox')
    .selectAll('outbox')
    .where((eb) =>
      eb.or([
        eb.and([eb('status', 'in', PENDING), eb('not_before', '<=', now)]),
        eb.and([eb('status', '=', 'sending'), eb('claimed_until', '<', now)]),
      ]),
    )
    .where((eb) =>
      eb.or([
        eb('follows_id', 'is', null),
        eb.exists(eb.selectFrom('outbox as f').select('f.id').whereRef('f.id', '=', 'outbox.follows_id').where('f.status', 'in', FINAL)),
      ]),
    )
    .orderBy('not_before')
    .orderBy('id')
    .limit(limit)
    .execute()
}

/**
 * Claims one row for one try: moves it to `sending` with a lease, but only if it is still exactly as this
 * node read it (`attempts` goes up by one with every claim, so it acts as the row's version). Of several
 * nodes racing for a row, one gets it; the others' UPDATE matches nothing. Works alike on SQLite and PostgreSQL.
 */
export function claim(db: Db, row: OutboxRow, leaseUntil: string, now: string): Promise<OutboxRow | undefined> {
  return db
    .updateTable('outbox')
    .set({ status: 'sending', attempts: row.attempts + 1, claimed_until: leaseUntil, updated_at: now })
    .where('id', '=', row.id)
    .where('attempts', '=', row.attempts)
    .where('status', '=', row.status)
    .returningAll()
    .executeTakeFirst()
}

export interface Outcome {
  status: OutboxStatus
  last_error?: string | null
  provider_ref?: string | null
  not_before?: string
  sent_at?: string | null
}

/** Records a try's outcome, only while this node's claim holds (same attempts, still sending). */
export async function settle(db: Db, claimed: OutboxRow, outcome: Outcome, now: string): Promise<boolean> {
  const result = await db
    .updateTable('outbox')
    .set({ ...outcome, claimed_until: null, updated_at: now })
    .where('id', '=', claimed.id)
    .where('attempts', '=', claimed.attempts)
    .where('status', '=', 'sending')
    .executeTakeFirst()
  return Number(result.numUpdatedRows) > 0
}

/** Cancels the messages of `kind` for one SOS that nobody has started to send yet (the SOS closed first). */
export async function cancelPending(trx: Db, sosId: number, kind: OutboxRow['kind'], reason: string, now: string): Promise<number> {
  const result = await trx
    .updateTable('outbox')
    .set({ status: 'cancelled', last_error: reason, updated_at: now })
    .where('sos_request_id', '=', sosId)
    .where('kind', '=', kind)
    .where('status', 'in', PENDING)
    .executeTakeFirst()
  return Number(result.numUpdatedRows)
}

export function rowsOfSos(db: Db, sosId: number, channel: OutboxRow['channel'] | undefined, limit: number): Promise<OutboxRow[]> {
  let query = db.selectFrom('outbox').selectAll().where('sos_request_id', '=', sosId)
  if (channel) query = query.where('channel', '=', channel)
  return query.orderBy('id').limit(limit).execute()
}

export function findRow(db: Db, id: number): Promise<OutboxRow | undefined> {
  return db.selectFrom('outbox').selectAll().where('id', '=', id).executeTakeFirst()
}
