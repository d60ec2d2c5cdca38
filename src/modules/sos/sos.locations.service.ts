// Location points: single updates (REST and socket), an offline phone's batch, the paged history and the
// room replay. Ordered by the fix's own time everywhere; a phone-timed fix goes out live only when it is newer
// than every stored one (server-stamped points always do).
import type { Kysely } from 'kysely'
import type { Database, LocationRow, SosRow } from '../../db/schema.ts'
import type { Writer } from '../../db/writer.ts'
import { AppError, errors, validationError, type FieldErrors } from '../../errors.ts'
import { asObject, FieldReader, MSG, nestedDeeperThan, MAX_PAYLOAD_DEPTH, pyTypeName, TOO_DEEP } from '../../lib/fields.ts'
import { nowIso } from '../../lib/time.ts'
import type { HistoryReplay } from '../../realtime/contract.ts'
import type { RealtimePublisher } from '../../realtime/publisher.ts'
import { MAX_PAGE, refuse, toLocationDto, toPoint, type LocationDto, type RequestContext } from './sos.dto.ts'
import { readFix, type Fix } from './sos.fixes.ts'
import { hasNoCredential, sosPolicy, type Actor } from './sos.policy.ts'
import * as repo from './sos.repository.ts'

export interface LocationRules {
  /** Most points in one batch (LOCATION_BATCH_MAX). */
  batchMax: number
  /** Seconds a phone's `recorded_at` may lie ahead of the server's clock (LOCATION_CLOCK_SKEW_SECONDS). */
  clockSkewSeconds: number
}

/** How `GET /api/sos/{id}/locations/` pages: `after` walks the fix order, `received_after` storage order. */
export type PageMode = 'after' | 'received_after'

export interface RejectedItem {
  index: number
  errors: FieldErrors
}

const closed = () => errors.conflict('This SOS is closed; it no longer accepts location updates.')
const unknownSos = (sosId: number | undefined) =>
  new AppError(400, 'validation_error', 'Unknown SOS.', { sos_request: [`Invalid pk "${sosId}" - object does not exist.`] })

/** Whether `row` comes after `newest` in (timestamp, id) order, i.e. is the SOS's newest point now. */
function isNewer(row: LocationRow, newest: repo.LocationCursor | undefined): boolean {
  return !newest || row.timestamp > newest.timestamp || (row.timestamp === newest.timestamp && row.id > newest.id)
}

const byFixOrder = (a: LocationRow, b: LocationRow) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : a.id - b.id)

/** A `sos_token` in the body counts like the X-SOS-Token header. */
export function withBodyToken(actor: Actor, payload: Record<string, unknown>): Actor {
  const token = payload.sos_token
  return typeof token === 'string' && !actor.sosToken ? { ...actor, sosToken: token } : actor
}

export class SosLocations {
  private readonly db: Kysely<Database>
  private readonly writer: Writer
  private readonly publisher: RealtimePublisher
  private readonly historyReplayLimit: number
  private readonly rules: LocationRules

  constructor(deps: { db: Kysely<Database>; writer: Writer; publisher: RealtimePublisher; historyReplayLimit: number; rules: LocationRules }) {
    this.db = deps.db
    this.writer = deps.writer
    this.publisher = deps.publisher
    this.historyReplayLimit = deps.historyReplayLimit
    this.rules = deps.rules
  }

  private point(fix: Fix, receivedAt: string): repo.LocationInsert {
    return {
      latitude: fix.latitude,
      longitude: fix.longitude,
      timestamp: fix.recordedAt ?? receivedAt,
      accuracy: fix.accuracy,
      received_at: receivedAt,
      client_time: fix.recordedAt ? 1 : 0,
    }
  }

  /**
   * POST /api/update-location/ and socket `update_location`. Without `recorded_at` the point is stamped
   * with the server's clock, as the original; with it, a repeat of the same time is answered with the
   * stored point and `duplicate: true`, and an older point than the newest is stored without a live push.
   */
  async update(body: unknown, actor: Actor) {
    const payload = asObject(body)
    const now = Date.now()
    const fields = new FieldReader(payload)
    const sosId = fields.pk('sos_request')
    const fix = readFix(fields, { clockSkewSeconds: this.rules.clockSkewSeconds, now }, { requireRecordedAt: false })
    fields.done()
    const withToken = withBodyToken(actor, payload)
    if (!actor.legacy && hasNoCredential(withToken)) throw errors.notAuthenticated()

    const receivedAt = nowIso()
    const point = this.point(fix, receivedAt)
    const result = await this.writer.run(async (trx) => {
      // Touching the SOS first, conditioned on it being open, orders this write after any racing close
      // (and, on PostgreSQL, after any other write of this SOS: the row lock is held to the commit).
      // The access check is made on the row it returns, inside the job: a refused caller's touch is
      // rolled back with the job's savepoint (or transaction), so it changes nothing. One read of the SOS
      // fewer than a check before the write, and on SQLite no wait for the connection outside the batch.
      const updated = await repo.touchOpenSos(trx, sosId!, receivedAt)
      if (!updated) {
        // Missing, or closed: the same answers in the same order as before (400, then 401/403, then 409).
        const sos = await repo.findSosById(trx, sosId!)
        if (!sos) throw unknownSos(sosId)
        if (!sosPolicy.contribute(withToken, sos)) throw refuse(withToken)
        throw closed()
      }
      if (!sosPolicy.contribute(withToken, updated)) throw refuse(withToken)
      // A point stamped by the server is "now" and always goes out live: on several nodes (or writers) two
      // such points may commit in the other order than their stamps, and neither may be silently dropped.
      // Only a phone-timed fix older than the newest stored one (an offline phone's backlog) stays quiet,
      // so only a phone-timed fix needs the newest stored point.
      const newest = point.client_time === 1 ? await repo.newestLocation(trx, updated.id) : undefined
      const location = await repo.insertLocation(trx, updated.id, point)
      if (location) return { updated, location, live: point.client_time === 0 || isNewer(location, newest), duplicate: false }
      const stored = await repo.findClientTimedLocation(trx, updated.id, point.timestamp)
      if (!stored) throw new Error('a dropped location point has no stored twin')
      return { updated, location: stored, live: false, duplicate: true }
    })
    if (result.live) this.publisher.locationUpdated(result.updated, toPoint(result.location))
    return {
      status: 'Location updated successfully',
      location: toLocationDto(result.location),
      ...(result.duplicate && { duplicate: true }),
    }
  }

  /**
   * POST /api/sos/{id}/locations/: an offline phone's buffer, `[fix, …]` or `{locations: [fix, …], sos_token?}`.
   * Each item is judged alone: the valid ones are stored in one transaction (one commit), the invalid ones
   * are listed by index. 400 only when no item at all was valid.
   */
  async addBatch(id: number, body: unknown, ctx: RequestContext) {
    const bare = Array.isArray(body)
    // Who is asking comes first (401 before 404 before 403, as DRF), then the body's shape.
    const objectBody = !bare && typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {}
    const actor = withBodyToken(ctx.actor, objectBody)
    if (!actor.legacy && hasNoCredential(actor)) throw errors.notAuthenticated()
    const sos = await repo.findSosById(this.db, id)
    if (!sos) throw errors.notFound()
    if (!sosPolicy.contribute(actor, sos)) throw refuse(actor)
    if (bare && nestedDeeperThan(body, MAX_PAYLOAD_DEPTH)) throw validationError({ non_field_errors: [TOO_DEEP] })
    const payload: Record<string, unknown> = bare ? { locations: body } : asObject(body)

    // A bare array is the whole body, so its errors are the body's (DRF's non_field_errors for many=True).
    const listField = bare ? 'non_field_errors' : 'locations'
    const items = payload.locations
    if (items === undefined || items === null) throw validationError({ [listField]: [items === null ? MSG.null : MSG.required] })
    if (!Array.isArray(items)) throw validationError({ [listField]: [`Expected a list of items but got type "${pyTypeName(items)}".`] })
    if (items.length === 0) throw validationError({ [listField]: ['This list may not be empty.'] })
    if (items.length > this.rules.batchMax) throw validationError({ [listField]: [`Ensure this field has no more than ${this.rules.batchMax} elements.`] })

    const rules = { clockSkewSeconds: this.rules.clockSkewSeconds, now: Date.now() }
    const rejected: RejectedItem[] = []
    const valid: Array<{ index: number; fix: Fix }> = []
    items.forEach((item, index) => {
      if (typeof item !== 'object' || item === null || Array.isArray(item)) {
        rejected.push({ index, errors: { non_field_errors: [MSG.notObject(pyTypeName(item))] } })
        return
      }
      const fields = new FieldReader(item as Record<string, unknown>)
      const fix = readFix(fields, rules, { requireRecordedAt: true })
      if (Object.keys(fields.errors).length > 0) rejected.push({ index, errors: fields.errors })
      else valid.push({ index, fix })
    })
    if (valid.length === 0) {
      throw new AppError(400, 'validation_error', 'No location in this batch was valid.', { non_field_errors: ['No location in this batch was valid.'], rejected })
    }

    // In the phone's time order, so storage order follows it too; a time twice in one batch is stored once.
    const receivedAt = nowIso()
    const seen = new Set<string>()
    const points: repo.LocationInsert[] = []
    for (const { fix } of [...valid].sort((a, b) => (a.fix.recordedAt! < b.fix.recordedAt! ? -1 : a.fix.recordedAt! > b.fix.recordedAt! ? 1 : a.index - b.index))) {
      if (seen.has(fix.recordedAt!)) continue
      seen.add(fix.recordedAt!)
      points.push(this.point(fix, receivedAt))
    }

    const { updated, newest, stored } = await this.writer.run(async (trx) => {
      const updated = await repo.touchOpenSos(trx, sos.id, receivedAt)
      if (!updated) throw closed()
      const newest = await repo.newestLocation(trx, sos.id)
      return { updated, newest, stored: (await repo.insertLocations(trx, sos.id, points)).sort(byFixOrder) }
    })
    // Live: only what is newer than every point stored before this batch, in the fix order. Older fixes
    // fill in the history quietly: a dashboard's "current position" never jumps back.
    for (const row of stored) if (isNewer(row, newest)) this.publisher.locationUpdated(updated, toPoint(row))
    const locations: LocationDto[] = stored.map(toLocationDto)
    return {
      status: 'Locations stored',
      accepted: stored.length,
      duplicates: valid.length - stored.length,
      rejected,
      locations,
    }
  }

  /**
   * GET /api/sos/{id}/locations/: the full history, paged. `?after=<id>` continues after that point in the
   * fix order (timestamp, id), the order of every other read; `?received_after=<id>` pages storage order,
   * for a client that asks "what arrived since the last point I got" (late batches included).
   */
  async page(sos: SosRow, query: Record<string, unknown>, nextUrl: (mode: PageMode, after: number, limit: number) => string) {
    const fields = new FieldReader(query)
    const after = fields.integer('after', { required: false, min: 0, max: 2_147_483_647 })
    const receivedAfter = fields.integer('received_after', { required: false, min: 0, max: 2_147_483_647 })
    const limit = fields.integer('limit', { required: false, min: 1, max: MAX_PAGE }) ?? 500
    if (after !== undefined && receivedAfter !== undefined) fields.fail('non_field_errors', 'Use either after or received_after, not both.')
    fields.done()

    let rows: LocationRow[]
    const mode: PageMode = receivedAfter !== undefined ? 'received_after' : 'after'
    if (mode === 'received_after') {
      rows = await repo.locationsPageByReceipt(this.db, sos.id, receivedAfter!, limit)
    } else {
      let cursor: repo.LocationCursor | null = null
      if (after) {
        const point = await repo.findLocation(this.db, sos.id, after)
        if (!point) throw validationError({ after: ['No location point of this SOS has this id.'] })
        cursor = point
      }
      rows = await repo.locationsPage(this.db, sos.id, cursor, limit)
    }
    const last = rows[rows.length - 1]
    return {
      sos_id: sos.id,
      count: (await repo.locationCounts(this.db, [sos.id])).get(sos.id) ?? 0,
      next: rows.length === limit && last ? nextUrl(mode, last.id, limit) : null,
      results: rows.map(toLocationDto),
    }
  }

  /**
   * The stored history replayed to a client joining the SOS room (newest points, oldest first, in the fix
   * order). No top-level `sos_id`: the original dashboard takes any `location_history` carrying one for a live point.
   */
  async history(sos: SosRow): Promise<HistoryReplay> {
    const { rows, truncated } = await repo.recentLocations(this.db, sos.id, this.historyReplayLimit)
    return { updates: rows.map(toPoint), truncated }
  }
}
