// SQL for units: officers' last known positions and their bounded history, and the facts that make a unit
// known (officer accounts, positions, dispatches) or busy (an open SOS dispatched to it).
import { sql, type Kysely } from 'kysely'
import type { Database, NewUnitHistory, SosStatus, UnitHistoryRow, UnitLocationRow } from '../../db/schema.ts'

type Db = Kysely<Database>

export async function upsertUnitLocation(db: Db, row: UnitLocationRow): Promise<void> {
  await db
    .insertInto('unit_locations')
    .values(row)
    .onConflict((oc) =>
      oc.column('unit_number').doUpdateSet({ latitude: row.latitude, longitude: row.longitude, timestamp: row.timestamp, updated_by: row.updated_by }),
    )
    .execute()
}

export function findUnitLocation(db: Db, unitNumber: string): Promise<UnitLocationRow | undefined> {
  return db.selectFrom('unit_locations').selectAll().where('unit_number', '=', unitNumber).executeTakeFirst()
}

/** Units' last known positions, most recently reported first. */
export function listUnitLocations(db: Db, limit: number): Promise<UnitLocationRow[]> {
  return db.selectFrom('unit_locations').selectAll().orderBy('timestamp', 'desc').orderBy('unit_number').limit(limit).execute()
}

/** The last positions of these units. */
export async function unitLocationsOf(db: Db, units: string[]): Promise<UnitLocationRow[]> {
  const rows: UnitLocationRow[] = []
  for (const chunk of chunks(units)) rows.push(...(await db.selectFrom('unit_locations').selectAll().where('unit_number', 'in', chunk).execute()))
  return rows
}

/** Last positions whose fix time is at or after `since` (ISO text sorts as time). */
export function unitLocationsSince(db: Db, since: string): Promise<UnitLocationRow[]> {
  return db.selectFrom('unit_locations').selectAll().where('timestamp', '>=', since).execute()
}

export async function insertUnitHistory(db: Db, row: NewUnitHistory): Promise<void> {
  await db.insertInto('unit_location_history').values(row).execute()
}

/**
 * Keeps the newest `keep` reports of a unit. Called in the transaction that inserted the newest one, after
 * the last-position upsert: on PostgreSQL that upsert holds the unit's row lock until commit, so two reports
 * for one unit trim one after the other and the bound holds exactly, also under concurrent reports.
 */
export async function trimUnitHistory(db: Db, unitNumber: string, keep: number): Promise<void> {
  const oldestKept = await db
    .selectFrom('unit_location_history')
    .select('id')
    .where('unit_number', '=', unitNumber)
    .orderBy('id', 'desc')
    .limit(1)
    .offset(keep - 1)
    .executeTakeFirst()
  if (!oldestKept) return
  await db.deleteFrom('unit_location_history').where('unit_number', '=', unitNumber).where('id', '<', oldestKept.id).execute()
}

/** A unit's stored reports, newest first. */
export function unitHistory(db: Db, unitNumber: string, limit: number): Promise<UnitHistoryRow[]> {
  return db.selectFrom('unit_location_history').selectAll().where('unit_number', '=', unitNumber).orderBy('id', 'desc').limit(limit).execute()
}

/**
 * Every unit the system knows: units of active officer accounts, units with a stored position, and units
 * ever dispatched to an SOS (now, or before a re-dispatch). At most `limit`, in the database's text order.
 */
export async function knownUnitNumbers(db: Db, limit: number): Promise<string[]> {
  const rows = await db
    .selectFrom('users')
    .select('unit_number as unit')
    .where('role', '=', 'officer')
    .where('is_active', '=', 1)
    .where('unit_number', 'is not', null)
    .union(db.selectFrom('unit_locations').select('unit_number as unit'))
    .union(db.selectFrom('sos_requests').select('unit_number_dispatched as unit').where('unit_number_dispatched', 'is not', null))
    .union(db.selectFrom('officer_assignments').select('unit_number as unit'))
    .orderBy('unit')
    .limit(limit)
    .execute()
  return rows.flatMap((row) => (row.unit === null ? [] : [row.unit]))
}

/** Whether anything makes this unit known (see knownUnitNumbers). */
export async function isKnownUnit(db: Db, unitNumber: string): Promise<boolean> {
  const row = await db
    .selectNoFrom((eb) => [
      eb.or([
        eb.exists(eb.selectFrom('users').select(sql`1`.as('one')).where('role', '=', 'officer').where('is_active', '=', 1).where('unit_number', '=', unitNumber)),
        eb.exists(eb.selectFrom('unit_locations').select(sql`1`.as('one')).where('unit_number', '=', unitNumber)),
        eb.exists(eb.selectFrom('sos_requests').select(sql`1`.as('one')).where('unit_number_dispatched', '=', unitNumber)),
        eb.exists(eb.selectFrom('officer_assignments').select(sql`1`.as('one')).where('unit_number', '=', unitNumber)),
      ]).as('known'),
    ])
    .executeTakeFirstOrThrow()
  return Boolean(row.known)
}

export interface UnitOfficer {
  id: number
  username: string
  unit_number: string
}

/** The active officer accounts of these units, by id. */
export async function officersOf(db: Db, units: string[]): Promise<UnitOfficer[]> {
  const rows: UnitOfficer[] = []
  for (const chunk of chunks(units)) {
    const found = await db
      .selectFrom('users')
      .select(['id', 'username', 'unit_number'])
      .where('role', '=', 'officer')
      .where('is_active', '=', 1)
      .where('unit_number', 'in', chunk)
      .orderBy('id')
      .execute()
    for (const row of found) if (row.unit_number !== null) rows.push({ id: row.id, username: row.username, unit_number: row.unit_number })
  }
  return rows
}

/** Open SOS that have a unit dispatched (what makes that unit busy), by id. */
export async function dispatchedOpenSos(db: Db, openStatuses: SosStatus[]): Promise<Array<{ id: number; unit_number: string }>> {
  const rows = await db
    .selectFrom('sos_requests')
    .select(['id', 'unit_number_dispatched'])
    .where('status', 'in', openStatuses)
    .where('unit_number_dispatched', 'is not', null)
    .orderBy('id')
    .execute()
  return rows.flatMap((row) => (row.unit_number_dispatched === null ? [] : [{ id: row.id, unit_number: row.unit_number_dispatched }]))
}

/** Slices of at most 500, so long lists stay under the databases' bound-parameter limits. */
function chunks<T>(items: T[], size = 500): T[][] {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}
