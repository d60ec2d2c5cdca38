// SQL for SOS requests and their children. Every function takes the Kysely instance or a transaction first.
import { sql, type Kysely } from 'kysely'
import { prepared } from '../../db/prepared.ts'
import type { AssignmentRow, Database, IdempotencyKeyRow, ImageRow, LocationRow, NewSos, SosRow, SosStatus, SosUpdate } from '../../db/schema.ts'

type Db = Kysely<Database>

import { OPEN_STATUSES } from './sos.lifecycle.ts'

export { OPEN_STATUSES }

/** Every column an SOS is inserted with (all but the id): one fixed statement, prepared once. */
const SOS_INSERT_COLUMNS = [
  'user_id', 'name', 'sos_type', 'status', 'status_flag', 'acknowledged_flag', 'initial_latitude', 'initial_longitude', 'unit_number_dispatched',
  'room_id', 'sos_token_hash', 'created_at', 'updated_at', 'outcome', 'resolution_note', 'cancel_reason', 'acknowledged_at', 'dispatched_at',
  'accepted_at', 'arrived_at', 'closed_at', 'next_escalation_at', 'escalation_level', 'last_seq',
] as const satisfies ReadonlyArray<keyof NewSos>

/** A new SOS with every column given (the counters too), so that its INSERT is always the same statement. */
export type NewSosRow = { [K in (typeof SOS_INSERT_COLUMNS)[number]]-?: Exclude<NewSos[K], undefined> }

const insertSosRow = prepared((db, ...values: unknown[]) =>
  db
    .insertInto('sos_requests')
    .values(Object.fromEntries(SOS_INSERT_COLUMNS.map((column, i) => [column, values[i]])) as unknown as NewSos)
    .returningAll(),
)

export async function insertSos(db: Db, sos: NewSosRow): Promise<SosRow> {
  const [row] = await insertSosRow(db, ...SOS_INSERT_COLUMNS.map((column) => sos[column]))
  if (!row) throw new Error('an SOS insert returned no row')
  return row
}

const sosById = prepared((db, id: number) => db.selectFrom('sos_requests').selectAll().where('id', '=', id))

export async function findSosById(db: Db, id: number): Promise<SosRow | undefined> {
  return (await sosById(db, id))[0]
}

export function findSosByRoomId(db: Db, roomId: string): Promise<SosRow | undefined> {
  return db.selectFrom('sos_requests').selectAll().where('room_id', '=', roomId).executeTakeFirst()
}

export interface ListFilter {
  userId?: number
  limit?: number
  offset?: number
}

/** Newest first; `userId` limits the list to one owner's SOS; `limit`/`offset` page it. */
export function listSos(db: Db, filter: ListFilter = {}): Promise<SosRow[]> {
  let query = db.selectFrom('sos_requests').selectAll()
  if (filter.userId !== undefined) query = query.where('user_id', '=', filter.userId)
  query = query.orderBy('created_at', 'desc').orderBy('id', 'desc')
  if (filter.limit !== undefined) query = query.limit(filter.limit).offset(filter.offset ?? 0)
  return query.execute()
}

/** Open SOS (active, acknowledged, dispatched), newest first. */
export function listOpenSos(db: Db, limit: number): Promise<SosRow[]> {
  return db.selectFrom('sos_requests').selectAll().where('status', 'in', OPEN_STATUSES).orderBy('id', 'desc').limit(limit).execute()
}

export async function countSos(db: Db, filter: { userId?: number } = {}): Promise<number> {
  let query = db.selectFrom('sos_requests').select((eb) => eb.fn.countAll<number>().as('n'))
  if (filter.userId !== undefined) query = query.where('user_id', '=', filter.userId)
  return Number((await query.executeTakeFirstOrThrow()).n)
}

const LOCATION_COLUMNS = ['id', 'sos_request_id', 'latitude', 'longitude', 'timestamp', 'accuracy', 'received_at', 'client_time'] as const

/**
 * The newest `perSos` points of each SOS, oldest first within each. A big incident can hold 100,000
 * points; reads embed a bounded window and the full history is paged by locationsPage().
 */
export function recentLocationsFor(db: Db, sosIds: number[], perSos: number): Promise<LocationRow[]> {
  if (sosIds.length === 0) return Promise.resolve([])
  const ranked = db
    .selectFrom('location_updates')
    .select(LOCATION_COLUMNS)
    .select(sql<number>`row_number() over (partition by sos_request_id order by timestamp desc, id desc)`.as('recency'))
    .where('sos_request_id', 'in', sosIds)
    .as('ranked')
  return db
    .selectFrom(ranked)
    .select(LOCATION_COLUMNS)
    .where('recency', '<=', perSos)
    .orderBy('sos_request_id')
    .orderBy('timestamp')
    .orderBy('id')
    .execute()
}

export async function locationCounts(db: Db, sosIds: number[]): Promise<Map<number, number>> {
  if (sosIds.length === 0) return new Map()
  const rows = await db
    .selectFrom('location_updates')
    .select(['sos_request_id', (eb) => eb.fn.countAll<number>().as('n')])
    .where('sos_request_id', 'in', sosIds)
    .groupBy('sos_request_id')
    .execute()
  return new Map(rows.map((row) => [row.sos_request_id, Number(row.n)]))
}

/** Where a page of locationsPage() starts: after this point in (timestamp, id) order; null from the start. */
export interface LocationCursor {
  timestamp: string
  id: number
}

/**
 * One page of an SOS's full history in the fix's own order, (timestamp, id): the phone's time first, then
 * storage order among equal times. Keyset paging on the (sos_request_id, timestamp, id) index.
 */
export function locationsPage(db: Db, sosId: number, after: LocationCursor | null, limit: number): Promise<LocationRow[]> {
  let query = db.selectFrom('location_updates').selectAll().where('sos_request_id', '=', sosId)
  if (after) query = query.where((eb) => eb(eb.refTuple('timestamp', 'id'), '>', eb.tuple(after.timestamp, after.id)))
  return query.orderBy('timestamp').orderBy('id').limit(limit).execute()
}

/**
 * One page in storage order (by id), after the point with id `afterId`: for a client resuming "what
 * arrived since". Per SOS, ids follow commit order on both databases: every insert of a point first
 * takes the SOS row (touchOpenSos), so two writers of one SOS never overlap.
 */
export function locationsPageByReceipt(db: Db, sosId: number, afterId: number, limit: number): Promise<LocationRow[]> {
  return db
    .selectFrom('location_updates')
    .selectAll()
    .where('sos_request_id', '=', sosId)
    .where('id', '>', afterId)
    .orderBy('id')
    .limit(limit)
    .execute()
}

/** One point of one SOS (a paging cursor), or undefined. */
export function findLocation(db: Db, sosId: number, id: number): Promise<LocationRow | undefined> {
  return db.selectFrom('location_updates').selectAll().where('id', '=', id).where('sos_request_id', '=', sosId).executeTakeFirst()
}

export function assignmentsFor(db: Db, sosIds: number[]): Promise<AssignmentRow[]> {
  if (sosIds.length === 0) return Promise.resolve([])
  return db.selectFrom('officer_assignments').selectAll().where('sos_request_id', 'in', sosIds).orderBy('id').execute()
}

export function imagesFor(db: Db, sosIds: number[]): Promise<ImageRow[]> {
  if (sosIds.length === 0) return Promise.resolve([])
  return db.selectFrom('sos_images').selectAll().where('sos_request_id', 'in', sosIds).orderBy('uploaded_at', 'desc').orderBy('id', 'desc').execute()
}

/** The newest `limit` points of one SOS, returned oldest first, and whether older ones were left out. */
export async function recentLocations(db: Db, sosId: number, limit: number): Promise<{ rows: LocationRow[]; truncated: boolean }> {
  const rows = await db
    .selectFrom('location_updates')
    .selectAll()
    .where('sos_request_id', '=', sosId)
    .orderBy('timestamp', 'desc')
    .orderBy('id', 'desc')
    .limit(limit + 1)
    .execute()
  const truncated = rows.length > limit
  return { rows: rows.slice(0, limit).reverse(), truncated }
}

/** A point to store: `timestamp` is the phone's `recorded_at` (client_time 1) or the server's clock (0). */
export interface LocationInsert {
  latitude: number
  longitude: number
  timestamp: string
  accuracy: number | null
  received_at: string
  client_time: 0 | 1
}

// ON CONFLICT DO NOTHING: a phone-timed point whose (SOS, timestamp) is already stored is dropped by the
// partial unique index (client_time = 1) and returns no row. Server-timed points never conflict.
const insertLocationRow = prepared((db, sosId: number, latitude: number, longitude: number, timestamp: string, accuracy: number | null, receivedAt: string, clientTime: number) =>
  db
    .insertInto('location_updates')
    .values({ sos_request_id: sosId, latitude, longitude, timestamp, accuracy, received_at: receivedAt, client_time: clientTime })
    .onConflict((oc) => oc.doNothing())
    .returningAll(),
)

/** Stores one point; undefined when it was a duplicate of a stored phone-timed point. */
export async function insertLocation(db: Db, sosId: number, point: LocationInsert): Promise<LocationRow | undefined> {
  const [row] = await insertLocationRow(db, sosId, point.latitude, point.longitude, point.timestamp, point.accuracy, point.received_at, point.client_time)
  return row
}

/** Rows per INSERT: 500 × 7 parameters stays far below SQLite's and PostgreSQL's bound-parameter limits. */
const INSERT_CHUNK = 500

/** Stores many points (in the order given); returns the rows stored, duplicates of stored points left out. */
export async function insertLocations(db: Db, sosId: number, points: LocationInsert[]): Promise<LocationRow[]> {
  const stored: LocationRow[] = []
  for (let i = 0; i < points.length; i += INSERT_CHUNK) {
    const values = points.slice(i, i + INSERT_CHUNK).map((point) => ({ sos_request_id: sosId, ...point }))
    stored.push(...(await db.insertInto('location_updates').values(values).onConflict((oc) => oc.doNothing()).returningAll().execute()))
  }
  return stored
}

const newestPoint = prepared((db, sosId: number) =>
  db.selectFrom('location_updates').select(['timestamp', 'id']).where('sos_request_id', '=', sosId).orderBy('timestamp', 'desc').orderBy('id', 'desc').limit(1),
)

/** The newest stored point of an SOS in (timestamp, id) order, or undefined when it has none. */
export async function newestLocation(db: Db, sosId: number): Promise<LocationCursor | undefined> {
  return (await newestPoint(db, sosId))[0]
}

/** The stored phone-timed point of an SOS at `timestamp` (what a duplicate was a duplicate of). */
export function findClientTimedLocation(db: Db, sosId: number, timestamp: string): Promise<LocationRow | undefined> {
  return db
    .selectFrom('location_updates')
    .selectAll()
    .where('sos_request_id', '=', sosId)
    .where('timestamp', '=', timestamp)
    .where('client_time', '=', 1)
    .executeTakeFirst()
}

export function findIdempotencyKey(db: Db, keyHash: string): Promise<IdempotencyKeyRow | undefined> {
  return db.selectFrom('idempotency_keys').selectAll().where('key_hash', '=', keyHash).executeTakeFirst()
}

export async function insertIdempotencyKey(db: Db, row: IdempotencyKeyRow): Promise<void> {
  await db.insertInto('idempotency_keys').values(row).execute()
}

/** Drops one key if it has expired (so the same key may start a new create), and returns whether it did. */
export async function deleteExpiredIdempotencyKey(db: Db, keyHash: string, now: string): Promise<boolean> {
  const result = await db.deleteFrom('idempotency_keys').where('key_hash', '=', keyHash).where('expires_at', '<=', now).executeTakeFirst()
  return Number(result.numDeletedRows) > 0
}

/** Drops every expired key (one indexed range delete). */
export async function purgeExpiredIdempotencyKeys(db: Db, now: string): Promise<number> {
  const result = await db.deleteFrom('idempotency_keys').where('expires_at', '<=', now).executeTakeFirst()
  return Number(result.numDeletedRows)
}

export function insertAssignment(db: Db, row: Omit<AssignmentRow, 'id'>): Promise<AssignmentRow> {
  return db.insertInto('officer_assignments').values(row).returningAll().executeTakeFirstOrThrow()
}

/**
 * Updates an SOS only while its status is one of `fromStatuses`. The condition lives in the UPDATE
 * itself, so two racing writers cannot both move the same SOS (it also takes the row lock on PostgreSQL).
 */
export async function updateSosIfStatus(
  db: Db,
  id: number,
  fromStatuses: SosStatus[],
  changes: SosUpdate,
  opts: { unitFreeOr?: string } = {},
): Promise<SosRow | undefined> {
  let query = db.updateTable('sos_requests').set(changes).where('id', '=', id).where('status', 'in', fromStatuses)
  // Only while no unit, or this same unit, is dispatched (decides a race between two dispatches).
  if (opts.unitFreeOr !== undefined) {
    const unit = opts.unitFreeOr
    query = query.where((eb) => eb.or([eb('unit_number_dispatched', 'is', null), eb('unit_number_dispatched', '=', unit)]))
  }
  return query.returningAll().executeTakeFirst()
}

const touchOpen = prepared((db, id: number, updatedAt: string) =>
  db.updateTable('sos_requests').set({ updated_at: updatedAt }).where('id', '=', id).where('status', 'in', OPEN_STATUSES).returningAll(),
)

/** updateSosIfStatus(db, id, OPEN_STATUSES, { updated_at }) for the location-update path, prepared once. */
export async function touchOpenSos(db: Db, id: number, updatedAt: string): Promise<SosRow | undefined> {
  return (await touchOpen(db, id, updatedAt))[0]
}

export function updateSos(db: Db, id: number, changes: SosUpdate): Promise<SosRow | undefined> {
  return db.updateTable('sos_requests').set(changes).where('id', '=', id).returningAll().executeTakeFirst()
}

export async function deleteSos(db: Db, id: number): Promise<boolean> {
  const result = await db.deleteFrom('sos_requests').where('id', '=', id).executeTakeFirst()
  return Number(result.numDeletedRows) > 0
}

/** SOS whose escalation timer is due (`next_escalation_at <= now`), oldest first. */
export function dueEscalations(db: Db, now: string, limit: number): Promise<SosRow[]> {
  return db
    .selectFrom('sos_requests')
    .selectAll()
    .where('next_escalation_at', '<=', now)
    .where('status', 'in', ['active', 'dispatched'])
    .orderBy('next_escalation_at')
    .limit(limit)
    .execute()
}

/**
 * Claims one escalation step: moves the timer on only if it still holds the value this node read (and
 * the SOS is still in that status). Of several nodes racing for the same step exactly one gets the row.
 */
export function claimEscalation(db: Db, sos: SosRow, next: string, now: string): Promise<SosRow | undefined> {
  return db
    .updateTable('sos_requests')
    .set({ escalation_level: sos.escalation_level + 1, next_escalation_at: next, updated_at: now })
    .where('id', '=', sos.id)
    .where('status', '=', sos.status)
    .where('next_escalation_at', '=', sos.next_escalation_at)
    .returningAll()
    .executeTakeFirst()
}

/**
 * Takes the SOS row's write lock for the rest of the transaction (a no-op update), so concurrent
 * writers of one SOS (uploads checking its quota, lifecycle steps reading the clock) go one after the other on PostgreSQL; SQLite writes are serialized
 * anyway. False when the SOS no longer exists.
 */
export async function lockSos(db: Db, sosId: number): Promise<boolean> {
  const result = await db.updateTable('sos_requests').set((eb) => ({ id: eb.ref('id') })).where('id', '=', sosId).executeTakeFirst()
  return Number(result.numUpdatedRows) > 0
}
