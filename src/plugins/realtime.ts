// Realtime plugin: the Socket.IO server on its own HTTP server (port 8001), handshake auth, optional
// Redis adapter, per-socket event limits, and the one `connection` listener that wires feature handlers.
import type http from 'node:http'
import { createAdapter } from '@socket.io/redis-streams-adapter'
import { setupWorker } from '@socket.io/sticky'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Server } from 'socket.io'
import type { RealtimeEngine } from '../config.ts'
import { FixedWindowLimiter } from '../lib/rate-window.ts'
import { CLIENT_EVENTS, ROOMS, SERVER_EVENTS, type Ack, type ClientEventName, type SocketIdentity } from '../realtime/contract.ts'
import { createEngine } from '../realtime/engine.ts'
import { handleEvent, throttled, type AppSocket, type EventHandler, type FailureObserver } from '../realtime/handlers.ts'
import { handshakeAuth, type TokenVerifier } from '../realtime/middleware.ts'
import { REVOCATION_MESSAGES, type RealtimePublisher, type RealtimeServer } from '../realtime/publisher.ts'
import type { RedisLink } from './redis.ts'

export interface Realtime {
  io: RealtimeServer
  /** The engine actually serving the port (`uws` falls back to `ws` where it cannot). */
  engine: RealtimeEngine
  /** The Node http server under Socket.IO; only on the `ws` engine. */
  httpServer?: http.Server
  listen(port: number, host: string): Promise<number>
  /**
   * In a cluster worker (WORKERS > 1), instead of listen(): take the connections the primary hands over
   * (@socket.io/sticky), so every request of one Engine.IO session lands on this worker.
   */
  acceptFromPrimary(): void
}

declare module 'fastify' {
  interface FastifyInstance {
    realtime: Realtime
  }
}

export interface RealtimeOptions {
  publisher: RealtimePublisher
  verify: TokenVerifier
  handlers: Partial<Record<ClientEventName, EventHandler>>
  corsOrigins: string[]
  /** The node's Redis connections; when enabled, the Redis streams adapter carries events to every node. */
  redis: RedisLink
  /** A cluster message (event, disconnect) could not be published: it reached this node's sockets only. */
  onPublishFailure?: () => void
  /** Every client event answered with an error (metrics). */
  onEventFailure?: FailureObserver
  legacy: boolean
  /** The engine asked for (REALTIME_ENGINE). */
  engine: RealtimeEngine
  /** Why uWS cannot serve here even if it loads (WORKERS > 1), or undefined. */
  uwsUnsuitable?: string
  /** Events one socket may send per second before being told to slow down. */
  eventsPerSecond: number
  /** Refused events (unknown, forged, over the rate) one socket may send per minute before it is disconnected. */
  maxRefusedEventsPerMinute: number
  /** Outgoing packets queued for one socket before it is treated as a stalled reader and disconnected. */
  maxPendingPackets: number
  /**
   * Re-checks every signed-in socket's token and account this often (0: never): the safety net behind
   * revocation's immediate disconnect, for changes made where no socket server could be told (the CLI
   * on a node without Redis, a Redis outage, a handshake racing a logout).
   */
  revalidateIntervalMs: number
  /** The still-valid identities among these token hashes (those missing are revoked or deactivated). */
  identities: (tokenHashes: string[]) => Promise<Map<string, SocketIdentity>>
}

const FORBIDDEN_EVENTS = new Set<string>([
  ...SERVER_EVENTS,
  // The original's internal events, which any client could forge there.
  'sos_created', 'location_update_to_room', 'location_update_to_unit',
])

export default fp(
  async function realtimePlugin(app: FastifyInstance, opts: RealtimeOptions) {
    const { io, host } = createEngine({
      requested: opts.engine,
      uwsUnsuitable: opts.uwsUnsuitable,
      socketIo: {
        cors: { origin: opts.corsOrigins.includes('*') ? true : opts.corsOrigins, credentials: true },
        serveClient: false,
        // Client frames are small JSON objects; anything larger is refused and that connection closed.
        maxHttpBufferSize: 64 * 1024,
      },
      // The packet limit in bytes, at a generous 1 KiB a packet (most are a few hundred bytes).
      maxBufferedBytes: opts.maxPendingPackets * 1024,
      log: app.log,
    })
    app.log.info({ engine: host.name }, 'realtime engine')

    // The Redis adapter never holds up start or an event. Its publisher has no offline queue and a
    // command timeout, so while Redis is down (or hung) a broadcast is refused within a second and the
    // adapter delivers it to this node's sockets anyway; its reader and subscriber queue their commands
    // and resume by themselves when Redis returns. Start waits for Redis at most 2 s, then goes on without it.
    const owned: Array<ReturnType<RedisLink['connect']>> = []
    if (opts.redis.enabled) {
      const link = opts.redis
      const pub = link.connect('adapter-publisher', { connectTimeout: 2000, commandTimeout: 1000, maxRetriesPerRequest: 0, enableOfflineQueue: false, autoResendUnfulfilledCommands: false })
      owned.push(pub)
      // The adapter duplicates the publisher for its stream reader and its subscriber; those must wait
      // out an outage (offline queue, unlimited retries) instead of failing fast, so they get their own options.
      const roles = ['adapter-stream-reader', 'adapter-subscriber']
      pub.duplicate = () => {
        const client = link.connect(roles.shift() ?? 'adapter-extra', { connectTimeout: 2000, maxRetriesPerRequest: null })
        owned.push(client)
        // The adapter drops SUBSCRIBE's promise; one still pending when the node shuts down would reject
        // unhandled ("Connection is closed."). Its outcome is the connection's, which the link reports.
        const subscribe = client.subscribe.bind(client) as (...args: unknown[]) => Promise<unknown>
        client.subscribe = ((...args: unknown[]) => {
          const pending = subscribe(...args)
          pending.catch(() => undefined)
          return pending
        }) as typeof client.subscribe
        return client
      }
      const prefix = link.prefix
      const factory = createAdapter(pub, { streamName: prefix, channelPrefix: prefix, sessionKeyPrefix: `${prefix}:session:`, onlyPlaintext: true })
      // A regular function: Socket.IO calls it with `new`.
      io.adapter(function redisStreamsAdapter(nsp: unknown) {
        const adapter = factory(nsp) as unknown as { doPublish(message: unknown): Promise<string> }
        const publish = adapter.doPublish.bind(adapter)
        adapter.doPublish = (message) =>
          publish(message).catch((err: unknown) => {
            opts.onPublishFailure?.()
            throw err
          })
        return adapter
      } as unknown as Parameters<RealtimeServer['adapter']>[0])
      app.log.info('socket.io redis streams adapter attached')
      // Listening with Redis already up means no event of the first moments stays on this node; a
      // Redis that does not answer within this wait is an outage, and the node starts without it.
      await link.settled(2000)
    }

    // The handshake's IncomingMessage is kept by Engine.IO for the socket's lifetime. Socket.IO copies
    // what we need (headers, auth, address) into socket.handshake only when the client joins the
    // namespace, so it is released in the `connection` listener below, not on the Engine.IO connection
    // (which comes first and would lose the Authorization header; CONTRACT §4).
    const limiter = new FixedWindowLimiter(opts.eventsPerSecond, 1000)
    const refusals = new FixedWindowLimiter(opts.maxRefusedEventsPerMinute, 60_000)
    io.use(handshakeAuth(opts.verify))
    // Created only when a socket has something to log: a child logger per socket is memory at 10,000+ sockets.
    const socketLog = (socket: AppSocket) => app.log.child({ sid: socket.id, user: socket.data.user?.id ?? null })
    const handlers = new Map<string, EventHandler>()
    for (const event of CLIENT_EVENTS) if (opts.handlers[event]) handlers.set(event, opts.handlers[event])
    io.on('connection', (socket) => {
      ;(socket.conn as unknown as { request: unknown }).request = null // handshake copied; release it (~a few KB per socket)
      // Server-side rooms through which a logout, a password change or an account change reaches every
      // socket of that token or user, on every node (RealtimePublisher.revoke).
      if (socket.data.user && socket.data.tokenHash) void socket.join([ROOMS.user(socket.data.user.id), ROOMS.token(socket.data.tokenHash)])
      // Unknown, forged and over-the-rate events are refusals. A real client makes a few by mistake; one
      // that keeps making them is probing or flooding, and each refusal costs a reply: past the allowance
      // it is disconnected (it may reconnect, and its rooms replay from the database).
      const strike = () => {
        if (refusals.hit(socket.id) || !socket.connected) return
        socketLog(socket).warn({ limit: opts.maxRefusedEventsPerMinute }, 'disconnecting a socket that keeps sending refused events')
        socket.emit('error', { code: 'too_many_refused_events', message: 'Too many refused events; disconnecting.' })
        socket.disconnect(true)
      }
      // One listener for every event (Socket.IO passes the ack as the last argument), and the handlers
      // looked up in one table shared by all sockets: no closure per event per socket.
      socket.onAny((event: string, ...args: unknown[]) => {
        const handler = handlers.get(event)
        const ack = args[args.length - 1]
        const answer = typeof ack === 'function' ? (ack as (response: Ack) => void) : undefined
        // Refused events count against the same per-second budget as accepted ones.
        const allowed = limiter.hit(socket.id)
        if (!allowed) strike()
        if (handler) {
          void handleEvent(socket, event as ClientEventName, handler, args, { allowed, log: socketLog, onFailure: opts.onEventFailure })
          return
        }
        if (!allowed) {
          answer?.({ ok: false, error: throttled().toSocketError() })
          return
        }
        const message = FORBIDDEN_EVENTS.has(event) ? `"${event}" is a server event; clients cannot emit it.` : `Unknown event "${String(event).slice(0, 50)}".`
        const error = { code: FORBIDDEN_EVENTS.has(event) ? 'forbidden_event' : 'unknown_event', message }
        socket.emit('error', { ...error, event: String(event).slice(0, 50) })
        // Every client event answers its acknowledgement, refused ones too (CONTRACT §3).
        answer?.({ ok: false, error })
        strike()
      })
      const user = socket.data.user
      socket.emit('connection_established', {
        message: 'Connected to NaariKavach realtime server',
        sid: socket.id,
        user: user ? { id: user.id, username: user.username, role: user.role } : null,
      })
    })
    opts.publisher.attach(io)

    // A client that stops reading makes its outgoing packets pile up in memory (the kernel buffer is
    // full, so the transport stays unwritable). Others are unaffected, but the pile must be bounded:
    // past the limit the socket is dropped; a real client reconnects and its rooms replay from the DB.
    // (Over uWS a WebSocket's frames queue in C++ instead, where uWS closes it past maxBufferedBytes;
    // long-polling sockets queue here on both engines.)
    const sweeper = setInterval(() => {
      for (const socket of io.of('/').sockets.values()) {
        const pending = (socket.conn as unknown as { writeBuffer: unknown[] }).writeBuffer.length
        if (pending > opts.maxPendingPackets) {
          app.log.warn({ sid: socket.id, pending }, 'disconnecting a socket that stopped reading')
          socket.disconnect(true)
        }
      }
    }, 1000)
    sweeper.unref()

    const revalidator = opts.revalidateIntervalMs > 0 ? setInterval(() => void revalidate(), opts.revalidateIntervalMs) : undefined
    revalidator?.unref()
    let revalidating = false
    async function revalidate(): Promise<void> {
      if (revalidating) return
      revalidating = true
      try {
        const signedIn = [...io.of('/').sockets.values()].filter((s) => s.data.user && s.data.tokenHash)
        if (signedIn.length === 0) return
        const valid = await opts.identities([...new Set(signedIn.map((s) => s.data.tokenHash!))])
        for (const socket of signedIn) {
          const now = valid.get(socket.data.tokenHash!)
          const then = socket.data.user!
          if (now && now.id === then.id && now.role === then.role && now.unit_number === then.unit_number) continue
          app.log.info({ sid: socket.id, user: then.id }, 'disconnecting a socket whose token or account changed')
          socket.emit('error', { code: 'session_revoked', message: REVOCATION_MESSAGES.revalidated })
          socket.disconnect(true)
        }
      } catch (err) {
        // The database is down: keep everyone connected (and try again next time).
        app.log.debug({ err }, 'socket revalidation skipped')
      } finally {
        revalidating = false
      }
    }

    const realtime: Realtime = {
      io,
      engine: host.name,
      httpServer: host.httpServer,
      listen: (port, hostname) => host.listen(port, hostname),
      acceptFromPrimary: () => {
        if (!host.httpServer) throw new Error('a cluster worker needs the ws engine (its connections come from the primary)')
        setupWorker(io as unknown as Server)
      },
    }
    app.decorate('realtime', realtime)

    app.addHook('onClose', async () => {
      clearInterval(sweeper)
      if (revalidator) clearInterval(revalidator)
      host.stopListening()
      io.disconnectSockets(true)
      // io.close() stops the adapter's stream reader first; only then may its connection go.
      await new Promise<void>((resolve) => io.close(() => resolve()))
      for (const client of owned) opts.redis.release(client)
    })
  },
  { name: 'realtime', dependencies: ['db', 'redis'] },
)
