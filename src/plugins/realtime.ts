// Realtime plugin: the Socket.IO server on its own HTTP server (port 8001), handshake auth, optional
// Redis adapter, per-socket event limits, and the one `connection` listener that wires feature handlers.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { createAdapter } from '@socket.io/redis-streams-adapter'
import { setupWorker } from '@socket.io/sticky'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Redis } from 'ioredis'
import { Server } from 'socket.io'
import { FixedWindowLimiter } from '../lib/rate-window.ts'
import { CLIENT_EVENTS, type Ack, type ClientEventName } from '../realtime/contract.ts'
import { on, type EventHandler } from '../realtime/handlers.ts'
import { handshakeAuth, type TokenVerifier } from '../realtime/middleware.ts'
import type { RealtimePublisher, RealtimeServer } from '../realtime/publisher.ts'

export interface Realtime {
  io: RealtimeServer
  httpServer: http.Server
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
  redisUrl: string | undefined
  redisPrefix: string
  legacy: boolean
  /** Events one socket may send per second before being told to slow down. */
  eventsPerSecond: number
  /** Refused events (unknown, forged, over the rate) one socket may send per minute before it is disconnected. */
  maxRefusedEventsPerMinute: number
  /** Outgoing packets queued for one socket before it is treated as a stalled reader and disconnected. */
  maxPendingPackets: number
}

const SERVER_EVENTS = new Set([
  'connection_established', 'room_joined', 'new_sos', 'sos_snapshot', 'location_snapshot', 'unit_snapshot', 'location_history', 'unit_location_update', 'location_tracking_update',
  'unit_loc', 'sos_resolved', 'create_sos_response', 'update_location_response', 'error',
  // The original's internal events, which any client could forge there.
  'sos_created', 'location_update_to_room', 'location_update_to_unit',
])

export default fp(
  async function realtimePlugin(app: FastifyInstance, opts: RealtimeOptions) {
    const httpServer = http.createServer((_req, res) => {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"detail":"Not found."}')
    })
    const io: RealtimeServer = new Server(httpServer, {
      cors: { origin: opts.corsOrigins.includes('*') ? true : opts.corsOrigins, credentials: true },
      serveClient: false,
      // Client frames are small JSON objects; anything larger is refused and that connection closed.
      maxHttpBufferSize: 64 * 1024,
    })

    let redis: { pub: Redis } | undefined
    if (opts.redisUrl) {
      const pub = new Redis(opts.redisUrl, { maxRetriesPerRequest: null, lazyConnect: true })
      pub.on('error', (err) => app.log.error({ err }, 'redis adapter connection error'))
      await pub.connect()
      io.adapter(createAdapter(pub, { streamName: opts.redisPrefix, channelPrefix: opts.redisPrefix, sessionKeyPrefix: `${opts.redisPrefix}:session:`, onlyPlaintext: true }))
      redis = { pub }
      app.log.info('socket.io redis streams adapter attached')
    }

    // The handshake's IncomingMessage is kept by Engine.IO for the socket's lifetime. Socket.IO copies
    // what we need (headers, auth, address) into socket.handshake only when the client joins the
    // namespace, so it is released in the `connection` listener below, not on the Engine.IO connection
    // (which comes first and would lose the Authorization header; CONTRACT §4).
    const limiter = new FixedWindowLimiter(opts.eventsPerSecond, 1000)
    const refusals = new FixedWindowLimiter(opts.maxRefusedEventsPerMinute, 60_000)
    io.use(handshakeAuth(opts.verify))
    io.on('connection', (socket) => {
      ;(socket.conn as unknown as { request: unknown }).request = null // handshake copied; release it (~a few KB per socket)
      const log = app.log.child({ sid: socket.id, user: socket.data.user?.id ?? null })
      // Unknown, forged and over-the-rate events are refusals. A real client makes a few by mistake; one
      // that keeps making them is probing or flooding, and each refusal costs a reply: past the allowance
      // it is disconnected (it may reconnect, and its rooms replay from the database).
      const strike = () => {
        if (refusals.hit(socket.id) || !socket.connected) return
        log.warn({ limit: opts.maxRefusedEventsPerMinute }, 'disconnecting a socket that keeps sending refused events')
        socket.emit('error', { code: 'too_many_refused_events', message: 'Too many refused events; disconnecting.' })
        socket.disconnect(true)
      }
      const allow = () => {
        if (limiter.hit(socket.id)) return true
        strike()
        return false
      }
      for (const event of CLIENT_EVENTS) {
        const handler = opts.handlers[event]
        if (handler) on(socket, event, handler, log, allow)
      }
      socket.onAny((event: string, ...args: unknown[]) => {
        if ((CLIENT_EVENTS as string[]).includes(event)) return
        const ack = args[args.length - 1]
        const answer = typeof ack === 'function' ? (ack as (response: Ack) => void) : undefined
        // Refused events count against the same per-second budget as accepted ones.
        if (!allow()) {
          answer?.({ ok: false, error: { code: 'throttled', message: 'Too many events; slow down.' } })
          return
        }
        const message = SERVER_EVENTS.has(event) ? `"${event}" is a server event; clients cannot emit it.` : `Unknown event "${String(event).slice(0, 50)}".`
        const error = { code: SERVER_EVENTS.has(event) ? 'forbidden_event' : 'unknown_event', message }
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

    const realtime: Realtime = {
      io,
      httpServer,
      listen: (port, host) =>
        new Promise((resolve, reject) => {
          httpServer.once('error', reject)
          // A reconnect storm brings thousands of SYNs at once; Node's default backlog (511) drops them.
          httpServer.listen({ port, host, backlog: 4096 }, () => {
            httpServer.off('error', reject)
            resolve((httpServer.address() as AddressInfo).port)
          })
        }),
      acceptFromPrimary: () => setupWorker(io as unknown as Server),
    }
    app.decorate('realtime', realtime)

    app.addHook('onClose', async () => {
      clearInterval(sweeper)
      io.disconnectSockets(true)
      await new Promise<void>((resolve) => io.close(() => resolve()))
      if (redis) await redis.pub.quit().catch(() => undefined)
    })
  },
  { name: 'realtime', dependencies: ['db'] },
)
