// SOS rules: creation, reads, location updates, dispatch and closing. Owns the transactions and
// publishes each change only after its commit.
import crypto from 'node:crypto'
import type { Kysely } from 'kysely'
import type { AssignmentRow, Database, IdempotencyKeyRow, ImageRow, LocationRow, SosRow } from '../../db/schema.ts'
import type { Writer } from '../../db/writer.ts'
import { isUniqueViolation } from '../../db/dialect.ts'
import type { AppError} from '../../errors.ts';
import { errors } from '../../errors.ts'
import { asObject, FieldReader } from '../../lib/fields.ts'
import type { RateLimiter } from '../../lib/rate-limiter.ts'
import { digestsEqual, newSosToken, sha256Hex } from '../../lib/secrets.ts'
import { nowIso } from '../../lib/time.ts'
import type { HistoryReplay, LocationSnapshot, OpenSos, SosSnapshot } from '../../realtime/contract.ts'
import { COORDS, pageLinks, readUnitNumber, refuse, toAssignmentDto, toLocationDto, toNewSosEvent, toPoint, type ImageLinks, type Page, type RequestContext, type SosDto } from './sos.dto.ts'
import type { RealtimePublisher } from '../../realtime/publisher.ts'
import { after, SosLifecycle, toUpdatedEvent, type EscalationTimes } from './sos.lifecycle.service.ts'
import type { SosCreateExtension, SosCreateStep } from './sos.extensions.ts'
import { claimFor, deriveSosToken, idempotencyConflict, newTokenSalt, readIdempotencyKey, type IdempotencyClaim, type IdempotencyInput } from './sos.idempotency.ts'
import { SosCreateBudget, type SosCreateLimits } from './sos.limits.ts'
import { SosLocations, type LocationRules, type PageMode } from './sos.locations.service.ts'
import { appendEvent, appendFirstEvent, eventActor, toEventDto } from './sos.log.ts'
import { IncidentLog } from './sos.log.service.ts'
import * as repo from './sos.repository.ts'
import { hasNoCredential, sosPolicy, type Actor } from './sos.policy.ts'

export * from './sos.dto.ts'

/** The answer of create-sos (also replayed, identical, for a repeated Idempotency-Key). */
export interface CreatedAnswer {
  status: 'success'
  message: string
  sos_id: number
  room_id: string
  sos_token: string
  /** What create extensions add (trusted contacts: contacts_count, contacts_rejected). */
  [extra: string]: unknown
}

/** Purge expired idempotency keys at most this often per process (or once per TTL, if shorter). */
const IDEMPOTENCY_PURGE_MS = 60_000

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
  /** Location points: single updates, offline batches, paging, the room replay. */
  readonly track: SosLocations
  private readonly idempotencyTtlSeconds: number
  private nextIdempotencyPurge = 0

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
    locationRules: LocationRules
    /** How long a create's Idempotency-Key is remembered (IDEMPOTENCY_TTL_SECONDS). */
    idempotencyTtlSeconds: number
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
    this.track = new SosLocations({ db: deps.db, writer: deps.writer, publisher: deps.publisher, historyReplayLimit: deps.historyReplayLimit, rules: deps.locationRules })
    this.idempotencyTtlSeconds = deps.idempotencyTtlSeconds
  }

  /** Another module's part of raising an SOS (trusted contacts), run inside the create transaction. */
  addCreateExtension(extension: SosCreateExtension): void {
    this.createExtensions.push(extension)
  }

  /** POST /api/create-sos/, /api/sos/ and socket `create_sos`. */
  async create(body: unknown, actor: Actor, address: string, idempotency?: IdempotencyInput): Promise<CreatedAnswer> {
    return (await this.createOrReplay(body, actor, address, idempotency)).answer
  }

  /**
   * Creates an SOS, or, for a key already used by this caller within IDEMPOTENCY_TTL_SECONDS, answers
   * exactly as the first time (`replayed: true`): no second SOS, no second `new_sos`, no budget spent.
   * Racing first attempts are decided by the key's primary key: the loser's whole transaction rolls back.
   */
  async createOrReplay(body: unknown, actor: Actor, address: string, idempotency?: IdempotencyInput): Promise<{ answer: CreatedAnswer; replayed: boolean }> {
    const payload = asObject(body)
    const fields = new FieldReader(payload)
    const name = fields.string('name', { max: 255 })
    const sosType = fields.intChoice('sos_type', [0, 1], 0)
    const latitude = fields.number('initial_latitude', COORDS.latitude)
    const longitude = fields.number('initial_longitude', COORDS.longitude)
    const key = readIdempotencyKey(fields, idempotency)
    fields.done()
    // Extensions read their own fields (they never refuse the SOS); pure, so a replay prepares them too.
    const steps = this.createExtensions.map((extension) => extension.prepare(payload, actor))
    // An extension's fields join the request a key belongs to only when they were sent, so that keys stored
    // before an extension existed (or requests without its fields) keep their fingerprint.
    const extra = steps.map((step) => step?.fingerprint)
    const request = extra.some((value) => value !== undefined) ? [name, sosType, latitude, longitude, ...extra] : [name, sosType, latitude, longitude]
    const claim = key === undefined ? undefined : claimFor(actor, key, request)

    // A repeat is answered before the budget: a phone retrying the create it already made costs nothing,
    // even when the budget is spent (first attempts racing each other each count: none knows it is a repeat).
    if (claim) {
      const earlier = await repo.findIdempotencyKey(this.db, claim.keyHash)
      if (earlier && earlier.expires_at > nowIso()) return this.replay(earlier, claim, steps)
    }
    // After validation, so a malformed request costs no budget; before the write, so a refused one stores nothing.
    await this.createBudget.spend(actor, address)

    const now = nowIso()
    const roomId = crypto.randomUUID()
    const salt = claim ? newTokenSalt() : undefined
    const sosToken = claim ? deriveSosToken(claim.key, salt!, roomId) : newSosToken()
    let outcome
    try {
      outcome = await this.writer.run(async (trx) => {
        if (claim) {
          // SQLite: an earlier job of the same group commit may hold the key (uncommitted, same connection).
          const current = await repo.findIdempotencyKey(trx, claim.keyHash)
          if (current && current.expires_at > now) return { earlier: current }
          if (current) await repo.deleteExpiredIdempotencyKey(trx, claim.keyHash, now)
        }
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
          room_id: roomId,
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
          escalation_level: 0,
          // Its first event is seq 1, written below without a second UPDATE of the new row.
          last_seq: 1,
        })
        const created = await appendFirstEvent(trx, inserted, 'created', eventActor(actor), now, {
          name: inserted.name, sos_type: inserted.sos_type, latitude: inserted.initial_latitude, longitude: inserted.initial_longitude,
        })
        // In the same transaction as the SOS: a key exists exactly when its SOS does.
        if (claim) {
          await repo.insertIdempotencyKey(trx, {
            key_hash: claim.keyHash,
            request_hash: claim.requestHash,
            sos_request_id: inserted.id,
            token_salt: salt!,
            created_at: now,
            expires_at: new Date(Date.parse(now) + this.idempotencyTtlSeconds * 1000).toISOString(),
          })
        }
        // After the key, so a create that lost its key's race does no extension work before it rolls back
        // (and everything an extension writes, e.g. contact alerts, rolls back with it).
        for (const step of steps) await step?.write(trx, inserted, now)
        return { row: { ...inserted, last_seq: created.seq }, event: toEventDto(created) }
      })
    } catch (error) {
      // PostgreSQL: another transaction committed this key first (this INSERT waited for it, then failed).
      if (!claim || !isUniqueViolation(error, { pgConstraint: 'idempotency_keys_pkey', sqliteColumn: 'idempotency_keys.key_hash' })) throw error
      const winner = await repo.findIdempotencyKey(this.db, claim.keyHash)
      if (!winner) throw error
      return this.replay(winner, claim, steps)
    }
    if ('earlier' in outcome) return this.replay(outcome.earlier!, claim!, steps)
    if (claim) this.purgeExpiredKeys()
    const { row, event } = outcome
    this.publisher.newSos({ ...toNewSosEvent(row), seq: event.seq, cursor: event.cursor })
    this.publisher.sosUpdated(row, toUpdatedEvent(row, event))
    return { answer: this.createdAnswer(row.id, row.room_id, sosToken, steps), replayed: false }
  }

  /**
   * Deletes expired keys, at most once a minute (or a TTL) per process, in a transaction of its own after a keyed
   * create: not inside the create's, where its row locks could meet another node's purge and cost an SOS
   * its commit. Nothing waits for it; a failed purge is simply tried again later.
   */
  private purgeExpiredKeys(): void {
    if (Date.now() < this.nextIdempotencyPurge) return
    this.nextIdempotencyPurge = Date.now() + Math.min(IDEMPOTENCY_PURGE_MS, this.idempotencyTtlSeconds * 1000)
    this.writer.run((trx) => repo.purgeExpiredIdempotencyKeys(trx, nowIso())).catch(() => undefined)
  }

  private createdAnswer(sosId: number, roomId: string, sosToken: string, steps: Array<SosCreateStep | undefined>): CreatedAnswer {
    const extra = Object.assign({}, ...steps.map((step) => step?.answer)) as Record<string, unknown>
    return { status: 'success', message: 'SOS created successfully', sos_id: sosId, room_id: roomId, sos_token: sosToken, ...extra }
  }

  /**
   * The first answer again, its token derived anew from the key (the stored hash must match it). Extensions
   * rebuild their part of the answer from what the first create stored; they write nothing (no second alert).
   */
  private async replay(earlier: IdempotencyKeyRow, claim: IdempotencyClaim, steps: Array<SosCreateStep | undefined>): Promise<{ answer: CreatedAnswer; replayed: true }> {
    if (earlier.request_hash !== claim.requestHash) throw idempotencyConflict()
    const sos = await this.load(earlier.sos_request_id)
    const sosToken = deriveSosToken(claim.key, earlier.token_salt, sos.room_id)
    if (!digestsEqual(sha256Hex(sosToken), sos.sos_token_hash)) throw new Error('an idempotent replay derived a token that does not match its SOS')
    for (const step of steps) await step?.replay?.(this.db, sos)
    return { answer: this.createdAnswer(sos.id, sos.room_id, sosToken, steps), replayed: true }
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

  /** GET /api/sos/{id}/locations/: the full history, paged (SosLocations.page), for whoever may read the SOS. */
  async locations(id: number, ctx: RequestContext, query: Record<string, unknown>, nextUrl: (mode: PageMode, after: number, limit: number) => string) {
    if (hasNoCredential(ctx.actor)) throw errors.notAuthenticated()
    const row = await this.load(id)
    if (!sosPolicy.read(ctx.actor, row)) throw refuse(ctx.actor)
    return this.track.page(row, query, nextUrl)
  }

  /** POST /api/sos/{id}/locations/: an offline phone's buffered fixes (SosLocations.addBatch). */
  addLocations(id: number, body: unknown, ctx: RequestContext) {
    return this.track.addBatch(id, body, ctx)
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

  /** The stored history replayed to a client joining the SOS room (SosLocations.history). */
  history(sos: SosRow): Promise<HistoryReplay> {
    return this.track.history(sos)
  }

  /** POST /api/update-location/ and socket `update_location` (SosLocations.update). */
  updateLocation(body: unknown, actor: Actor) {
    return this.track.update(body, actor)
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
