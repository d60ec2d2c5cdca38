// Reading the incident log: one SOS's events, the resumable feed across all SOS, the admin audit trail, and
// the socket replay a reconnecting dashboard asks for with `join_sos_channel {after}`.
import type { Kysely } from 'kysely'
import type { Database } from '../../db/schema.ts'
import { errors } from '../../errors.ts'
import { FieldReader } from '../../lib/fields.ts'
import type { EventsReplay, LogEvent } from '../../realtime/contract.ts'
import { MAX_PAGE, refuse, type RequestContext } from './sos.dto.ts'
import { EVENT_KINDS, eventFeed, eventsOfSos, latestCursor, toEventDto, type FeedFilter } from './sos.log.ts'
import { hasNoCredential, sosPolicy } from './sos.policy.ts'
import type { SosReads } from './sos.lifecycle.service.ts'

const MAX_CURSOR = 2_147_483_647
const ISO_RE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?)?$/

export interface EventPage {
  /** The cursor (or seq, for one SOS) this page starts after. */
  after: number
  results: LogEvent[]
  /** Where the next page starts: pass it back as `after` (the last result's, or `after` when empty). */
  next_after: number
  /** An absolute link to the next page, or null when this page is the end of the log so far. */
  next: string | null
}

/** `?after=&limit=` with DRF-style field errors. */
function readPage(query: Record<string, unknown>, fields = new FieldReader(query)) {
  const after = fields.integer('after', { required: false, min: 0, max: MAX_CURSOR }) ?? 0
  const limit = fields.integer('limit', { required: false, min: 1, max: MAX_PAGE }) ?? 100
  return { after, limit, fields }
}

function readTime(fields: FieldReader, field: string): string | undefined {
  const raw = fields.string(field, { required: false, max: 40 })
  if (raw === undefined) return undefined
  const time = Date.parse(raw)
  if (!ISO_RE.test(raw) || Number.isNaN(time)) return fields.fail(field, 'Datetime has wrong format. Use ISO 8601 (2026-12-01T10:15:30Z).')
  return new Date(time).toISOString()
}

export class IncidentLog {
  private readonly db: Kysely<Database>
  private readonly reads: SosReads
  private readonly replayLimit: number

  constructor(deps: { db: Kysely<Database>; reads: SosReads; replayLimit: number }) {
    this.db = deps.db
    this.reads = deps.reads
    this.replayLimit = deps.replayLimit
  }

  /** GET /api/sos/{id}/events/?after=<seq>&limit=: for whoever may read that SOS. */
  async ofSos(id: number, ctx: RequestContext, query: Record<string, unknown>, link: (after: number, limit: number) => string): Promise<EventPage & { sos_id: number }> {
    if (hasNoCredential(ctx.actor)) throw errors.notAuthenticated()
    const sos = await this.reads.load(id)
    if (!sosPolicy.read(ctx.actor, sos)) throw refuse(ctx.actor)
    const { after, limit, fields } = readPage(query)
    fields.done()
    const rows = await eventsOfSos(this.db, sos.id, after, limit)
    const results = rows.map(toEventDto)
    const nextAfter = results.at(-1)?.seq ?? after
    return { sos_id: sos.id, after, results, next_after: nextAfter, next: results.length === limit ? link(nextAfter, limit) : null }
  }

  /**
   * GET /api/events/?after=<cursor>&limit=: everything the caller may see, across all SOS, in cursor
   * order. Staff see every SOS; a citizen only her own SOS; nobody else anything.
   */
  async feed(ctx: RequestContext, query: Record<string, unknown>, link: (after: number, limit: number) => string): Promise<EventPage> {
    if (!ctx.actor.user) throw errors.notAuthenticated()
    const { after, limit, fields } = readPage(query)
    fields.done()
    const filter: FeedFilter = sosPolicy.listAll(ctx.actor) ? {} : { ownerId: ctx.actor.user.id }
    return this.page(after, limit, filter, link)
  }

  /** GET /api/audit/?actor=&kind=&sos=&since=&until=&after=&limit=: admins, the same log as an audit trail. */
  async audit(ctx: RequestContext, query: Record<string, unknown>, link: (after: number, limit: number) => string): Promise<EventPage> {
    if (!ctx.actor.user) throw errors.notAuthenticated()
    if (!sosPolicy.administer(ctx.actor) || ctx.actor.legacy && ctx.actor.user.role !== 'admin') throw errors.forbidden()
    const { after, limit, fields } = readPage(query)
    const actorId = fields.integer('actor', { required: false, min: 1, max: MAX_CURSOR })
    const sosId = fields.integer('sos', { required: false, min: 1, max: MAX_CURSOR })
    const kind = fields.choice('kind', EVENT_KINDS)
    const since = readTime(fields, 'since')
    const until = readTime(fields, 'until')
    fields.done()
    return this.page(after, limit, { actorUserId: actorId, sosId, kind, since, until }, link)
  }

  private async page(after: number, limit: number, filter: FeedFilter, link: (after: number, limit: number) => string): Promise<EventPage> {
    const results = (await eventFeed(this.db, after, limit, filter)).map(toEventDto)
    const nextAfter = results.at(-1)?.cursor ?? after
    return { after, results, next_after: nextAfter, next: results.length === limit ? link(nextAfter, limit) : null }
  }

  /**
   * What a staff socket missed since `after`, from the database, in cursor order, at most EVENTS_REPLAY_LIMIT
   * (`truncated`: more were missed; the caller also sends the snapshot). The socket has joined the
   * channel before this read, so nothing falls between the replay and the live events (a live event may
   * also be in the replay: drop live events whose cursor is at or below the replay's `cursor`).
   */
  async replay(after: number): Promise<EventsReplay> {
    const rows = await eventFeed(this.db, after, this.replayLimit + 1)
    const events = rows.slice(0, this.replayLimit).map(toEventDto)
    return { after, events, truncated: rows.length > this.replayLimit, cursor: events.at(-1)?.cursor ?? Math.max(after, 0) }
  }

  /** The newest cursor, sent with the snapshot so a client knows where to resume from. */
  latestCursor(): Promise<number> {
    return latestCursor(this.db)
  }
}
