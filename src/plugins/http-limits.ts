// REST connection limits: time to receive a request, idle connections, connection caps, and Node's own client errors in DRF's shape.
import type { Server, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { ConnectionError, FastifyHttpOptions, FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { clientKey } from '../lib/rate-limiter.ts'
import { answerOnSocket, clientErrorAnswer } from './error-handler.ts'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** This route's time to receive the whole request after its headers (the upload's is longer). */
    receiveTimeoutMs?: number
  }
}

export interface HttpLimitsOptions {
  /** Time to receive a request after its headers, unless the route says otherwise. */
  requestTimeoutMs: number
  /** The longest any route allows (Node's own request timeout backs the per-route timers up). */
  longestRequestTimeoutMs: number
  idleTimeoutMs: number
  maxConnections: number
  maxConnectionsPerIp: number
  /** Behind a load balancer every connection comes from the balancer: no per-peer cap then. */
  trustProxy: boolean
}

const TIMEOUT_DETAIL = 'The request was not received in time.'

/** The response in progress on a connection, so Node-level errors never write into a started one. */
const kResponse = Symbol('naarikavach.response')
type TrackedSocket = Socket & { [kResponse]?: ServerResponse }

/** Fastify's `clientErrorHandler`: a bad request line, oversized headers, Node's request timeout. */
export function onClientError(this: FastifyInstance, error: ConnectionError, socket: Socket) {
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  const { status, detail } = clientErrorAnswer(error.code)
  this.log.info({ code: error.code, status }, 'client error')
  if ((socket as TrackedSocket)[kResponse]?.headersSent) {
    socket.destroy()
    return
  }
  answerOnSocket(socket, status, detail)
}

/** The server options that belong with this plugin (Fastify takes them only at construction). */
export function httpServerOptions(opts: HttpLimitsOptions): Pick<FastifyHttpOptions<Server>, 'connectionTimeout' | 'requestTimeout' | 'http' | 'clientErrorHandler' | 'return503OnClosing'> {
  return {
    // Fastify's own 503 while closing has its own body shape; the plugin answers in DRF's instead.
    return503OnClosing: false,
    connectionTimeout: opts.idleTimeoutMs,
    // A backstop for bodies no route timer watches (one left unread after its answer): slightly
    // longer than the longest route timer, so the route's own 408 normally comes first.
    requestTimeout: opts.longestRequestTimeoutMs + 5000,
    // Node checks its request timeout on this interval (30 s by default), which would blur short ones.
    http: { connectionsCheckingInterval: Math.min(5000, Math.max(250, Math.floor(opts.requestTimeoutMs / 4))) },
    clientErrorHandler: onClientError,
  }
}

export default fp(
  async function httpLimits(app: FastifyInstance, opts: HttpLimitsOptions) {
    const server = app.server
    if (opts.maxConnections > 0) server.maxConnections = opts.maxConnections

    if (opts.maxConnectionsPerIp > 0 && !opts.trustProxy) {
      const open = new Map<string, number>()
      server.on('connection', (socket: Socket) => {
        // Keyed like the rate limits: an IPv6 client by its /64, so it cannot spread over its own addresses.
        const ip = clientKey(socket.remoteAddress)
        const count = (open.get(ip) ?? 0) + 1
        if (count > opts.maxConnectionsPerIp) {
          // Closed before anything is read, as Node does beyond maxConnections: holding it to answer
          // would spend what the cap protects.
          socket.destroy()
          return
        }
        open.set(ip, count)
        socket.once('close', () => {
          const left = (open.get(ip) ?? 1) - 1
          if (left > 0) open.set(ip, left)
          else open.delete(ip)
        })
      })
    }

    // Idle (connectionTimeout) and keep-alive timeouts land here; with a listener Node leaves closing to us.
    // What "idle" means depends on who is quiet: a client that stopped sending its request, or stopped
    // reading its answer, is closed; a server that is still working on an answer (a slow database) or a
    // stream with nothing to say yet (a live feed between events) is not cut off.
    server.on('timeout', (socket: Socket) => {
      const response = (socket as TrackedSocket)[kResponse]
      if (!response) {
        socket.destroy() // between requests (keep-alive): as Node does
      } else if (!response.headersSent) {
        if (!response.req.complete) {
          app.log.info({ status: 408 }, 'request body stalled')
          answerOnSocket(socket, 408, TIMEOUT_DETAIL)
        }
      } else if (socket.writableLength > 0 || response.writableLength > 0) {
        app.log.info('client stopped reading its answer')
        socket.destroy()
      }
    })

    // A request that arrives on an open keep-alive connection while the server shuts down goes elsewhere.
    let closing = false
    app.addHook('preClose', (done) => {
      closing = true
      done()
    })

    app.addHook('onRequest', (request, reply, done) => {
      if (closing) {
        reply.code(503).header('connection', 'close').type('application/json; charset=utf-8').send(JSON.stringify({ detail: 'The server is shutting down; try again.' }))
        return
      }
      const socket = request.raw.socket as TrackedSocket
      socket[kResponse] = reply.raw
      const timer = setTimeout(() => {
        if (request.raw.complete || reply.raw.headersSent) return
        request.log.info({ status: 408 }, 'request body not received in time')
        answerOnSocket(socket, 408, TIMEOUT_DETAIL)
      }, request.routeOptions.config.receiveTimeoutMs ?? opts.requestTimeoutMs)
      timer.unref()
      reply.raw.once('close', () => {
        clearTimeout(timer)
        if (socket[kResponse] === reply.raw) socket[kResponse] = undefined
      })
      done()
    })
  },
  { name: 'http-limits' },
)
