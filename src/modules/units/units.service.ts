// Officers' positions: validated, stored as the unit's last known location, then broadcast as `unit_loc`.
import type { Kysely } from 'kysely'
import type { Database } from '../../db/schema.ts'
import type { Writer } from '../../db/writer.ts'
import { errors } from '../../errors.ts'
import { FieldReader } from '../../lib/fields.ts'
import type { UnitLocation, UnitSnapshot } from '../../realtime/contract.ts'
import type { RealtimePublisher } from '../../realtime/publisher.ts'
import type { AuthUser } from '../auth/auth.service.ts'
import { readUnitNumber } from '../sos/sos.service.ts'
import * as repo from './units.repository.ts'

/** Officer clocks may drift; a fix more than this far in the future is refused. */
const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000

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

export class UnitsService {
  private readonly db: Kysely<Database>
  private readonly writer: Writer
  private readonly publisher: RealtimePublisher
  private readonly snapshotLimit: number

  constructor(deps: { db: Kysely<Database>; writer: Writer; publisher: RealtimePublisher; snapshotLimit: number }) {
    this.db = deps.db
    this.writer = deps.writer
    this.publisher = deps.publisher
    this.snapshotLimit = deps.snapshotLimit
  }

  /** Every unit's last known position, for a socket joining `officer_tracking_channel` (joined first, then read). */
  async snapshot(): Promise<UnitSnapshot> {
    const rows = await repo.listUnitLocations(this.db, this.snapshotLimit + 1)
    const units = rows.slice(0, this.snapshotLimit).map((row): UnitLocation => ({ unit_id: row.unit_number, latitude: row.latitude, longitude: row.longitude, timestamp: row.timestamp }))
    return { channel: 'officer_tracking_channel', units, truncated: rows.length > this.snapshotLimit }
  }

  /** `officer_location_update`: an officer reports their own unit's position (legacy: anyone, any unit). */
  async recordOfficerLocation(payload: Record<string, unknown>, user: AuthUser | null, legacy: boolean): Promise<UnitLocation> {
    const fields = new FieldReader(payload)
    const unitId = readUnitNumber(fields, 'unit_id')
    const latitude = fields.number('latitude', { min: -90, max: 90 })
    const longitude = fields.number('longitude', { min: -180, max: 180 })
    const timestamp = parseTimestamp(fields, 'timestamp')
    fields.done()
    if (!legacy) {
      if (!user) throw errors.notAuthenticated()
      if (user.role !== 'officer' || user.unit_number !== unitId) throw errors.forbidden()
    }
    const location: UnitLocation = { unit_id: unitId!, latitude: latitude!, longitude: longitude!, timestamp: timestamp! }
    const row = { unit_number: location.unit_id, latitude: location.latitude, longitude: location.longitude, timestamp: location.timestamp, updated_by: user?.id ?? null }
    await this.writer.run((trx) => repo.upsertUnitLocation(trx, row))
    this.publisher.unitLocation(location)
    return location
  }
}
