// Redis plugin: opens this node's Redis connections (rate limits, the Socket.IO adapter), watches them,
// and reports one state for all of them (up, down, connecting) to /ready, metrics and the log: an outage
// is logged once when it starts, then once a minute, and once when it ends, never per retry.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Redis, type RedisOptions } from 'ioredis'

/** `disabled`: no REDIS_URL (one node, nothing to reach). `connecting`: not yet heard from at start. */
export type RedisState = 'disabled' | 'connecting' | 'up' | 'down'

export interface RedisStatus {
  state: RedisState
  /** When the state last changed (ISO 8601). */
  since: string
  /** While down: the last connection error. */
  error?: string
}

export interface RedisLink {
  readonly enabled: boolean
  /** REDIS_PREFIX: stream name and key prefix. */
  readonly prefix: string
  /** Opens a connection that counts towards the node's Redis state. Never waits for it: ioredis keeps retrying. */
  connect(role: string, options: RedisOptions): Redis
  /** Stops watching a connection and closes it (its owner shutting down: not an outage). */
  release(client: Redis): void
  state(): RedisState
  status(): RedisStatus
  /** Resolves once the state is known (up or down), or after `ms`. */
  settled(ms: number): Promise<void>
}

declare module 'fastify' {
  interface FastifyInstance {
    redis: RedisLink
  }
}

export interface RedisPluginOptions {
  redisUrl: string | undefined
  redisPrefix: string
  /** Every connection error of a client (metrics); the log gets one line per outage instead. */
  onClientError?: (role: string) => void
}

/** While Redis stays down, how often the log is reminded of it. */
export const OUTAGE_REMINDER_MS = 60_000

interface ClientEntry {
  role: string
  /** pending: opened, no outcome yet; ready; failed: an error or a lost connection since its last ready. */
  state: 'pending' | 'ready' | 'failed'
  listeners: Array<[string, (...args: unknown[]) => void]>
}

/** Every retry would make an error line (ioredis retries every ≤ 2 s, per connection): one state per node instead. */
export class RedisLinkMonitor implements RedisLink {
  readonly enabled: boolean
  private readonly clients = new Map<Redis, ClientEntry>()
  private current: RedisState
  private since = new Date()
  private lastError: string | undefined
  private reminder: NodeJS.Timeout | undefined
  private readonly waiters = new Set<() => void>()

  constructor(
    private readonly url: string | undefined,
    readonly prefix: string,
    private readonly log: FastifyInstance['log'],
    private readonly onClientError: (role: string) => void = () => undefined,
  ) {
    this.enabled = !!url
    this.current = url ? 'connecting' : 'disabled'
  }

  connect(role: string, options: RedisOptions): Redis {
    if (!this.url) throw new Error('REDIS_URL is not set')
    const client = new Redis(this.url, { connectionName: `naarikavach:${role}`, ...options })
    const entry: ClientEntry = { role, state: 'pending', listeners: [] }
    const listen = (event: string, fn: (...args: unknown[]) => void) => {
      entry.listeners.push([event, fn])
      client.on(event, fn)
    }
    listen('ready', () => {
      entry.state = 'ready'
      this.update()
    })
    listen('error', (err) => {
      this.lastError = err instanceof Error ? err.message : String(err)
      this.onClientError(role)
      entry.state = 'failed'
      this.update()
    })
    for (const event of ['close', 'end']) {
      listen(event, () => {
        entry.state = 'failed'
        this.update()
      })
    }
    this.clients.set(client, entry)
    return client
  }

  release(client: Redis): void {
    const entry = this.clients.get(client)
    if (entry) {
      for (const [event, fn] of entry.listeners) client.off(event, fn)
      this.clients.delete(client)
    }
    // An error listener stays, so a late socket error cannot become an uncaught exception.
    client.on('error', () => undefined)
    client.disconnect()
    if (this.clients.size === 0) this.stopReminder()
  }

  state(): RedisState {
    return this.current
  }

  status(): RedisStatus {
    const status: RedisStatus = { state: this.current, since: this.since.toISOString() }
    if (this.current === 'down' && this.lastError) status.error = this.lastError
    return status
  }

  private update(): void {
    if (this.clients.size === 0) return
    const entries = [...this.clients.values()]
    // A connection still opening changes nothing; one that failed means down; all ready means up.
    const next: RedisState = entries.some((c) => c.state === 'failed') ? 'down' : entries.every((c) => c.state === 'ready') ? 'up' : this.current
    if (next === this.current) return
    const previous = this.current
    const downForSeconds = Math.round((Date.now() - this.since.getTime()) / 1000)
    this.current = next
    this.since = new Date()
    for (const waiter of [...this.waiters]) waiter()
    if (next === 'up') {
      this.stopReminder()
      if (previous === 'down') {
        this.log.warn({ redis: 'up', down_for_s: downForSeconds }, 'redis is back: events reach every node again and rate limits are shared again')
      } else {
        this.log.info({ redis: 'up' }, 'redis connected')
      }
      this.lastError = undefined
    } else if (next === 'down') {
      const waiting = entries.filter((c) => c.state !== 'ready').map((c) => c.role)
      this.log.error(
        { redis: 'down', error: this.lastError, connections: waiting },
        'redis unavailable: REST and this node\'s sockets keep working, but events reach only this node\'s sockets and rate limits count per node until it returns (retrying; reminder every minute)',
      )
      this.reminder = setInterval(() => {
        this.log.warn({ redis: 'down', down_for_s: Math.round((Date.now() - this.since.getTime()) / 1000), error: this.lastError }, 'redis still unavailable')
      }, OUTAGE_REMINDER_MS)
      this.reminder.unref()
    }
  }

  private stopReminder(): void {
    if (this.reminder) clearInterval(this.reminder)
    this.reminder = undefined
  }

  /** Resolves once the state is known (up or down), or after `ms`: start-up waits this long for Redis, never longer. */
  settled(ms: number): Promise<void> {
    if (this.current !== 'connecting') return Promise.resolve()
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        this.waiters.delete(done)
        resolve()
      }
      const timer = setTimeout(done, ms)
      this.waiters.add(done)
    })
  }

  /** Closes whatever its owners have not released (their plugins closed first). */
  closeAll(): void {
    for (const client of [...this.clients.keys()]) this.release(client)
    this.stopReminder()
  }
}

export default fp(
  async function redisPlugin(app: FastifyInstance, opts: RedisPluginOptions) {
    const link = new RedisLinkMonitor(opts.redisUrl, opts.redisPrefix, app.log, opts.onClientError)
    app.decorate('redis', link)
    app.addHook('onClose', async () => link.closeAll())
  },
  { name: 'redis' },
)
