// Budgets shared by every transport (REST and Socket.IO): fixed windows in memory or in Redis, never failing closed.
import type { Redis } from 'ioredis'

/** At most `max` hits per `windowMs`, in fixed windows that start at a key's first hit. */
export interface RateRule {
  max: number
  windowMs: number
}

export interface RateDecision {
  allowed: boolean
  /** Whole seconds until the refusing window ends (0 when allowed). */
  retryAfterSeconds: number
}

export interface RateLimiter {
  /**
   * Counts one hit for `key` against every rule, but only if every rule still has room: a refused
   * attempt costs nothing, so a person retrying in a panic does not push her own budget further away.
   */
  consume(key: string, rules: RateRule[]): Promise<RateDecision>
}

interface Window {
  count: number
  resetAt: number
}

const ALLOWED: RateDecision = { allowed: true, retryAfterSeconds: 0 }
const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000))

/** One process's counters. Expired windows are swept lazily, so memory follows the active keys only. */
export class MemoryRateLimiter implements RateLimiter {
  private windows = new Map<string, Window>()
  private nextSweep = 0

  async consume(key: string, rules: RateRule[], now = Date.now()): Promise<RateDecision> {
    return this.consumeSync(key, rules, now)
  }

  consumeSync(key: string, rules: RateRule[], now = Date.now()): RateDecision {
    if (now >= this.nextSweep) this.sweep(now)
    let refusedUntil = 0
    const windows: Window[] = []
    for (const rule of rules) {
      const id = `${key}:${rule.windowMs}`
      let window = this.windows.get(id)
      if (!window || window.resetAt <= now) {
        window = { count: 0, resetAt: now + rule.windowMs }
        this.windows.set(id, window)
      }
      if (window.count >= rule.max) refusedUntil = Math.max(refusedUntil, window.resetAt)
      windows.push(window)
    }
    if (refusedUntil) return { allowed: false, retryAfterSeconds: seconds(refusedUntil - now) }
    for (const window of windows) window.count += 1
    return ALLOWED
  }

  private sweep(now: number) {
    for (const [id, window] of this.windows) if (window.resetAt <= now) this.windows.delete(id)
    this.nextSweep = now + 60_000
  }
}

/**
 * Check every window, then count in all of them, atomically (one script). KEYS: one per rule;
 * ARGV: max and window (ms) per rule. Returns {1, 0} when counted, {0, ms until retry} when refused.
 */
const CONSUME_SCRIPT = `
local refused = 0
for i, key in ipairs(KEYS) do
  local count = tonumber(redis.call('GET', key) or '0')
  if count >= tonumber(ARGV[2 * i - 1]) then
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then ttl = tonumber(ARGV[2 * i]) end
    if ttl > refused then refused = ttl end
  end
end
if refused > 0 then return {0, refused} end
for i, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, ARGV[2 * i]) end
end
return {1, 0}
`

const COMMAND = 'naarikavachConsumeBudget'

export interface RedisRateLimiterOptions {
  redis: Redis
  /** Key prefix, e.g. `naarikavach:limits:`. */
  prefix: string
  /** Told (at most every 10 s) when Redis cannot answer and the node counts on its own. */
  onError: (err: unknown) => void
}

/**
 * Counters in Redis, so every node draws on one budget. When Redis cannot answer (down, slow, not yet
 * connected) the node falls back to its own in-memory counters for that call: the limit degrades to
 * per node instead of disappearing, and nothing is ever refused *because* Redis is down.
 */
export class RedisRateLimiter implements RateLimiter {
  private readonly fallback = new MemoryRateLimiter()
  private lastErrorLog = 0

  constructor(private readonly opts: RedisRateLimiterOptions) {
    // A defined command runs as EVALSHA (the script is sent once, then by its digest).
    opts.redis.defineCommand(COMMAND, { lua: CONSUME_SCRIPT })
  }

  async consume(key: string, rules: RateRule[]): Promise<RateDecision> {
    const { redis, prefix } = this.opts
    if (redis.status !== 'ready') return this.degraded(key, rules, new Error(`redis is ${redis.status}`))
    // The braces are a Redis Cluster hash tag: all of a key's windows live in one slot, as the script needs.
    const keys = rules.map((rule) => `${prefix}{${key}}:${rule.windowMs}`)
    const args = rules.flatMap((rule) => [rule.max, rule.windowMs])
    try {
      const command = (redis as unknown as Record<string, (...args: Array<string | number>) => Promise<[number, number]>>)[COMMAND]
      const [allowed, retryMs] = await command.call(redis, keys.length, ...keys, ...args)
      return allowed === 1 ? ALLOWED : { allowed: false, retryAfterSeconds: seconds(retryMs) }
    } catch (err) {
      return this.degraded(key, rules, err)
    }
  }

  private degraded(key: string, rules: RateRule[], err: unknown): RateDecision {
    const now = Date.now()
    if (now - this.lastErrorLog >= 10_000) {
      this.lastErrorLog = now
      this.opts.onError(err)
    }
    return this.fallback.consumeSync(key, rules, now)
  }
}

/**
 * The budget key of a client address. IPv4-mapped IPv6 (`::ffff:1.2.3.4`) is the IPv4 address, so the
 * REST and socket servers agree whatever they bind to. A native IPv6 address counts by its /64: one
 * subscriber is usually given a whole /64, and keying by full address would give them 2^64 budgets.
 */
export function clientKey(address: string | undefined): string {
  if (!address) return 'unknown'
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped) return mapped[1]
  if (!address.includes(':')) return address
  return `${expandIpv6(address).slice(0, 4).join(':')}::/64`
}

function expandIpv6(address: string): string[] {
  const bare = address.split('%')[0].toLowerCase()
  const [head, tail] = bare.includes('::') ? bare.split('::') : [bare, undefined]
  const left = head ? head.split(':') : []
  const right = tail ? tail.split(':') : []
  const missing = tail === undefined ? 0 : 8 - left.length - right.length
  return [...left, ...Array<string>(Math.max(0, missing)).fill('0'), ...right].map((part) => part.replace(/^0+(?=.)/, ''))
}
