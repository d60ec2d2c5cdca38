// The one place that reads the environment: every setting, its default, its validation, and why.
import path from 'node:path'

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'

export interface Config {
  /** REST API port (the original's 8000). */
  port: number
  /** Socket.IO port (the original's 8001). */
  socketPort: number
  /** Bind address for both servers. */
  host: string
  /** `sqlite:<file>`, a bare file path, `sqlite::memory:`, or `postgres://…`. */
  databaseUrl: string
  /** Socket.IO Redis adapter; undefined means the in-memory adapter (one process). */
  redisUrl: string | undefined
  /** Prefix of the Redis stream/keys, so several deployments (or test runs) can share one Redis. */
  redisPrefix: string
  /** Where uploaded images are stored. */
  mediaRoot: string
  /** Restore the original's open access rules (for the unmodified legacy clients). */
  legacyOpenAccess: boolean
  corsOrigins: string[]
  logLevel: LogLevel
  /** Absolute base URL used in `image_url`; undefined means derived from the request's Host. */
  publicUrl: string | undefined
  /** HMAC key for signed media links; undefined means a random key kept in the database. */
  mediaSigningKey: string | undefined
  /** The key before the last rotation: links it signed keep working until they expire (at most one TTL). */
  mediaSigningKeyPrevious: string | undefined
  /** How long a signed `image_url` stays valid. */
  mediaUrlTtlSeconds: number
  /** Largest accepted image, in bytes. */
  imageMaxBytes: number
  /** Most images in one upload request. */
  imageMaxFiles: number
  /** Login attempts allowed per client IP per minute. */
  loginRateLimitPerMinute: number
  /** Registrations (POST /auth/users/) allowed per client IP per minute; admins are exempt. */
  registrationRateLimitPerMinute: number
  /** Anonymous SOS creations allowed per client IP per minute: one budget for both create paths and the socket. */
  sosCreateRateLimitPerMinute: number
  /** SOS creations one signed-in citizen may make per minute (the burst allowance); staff are exempt. */
  sosCreateAccountLimitPerMinute: number
  /** SOS creations one signed-in citizen may make per hour (the cap on a sustained flood). */
  sosCreateAccountLimitPerHour: number
  /** Trust X-Forwarded-* headers (set when behind a load balancer). */
  trustProxy: boolean
  /** scrypt cost as log2(N); 17 follows OWASP's recommendation (128 MiB, ~0.3 s). */
  passwordHashCost: number
  /** Password hashes running at once; below libuv's thread pool size so file I/O always has a thread. */
  passwordHashConcurrency: number
  /** Password hashes waiting per lane (logins, registrations) before more are refused with 429. */
  passwordHashQueueLimit: number
  /** Most stored points replayed to a client joining an SOS room (newest kept). */
  historyReplayLimit: number
  /** Newest location points embedded per SOS in list responses (the full history is paged separately). */
  locationsInLists: number
  /** Most entries in the snapshot a staff socket gets when it joins a channel (open SOS, their positions, units). */
  snapshotLimit: number
  /** Events one socket may send per second before it is told to slow down. */
  socketEventsPerSecond: number
  /** Refused socket events (unknown, forged, over the rate) allowed per socket per minute before disconnecting it. */
  socketMaxRefusedEventsPerMinute: number
  /** SOS rooms one socket may be in at once. */
  socketMaxSosRooms: number
  /** Outgoing packets queued for one socket (a client that stops reading) before it is disconnected. */
  socketMaxPendingPackets: number
  /** Migrate the schema automatically at start. */
  autoMigrate: boolean
  /**
   * Processes serving the two ports on this host (node:cluster). 1 is a single process; more needs
   * PostgreSQL and Redis, because the workers share nothing else.
   */
  workers: number
}

type Env = Record<string, string | undefined>

export class ConfigError extends Error {}

const LOG_LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']
const DEFAULT_CORS = ['http://localhost:3000', 'http://127.0.0.1:3000', 'http://localhost:5173', 'http://127.0.0.1:5173']

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(`${name} must be a whole number, got "${raw}"`)
  const value = Number(raw)
  if (value < min || value > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`)
  return value
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name]?.trim().toLowerCase()
  if (raw === undefined || raw === '') return fallback
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true
  if (['0', 'false', 'no', 'off'].includes(raw)) return false
  throw new ConfigError(`${name} must be true or false, got "${env[name]}"`)
}

function optional(env: Env, name: string): string | undefined {
  const raw = env[name]?.trim()
  return raw ? raw : undefined
}

/**
 * Builds the configuration. Precedence: `overrides` (tests, CLI flags) over the environment
 * over the defaults. Throws ConfigError with a readable message on any invalid value.
 */
export function createConfig(env: Env = process.env, overrides: Partial<Config> = {}): Config {
  const logLevel = (optional(env, 'LOG_LEVEL') ?? 'info') as LogLevel
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`)

  const databaseUrl = optional(env, 'DATABASE_URL') ?? `sqlite:${path.join('data', 'naarikavach.sqlite3')}`
  if (!/^(sqlite:|postgres(ql)?:\/\/)/.test(databaseUrl) && !databaseUrl.endsWith('.sqlite3') && !databaseUrl.endsWith('.db')) {
    throw new ConfigError('DATABASE_URL must start with sqlite: or postgres://')
  }
  const redisUrl = optional(env, 'REDIS_URL')
  if (redisUrl && !/^rediss?:\/\//.test(redisUrl)) throw new ConfigError('REDIS_URL must start with redis:// or rediss://')
  const publicUrl = optional(env, 'PUBLIC_URL')?.replace(/\/+$/, '')
  if (publicUrl && !/^https?:\/\//.test(publicUrl)) throw new ConfigError('PUBLIC_URL must start with http:// or https://')
  const mediaSigningKey = optional(env, 'MEDIA_SIGNING_KEY')
  if (mediaSigningKey && mediaSigningKey.length < 32) throw new ConfigError('MEDIA_SIGNING_KEY must be at least 32 characters')
  const mediaSigningKeyPrevious = optional(env, 'MEDIA_SIGNING_KEY_PREVIOUS')
  if (mediaSigningKeyPrevious && !mediaSigningKey) throw new ConfigError('MEDIA_SIGNING_KEY_PREVIOUS needs MEDIA_SIGNING_KEY (the new key) to be set')
  if (mediaSigningKeyPrevious && mediaSigningKeyPrevious.length < 32) throw new ConfigError('MEDIA_SIGNING_KEY_PREVIOUS must be at least 32 characters')

  // scrypt and file I/O share libuv's thread pool, which libuv sizes from this variable at start.
  const uvThreads = int(env, 'UV_THREADPOOL_SIZE', 4, 1, 1024)
  const maxHashConcurrency = Math.max(1, uvThreads - 1)
  const passwordHashConcurrency = int(env, 'PASSWORD_HASH_CONCURRENCY', Math.max(1, Math.floor(uvThreads / 2)), 1, 1024)
  if (passwordHashConcurrency > maxHashConcurrency) {
    throw new ConfigError(
      `PASSWORD_HASH_CONCURRENCY must be below UV_THREADPOOL_SIZE (${uvThreads}) so file I/O keeps a thread, got ${passwordHashConcurrency}`,
    )
  }

  const config: Config = {
    port: int(env, 'PORT', 8000, 0, 65535),
    socketPort: int(env, 'SOCKET_PORT', 8001, 0, 65535),
    host: optional(env, 'HOST') ?? '0.0.0.0',
    databaseUrl,
    redisUrl,
    redisPrefix: optional(env, 'REDIS_PREFIX') ?? 'naarikavach',
    mediaRoot: path.resolve(optional(env, 'MEDIA_ROOT') ?? path.join('data', 'media')),
    legacyOpenAccess: bool(env, 'LEGACY_OPEN_ACCESS', false),
    corsOrigins: (optional(env, 'CORS_ORIGINS')?.split(',').map((s) => s.trim()).filter(Boolean)) ?? DEFAULT_CORS,
    logLevel,
    publicUrl,
    mediaSigningKey,
    mediaSigningKeyPrevious,
    mediaUrlTtlSeconds: int(env, 'MEDIA_URL_TTL_SECONDS', 3600, 10, 7 * 24 * 3600),
    imageMaxBytes: int(env, 'IMAGE_MAX_BYTES', 5 * 1024 * 1024, 1024, 100 * 1024 * 1024),
    imageMaxFiles: int(env, 'IMAGE_MAX_FILES', 10, 1, 100),
    loginRateLimitPerMinute: int(env, 'LOGIN_RATE_LIMIT_PER_MINUTE', 20, 1, 1_000_000),
    registrationRateLimitPerMinute: int(env, 'REGISTRATION_RATE_LIMIT_PER_MINUTE', 10, 1, 1_000_000),
    sosCreateRateLimitPerMinute: int(env, 'SOS_CREATE_RATE_LIMIT_PER_MINUTE', 120, 1, 1_000_000),
    sosCreateAccountLimitPerMinute: int(env, 'SOS_CREATE_ACCOUNT_LIMIT_PER_MINUTE', 10, 1, 1_000_000),
    sosCreateAccountLimitPerHour: int(env, 'SOS_CREATE_ACCOUNT_LIMIT_PER_HOUR', 30, 1, 1_000_000),
    trustProxy: bool(env, 'TRUST_PROXY', false),
    passwordHashCost: int(env, 'PASSWORD_HASH_COST', 17, 10, 20),
    passwordHashConcurrency,
    passwordHashQueueLimit: int(env, 'PASSWORD_HASH_QUEUE_LIMIT', 16, 0, 100_000),
    historyReplayLimit: int(env, 'HISTORY_REPLAY_LIMIT', 1000, 1, 100_000),
    locationsInLists: int(env, 'LOCATIONS_IN_LISTS', 50, 0, 100_000),
    snapshotLimit: int(env, 'SNAPSHOT_LIMIT', 1000, 1, 100_000),
    socketEventsPerSecond: int(env, 'SOCKET_EVENTS_PER_SECOND', 50, 1, 100_000),
    socketMaxRefusedEventsPerMinute: int(env, 'SOCKET_MAX_REFUSED_EVENTS_PER_MINUTE', 60, 1, 100_000),
    socketMaxSosRooms: int(env, 'SOCKET_MAX_SOS_ROOMS', 50, 1, 100_000),
    socketMaxPendingPackets: int(env, 'SOCKET_MAX_PENDING_PACKETS', 1000, 10, 1_000_000),
    autoMigrate: bool(env, 'AUTO_MIGRATE', true),
    workers: int(env, 'WORKERS', 1, 1, 256),
    ...overrides,
  }
  if (config.workers > 1) {
    // Each worker has its own memory: SQLite's group commit and the in-memory adapter and limits would
    // split into N servers that do not hear each other, so N > 1 is refused, not run half-working.
    const missing: string[] = []
    if (!/^postgres(ql)?:\/\//.test(config.databaseUrl)) missing.push('DATABASE_URL is SQLite')
    if (!config.redisUrl) missing.push('REDIS_URL is unset')
    if (missing.length > 0) {
      throw new ConfigError(
        `WORKERS=${config.workers} needs PostgreSQL and Redis (DATABASE_URL=postgres://… and REDIS_URL=redis://…), ` +
          `which the worker processes share; ${missing.join(' and ')}. Use WORKERS=1 (the default) otherwise.`,
      )
    }
  }
  return config
}
