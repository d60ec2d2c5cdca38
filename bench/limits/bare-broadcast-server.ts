// Child process of `limits`: one bare broadcast server (BARE_KIND) holding sockets in one room and, when
// asked, sending them all one new_sos frame, the bytes our server sends. It measures what the broadcast
// costs its own event loop: the synchronous time of the send call, the time until a setImmediate queued
// right after it runs, the event loop's busy time (eventLoopUtilization) from the send until the parent
// says every receiver has it, and the longest stall seen by a 1 ms monitorEventLoopDelay timer.
//   ws-raw    a `ws` WebSocketServer looping over its clients, each sent the same WebSocket frame, built
//             once as Socket.IO's own adapter does (no Socket.IO; ws.send would re-frame it per socket)
//   uws-raw   a uWebSockets.js app, app.publish on a topic every socket subscribed to (no Socket.IO)
//   sio-ws    a bare Socket.IO server on Node's http server + ws: io.to(room).emit
//   sio-uws   a bare Socket.IO server on uWebSockets.js (io.attachApp): io.to(room).emit
import http from 'node:http'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { monitorEventLoopDelay, performance, type EventLoopUtilization } from 'node:perf_hooks'
import { Server } from 'socket.io'
import WebSocket, { WebSocketServer } from 'ws'
import { serveRequests } from '../lib/child.ts'
import { nowUs } from '../lib/stats.ts'

export type BareKind = 'ws-raw' | 'uws-raw' | 'sio-ws' | 'sio-uws'

interface UwsWebSocket {
  subscribe(topic: string): boolean
}
interface UwsApp {
  ws(pattern: string, behavior: Record<string, unknown>): UwsApp
  listen(host: string, port: number, cb: (listenSocket: unknown) => void): UwsApp
  publish(topic: string, message: string, isBinary?: boolean): boolean
}
interface UwsModule {
  App(): UwsApp
  us_socket_local_port(listenSocket: unknown): number
}

/** The parts of ws's Sender that Socket.IO's adapter uses to frame a broadcast once (not in @types/ws). */
interface WsSender {
  sendFrame(list: Buffer[], cb?: () => void): void
}
const frameOnce = (data: Buffer): Buffer[] =>
  (WebSocket as unknown as { Sender: { frame(data: Buffer, opts: Record<string, unknown>): Buffer[] } }).Sender.frame(data, { readOnly: false, mask: false, rsv1: false, opcode: 1, fin: true })

const ROOM = 'sos_channel'
const kind = process.env.BARE_KIND as BareKind

/**
 * The native uWebSockets.js binary, loaded directly: the package's entry point falls back to a JavaScript
 * imitation without failing when the binary does not load, which would measure the wrong thing.
 */
function loadUws(): UwsModule {
  const binary = `@trufflesuite/uws-js-unofficial/binaries/uws_${process.platform}_${process.arch}_${process.versions.modules}.node`
  return createRequire(import.meta.url)(binary) as UwsModule
}

interface Broadcaster {
  port: number
  sockets(): number
  /** Sends `frame` (an Engine.IO text frame `42["new_sos",{…}]`) to every socket in the room. */
  send(frame: string, event: string, payload: unknown): void
}

async function start(): Promise<Broadcaster> {
  if (kind === 'ws-raw') {
    const server = http.createServer()
    const wss = new WebSocketServer({ server, perMessageDeflate: false })
    const clients = new Set<WebSocket>()
    wss.on('connection', (ws) => {
      clients.add(ws)
      ws.on('close', () => clients.delete(ws))
    })
    const port = await listen(server)
    return {
      port,
      sockets: () => clients.size,
      send: (frame) => {
        const list = frameOnce(Buffer.from(frame))
        for (const ws of clients) (ws as unknown as { _sender: WsSender })._sender.sendFrame(list)
      },
    }
  }
  if (kind === 'uws-raw') {
    const uws = loadUws()
    let count = 0
    const app = uws.App().ws('/*', {
      compression: 0,
      idleTimeout: 0,
      maxPayloadLength: 64 * 1024,
      maxBackpressure: 1024 * 1024,
      sendPingsAutomatically: false,
      open: (ws: UwsWebSocket) => {
        ws.subscribe(ROOM)
        count += 1
      },
      close: () => {
        count -= 1
      },
    })
    const port = await listenUws(uws, app)
    return { port, sockets: () => count, send: (frame) => void app.publish(ROOM, frame, false) }
  }
  // Socket.IO, bare: no auth, no adapter but the default; a join_sos_channel handler that joins and acks.
  const io = new Server({ serveClient: false, maxHttpBufferSize: 64 * 1024 })
  io.on('connection', (socket) => {
    socket.emit('connection_established', { sid: socket.id })
    socket.on('join_sos_channel', (_payload: unknown, ack?: (answer: unknown) => void) => {
      void socket.join(ROOM)
      ack?.({ ok: true, data: { channel: ROOM } })
    })
  })
  let port: number
  if (kind === 'sio-uws') {
    const uws = loadUws()
    const app = uws.App()
    io.attachApp(app)
    port = await listenUws(uws, app)
  } else {
    const server = http.createServer()
    io.attach(server)
    port = await listen(server)
  }
  return { port, sockets: () => io.of('/').adapter.rooms.get(ROOM)?.size ?? 0, send: (_frame, event, payload) => void io.to(ROOM).emit(event, payload) }
}

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => resolve((server.address() as AddressInfo).port))
  })
}

function listenUws(uws: UwsModule, app: UwsApp): Promise<number> {
  return new Promise((resolve, reject) => {
    app.listen('127.0.0.1', 0, (listenSocket) => (listenSocket ? resolve(uws.us_socket_local_port(listenSocket)) : reject(new Error('uWS could not listen'))))
  })
}

let server: Broadcaster | undefined
let template: { event: string; payload: Record<string, unknown> } | undefined
const delay = monitorEventLoopDelay({ resolution: 1 })
delay.enable()
let last: { elu: EventLoopUtilization } | undefined

serveRequests({
  start: async (msg) => {
    const frame = String(msg.frame)
    const [event, payload] = JSON.parse(frame.slice(2)) as [string, Record<string, unknown>]
    template = { event, payload }
    // Socket.IO encodes an event as "4" (Engine.IO message) + "2" (event) + JSON.stringify([event, …args]).
    const sameBytes = `42${JSON.stringify([event, payload])}` === frame
    server = await start()
    return { port: server.port, sameBytes }
  },
  sockets: () => server?.sockets() ?? 0,
  usage: () => {
    const cpu = process.cpuUsage()
    return { rssKb: Math.round(process.memoryUsage().rss / 1024), cpuSeconds: (cpu.user + cpu.system) / 1e6 }
  },
  /** One broadcast of the template with this sos_id; answers once a setImmediate queued after it has run. */
  broadcast: (msg) => {
    if (!server || !template) throw new Error('not started')
    const payload = { ...template.payload, sos_id: Number(msg.sosId) }
    const frame = `42${JSON.stringify([template.event, payload])}`
    const elu = performance.eventLoopUtilization()
    const t0Us = nowUs()
    const t0 = performance.now()
    server.send(frame, template.event, payload)
    const syncMs = performance.now() - t0
    last = { elu }
    return new Promise((resolve) => setImmediate(() => resolve({ t0Us, syncMs, immediateMs: performance.now() - t0, bytes: Buffer.byteLength(frame) })))
  },
  /**
   * After every receiver has the broadcast: the loop's busy time since it started, and its longest stall.
   * The delay histogram is reset here, not just before the next send: a reset also forgets the timer's
   * previous tick, so the first interval after it (which would hold the send) is never recorded.
   */
  settle: () => {
    if (!last) throw new Error('no broadcast yet')
    const busy = performance.eventLoopUtilization(last.elu)
    // The histogram records whole timer intervals: the stall is what exceeds the 1 ms resolution.
    const loopMaxMs = Math.max(0, delay.max / 1e6 - 1)
    delay.reset()
    return { busyMs: busy.active, loopMaxMs }
  },
})
