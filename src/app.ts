// buildApp(config): the composition root. Plugins, services, HTTP routes and socket handlers; never listens.
import multipart from '@fastify/multipart'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { Config } from './config.ts'
import { createWriter } from './db/writer.ts'
import { AppError } from './errors.ts'
import { MAX_PAYLOAD_DEPTH, nestedDeeperThan, TOO_DEEP } from './lib/fields.ts'
import { HashQueue } from './lib/hash-queue.ts'
import { Throttle } from './lib/throttle.ts'
import { newApiToken } from './lib/secrets.ts'
import { authRoutes } from './modules/auth/auth.routes.ts'
import { AuthService } from './modules/auth/auth.service.ts'
import { UsersService } from './modules/auth/users.service.ts'
import { getOrCreateSetting } from './modules/media/media.repository.ts'
import { mediaRoutes } from './modules/media/media.routes.ts'
import { MediaService } from './modules/media/media.service.ts'
import { MediaStore } from './modules/media/media.store.ts'
import { sosEventHandlers } from './modules/sos/sos.events.ts'
import { sosRoutes } from './modules/sos/sos.routes.ts'
import { SOS_SHARED_SCHEMAS } from './modules/sos/sos.schemas.ts'
import { SosService } from './modules/sos/sos.service.ts'
import { unitEventHandlers } from './modules/units/units.events.ts'
import { unitsRoutes } from './modules/units/units.routes.ts'
import { UNITS_SHARED_SCHEMAS } from './modules/units/units.schemas.ts'
import { UnitsService } from './modules/units/units.service.ts'
import authPlugin from './plugins/auth.ts'
import dbPlugin from './plugins/db.ts'
import docsPlugin from './plugins/docs.ts'
import errorHandler, { frameworkErrors } from './plugins/error-handler.ts'
import httpLimits, { httpServerOptions, type HttpLimitsOptions } from './plugins/http-limits.ts'
import metricsPlugin, { createMetrics } from './plugins/metrics.ts'
import rateLimitsPlugin from './plugins/rate-limits.ts'
import realtimePlugin from './plugins/realtime.ts'
import redisPlugin from './plugins/redis.ts'
import securityPlugin from './plugins/security.ts'
import { EscalationJob } from './jobs/escalation.job.ts'
import { opsRoutes } from './modules/ops/ops.routes.ts'
import { OutboxJob } from './jobs/outbox.job.ts'
import { contactRoutes } from './modules/contacts/contacts.routes.ts'
import { ContactsService } from './modules/contacts/contacts.service.ts'
import { ShareLive } from './modules/share/share.live.ts'
import { shareRoutes } from './modules/share/share.routes.ts'
import { ShareService } from './modules/share/share.service.ts'
import { ShareTokens } from './modules/share/share.tokens.ts'
import { TwilioSms } from './notify/twilio.ts'
import { StandardWebhooks } from './notify/webhooks.ts'
import staticPlugin from './plugins/static.ts'
import { RealtimePublisher } from './realtime/publisher.ts'
import type { AddressInfo } from 'node:net'

export interface BuildOptions {
  /** A pino destination stream or logger options (tests capture logs through this). */
  logger?: FastifyServerOptions['logger']
}

declare module 'fastify' {
  interface FastifyInstance {
    services: {
      auth: AuthService
      users: UsersService
      sos: SosService
      media: MediaService
      units: UnitsService
      publisher: RealtimePublisher
      contacts: ContactsService
      share: ShareService
      outbox: OutboxJob
    }
  }
}

/**
 * Log lines never carry credentials: no Authorization/X-SOS-Token/Idempotency-Key headers (also not in the headers
 * @fastify/multipart traces with its options), no query strings (signed links).
 */
export const LOG_REDACT = [
  'req.headers.authorization',
  'req.headers["x-sos-token"]',
  'req.headers.cookie',
  // With the exact request body, an Idempotency-Key recovers that SOS's token.
  'req.headers["idempotency-key"]',
  'busboyOptions.headers.authorization',
  'busboyOptions.headers["x-sos-token"]',
  'busboyOptions.headers.cookie',
  'busboyOptions.headers["idempotency-key"]',
]

type LoggerOptions = Exclude<FastifyServerOptions['logger'], boolean | undefined>

/** The caller may choose level and destination; the credential rules above always apply. */
function loggerOptions(config: Config, given: BuildOptions['logger']): FastifyServerOptions['logger'] {
  if (given === false) return false
  const base: LoggerOptions = typeof given === 'object' ? given : { level: config.logLevel }
  return {
    ...base,
    redact: LOG_REDACT,
    serializers: {
      ...base.serializers,
      // A live-tracking link's token is in its path: it is a credential, so it is masked like a query string.
      req: (req) => ({ method: req.method, url: req.url.split('?')[0].replace(/^\/t\/[^/]+/, '/t/[redacted]'), remoteAddress: req.ip }),
    },
  }
}

/**
 * Extra file parts (beyond IMAGE_MAX_FILES) are read and reported one by one; past this many more the
 * whole request is refused, so one request cannot make a partial_errors list of thousands.
 */
const EXTRA_FILE_PARTS = 50

export async function buildApp(config: Config, options: BuildOptions = {}): Promise<FastifyInstance> {
  const limits: HttpLimitsOptions = {
    requestTimeoutMs: config.httpRequestTimeoutSeconds * 1000,
    longestRequestTimeoutMs: Math.max(config.httpRequestTimeoutSeconds, config.uploadTimeoutSeconds) * 1000,
    idleTimeoutMs: config.httpIdleTimeoutSeconds * 1000,
    maxConnections: config.httpMaxConnections,
    maxConnectionsPerIp: config.httpMaxConnectionsPerIp,
    trustProxy: config.trustProxy,
  }
  const app = Fastify({
    logger: loggerOptions(config, options.logger),
    ...httpServerOptions(limits),
    frameworkErrors,
    routerOptions: { ignoreTrailingSlash: true },
    trustProxy: config.trustProxy,
    bodyLimit: 256 * 1024,
    // Requests are validated by the services (DRF semantics and messages, shared with the socket
    // handlers); route schemas document the API and serialize the responses.
    schemaErrorFormatter: (errors) => new Error(errors.map((e) => e.message).join('; ')),
  })
  app.setValidatorCompiler(() => () => true)

  // close() ends the idle keep-alive connections once; a response still streaming then (an image)
  // leaves its connection open until the client's keep-alive timeout (over a minute), which stalls
  // a graceful shutdown. Keep ending connections as they fall idle until the server has closed.
  app.addHook('preClose', (done) => {
    if (!app.server.listening) return done()
    const timer = setInterval(() => app.server.closeIdleConnections(), 50)
    timer.unref()
    app.server.once('close', () => clearInterval(timer))
    done()
  })

  // DRF parses JSON, forms and multipart only; a text/plain body is 415 there, not a "string" payload.
  app.removeContentTypeParser('text/plain')
  // The original clients send `Content-Type: application/json` on every request, also on POSTs with no
  // body (logout, resolve). DRF reads an empty body as no data at all (`{}` where fields are read), so
  // an empty body is "no body" here too; a body that is present but malformed stays a 400 parse error.
  // Fastify's own parser (with its prototype-poisoning checks) parses every non-empty body.
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') return done(null, undefined)
    parseJson(request, body as string, (error, parsed) => {
      if (error) return done(error, undefined)
      // Refused at the parser, before any handler (or error message) can touch it.
      if (nestedDeeperThan(parsed, MAX_PAYLOAD_DEPTH)) return done(new AppError(400, 'parse_error', `JSON parse error - ${TOO_DEEP}`), undefined)
      done(null, parsed)
    })
  })
  // DRF also accepts form posts; the original's browsable API sent them.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 64 * 1024 }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)))
  })

  if (config.legacyOpenAccess) {
    app.log.warn(
      '!!! LEGACY_OPEN_ACCESS=true: the original open access rules are ON. Anyone can join every channel, ' +
        'read live victim locations and update any SOS by id. Use only for the unmodified legacy clients. !!!',
    )
  }

  // Created before the plugins so each can be handed its counters; gauges read the app when scraped.
  const metrics = createMetrics({
    redis: !!config.redisUrl,
    probes: {
      socketCount: () => app.realtime.io.engine.clientsCount,
      socketRoles: () => [...app.realtime.io.of('/').sockets.values()].map((socket) => socket.data.user?.role ?? null),
      realtimeEngine: () => app.realtime.engine,
      dbPool: () => app.dbPool(),
      redisState: () => app.redis.state(),
    },
  })
  const { instruments } = metrics
  // One database outage warning per 10 s for the whole process, whichever transport met it.
  const outageLog = new Throttle(10_000)

  await app.register(errorHandler, { outageLog })
  await app.register(httpLimits, limits)
  await app.register(securityPlugin, { corsOrigins: config.corsOrigins })
  await app.register(dbPlugin, {
    databaseUrl: config.databaseUrl,
    autoMigrate: config.autoMigrate,
    poolMax: config.databasePoolMax,
    connectTimeoutMs: config.databaseConnectTimeoutMs,
    statementTimeoutMs: config.databaseStatementTimeoutMs,
    onQuery: instruments.dbQuery,
  })
  await app.register(redisPlugin, { redisUrl: config.redisUrl, redisPrefix: config.redisPrefix, onClientError: instruments.redisError })
  await app.register(rateLimitsPlugin)
  await app.register(multipart, {
    throwFileSizeLimit: false,
    // The upload route enforces IMAGE_MAX_BYTES and IMAGE_MAX_FILES itself (refusing file by file);
    // these parser limits are the backstop one byte / EXTRA_FILE_PARTS parts beyond them.
    limits: {
      fileSize: config.imageMaxBytes + 1,
      files: config.imageMaxFiles + EXTRA_FILE_PARTS,
      fields: 40,
      fieldSize: 4096,
      parts: config.imageMaxFiles + EXTRA_FILE_PARTS + 40,
      headerPairs: 100,
    },
  })

  const publisher = new RealtimePublisher({ emitted: instruments.eventEmitted, broadcastTimed: instruments.broadcastTimed, revoked: instruments.socketsRevoked })
  const hashing = new HashQueue({ concurrency: config.passwordHashConcurrency, queueLimit: config.passwordHashQueueLimit })
  const auth = new AuthService({ db: app.db, passwordHashCost: config.passwordHashCost, hashing, revoker: publisher })
  const users = new UsersService({ db: app.db, revoker: publisher })
  // One key for all nodes sharing the database, kept across restarts, unless the operator sets one.
  const signingKey = config.mediaSigningKey ?? (await getOrCreateSetting(app.db, 'media_signing_key', newApiToken() + newApiToken()))
  if (!config.mediaSigningKey && !config.legacyOpenAccess) {
    app.log.info('media links are signed with a key kept in the database: anyone holding a database backup can mint links to every image; set MEDIA_SIGNING_KEY (see docs/operations.md) in production')
  }
  const store = new MediaStore({
    root: config.mediaRoot,
    signingKey,
    previousSigningKey: config.mediaSigningKeyPrevious,
    ttlSeconds: config.mediaUrlTtlSeconds,
    legacy: config.legacyOpenAccess,
  })
  const writer = createWriter(app.db, app.dbDialect)
  const sos = new SosService({
    db: app.db, writer, publisher, images: store, historyReplayLimit: config.historyReplayLimit, locationsInLists: config.locationsInLists, snapshotLimit: config.snapshotLimit,
    limiter: app.limiter,
    createLimits: { anonymousPerMinute: config.sosCreateRateLimitPerMinute, accountPerMinute: config.sosCreateAccountLimitPerMinute, accountPerHour: config.sosCreateAccountLimitPerHour },
    escalation: { escalateAfterSeconds: config.escalateAfterSeconds, unitAcceptSeconds: config.unitAcceptSeconds },
    eventsReplayLimit: config.eventsReplayLimit,
    locationRules: { batchMax: config.locationBatchMax, clockSkewSeconds: config.locationClockSkewSeconds },
    idempotencyTtlSeconds: config.idempotencyTtlSeconds,
  })
  // Temp files of uploads a crashed process never finished; younger ones may be another node's uploads in progress.
  await store.sweepIncoming(Math.max(3600, 2 * config.uploadTimeoutSeconds) * 1000)
  const media = new MediaService({
    db: app.db,
    writer,
    publisher,
    store,
    sos,
    limits: {
      maxBytes: config.imageMaxBytes,
      maxFiles: config.imageMaxFiles,
      sosMaxFiles: config.sosImagesMaxFiles,
      sosMaxBytes: config.sosImagesMaxBytes,
      ipFilesPerHour: config.uploadIpFilesPerHour,
      ipBytesPerHour: config.uploadIpBytesPerHour,
    },
  })
  const units = new UnitsService({
    db: app.db, writer, publisher, snapshotLimit: config.snapshotLimit,
    positionMaxAgeSeconds: config.unitPositionMaxAgeSeconds, historySize: config.unitPositionHistory, legacy: config.legacyOpenAccess,
  })

  // Trusted contacts: links derive their tokens from the server's key (the media signing key, so every node
  // sharing the database derives the same ones); alerts and closing messages join the SOS's own transactions.
  const share = new ShareService({
    db: app.db, writer, publisher, sos, tokens: new ShareTokens(signingKey),
    ttlHours: config.shareLinkTtlHours, afterCloseMinutes: config.shareLinkAfterCloseMinutes, positionsLimit: config.historyReplayLimit,
    maxLinks: config.contactsMax * 4,
    map: { tileUrl: config.mapTileUrl, attribution: config.mapTileAttribution },
  })
  const live = new ShareLive({ db: app.db, share, pollMs: config.shareLivePollMs, log: app.log.child({ part: 'share-live' }) })
  const contacts = new ContactsService({ db: app.db, writer, publisher, sos, share, max: config.contactsMax, graceSeconds: config.contactGraceSeconds, timeZone: config.contactTimeZone })
  sos.addCreateExtension(contacts.createExtension)
  sos.lifecycle.addCloseExtension(contacts.closeExtension)
  const outbox = new OutboxJob({
    db: app.db,
    writer,
    sms: config.sms ? new TwilioSms(config.sms, config.outboxSendTimeoutMs) : undefined,
    webhooks: config.webhookUrls.length > 0 && config.webhookSecret ? { sender: new StandardWebhooks(config.webhookSecret, config.outboxSendTimeoutMs), urls: config.webhookUrls } : undefined,
    share,
    linkBase: () => config.publicUrl ?? ownAddress(app),
    checkMs: config.outboxCheckMs,
    maxAttempts: config.outboxMaxAttempts,
    backoff: { baseMs: config.outboxBackoffBaseMs, maxMs: config.outboxBackoffMaxMs },
    leaseSeconds: config.outboxLeaseSeconds,
    log: app.log.child({ job: 'outbox' }),
  })
  if (!config.sms) app.log.info('no SMS provider configured (SMS_PROVIDER): messages to trusted contacts are recorded as not_configured')
  else if (!config.publicUrl) app.log.warn('SMS is configured but PUBLIC_URL is not: the links sent to contacts point at this node\'s own address')
  app.decorate('services', { auth, users, sos, media, units, publisher, contacts, share, outbox })

  await app.register(authPlugin, { auth, legacy: config.legacyOpenAccess })
  await app.register(realtimePlugin, {
    publisher,
    verify: (token) => auth.authenticate(token),
    handlers: {
      ...sosEventHandlers({ sos, legacy: config.legacyOpenAccess, maxRoomsPerSocket: config.socketMaxSosRooms, trustProxy: config.trustProxy }),
      ...unitEventHandlers({ units, legacy: config.legacyOpenAccess }),
    },
    corsOrigins: config.corsOrigins,
    redis: app.redis,
    onPublishFailure: instruments.adapterPublishFailed,
    onEventFailure: (event, answer, cause) => {
      if (answer.status >= 500) instruments.eventFailed(event, answer.code)
      if (answer.status === 503) outageLog.run((skipped) => app.log.warn({ err: cause, event, skipped }, 'database unavailable: socket events are answered `unavailable` (this line repeats at most every 10 s)'))
    },
    revalidateIntervalMs: config.socketRevalidateSeconds * 1000,
    identities: (tokenHashes) => auth.identitiesByTokenHash(tokenHashes),
    legacy: config.legacyOpenAccess,
    eventsPerSecond: config.socketEventsPerSecond,
    maxRefusedEventsPerMinute: config.socketMaxRefusedEventsPerMinute,
    maxPendingPackets: config.socketMaxPendingPackets,
    engine: config.realtimeEngine,
    // @socket.io/sticky hands a cluster worker its connections as Node sockets, which only ws can take.
    uwsUnsuitable: config.workers > 1 ? `WORKERS=${config.workers} hands connections to workers through Node's http server` : undefined,
  })
  await app.register(metricsPlugin, { metrics })
  await app.register(docsPlugin, { legacy: config.legacyOpenAccess, socketPort: config.socketPort })
  await app.register(staticPlugin)

  // Shared response schemas ($ref targets) live at the root so every route plugin can use them.
  for (const schema of [...SOS_SHARED_SCHEMAS, ...UNITS_SHARED_SCHEMAS]) app.addSchema(schema)
  await app.register(authRoutes, {
    auth,
    users,
    loginRateLimitPerMinute: config.loginRateLimitPerMinute,
    registrationRateLimitPerMinute: config.registrationRateLimitPerMinute,
    publicUrl: config.publicUrl,
  })
  await app.register(sosRoutes, { sos, publicUrl: config.publicUrl, locationBatchMax: config.locationBatchMax })
  await app.register(mediaRoutes, {
    media,
    publicUrl: config.publicUrl,
    maxRequestBytes: config.uploadMaxRequestBytes,
    receiveTimeoutMs: config.uploadTimeoutSeconds * 1000,
  })
  await app.register(unitsRoutes, { units, legacy: config.legacyOpenAccess })
  await app.register(opsRoutes)
  await app.register(contactRoutes, { contacts, share, publicUrl: config.publicUrl })
  await app.register(shareRoutes, { share, live, rateLimitPerMinute: config.shareLinkRateLimitPerMinute, tileUrl: config.mapTileUrl })

  // Scheduled work: above the modules, started with the app and stopped before the database closes.
  const escalation = new EscalationJob({
    db: app.db,
    writer,
    publisher,
    repeatSeconds: config.escalateRepeatSeconds,
    checkMs: config.escalationCheckMs,
    log: app.log.child({ job: 'escalation' }),
    onEscalated: (reason) => instruments.escalated(reason),
  })
  app.addHook('onReady', async () => escalation.start())
  app.addHook('preClose', async () => escalation.stop())
  app.addHook('onReady', async () => outbox.start())
  app.addHook('preClose', async () => outbox.stop())
  // Open live-tracking streams never fall idle: end them, or close() would wait for every viewer to leave.
  app.addHook('preClose', async () => live.closeAll())
  return app
}

/** This node's own base URL (links in messages when PUBLIC_URL is unset): its listening address. */
function ownAddress(app: FastifyInstance): string {
  const address = app.server.address() as AddressInfo | null
  if (!address) return 'http://localhost:8000'
  const host = address.address === '0.0.0.0' || address.address === '::' ? 'localhost' : address.family === 'IPv6' ? `[${address.address}]` : address.address
  return `http://${host}:${address.port}`
}
