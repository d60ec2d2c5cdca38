// The incident log: every change of an SOS as one event (global cursor + per-SOS seq), appended inside the
// transaction of the change it records, read back by SOS, across all SOS (a resuming dashboard) and as an audit trail.
import { PostgresAdapter, sql, type Kysely, type Transaction } from 'kysely'
import { prepared } from '../../db/prepared.ts'
import type { Database, SosEventRow } from '../../db/schema.ts'
import type { EventActor, LogEvent } from '../../realtime/contract.ts'
import type { Actor } from './sos.policy.ts'
import { holdsToken } from './sos.policy.ts'

type Db = Kysely<Database> | Transaction<Database>

/** Key of the advisory lock that orders event appends on PostgreSQL (any constant; "NKLOG" in ASCII). */
const EVENT_LOG_LOCK = 0x4e4b4c4f47

/** Every kind of event the log holds. */
export const EVENT_KINDS = [
  'created', 'acknowledged', 'assigned', 'accepted', 'arrived', 'escalated', 'image_added', 'edited', 'resolved', 'cancelled',
  // Trusted contacts (modules/contacts, modules/share): never a phone number in the payload.
  'contacts_added', 'share_link_added', 'share_link_revoked', 'contact_on_the_way',
] as const
export type EventKind = (typeof EVENT_KINDS)[number]

export type { EventActor }

export const SYSTEM_ACTOR: EventActor = { kind: 'system', user_id: null, role: null }

/** The actor of a request: the account if any, else the victim's device (a valid SOS token), else anyone (legacy). */
export function eventActor(actor: Actor, sos?: { sos_token_hash: string; user_id: number | null; unit_number_dispatched: string | null }): EventActor {
  if (actor.user) return { kind: 'user', user_id: actor.user.id, role: actor.user.role }
  if (actor.sosToken && (!sos || holdsToken(actor, sos))) return { kind: 'sos_token', user_id: null, role: null }
  return { kind: 'anonymous', user_id: null, role: null }
}

export function toEventDto(row: SosEventRow): LogEvent {
  let data: Record<string, unknown> = {}
  try {
    data = JSON.parse(row.payload) as Record<string, unknown>
  } catch {
    // A payload is always written by this code as JSON; an unreadable one is shown empty rather than failing the read.
  }
  return {
    cursor: row.id,
    sos_id: row.sos_request_id,
    seq: row.seq,
    kind: row.kind,
    by: { kind: row.actor_kind, user_id: row.actor_user_id, role: row.actor_role },
    at: row.created_at,
    data,
  }
}

const bumpSeq = prepared((db, sosId: number) => db.updateTable('sos_requests').set((eb) => ({ last_seq: eb('last_seq', '+', 1) })).where('id', '=', sosId).returning('last_seq'))

const insertEvent = prepared((db, sosId: number, seq: number, kind: EventKind, actorKind: EventActor['kind'], actorUserId: EventActor['user_id'], actorRole: EventActor['role'], at: string, payload: string) =>
  db
    .insertInto('sos_events')
    .values({ sos_request_id: sosId, seq, kind, actor_kind: actorKind, actor_user_id: actorUserId, actor_role: actorRole, created_at: at, payload })
    .returningAll(),
)

/**
 * PostgreSQL hands out identity values at insert, but concurrent transactions may commit in another
 * order: a reader could see cursor 11 before 10 commits and skip 10 forever. A transaction-scoped
 * advisory lock makes event appends (incident steps, not the location hot path) commit in cursor
 * order. SQLite has one writer, so its ids already are commit order.
 */
async function orderAppends(trx: Db): Promise<void> {
  if (trx.getExecutor().adapter instanceof PostgresAdapter) await sql`select pg_advisory_xact_lock(${EVENT_LOG_LOCK})`.execute(trx)
}

async function insertEventRow(trx: Db, sosId: number, seq: number, kind: EventKind, by: EventActor, at: string, data: Record<string, unknown>): Promise<SosEventRow> {
  const [row] = await insertEvent(trx, sosId, seq, kind, by.kind, by.user_id, by.role, at, JSON.stringify(data))
  if (!row) throw new Error('an event insert returned no row')
  return row
}

/**
 * Appends one event to an SOS's log. Call it inside the writer transaction of the change: bumping
 * `last_seq` takes the SOS row's lock (PostgreSQL) or runs inside the one writer (SQLite), so seq numbers
 * are gapless per SOS and the event commits (or rolls back) with the change it describes.
 */
export async function appendEvent(trx: Db, sosId: number, kind: EventKind, by: EventActor, at: string, data: Record<string, unknown> = {}): Promise<SosEventRow> {
  await orderAppends(trx)
  const [bumped] = await bumpSeq(trx, sosId)
  if (!bumped) throw new Error(`no SOS ${sosId} to append an event to`)
  return insertEventRow(trx, sosId, bumped.last_seq, kind, by, at, data)
}

/**
 * The first event (seq 1) of an SOS inserted in the same transaction with `last_seq` already 1: what
 * appendEvent would write, without the UPDATE (nobody else can see the new row before the commit).
 */
export async function appendFirstEvent(trx: Db, sos: { id: number; last_seq: number }, kind: EventKind, by: EventActor, at: string, data: Record<string, unknown> = {}): Promise<SosEventRow> {
  if (sos.last_seq !== 1) throw new Error(`appendFirstEvent needs an SOS inserted with last_seq 1, got ${sos.last_seq}`)
  await orderAppends(trx)
  return insertEventRow(trx, sos.id, 1, kind, by, at, data)
}

/** One SOS's events after `afterSeq`, in order. */
export function eventsOfSos(db: Db, sosId: number, afterSeq: number, limit: number): Promise<SosEventRow[]> {
  return db.selectFrom('sos_events').selectAll().where('sos_request_id', '=', sosId).where('seq', '>', afterSeq).orderBy('seq').limit(limit).execute()
}

export interface FeedFilter {
  /** Only the SOS of this owner (a citizen's feed). */
  ownerId?: number
  kind?: string
  actorUserId?: number
  sosId?: number
  since?: string
  until?: string
}

/** Events across all SOS after the global cursor, in cursor order (the resumable feed and the audit trail). */
export function eventFeed(db: Db, afterCursor: number, limit: number, filter: FeedFilter = {}): Promise<SosEventRow[]> {
  let query = db.selectFrom('sos_events').selectAll('sos_events').where('sos_events.id', '>', afterCursor)
  if (filter.ownerId !== undefined) {
    const owner = filter.ownerId
    query = query.where((eb) => eb.exists(eb.selectFrom('sos_requests').select('sos_requests.id').whereRef('sos_requests.id', '=', 'sos_events.sos_request_id').where('sos_requests.user_id', '=', owner)))
  }
  if (filter.kind !== undefined) query = query.where('sos_events.kind', '=', filter.kind)
  if (filter.actorUserId !== undefined) query = query.where('sos_events.actor_user_id', '=', filter.actorUserId)
  if (filter.sosId !== undefined) query = query.where('sos_events.sos_request_id', '=', filter.sosId)
  if (filter.since !== undefined) query = query.where('sos_events.created_at', '>=', filter.since)
  if (filter.until !== undefined) query = query.where('sos_events.created_at', '<', filter.until)
  return query.orderBy('sos_events.id').limit(limit).execute()
}

/** The newest cursor (0 when the log is empty): where a client that has everything starts. */
export async function latestCursor(db: Db): Promise<number> {
  const row = await db.selectFrom('sos_events').select((eb) => eb.fn.max('id').as('max')).executeTakeFirst()
  return Number(row?.max ?? 0)
}
