// SOS rules: creation, reads, location updates, dispatch and closing. Owns the transactions and
// publishes each change only after its commit.
import crypto from 'node:crypto'
import type { Kysely } from 'kysely'
import type { AssignmentRow, Database, ImageRow, LocationRow, SosRow } from '../../db/schema.ts'
import type { Writer } from '../../db/writer.ts'
import { AppError, errors } from '../../errors.ts'
import { asObject, FieldReader } from '../../lib/fields.ts'
import type { RateLimiter } from '../../lib/rate-limiter.ts'
import { newSosToken, sha256Hex } from '../../lib/secrets.ts'
import { nowIso } from '../../lib/time.ts'
import type { HistoryReplay, LocationSnapshot, OpenSos, SosSnapshot } from '../../realtime/contract.ts'
import { COORDS, MAX_PAGE, pageLinks, readUnitNumber, refuse, toAssignmentDto, toLocationDto, toNewSosEvent, toPoint, type ImageLinks, type Page, type RequestContext, type SosDto } from './sos.dto.ts'
import type { RealtimePublisher } from '../../realtime/publisher.ts'
import { after, SosLifecycle, toUpdatedEvent, type EscalationTimes } from './sos.lifecycle.service.ts'
import type { SosCreateExtension } from './sos.extensions.ts'
import { SosCreateBudget, type SosCreateLimits } from './sos.limits.ts'
import { appendEvent, eventActor, toEventDto } from './sos.log.ts'
import { IncidentLog } from './sos.log.service.ts'
import * as repo from './sos.repository.ts'
import { hasNoCredential, sosPolicy, type Actor } from './sos.policy.ts'

export * from './sos.dto.ts'

export class SosService {
  private readonly db: Kysely<Database>
  private readonly writer: Writer
  private readonly publisher: RealtimePublisher
  private readonly images: ImageLinks
  private readonly historyReplayLimit: number
  private readonly locationsInLists: number
  private readonly snapshotLimit: number
  private readonly createBudget: SosCreateBudget
  private readonly times: EscalationTimes
  /** The incident steps (acknowledge … resolve): one transaction and one logged event each. */
  readonly lifecycle: SosLifecycle
  /** Reading the incident log (per SOS, the feed, the audit trail, the socket replay). */
  readonly log: IncidentLog
  private readonly createExtensions: SosCreateExtension[] = []

  constructor(deps: {
    db: Kysely<Database>
    writer: Writer
    publisher: RealtimePublisher
    images: ImageLinks
    historyReplayLimit: number
    locationsInLists: number
    snapshotLimit: number
    /** Counts SOS creations (in memory, or in Redis for the cluster). */
    limiter: RateLimiter
    createLimits: SosCreateLimits
    escalation: EscalationTimes
    eventsReplayLimit: number
  }) {
    this.db = deps.db
    this.writer = deps.writer
    this.publisher = deps.publisher
    this.images = deps.images
    this.historyReplayLimit = deps.historyReplayLimit
    this.locationsInLists = deps.locationsInLists
    this.snapshotLimit = deps.snapshotLimit
    this.createBudget = new SosCreateBudget(deps.limiter, deps.createLimits)
    this.times = deps.escalation
    this.lifecycle = new SosLifecycle({ db: deps.db, writer: deps.writer, publisher: deps.publisher, reads: this, times: deps.escalation })
    this.log = new IncidentLog({ db: deps.db, reads: this, replayLimit: deps.eventsReplayLimit })
  }

  /** Another module's part of raising an SOS (trusted contacts), run inside the create transaction. */
  addCreateExtension(extension: SosCreateExtension): void {
    this.createExtensions.push(extension)
  }

  async create(body: unknown, actor: Actor, address: string) {
    const payload = asObject(body)
    const fields = new FieldReader(payload)
    const name = fields.string('name', { max: 255 })
    const sosType = fields.intChoice('sos_type', [0, 1], 0)
    const latitude = fields.number('initial_latitude', COORDS.latitude)
    const longitude = fields.number('initial_longitude', COORDS.longitude)
    fields.done()
    const steps = this.createExtensions.map((extension) => extension.prepare(payload, actor))
    // After validation, so a malformed request costs no budget; before the write, so a refused one stores nothing.
    await this.createBudget.spend(actor, address)

    const sosToken = newSosToken()
    const now = nowIso()
    const { row, event } = await this.writer.run(async (trx) => {
      const inserted = await repo.insertSos(trx, {
      user_id: actor.user?.id ?? null,
      name: name!,
      sos_type: sosType!,
      status: 'active',
      status_flag: 0,
      acknowledged_flag: 0,
      initial_latitude: latitude!,
      initial_longitude: longitude!,
      unit_number_dispatched: null,
      room_id: crypto.randomUUID(),
      sos_token_hash: sha256Hex(sosToken),
      created_at: now,
      updated_at: now,
      outcome: null,
      resolution_note: null,
      cancel_reason: null,
      acknowledged_at: null,
      dispatched_at: null,
      accepted_at: null,
      arrived_at: null,
      closed_at: null,
      next_escalation_at: after(now, this.times.escalateAfterSeconds),
      })
      const created = await appendEvent(trx, inserted.id, 'created', eventActor(actor), now, {
        name: inserted.name, sos_type: inserted.sos_type, latitude: inserted.initial_latitude, longitude: inserted.initial_longitude,
      })
      for (const step of steps) await step?.write(trx, inserted, now)
      return { row: { ...inserted, last_seq: created.seq }, event: toEventDto(created) }
    })
    this.publisher.newSos({ ...toNewSosEvent(row), seq: event.seq, cursor: event.cursor })
    this.publisher.sosUpdated(row, toUpdatedEvent(row, event))
    return { status: 'success', message: 'SOS created successfully', sos_id: row.id, room_id: row.room_id, sos_token: sosToken, ...Object.assign({}, ...steps.map((step) => step?.answer)) }
  }

  /**
   * GET /api/sos/: every SOS for staff, a citizen's own for a citizen. A plain array as the original,
   * or, with `?limit=`, a DRF LimitOffsetPagination page `{count, next, previous, results}`.
   */
  async list(ctx: RequestContext, page: Page | undefined, pageUrl: (offset: number) => string) {
    if (!ctx.actor.user) throw errors.notAuthenticated()
    const filter = sosPolicy.listAll(ctx.actor) ? {} : { userId: ctx.actor.user.id }
    const rows = await repo.listSos(this.db, { ...filter, ...page })
    const results = await this.expand(rows, ctx.baseUrl, this.locationsInLists)
    if (!page) return results
    const count = await repo.countSos(this.db, filter)
    return { count, ...pageLinks(page, count, pageUrl), results }
  }

  /** GET /api/get-all-sos/: staff only; `?limit=&offset=` pages `data` (count stays the total). */
  async getAll(ctx: RequestContext, page: Page | undefined, pageUrl: (offset: number) => string) {
    // An SOS token grants nothing here: without an account the caller is unauthenticated (401), as in list().
    if (!ctx.actor.user) throw errors.notAuthenticated()
    if (!sosPolicy.listAll(ctx.actor)) throw errors.forbidden()
    const data = await this.expand(await repo.listSos(this.db, { ...page }), ctx.baseUrl, this.locationsInLists)
    const count = page ? await repo.countSos(this.db) : data.length
    return { status: 'success', message: 'SOS entries fetched successfully', count, ...(page && pageLinks(page, count, pageUrl)), data }
  }

  async get(id: number, ctx: RequestContext): Promise<SosDto> {
    // No credential at all is 401 before the lookup, so sequential ids do not reveal which SOS exist.
    if (hasNoCredential(ctx.actor)) throw errors.notAuthenticated()
    const row = await this.load(id)
    if (!sosPolicy.read(ctx.actor, row)) throw refuse(ctx.actor)
    return (await this.expand([row], ctx.baseUrl, this.historyReplayLimit))[0]
  }

  /** GET /api/sos/{id}/locations/?after=<id>&limit=: the full history, paged, for whoever may read the SOS. */
  async locations(id: number, ctx: RequestContext, query: Record<string, unknown>, nextUrl: (after: number, limit: number) => string) {
    if (hasNoCredential(ctx.actor)) throw errors.notAuthenticated()
    const row = await this.load(id)
    if (!sosPolicy.read(ctx.actor, row)) throw refuse(ctx.actor)
    const fields = new FieldReader(query)
    const after = fields.integer('after', { required: false, min: 0, max: 2_147_483_647 }) ?? 0
    const limit = fields.integer('limit', { required: false, min: 1, max: MAX_PAGE }) ?? 500
    fields.done()
    const rows = await repo.locationsPage(this.db, row.id, after, limit)
    const last = rows[rows.length - 1]
    return {
      sos_id: row.id,
      count: (await repo.locationCounts(this.db, [row.id])).get(row.id) ?? 0,
      next: rows.length === limit && last ? nextUrl(last.id, limit) : null,
      results: rows.map(toLocationDto),
    }
  }

  /** Loads an SOS for access checks by another module (media); 404 when it does not exist. */
  async load(id: number, notFound: AppError = errors.notFound()): Promise<SosRow> {
    const row = await repo.findSosById(this.db, id)
    if (!row) throw notFound
    return row
  }

  findByRoomId(roomId: string): Promise<SosRow | undefined> {
    return repo.findSosByRoomId(this.db, roomId)
  }

  /**
   * The open SOS, newest first, for a staff socket joining `sos_channel`. The caller joins the room
   * first: an SOS committed before this read is in the snapshot, one committed after it is broadcast
   * to the already-joined socket (a client may see one SOS both ways and de-duplicates on sos_id).
   */
  async openSnapshot(): Promise<SosSnapshot> {
    // The cursor first: every event at or below it is reflected in the rows read after it.
    const cursor = await this.log.latestCursor()
    const { rows, truncated } = await this.openRows()
    const sos = rows.map((row): OpenSos => ({ ...toNewSosEvent(row), status: row.status as OpenSos['status'], unit_number_dispatched: row.unit_number_dispatched }))
    return { channel: 'sos_channel', sos, truncated, cursor }
  }

  /** The last stored point of each open SOS, for a socket joining `location_tracking_channel` (same ordering rule). */
  async trackingSnapshot(): Promise<LocationSnapshot> {
    const { rows, truncated } = await this.openRows()
    const last = await repo.recentLocationsFor(this.db, rows.map((row) => row.id), 1)
    const byId = new Map(last.map((point) => [point.sos_request_id, point]))
    const positions = rows.flatMap((row) => {
      const point = byId.get(row.id)
      return point ? [{ unit_number: row.unit_number_dispatched, ...toPoint(point) }] : []
    })
    return { channel: 'location_tracking_channel', positions, truncated }
  }

  private async openRows(): Promise<{ rows: SosRow[]; truncated: boolean }> {
    const rows = await repo.listOpenSos(this.db, this.snapshotLimit + 1)
    return { rows: rows.slice(0, this.snapshotLimit), truncated: rows.length > this.snapshotLimit }
  }

  /**
   * The stored history replayed to a client joining the SOS room (newest points, oldest first). No
   * top-level `sos_id`: the original dashboard takes any `location_history` carrying one for a live point.
   */
  async history(sos: SosRow): Promise<HistoryReplay> {
    const { rows, truncated } = await repo.recentLocations(this.db, sos.id, this.historyReplayLimit)
    return { updates: rows.map(toPoint), truncated }
  }

  async updateLocation(body: unknown, actor: Actor) {
    const payload = asObject(body)
    const fields = new FieldReader(payload)
    const sosId = fields.pk('sos_request')
    const latitude = fields.number('latitude', COORDS.latitude)
    const longitude = fields.number('longitude', COORDS.longitude)
    fields.done()
    const withToken = this.withBodyToken(actor, payload)
    if (!actor.legacy && hasNoCredential(withToken)) throw errors.notAuthenticated()

    const sos = await repo.findSosById(this.db, sosId!)
    if (!sos) throw new AppError(400, 'validation_error', 'Unknown SOS.', { sos_request: [`Invalid pk "${sosId}" - object does not exist.`] })
    if (!sosPolicy.contribute(withToken, sos)) throw refuse(withToken)

    const timestamp = nowIso()
    const { updated, location } = await this.writer.run(async (trx) => {
      // Touching the SOS first, conditioned on it being open, orders this write after any racing close.
      const updated = await repo.touchOpenSos(trx, sos.id, timestamp)
      if (!updated) throw errors.conflict('This SOS is closed; it no longer accepts location updates.')
      const location = await repo.insertLocation(trx, sos.id, latitude!, longitude!, timestamp)
      return { updated, location }
    })
    this.publisher.locationUpdated(updated, toPoint(location))
    return { status: 'Location updated successfully', location: toLocationDto(location) }
  }

  // The incident steps live in SosLifecycle (sos.lifecycle.service.ts); these keep the routes' one facade.
  assignOfficer(body: unknown, actor: Actor) {
    return this.lifecycle.assignOfficer(body, actor)
  }

  resolve(id: number, body: unknown, ctx: RequestContext) {
    return this.lifecycle.resolve(id, body, ctx)
  }

  cancel(id: number, body: unknown, ctx: RequestContext) {
    return this.lifecycle.cancel(id, body, ctx)
  }

  acknowledge(id: number, ctx: RequestContext) {
    return this.lifecycle.acknowledge(id, ctx)
  }

  accept(id: number, ctx: RequestContext) {
    return this.lifecycle.accept(id, ctx)
  }

  arrive(id: number, ctx: RequestContext) {
    return this.lifecycle.arrive(id, ctx)
  }

  /** PUT (partial=false) / PATCH (partial=true) /api/sos/{id}/: admin corrections of the SOS fields. */
  async adminUpdate(id: number, body: unknown, partial: boolean, ctx: RequestContext): Promise<SosDto> {
    if (!ctx.actor.user) throw errors.notAuthenticated()
    if (!sosPolicy.administer(ctx.actor)) throw errors.forbidden()
    const sos = await this.load(id)
    const fields = new FieldReader(asObject(body))
    const required = !partial
    const name = fields.string('name', { max: 255, required })
    const sosType = fields.has('sos_type') ? fields.intChoice('sos_type', [0, 1], sos.sos_type) : undefined
    const latitude = fields.number('initial_latitude', { ...COORDS.latitude, required })
    const longitude = fields.number('initial_longitude', { ...COORDS.longitude, required })
    let unit: string | null | undefined
    if (fields.has('unit_number_dispatched')) {
      unit = payloadIsNull(body, 'unit_number_dispatched') ? null : readUnitNumber(fields, 'unit_number_dispatched')
    }
    fields.done()
    const changes = {
      ...(name !== undefined && { name }),
      ...(sosType !== undefined && { sos_type: sosType }),
      ...(latitude !== undefined && { initial_latitude: latitude }),
      ...(longitude !== undefined && { initial_longitude: longitude }),
      ...(unit !== undefined && { unit_number_dispatched: unit }),
      updated_at: nowIso(),
    }
    const fieldsChanged = Object.keys(changes).filter((key) => key !== 'updated_at')
    const result = await this.writer.run(async (trx) => {
      const updated = await repo.updateSos(trx, sos.id, changes)
      if (!updated) throw errors.notFound()
      const event = await appendEvent(trx, sos.id, 'edited', eventActor(ctx.actor), changes.updated_at, { fields: fieldsChanged })
      return { row: { ...updated, last_seq: event.seq }, event: toEventDto(event) }
    })
    this.publisher.sosUpdated(result.row, toUpdatedEvent(result.row, result.event), sos.unit_number_dispatched)
    return (await this.expand([result.row], ctx.baseUrl))[0]
  }

  async adminDelete(id: number, ctx: RequestContext): Promise<void> {
    if (!ctx.actor.user) throw errors.notAuthenticated()
    if (!sosPolicy.administer(ctx.actor)) throw errors.forbidden()
    const sos = await this.load(id)
    const images = await repo.imagesFor(this.db, [sos.id])
    if (!(await this.writer.run((trx) => repo.deleteSos(trx, sos.id)))) throw errors.notFound()
    await this.images.remove(images.map((image) => image.image))
  }

  /** A `sos_token` in the body counts like the X-SOS-Token header. */
  private withBodyToken(actor: Actor, payload: Record<string, unknown>): Actor {
    const token = payload.sos_token
    return typeof token === 'string' && !actor.sosToken ? { ...actor, sosToken: token } : actor
  }

  /**
   * Rows → API objects, children fetched in a few queries per chunk of ids. Each SOS embeds its newest
   * `locationsPerSos` points (oldest first) and the total in `location_updates_count`.
   */
  async expand(rows: SosRow[], baseUrl: string, locationsPerSos = this.locationsInLists): Promise<SosDto[]> {
    const locations: LocationRow[] = []
    const assignments: AssignmentRow[] = []
    const images: ImageRow[] = []
    const counts = new Map<number, number>()
    // Chunked so a long list stays under the databases' bound-parameter limits.
    for (let i = 0; i < rows.length; i += 500) {
      const ids = rows.slice(i, i + 500).map((row) => row.id)
      const [l, a, im, c] = await Promise.all([
        repo.recentLocationsFor(this.db, ids, locationsPerSos),
        repo.assignmentsFor(this.db, ids),
        repo.imagesFor(this.db, ids),
        repo.locationCounts(this.db, ids),
      ])
      locations.push(...l)
      assignments.push(...a)
      images.push(...im)
      for (const [id, n] of c) counts.set(id, n)
    }
    const group = <T extends { sos_request_id: number }>(items: T[]) => {
      const map = new Map<number, T[]>()
      for (const item of items) {
        const list = map.get(item.sos_request_id)
        if (list) list.push(item)
        else map.set(item.sos_request_id, [item])
      }
      return map
    }
    const byLocation = group(locations)
    const byAssignment = group(assignments)
    const byImage = group(images)
    return rows.map((row) => ({
      id: row.id,
      user: row.user_id,
      name: row.name,
      sos_type: row.sos_type,
      status_flag: row.status_flag,
      status: row.status,
      initial_latitude: row.initial_latitude,
      initial_longitude: row.initial_longitude,
      unit_number_dispatched: row.unit_number_dispatched,
      acknowledged_flag: row.acknowledged_flag,
      room_id: row.room_id,
      created_at: row.created_at,
      updated_at: row.updated_at,
      location_updates: (byLocation.get(row.id) ?? []).map(toLocationDto),
      location_updates_count: counts.get(row.id) ?? 0,
      officer_assignments: (byAssignment.get(row.id) ?? []).map(toAssignmentDto),
      images: (byImage.get(row.id) ?? []).map((image) => this.images.describe(image, baseUrl)),
      seq: row.last_seq,
      outcome: row.outcome,
      resolution_note: row.resolution_note,
      cancel_reason: row.cancel_reason,
      acknowledged_at: row.acknowledged_at,
      dispatched_at: row.dispatched_at,
      accepted_at: row.accepted_at,
      arrived_at: row.arrived_at,
      closed_at: row.closed_at,
      escalation_level: row.escalation_level,
    }))
  }
}

function payloadIsNull(body: unknown, field: string): boolean {
  return typeof body === 'object' && body !== null && (body as Record<string, unknown>)[field] === null
}
