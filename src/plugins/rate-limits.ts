// Rate limits: @fastify/rate-limit for the HTTP-only limits (login, registration) and `app.limiter`, the
// budgets REST and Socket.IO share (SOS creation); both count in Redis when REDIS_URL is set.
import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { MemoryRateLimiter, RedisRateLimiter, type RateLimiter } from '../lib/rate-limiter.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** Budgets counted once for every transport and (with Redis) every node. */
    limiter: RateLimiter
  }
}

export type RateLimitOptions = Record<never, never>

/** How long start-up waits for the first Redis connection before counting per node (it keeps retrying). */
const REDIS_READY_WAIT_MS = 2000

export default fp(
  async function rateLimitsPlugin(app: FastifyInstance) {
    if (!app.redis.enabled) {
      await app.register(rateLimit, { global: false })
      app.decorate('limiter', new MemoryRateLimiter())
      return
    }
    // Counted in Redis, the limits hold for the cluster (N nodes would otherwise allow N times as much).
    // No offline queue and a command timeout: a slow or absent Redis makes a limit fail open (HTTP-only
    // limits) or count per node (shared budgets) within a second, and never holds up an SOS.
    // Its connection errors are reported by the redis plugin (one line per outage, not one per retry).
    const redis = app.redis.connect('rate-limits', { connectTimeout: 2000, commandTimeout: 1000, maxRetriesPerRequest: 1, enableOfflineQueue: false })
    const prefix = app.redis.prefix
    app.addHook('onClose', async () => app.redis.release(redis))
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, REDIS_READY_WAIT_MS)
      function done() {
        clearTimeout(timer)
        redis.off('ready', done)
        redis.off('error', done)
        resolve()
      }
      redis.once('ready', done)
      redis.once('error', done)
    })
    // skipOnError: if Redis is unreachable login and registration limits fail open.
    await app.register(rateLimit, { global: false, redis, nameSpace: `${prefix}:rate-limit:`, skipOnError: true })
    app.decorate(
      'limiter',
      new RedisRateLimiter({
        redis,
        prefix: `${prefix}:limits:`,
        // During an outage the redis plugin has said so already; this is for a Redis that is up but slow.
        onError: (err) => {
          if (app.redis.state() === 'up') app.log.warn({ err }, 'rate-limit redis unavailable: counting shared budgets on this node only')
        },
      }),
    )
  },
  { name: 'rate-limits', dependencies: ['redis'] },
)
