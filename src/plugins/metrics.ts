// Prometheus metrics at /metrics: process defaults, HTTP requests, sockets (by role), events broadcast by
// name and the event-loop time each took, socket event failures, revocations, database query latency and
// pool use, Redis state and errors.
// app.ts creates them (createMetrics) before any plugin, so every plugin can be handed its counters;
// gauges read the app's state when scraped; the plugin serves /metrics and counts requests.
// docs/operations.md says what each one means and what to alert on.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { PoolStats, QueryObservation } from '../db/dialect.ts'
import type { RevocationReason } from '../realtime/publisher.ts'
import type { RedisState } from './redis.ts'

/** The counters other plugins and services increment. */
export interface Instruments {
  /** One room broadcast by the publisher. */
  eventEmitted(event: string): void
  /** The synchronous time one room broadcast spent in Socket.IO's emit (seconds). */
  broadcastTimed(event: string, seconds: number): void
  /** A client event answered with an error of this code (5xx-class codes only: unavailable, internal_error). */
  eventFailed(event: string, code: string): void
  socketsRevoked(reason: RevocationReason): void
  dbQuery(query: QueryObservation): void
  redisError(connection: string): void
  /** A cluster message the adapter could not hand to Redis: it reached this node's sockets only. */
  adapterPublishFailed(): void
  /** An escalation step this node claimed and sent (unacknowledged SOS, silent unit). */
  escalated(reason: string): void
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Registry
    instruments: Instruments
  }
}

export interface MetricsProbes {
  /** Socket.IO connections open on this node. */
  socketCount(): number
  /** The role of each connected socket (null: anonymous). */
  socketRoles(): Iterable<string | null>
  /** The engine serving the realtime port (REALTIME_ENGINE, after any fallback). */
  realtimeEngine(): string
  /** The PostgreSQL pool's state (null on SQLite). */
  dbPool(): PoolStats | null
  /** This node's Redis connections. */
  redisState(): RedisState
}

export interface MetricsOptions {
  probes: MetricsProbes
  /** Whether REDIS_URL is set (the Redis metrics exist only then). */
  redis: boolean
}

export interface Metrics {
  registry: Registry
  instruments: Instruments
  http: { requests: Counter<'method' | 'route' | 'status'>; duration: Histogram<'route'> }
}

const ROLES = ['anonymous', 'citizen', 'officer', 'dispatcher', 'admin']

/** Every metric of one app. Probes are called only when /metrics is scraped. */
export function createMetrics(opts: MetricsOptions): Metrics {
    // One registry per app (not prom-client's global one), so several apps in one process do not clash.
    const registry = new Registry()
    const registers = [registry]
    const { probes } = opts
    collectDefaultMetrics({ register: registry, prefix: 'naarikavach_' })
    const requests = new Counter({
      name: 'naarikavach_http_requests_total',
      help: 'HTTP requests by method, route and status code',
      labelNames: ['method', 'route', 'status'],
      registers,
    })
    const duration = new Histogram({
      name: 'naarikavach_http_request_duration_seconds',
      help: 'HTTP request duration by route',
      labelNames: ['route'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    })
    new Gauge({
      name: 'naarikavach_socket_connections',
      help: 'Socket.IO connections open on this node',
      registers,
      collect() {
        this.set(probes.socketCount())
      },
    })
    new Gauge({
      name: 'naarikavach_realtime_engine_info',
      help: 'Always 1; the label says which engine serves the realtime port (uws or ws)',
      labelNames: ['engine'],
      registers,
      collect() {
        this.reset()
        this.set({ engine: probes.realtimeEngine() }, 1)
      },
    })
    new Gauge({
      name: 'naarikavach_socket_connections_by_role',
      help: 'Socket.IO connections open on this node, by the role of the signed-in user (anonymous: no token)',
      labelNames: ['role'],
      registers,
      collect() {
        const counts = new Map(ROLES.map((role) => [role, 0]))
        for (const role of probes.socketRoles()) {
          const key = role ?? 'anonymous'
          counts.set(key, (counts.get(key) ?? 0) + 1)
        }
        for (const [role, count] of counts) this.set({ role }, count)
      },
    })
    const emitted = new Counter({
      name: 'naarikavach_socket_events_emitted_total',
      help: 'Events broadcast to rooms, by event name (one per broadcast, whatever the number of recipients; through Redis to every node)',
      labelNames: ['event'],
      registers,
    })
    const broadcastSeconds = new Histogram({
      name: 'naarikavach_realtime_broadcast_seconds',
      help: 'Time one room broadcast held the event loop inside Socket.IO\'s emit (encoding + writing to every socket of the room on this node), by event name',
      labelNames: ['event'],
      // A bound at 15 ms (a new_sos to a full control room should stay under it, docs/BENCHMARKS.md), and
      // enough bounds up to a second to tell 120 ms from 250 ms on a node that is not there yet.
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.015, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2.5],
      registers,
    })
    const failed = new Counter({
      name: 'naarikavach_socket_event_failures_total',
      help: 'Client socket events answered with a server-side failure, by event and code (unavailable: the database was down; internal_error: a bug)',
      labelNames: ['event', 'code'],
      registers,
    })
    const revoked = new Counter({
      name: 'naarikavach_socket_revocations_total',
      help: 'Revocations that disconnected a user\'s or a token\'s sockets on every node, by reason',
      labelNames: ['reason'],
      registers,
    })
    const escalations = new Counter({
      name: 'naarikavach_escalations_total',
      help: 'Escalations sent by this node, by reason (unacknowledged: nobody acknowledged the SOS in time; unit_not_responding: the dispatched unit did not accept)',
      labelNames: ['reason'],
      registers,
    })
    const queries = new Histogram({
      name: 'naarikavach_db_query_duration_seconds',
      help: 'Database statement duration by kind (select, insert, update, commit, …) and outcome (ok, error)',
      labelNames: ['kind', 'outcome'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    })
    new Gauge({
      name: 'naarikavach_db_pool_connections',
      help: 'PostgreSQL pool connections of this node: in_use (lent to a request), idle, max (DATABASE_POOL_MAX)',
      labelNames: ['state'],
      registers,
      collect() {
        const stats = probes.dbPool()
        if (!stats) return
        this.set({ state: 'in_use' }, stats.total - stats.idle)
        this.set({ state: 'idle' }, stats.idle)
        this.set({ state: 'max' }, stats.max)
      },
    })
    new Gauge({
      name: 'naarikavach_db_pool_waiting_requests',
      help: 'Queries of this node waiting for a free PostgreSQL connection (the pool is exhausted while > 0)',
      labelNames: [],
      registers,
      collect() {
        const stats = probes.dbPool()
        if (stats) this.set(stats.waiting)
      },
    })
    let redisErrors: Counter<'connection'> | undefined
    let publishFailures: Counter | undefined
    if (opts.redis) {
      new Gauge({
        name: 'naarikavach_redis_up',
        help: '1 when every Redis connection of this node is ready (events cross nodes, limits are shared); 0 while Redis is down or still connecting',
        registers,
        collect() {
          this.set(probes.redisState() === 'up' ? 1 : 0)
        },
      })
      redisErrors = new Counter({
        name: 'naarikavach_redis_connection_errors_total',
        help: 'Redis connection errors by connection (rate-limits, adapter-publisher, adapter-stream-reader, adapter-subscriber); each retry during an outage counts',
        labelNames: ['connection'],
        registers,
      })
      publishFailures = new Counter({
        name: 'naarikavach_adapter_publish_failures_total',
        help: 'Broadcasts and disconnects the Socket.IO adapter could not publish to Redis: they reached only this node\'s sockets',
        registers,
      })
    }

    const instruments: Instruments = {
      eventEmitted: (event) => emitted.inc({ event }),
      broadcastTimed: (event, seconds) => broadcastSeconds.observe({ event }, seconds),
      eventFailed: (event, code) => failed.inc({ event, code }),
      socketsRevoked: (reason) => revoked.inc({ reason }),
      dbQuery: (query) => queries.observe({ kind: query.kind, outcome: query.ok ? 'ok' : 'error' }, query.durationMs / 1000),
      redisError: (connection) => redisErrors?.inc({ connection }),
      adapterPublishFailed: () => publishFailures?.inc(),
      escalated: (reason) => escalations.inc({ reason }),
    }
    return { registry, instruments, http: { requests, duration } }
}

export default fp(
  async function metricsPlugin(app: FastifyInstance, opts: { metrics: Metrics }) {
    const { registry, instruments, http } = opts.metrics
    app.decorate('metrics', registry)
    app.decorate('instruments', instruments)

    app.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url ?? 'unmatched'
      http.requests.inc({ method: request.method, route, status: reply.statusCode })
      http.duration.observe({ route }, reply.elapsedTime / 1000)
    })

    app.get('/metrics', { schema: { tags: ['ops'], summary: 'Prometheus metrics', hide: false } }, async (_request, reply) => {
      reply.type(registry.contentType)
      return registry.metrics()
    })
  },
  { name: 'metrics' },
)
