// Units: officers' positions (validated, stored as the unit's last known location with a bounded history, then
// broadcast as `unit_loc`), the units list with who is free, and the free units nearest an SOS.
import type { Kysely } from 'kysely'
import type { Database, UnitHistoryRow, UnitLocationRow } from '../../db/schema.ts'
import type { Writer } from '../../db/writer.ts'
import { errors } from '../../errors.ts'
import { FieldReader, shortRepr, UNIT_NUMBER_RE } from '../../lib/fields.ts'
import { haversineMetres } from '../../lib/geo.ts'
import { nowIso } from '../../lib/time.ts'
import type { UnitLocation, UnitSnapshot } from '../../realtime/contract.ts'
import type { RealtimePublisher } from '../../realtime/publisher.ts'
import type { AuthUser } from '../auth/auth.service.ts'
import { OPEN_STATUSES } from '../sos/sos.lifecycle.ts'
import { findSosById, recentLocations } from '../sos/sos.repository.ts'
import { readUnitNumber } from '../sos/sos.service.ts'
import { requireReporter, requireViewer } from './units.policy.ts'
import * as repo from './units.repository.ts'

/** Officer clocks may drift; a fix more than this far in the future is refused. */
const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000

export const NEAREST_DEFAULT = 5
export const NEAREST_MAX = 50
export const HISTORY_PAGE_DEFAULT = 100
export const HISTORY_PAGE_MAX = 1000

export function parseTimestamp(fields: FieldReader, field: string, now = Date.now()): string | undefined {
  if (!fields.has(field)) return new Date(now).toISOString()
  const raw = fields.value(field)
  let ms: number
  if (typeof raw === 'number' && Number.isFinite(raw)) ms = raw < 1e11 ? raw * 1000 : raw
  else if (typeof raw === 'string' && raw.length <= 40 && /^\d{4}-\d{2}-\d{2}T/.test(raw)) ms = Date.parse(raw)
  else return fields.fail(field, 'Datetime has wrong format. Use ISO 8601 (e.g. 2025-06-26T10:15:30.123Z) or epoch milliseconds.')
  if (!Number.isFinite(ms) || ms < Date.UTC(2000, 0, 1)) return fields.fail(field, 'Datetime has wrong format. Use ISO 8601 (e.g. 2025-06-26T10:15:30.123Z) or epoch milliseconds.')
  if (ms > now + MAX_CLOCK_SKEW_MS) return fields.fail(field, 'Datetime is in the future.')
  return new Date(ms).toISOString()
}

export interface UnitPositionDto {
  latitude: number
  longitude: number
  timestamp: string
  /** The account that reported it (null: legacy anonymous, or the account was deleted). */
  reported_by: number | null
}

export interface UnitDto {
  unit_number: string
  officers: Array<{ id: number; username: string }>
  position: UnitPositionDto | null
  /** Whole seconds since the position's fix time (0 for a fix stamped slightly ahead of the server's clock). */
  position_age_seconds: number | null
  /** No position, or one older than UNIT_POSITION_MAX_AGE_SECONDS: not offered as a nearest unit. */
  stale: boolean
  status: 'free' | 'busy'
  /** The open SOS dispatched to this unit, by id. */
  busy_with: number[]
}

export interface NearestUnitDto extends UnitDto {
  distance_m: number
}

export interface UnitHistoryDto {
  id: number
  latitude: number
  longitude: number
  timestamp: string
  received_at: string
  reported_by: number | null
}

const toHistoryDto = (row: UnitHistoryRow): UnitHistoryDto => ({
  id: row.id,
  latitude: row.latitude,
  longitude: row.longitude,
  timestamp: row.timestamp,
  received_at: row.received_at,
  reported_by: row.updated_by,
})

/** Code-point order would put UNIT10 before UNIT2; people expect numbers inside names to count. */
const byUnitName = new Intl.Collator('en', { numeric: true }).compare

export class UnitsService {
  private readonly db: Kysely<Database>
  private readonly writer: Writer
  private readonly publisher: RealtimePublisher
  private readonly snapshotLimit: number
  private readonly maxAgeSeconds: number
  private readonly historySize: number
  private readonly legacy: boolean

  constructor(deps: {
    db: Kysely<Database>
    writer: Writer
    publisher: RealtimePublisher
    /** Most units in a snapshot or list (SNAPSHOT_LIMIT). */
    snapshotLimit: number
    /** UNIT_POSITION_MAX_AGE_SECONDS: older positions are stale. */
    positionMaxAgeSeconds: number
    /** UNIT_POSITION_HISTORY: reports kept per unit. */
    historySize: number
    legacy: boolean
  }) {
    this.db = deps.db
    this.writer = deps.writer
    this.publisher = deps.publisher
    this.snapshotLimit = deps.snapshotLimit
    this.maxAgeSeconds = deps.positionMaxAgeSeconds
    this.historySize = deps.historySize
    this.legacy = deps.legacy
  }

  /** Every unit's last known position, for a socket joining `officer_tracking_channel` (joined first, then read). */
  async snapshot(): Promise<UnitSnapshot> {
    const rows = await repo.listUnitLocations(this.db, this.snapshotLimit + 1)
    const units = rows.slice(0, this.snapshotLimit).map((row): UnitLocation => ({ unit_id: row.unit_number, latitude: row.latitude, longitude: row.longitude, timestamp: row.timestamp }))
    return { channel: 'officer_tracking_channel', units, truncated: rows.length > this.snapshotLimit }
  }

  /**
   * An officer reports their own unit's position (legacy: anyone, any unit): the socket's
   * `officer_location_update` and `POST /api/units/{unit_number}/location/` both come here. The last position
   * and the history row are one transaction; `unit_loc` goes out after its commit.
   */
  async recordOfficerLocation(payload: Record<string, unknown>, user: AuthUser | null, legacy: boolean): Promise<UnitLocation> {
    const fields = new FieldReader(payload)
    const unitId = readUnitNumber(fields, 'unit_id')
    const latitude = fields.number('latitude', { min: -90, max: 90 })
    const longitude = fields.number('longitude', { min: -180, max: 180 })
    const timestamp = parseTimestamp(fields, 'timestamp')
    fields.done()
    requireReporter(user, unitId!, legacy)
    const location: UnitLocation = { unit_id: unitId!, latitude: latitude!, longitude: longitude!, timestamp: timestamp! }
    const row = { unit_number: location.unit_id, latitude: location.latitude, longitude: location.longitude, timestamp: location.timestamp, updated_by: user?.id ?? null }
    await this.writer.run(async (trx) => {
      // The upsert first: on PostgreSQL it takes the unit's row lock, which orders concurrent trims of this unit.
      await repo.upsertUnitLocation(trx, row)
      if (this.historySize > 0) {
        await repo.insertUnitHistory(trx, { ...row, received_at: nowIso() })
        await repo.trimUnitHistory(trx, row.unit_number, this.historySize)
      }
    })
    this.publisher.unitLocation(location)
    return location
  }

  /** GET /api/units/: every known unit with its officers, last position, its age, and what it is busy with. */
  async list(user: AuthUser | null) {
    requireViewer(user, this.legacy)
    const names = await repo.knownUnitNumbers(this.db, this.snapshotLimit + 1)
    const units = await this.describe(names.slice(0, this.snapshotLimit), Date.now())
    return { count: units.length, truncated: names.length > this.snapshotLimit, position_max_age_seconds: this.maxAgeSeconds, results: units }
  }

  /**
   * GET /api/sos/{id}/nearest-units/: units with a fresh position and (unless `include_busy`) no open SOS,
   * nearest first from the SOS's newest point (else where it was raised). Units are few (tens to hundreds),
   * so the candidates are read whole and measured here rather than in SQL, the same on both databases.
   */
  async nearest(sosId: number | undefined, user: AuthUser | null, query: Record<string, unknown>) {
    // Who may ask is settled before the id is looked at, so ids cannot be probed.
    requireViewer(user, this.legacy)
    const sos = sosId === undefined ? undefined : await findSosById(this.db, sosId)
    if (!sos) throw errors.notFound()
    const fields = new FieldReader(query)
    const limit = fields.integer('limit', { required: false, min: 1, max: NEAREST_MAX }) ?? NEAREST_DEFAULT
    const includeBusy = readFlag(fields, 'include_busy')
    fields.done()

    const now = Date.now()
    const { rows: [newest] } = await recentLocations(this.db, sos.id, 1)
    const origin = newest
      ? { latitude: newest.latitude, longitude: newest.longitude, timestamp: newest.timestamp, source: 'location_update' as const }
      : { latitude: sos.initial_latitude, longitude: sos.initial_longitude, timestamp: sos.created_at, source: 'initial' as const }
    const fresh = await repo.unitLocationsSince(this.db, new Date(now - this.maxAgeSeconds * 1000).toISOString())
    const candidates = await this.describe(fresh.map((row) => row.unit_number), now, fresh)
    const ranked = candidates
      .filter((unit) => unit.position && !unit.stale && (includeBusy || unit.status === 'free'))
      .map((unit): NearestUnitDto => ({ ...unit, distance_m: Math.round(haversineMetres(origin.latitude, origin.longitude, unit.position!.latitude, unit.position!.longitude)) }))
      .sort((a, b) => a.distance_m - b.distance_m || byUnitName(a.unit_number, b.unit_number))
      .slice(0, limit)
    return { sos_id: sos.id, origin, position_max_age_seconds: this.maxAgeSeconds, include_busy: includeBusy, count: ranked.length, results: ranked }
  }

  /** GET /api/units/{unit_number}/locations/: a unit's stored reports, newest first (at most UNIT_POSITION_HISTORY). */
  async history(unitNumber: string, user: AuthUser | null, query: Record<string, unknown>) {
    requireViewer(user, this.legacy)
    if (!UNIT_NUMBER_RE.test(unitNumber)) throw errors.notFound()
    const fields = new FieldReader(query)
    const limit = fields.integer('limit', { required: false, min: 1, max: HISTORY_PAGE_MAX }) ?? HISTORY_PAGE_DEFAULT
    fields.done()
    const rows = await repo.unitHistory(this.db, unitNumber, limit)
    if (rows.length === 0 && !(await repo.isKnownUnit(this.db, unitNumber))) throw errors.notFound()
    return { unit_number: unitNumber, history_size: this.historySize, results: rows.map(toHistoryDto) }
  }

  /** Units → API objects: officers, last position (read here unless given), age, and busy state. */
  private async describe(names: string[], now: number, positions?: UnitLocationRow[]): Promise<UnitDto[]> {
    if (names.length === 0) return []
    const [officers, located, dispatched] = await Promise.all([
      repo.officersOf(this.db, names),
      positions ?? repo.unitLocationsOf(this.db, names),
      repo.dispatchedOpenSos(this.db, OPEN_STATUSES),
    ])
    const officersBy = groupBy(officers, (officer) => officer.unit_number)
    const busyBy = groupBy(dispatched, (sos) => sos.unit_number)
    const positionBy = new Map(located.map((row) => [row.unit_number, row]))
    return [...new Set(names)].sort(byUnitName).map((name): UnitDto => {
      const row = positionBy.get(name)
      const ageMs = row ? Math.max(0, now - Date.parse(row.timestamp)) : null
      const busyWith = (busyBy.get(name) ?? []).map((sos) => sos.id)
      return {
        unit_number: name,
        officers: (officersBy.get(name) ?? []).map((officer) => ({ id: officer.id, username: officer.username })),
        position: row ? { latitude: row.latitude, longitude: row.longitude, timestamp: row.timestamp, reported_by: row.updated_by } : null,
        position_age_seconds: ageMs === null ? null : Math.floor(ageMs / 1000),
        stale: ageMs === null || ageMs > this.maxAgeSeconds * 1000,
        status: busyWith.length > 0 ? 'busy' : 'free',
        busy_with: busyWith,
      }
    })
  }
}

/** A query flag: true/false, 1/0, yes/no, on/off; absent is false. */
function readFlag(fields: FieldReader, field: string): boolean {
  if (!fields.has(field)) return false
  const value = fields.value(field)
  const raw = typeof value === 'string' || typeof value === 'boolean' ? String(value).trim().toLowerCase() : undefined
  if (raw !== undefined && ['1', 'true', 'yes', 'on'].includes(raw)) return true
  if (raw !== undefined && ['0', 'false', 'no', 'off'].includes(raw)) return false
  fields.fail(field, `"${shortRepr(value)}" is not a valid boolean.`)
  return false
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const map = new Map<string, T[]>()
  for (const item of items) {
    const list = map.get(key(item))
    if (list) list.push(item)
    else map.set(key(item), [item])
  }
  return map
}
