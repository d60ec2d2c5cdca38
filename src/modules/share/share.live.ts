// The live part of the tracking page: server-sent events. One poller per watched SOS per node reads what changed
// (new points, a new event, a revoked link) and pushes it to every page of that SOS open on this node.
//
// Why SSE and polling, not Socket.IO: the page is served by the API port, so an EventSource to the same origin
// needs no CORS, no second origin in the CSP and no client library; and reading the database (not the process's
// own events) makes every node see changes made on every other node, with or without Redis, and after a restart.
// The cost is one or two small indexed queries per watched SOS per SHARE_LIVE_POLL_MS on each node, however many
// people watch it, and it leaves the location hot path untouched.
import type { Kysely } from 'kysely'
import type { Database, ShareLinkRow, SosRow } from '../../db/schema.ts'
import { nowIso } from '../../lib/time.ts'
import * as sosRepo from '../sos/sos.repository.ts'
import * as repo from './share.repository.ts'
import { linkStatus, toPosition, type ShareService } from './share.service.ts'

export interface LiveStream {
  link: ShareLinkRow
  send(event: string, data: unknown): void
  end(): void
}

interface Watch {
  sosId: number
  viewers: Set<LiveStream>
  /** Newest location id already pushed (or contained in a state sent). */
  lastLocationId: number
  lastSeq: number
  /** Positions were hidden (after the close window) and the viewers were told. */
  ended: boolean
  busy: boolean
}

export interface ShareLiveOptions {
  db: Kysely<Database>
  share: ShareService
  pollMs: number
  log: { error(obj: object, msg: string): void }
  /** A comment line every so often keeps proxies from closing an idle stream. */
  keepAliveMs?: number
}

export class ShareLive {
  private readonly watches = new Map<number, Watch>()
  private timer: NodeJS.Timeout | undefined
  private keepAlive: NodeJS.Timeout | undefined
  private closed = false

  constructor(private readonly opts: ShareLiveOptions) {}

  get viewerCount(): number {
    let n = 0
    for (const watch of this.watches.values()) n += watch.viewers.size
    return n
  }

  /** Sends the page its state, then keeps it posted until it goes away, the link dies or the server stops. */
  async add(stream: LiveStream, sos: SosRow): Promise<void> {
    if (this.closed) return stream.end()
    let watch = this.watches.get(sos.id)
    const lastLocationId = await this.maxLocationId(sos.id)
    stream.send('state', await this.opts.share.state(stream.link, sos))
    if (!watch) {
      watch = { sosId: sos.id, viewers: new Set(), lastLocationId, lastSeq: sos.last_seq, ended: false, busy: false }
      this.watches.set(sos.id, watch)
    }
    watch.viewers.add(stream)
    this.start()
  }

  remove(stream: LiveStream): void {
    for (const [id, watch] of this.watches) {
      if (watch.viewers.delete(stream) && watch.viewers.size === 0) this.watches.delete(id)
    }
    if (this.watches.size === 0) this.stop()
  }

  /** Ends every stream (shutdown): the pages' EventSource reconnects, to another node if there is one. */
  closeAll(): void {
    this.closed = true
    for (const watch of this.watches.values()) for (const viewer of watch.viewers) viewer.end()
    this.watches.clear()
    this.stop()
  }

  private start(): void {
    this.timer ??= setInterval(() => void this.tickAll(), this.opts.pollMs)
    this.keepAlive ??= setInterval(() => {
      for (const watch of this.watches.values()) for (const viewer of watch.viewers) viewer.send('', null)
    }, this.opts.keepAliveMs ?? 15_000)
    this.timer.unref()
    this.keepAlive.unref()
  }

  private stop(): void {
    clearInterval(this.timer)
    clearInterval(this.keepAlive)
    this.timer = undefined
    this.keepAlive = undefined
  }

  private async tickAll(): Promise<void> {
    await Promise.all([...this.watches.values()].map((watch) => this.tick(watch)))
  }

  /** One look at one SOS; a slow database never stacks ticks of the same SOS. */
  async tick(watch: Watch): Promise<void> {
    if (watch.busy) return
    watch.busy = true
    try {
      await this.check(watch)
    } catch (err) {
      this.opts.log.error({ err, sos_id: watch.sosId }, 'live-tracking poll failed; retrying on the next tick')
    } finally {
      watch.busy = false
    }
  }

  private async check(watch: Watch): Promise<void> {
    const now = nowIso()
    const sos = await sosRepo.findSosById(this.opts.db, watch.sosId)
    if (!sos) return this.endAll(watch, 'gone')
    // Revoked or expired links stop at once; the others get their link's latest state (on_the_way_at).
    const states = new Map((await repo.linkStates(this.opts.db, [...watch.viewers].map((v) => v.link.id))).map((s) => [s.id, s]))
    for (const viewer of [...watch.viewers]) {
      const state = states.get(viewer.link.id)
      if (!state || linkStatus(state, now) !== 'active') {
        viewer.send('gone', { reason: 'This link has expired or was revoked.' })
        viewer.end()
        this.remove(viewer)
      } else {
        viewer.link = { ...viewer.link, ...state }
      }
    }
    if (watch.viewers.size === 0) return
    const until = this.opts.share.positionsUntil(sos)
    const hidden = until !== null && until <= now
    if (sos.last_seq !== watch.lastSeq || (hidden && !watch.ended)) {
      // Something happened (a status change, "on my way", a close) or the positions just went dark: send it all again.
      watch.lastSeq = sos.last_seq
      watch.lastLocationId = await this.maxLocationId(sos.id)
      for (const viewer of watch.viewers) viewer.send('state', await this.opts.share.state(viewer.link, sos))
      if (hidden) {
        watch.ended = true
        for (const viewer of watch.viewers) viewer.send('end', { reason: 'This SOS is closed.' })
      }
      return
    }
    if (hidden) return
    const points = await this.opts.db
      .selectFrom('location_updates')
      .select(['id', 'latitude', 'longitude', 'accuracy', 'timestamp'])
      .where('sos_request_id', '=', sos.id)
      .where('id', '>', watch.lastLocationId)
      .orderBy('id')
      .limit(500)
      .execute()
    for (const point of points) {
      watch.lastLocationId = Math.max(watch.lastLocationId, point.id)
      for (const viewer of watch.viewers) viewer.send('position', toPosition(point))
    }
  }

  private endAll(watch: Watch, event: string): void {
    for (const viewer of watch.viewers) {
      viewer.send(event, { reason: 'This link no longer opens anything.' })
      viewer.end()
    }
    this.watches.delete(watch.sosId)
  }

  private async maxLocationId(sosId: number): Promise<number> {
    const row = await this.opts.db
      .selectFrom('location_updates')
      .select((eb) => eb.fn.max('id').as('max'))
      .where('sos_request_id', '=', sosId)
      .executeTakeFirst()
    return Number(row?.max ?? 0)
  }
}
