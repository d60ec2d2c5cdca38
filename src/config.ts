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
  /** PostgreSQL: most connections one process opens (nodes × this must stay below the server's max_connections). */
  databasePoolMax: number
  /** PostgreSQL: how long a request waits for a connection before it is answered 503 (opening one, or a free one). */
  databaseConnectTimeoutMs: number
  /** PostgreSQL: longest a statement may run before the server cancels it (503); 0 = no limit. */
  databaseStatementTimeoutMs: number
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
  /** Most images in one upload request; files after these are reported in `partial_errors`. */
  imageMaxFiles: number
  /** Largest whole multipart upload request (all parts and their headers), in bytes. */
  uploadMaxRequestBytes: number
  /** Most images stored for one SOS, over its lifetime. */
  sosImagesMaxFiles: number
  /** Most image bytes stored for one SOS, over its lifetime. */
  sosImagesMaxBytes: number
  /** Images one client IP (not staff) may upload per hour; counted in this process's memory. */
  uploadIpFilesPerHour: number
  /** Image bytes one client IP (not staff) may upload per hour; counted in this process's memory. */
  uploadIpBytesPerHour: number
  /** Time to receive a whole request (after its headers) on every route but the upload; 408 after it. */
  httpRequestTimeoutSeconds: number
  /** The same for the upload route, whose bodies are up to `uploadMaxRequestBytes`. */
  uploadTimeoutSeconds: number
  /** A request on which nothing is received or sent for this long is closed (Fastify's connectionTimeout). */
  httpIdleTimeoutSeconds: number
  /** Open connections to the REST port in all; further ones are closed at once. 0: no cap. */
  httpMaxConnections: number
  /** Open connections to the REST port from one peer address (ignored with TRUST_PROXY). 0: no cap. */
  httpMaxConnectionsPerIp: number
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
  /**
   * What serves the realtime port under Socket.IO: uWebSockets.js (`uws`, the default) or Node's http +
   * `ws` (`ws`). `uws` falls back to `ws`, with a warning, where its native binary cannot load.
   */
  realtimeEngine: RealtimeEngine
  /** Seconds an SOS may stay unacknowledged before `sos_escalated` goes to the control rooms (0: never). */
  escalateAfterSeconds: number
  /** Seconds between repeated escalations (with a rising level) until someone acknowledges or it closes. */
  escalateRepeatSeconds: number
  /** Seconds a dispatched unit has to accept before `sos_escalated {reason: "unit_not_responding"}` (0: never). */
  unitAcceptSeconds: number
  /** How often the escalation job looks for due escalations, in milliseconds. */
  escalationCheckMs: number
  /** Unit positions older than this are not offered as "nearest units". */
  unitPositionMaxAgeSeconds: number
  /** Reported positions kept per unit (the newest; older ones are trimmed as new ones arrive). 0 keeps none. */
  unitPositionHistory: number
  /** Most events one `join_sos_channel {after}` replays (more: `truncated`, fall back to the snapshot). */
  eventsReplayLimit: number
  /** Most points one `POST /api/sos/{id}/locations/` batch may carry (an offline phone's buffer). */
  locationBatchMax: number
  /** How far in the future a phone's `recorded_at` may be (its clock running ahead) before the fix is refused. */
  locationClockSkewSeconds: number
  /** How long an `Idempotency-Key` (or socket `client_request_id`) of a create is remembered, in seconds. */
  idempotencyTtlSeconds: number
  /** How often each node re-checks its signed-in sockets' tokens and accounts (0: never); the safety net behind immediate revocation. */
  socketRevalidateSeconds: number
  /** Migrate the schema automatically at start. */
  autoMigrate: boolean
  /** Most contacts an account keeps, and most contacts one SOS alerts. */
  contactsMax: number
  /** Seconds after an SOS is raised before its contacts are alerted (a cancel within it sends nothing). */
  contactGraceSeconds: number
  /** IANA time zone of the times written in messages to contacts. */
  contactTimeZone: string
  /** The SMS provider; undefined: messages are recorded as `not_configured`. */
  sms: TwilioConfig | undefined
  /** Standard Webhooks receivers of every incident-log event. */
  webhookUrls: string[]
  /** `whsec_<base64>` (Standard Webhooks); required with webhookUrls. */
  webhookSecret: string | undefined
  /** How long a live-tracking link works after it is made. */
  shareLinkTtlHours: number
  /** Minutes after an SOS closes that its live-tracking page still shows positions. */
  shareLinkAfterCloseMinutes: number
  /** Requests to the live-tracking pages (`/t/…`) per client IP per minute. */
  shareLinkRateLimitPerMinute: number
  /** How often a node with open live-tracking pages looks for their SOS's news, in milliseconds. */
  shareLivePollMs: number
  /** Leaflet tile URL template of the live-tracking page (`{z}/{x}/{y}`, optional `{s}`). */
  mapTileUrl: string
  mapTileAttribution: string
  /** How often each node looks for due outbox messages, in milliseconds. */
  outboxCheckMs: number
  /** Tries of one message before it is `dead`. */
  outboxMaxAttempts: number
  /** First retry waits about this long (then doubling, with jitter), in milliseconds. */
  outboxBackoffBaseMs: number
  /** Longest wait between two tries, in milliseconds. */
  outboxBackoffMaxMs: number
  /** A claimed message not marked sent/failed within this many seconds (its node died) is claimed again. */
  outboxLeaseSeconds: number
  /** One provider or webhook request's timeout, in milliseconds (below the lease). */
  outboxSendTimeoutMs: number
  /**
   * Processes serving the two ports on this host (node:cluster). 1 is a single process; more needs
   * PostgreSQL and Redis, because the workers share nothing else.
   */
  workers: number
}

/** Twilio's Messages API (https://www.twilio.com/docs/messaging/api/message-resource). */
export interface TwilioConfig {
  provider: 'twilio'
  /** `AC` + 32 hex characters. */
  accountSid: string
  /** Secret: never logged. */
  authToken: string
  /** An E.164 sender number, or a Messaging Service SID (`MG…`). */
  from: string
  /** `https://api.twilio.com` unless a compatible gateway (or a test) is pointed at. */
  apiBase: string
}

type Env = Record<string, string | undefined>

const KIB = 1024
const MIB = 1024 * KIB
const GIB = 1024 * MIB

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

export type RealtimeEngine = 'uws' | 'ws'

function realtimeEngine(env: Env): RealtimeEngine {
  const value = optional(env, 'REALTIME_ENGINE')?.toLowerCase() ?? 'uws'
  if (value !== 'uws' && value !== 'ws') throw new ConfigError(`REALTIME_ENGINE must be uws or ws, got "${value}"`)
  return value
}

function optional(env: Env, name: string): string | undefined {
  const raw = env[name]?.trim()
  return raw ? raw : undefined
}

/** Standard Webhooks: `whsec_` + base64 of 24 to 64 bytes. */
function validWebhookSecret(secret: string): boolean {
  const match = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(secret)
  if (!match) return false
  const bytes = Buffer.from(match[1], 'base64').length
  return bytes >= 24 && bytes <= 64
}

function timeZone(env: Env): string {
  const zone = optional(env, 'CONTACT_TIME_ZONE') ?? 'Asia/Kolkata'
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone })
  } catch {
    throw new ConfigError(`CONTACT_TIME_ZONE must be an IANA time zone such as Asia/Kolkata, got "${zone}"`)
  }
  return zone
}

const E164_RE = /^\+[1-9]\d{6,14}$/

function smsConfig(env: Env): TwilioConfig | undefined {
  const provider = optional(env, 'SMS_PROVIDER')?.toLowerCase()
  if (provider === undefined || provider === 'none') return undefined
  if (provider !== 'twilio') throw new ConfigError(`SMS_PROVIDER must be twilio (or unset), got "${env.SMS_PROVIDER}"`)
  const accountSid = optional(env, 'TWILIO_ACCOUNT_SID')
  const authToken = optional(env, 'TWILIO_AUTH_TOKEN')
  const from = optional(env, 'TWILIO_FROM')
  // The messages name the variable, never its value: the token is a secret and the SID identifies the account.
  if (!accountSid || !/^AC[0-9a-fA-F]{32}$/.test(accountSid)) throw new ConfigError('SMS_PROVIDER=twilio needs TWILIO_ACCOUNT_SID (AC followed by 32 hex characters)')
  if (!authToken) throw new ConfigError('SMS_PROVIDER=twilio needs TWILIO_AUTH_TOKEN')
  if (!from || !(E164_RE.test(from) || /^MG[0-9a-fA-F]{32}$/.test(from))) {
    throw new ConfigError('SMS_PROVIDER=twilio needs TWILIO_FROM: a sender number in E.164 (+15005550006) or a Messaging Service SID (MG…)')
  }
  const apiBase = (optional(env, 'TWILIO_API_BASE') ?? 'https://api.twilio.com').replace(/\/+$/, '')
  if (!/^https?:\/\/[^\s/]+/.test(apiBase)) throw new ConfigError('TWILIO_API_BASE must start with http:// or https://')
  return { provider: 'twilio', accountSid, authToken, from, apiBase }
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

  const sms = smsConfig(env)
  const webhookUrls = (optional(env, 'WEBHOOK_URLS')?.split(',').map((u) => u.trim()).filter(Boolean)) ?? []
  for (const url of webhookUrls) {
    if (!/^https?:\/\/[^\s/]+/.test(url)) throw new ConfigError(`WEBHOOK_URLS must be http:// or https:// URLs, got "${url}"`)
  }
  const webhookSecret = optional(env, 'WEBHOOK_SECRET')
  if (webhookUrls.length > 0 && !webhookSecret) throw new ConfigError('WEBHOOK_URLS needs WEBHOOK_SECRET (whsec_<base64>, as Standard Webhooks defines it)')
  if (webhookSecret && !validWebhookSecret(webhookSecret)) {
    throw new ConfigError('WEBHOOK_SECRET must be whsec_ followed by 24 to 64 random bytes in base64 (Standard Webhooks)')
  }
  const mapTileUrl = optional(env, 'MAP_TILE_URL') ?? 'https://tile.openstreetmap.org/{z}/{x}/{y}.png'
  if (!/^https?:\/\/[^\s]+$/.test(mapTileUrl) || !mapTileUrl.includes('{z}')) throw new ConfigError('MAP_TILE_URL must be an http(s) URL template with {z}, {x} and {y}')
  const outboxLeaseSeconds = int(env, 'OUTBOX_LEASE_SECONDS', 30, 1, 3600)
  const outboxSendTimeoutMs = int(env, 'OUTBOX_SEND_TIMEOUT_MS', 10_000, 100, 120_000)
  if (outboxSendTimeoutMs >= outboxLeaseSeconds * 1000) {
    throw new ConfigError(`OUTBOX_SEND_TIMEOUT_MS (${outboxSendTimeoutMs}) must be below OUTBOX_LEASE_SECONDS (${outboxLeaseSeconds} s): a send still running when its lease ends may be repeated by another node`)
  }

  const config: Config = {
    port: int(env, 'PORT', 8000, 0, 65535),
    socketPort: int(env, 'SOCKET_PORT', 8001, 0, 65535),
    host: optional(env, 'HOST') ?? '0.0.0.0',
    databaseUrl,
    databasePoolMax: int(env, 'DATABASE_POOL_MAX', 20, 1, 10_000),
    databaseConnectTimeoutMs: int(env, 'DATABASE_CONNECT_TIMEOUT_MS', 2000, 100, 600_000),
    databaseStatementTimeoutMs: int(env, 'DATABASE_STATEMENT_TIMEOUT_MS', 5000, 0, 3_600_000),
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
    uploadMaxRequestBytes: 0, // derived below unless set
    sosImagesMaxFiles: int(env, 'SOS_IMAGES_MAX_FILES', 50, 1, 100_000),
    sosImagesMaxBytes: int(env, 'SOS_IMAGES_MAX_BYTES', 100 * MIB, KIB, 1024 * GIB),
    uploadIpFilesPerHour: int(env, 'UPLOAD_IP_FILES_PER_HOUR', 100, 1, 10_000_000),
    uploadIpBytesPerHour: int(env, 'UPLOAD_IP_BYTES_PER_HOUR', 500 * MIB, KIB, 1024 * GIB),
    httpRequestTimeoutSeconds: int(env, 'HTTP_REQUEST_TIMEOUT_SECONDS', 30, 1, 3600),
    uploadTimeoutSeconds: int(env, 'UPLOAD_TIMEOUT_SECONDS', 300, 1, 24 * 3600),
    httpIdleTimeoutSeconds: int(env, 'HTTP_IDLE_TIMEOUT_SECONDS', 30, 1, 3600),
    httpMaxConnections: int(env, 'HTTP_MAX_CONNECTIONS', 10_000, 0, 10_000_000),
    httpMaxConnectionsPerIp: int(env, 'HTTP_MAX_CONNECTIONS_PER_IP', 100, 0, 10_000_000),
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
    realtimeEngine: realtimeEngine(env),
    escalateAfterSeconds: int(env, 'ESCALATE_AFTER_SECONDS', 60, 0, 86_400),
    escalateRepeatSeconds: int(env, 'ESCALATE_REPEAT_SECONDS', 60, 1, 86_400),
    unitAcceptSeconds: int(env, 'UNIT_ACCEPT_SECONDS', 120, 0, 86_400),
    escalationCheckMs: int(env, 'ESCALATION_CHECK_MS', 1000, 50, 60_000),
    unitPositionMaxAgeSeconds: int(env, 'UNIT_POSITION_MAX_AGE_SECONDS', 300, 1, 86_400),
    unitPositionHistory: int(env, 'UNIT_POSITION_HISTORY', 100, 0, 100_000),
    eventsReplayLimit: int(env, 'EVENTS_REPLAY_LIMIT', 1000, 1, 100_000),
    locationBatchMax: int(env, 'LOCATION_BATCH_MAX', 500, 1, 10_000),
    locationClockSkewSeconds: int(env, 'LOCATION_CLOCK_SKEW_SECONDS', 120, 0, 3600),
    idempotencyTtlSeconds: int(env, 'IDEMPOTENCY_TTL_SECONDS', 86_400, 1, 7 * 86_400),
    socketRevalidateSeconds: int(env, 'SOCKET_REVALIDATE_SECONDS', 60, 0, 86_400),
    autoMigrate: bool(env, 'AUTO_MIGRATE', true),
    contactsMax: int(env, 'CONTACTS_MAX', 5, 1, 50),
    contactGraceSeconds: int(env, 'CONTACT_GRACE_SECONDS', 20, 0, 3600),
    contactTimeZone: timeZone(env),
    sms,
    webhookUrls,
    webhookSecret,
    shareLinkTtlHours: int(env, 'SHARE_LINK_TTL_HOURS', 24, 1, 24 * 30),
    shareLinkAfterCloseMinutes: int(env, 'SHARE_LINK_AFTER_CLOSE_MINUTES', 30, 0, 7 * 24 * 60),
    shareLinkRateLimitPerMinute: int(env, 'SHARE_LINK_RATE_LIMIT_PER_MINUTE', 120, 1, 1_000_000),
    shareLivePollMs: int(env, 'SHARE_LIVE_POLL_MS', 1000, 50, 60_000),
    mapTileUrl,
    mapTileAttribution: optional(env, 'MAP_TILE_ATTRIBUTION') ?? '© OpenStreetMap contributors',
    outboxCheckMs: int(env, 'OUTBOX_CHECK_MS', 1000, 20, 60_000),
    outboxMaxAttempts: int(env, 'OUTBOX_MAX_ATTEMPTS', 8, 1, 100),
    outboxBackoffBaseMs: int(env, 'OUTBOX_BACKOFF_BASE_MS', 2000, 10, 3_600_000),
    outboxBackoffMaxMs: int(env, 'OUTBOX_BACKOFF_MAX_MS', 600_000, 10, 86_400_000),
    outboxLeaseSeconds,
    outboxSendTimeoutMs,
    workers: int(env, 'WORKERS', 1, 1, 256),
    ...overrides,
  }
  // Room for a full request of IMAGE_MAX_FILES images of IMAGE_MAX_BYTES, plus 1 MiB for fields and part headers.
  config.uploadMaxRequestBytes =
    overrides.uploadMaxRequestBytes ?? int(env, 'UPLOAD_MAX_REQUEST_BYTES', config.imageMaxFiles * config.imageMaxBytes + MIB, 64 * KIB, 100 * GIB)
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
