// What carries Socket.IO on the realtime port: uWebSockets.js (`uws`) or Node's http server with `ws`.
// uWS writes a broadcast's frames from C++ without a JavaScript object per socket, which keeps the event
// loop free while one `new_sos` goes to thousands of dashboards (docs/BENCHMARKS.md); `ws` stays as the
// fallback where the native binary cannot load, and for WORKERS > 1, whose sticky hand-over of
// connections from the cluster primary needs a Node http server.
import http from 'node:http'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import type { ServerOptions } from 'socket.io'
import { Server } from 'socket.io'
import { Adapter } from 'socket.io-adapter'
import type { RealtimeEngine } from '../config.ts'
import type { RealtimeServer } from './publisher.ts'

/** The subset of uWebSockets.js this module uses (the package's own types are not exported as ESM). */
interface UwsApp {
  publish(topic: string, message: string | Uint8Array, isBinary: boolean): boolean
  any(pattern: string, handler: (res: UwsResponse) => void): UwsApp
  ws(pattern: string, behavior: Record<string, unknown>): UwsApp
  listen(host: string, port: number, options: number, cb: (listenSocket: unknown) => void): UwsApp
}
interface UwsResponse {
  writeStatus(status: string): UwsResponse
  writeHeader(key: string, value: string): UwsResponse
  end(body?: string): UwsResponse
}
interface UwsModule {
  App(): UwsApp
  us_listen_socket_close(listenSocket: unknown): void
  us_socket_local_port(listenSocket: unknown): number
}

/** uSockets' LIBUS_LISTEN_EXCLUSIVE_PORT: without it a second server on the same port would share it silently (SO_REUSEPORT). */
const EXCLUSIVE_PORT = 1
const NOT_FOUND = '{"detail":"Not found."}'

let loaded: { uws: UwsModule } | { error: string } | undefined

/**
 * The native uWebSockets.js binary for this platform and Node ABI, or why it cannot load. Loaded directly:
 * the package's entry point would fall back to a JavaScript imitation of uWS without saying so to us.
 */
export function loadUws(): { uws: UwsModule } | { error: string } {
  if (loaded) return loaded
  const binary = `@trufflesuite/uws-js-unofficial/binaries/uws_${process.platform}_${process.arch}_${process.versions.modules}.node`
  try {
    loaded = { uws: createRequire(import.meta.url)(binary) as UwsModule }
  } catch (err) {
    loaded = { error: `${binary}: ${(err as Error).message.split('\n')[0]}` }
  }
  return loaded
}

export interface EngineHost {
  readonly name: RealtimeEngine
  /** The Node http server under Socket.IO (`ws` only: @socket.io/sticky feeds it the primary's connections). */
  readonly httpServer?: http.Server
  /** Starts accepting connections; resolves with the port (useful with port 0). */
  listen(port: number, host: string): Promise<number>
  /** Stops accepting new connections (open ones are closed by io.close()). */
  stopListening(): void
}

export interface EngineOptions {
  requested: RealtimeEngine
  /** Why `uws` cannot be used even if it loads (e.g. WORKERS > 1), or undefined. */
  uwsUnsuitable?: string
  /** Socket.IO options shared by both engines. */
  socketIo: Partial<ServerOptions>
  /**
   * Bytes queued for one WebSocket that has stopped reading before uWS closes it (its own backpressure
   * limit). Under `ws` the same protection is the packet count checked by the realtime plugin's sweeper.
   */
  maxBufferedBytes: number
  log: { info(message: string): void; warn(message: string): void }
}

/** Creates the Socket.IO server on the requested engine, falling back to `ws` (with a warning) where uWS cannot serve. */
export function createEngine(opts: EngineOptions): { io: RealtimeServer; host: EngineHost } {
  if (opts.requested === 'uws') {
    const uws = loadUws()
    // Unsuitable is a known, documented combination (the default engine with WORKERS > 1); a binary that
    // does not load is a surprise on a supported platform.
    if (opts.uwsUnsuitable) opts.log.info(`REALTIME_ENGINE=uws is not used: ${opts.uwsUnsuitable}; serving the realtime port with ws`)
    else if ('error' in uws) opts.log.warn(`REALTIME_ENGINE=uws could not load its native binary (${uws.error}); serving the realtime port with ws`)
    else return uwsEngine(uws.uws, opts)
  }
  return wsEngine(opts)
}

function wsEngine(opts: EngineOptions): { io: RealtimeServer; host: EngineHost } {
  const httpServer = http.createServer((_req, res) => {
    res.writeHead(404, { 'content-type': 'application/json' }).end(NOT_FOUND)
  })
  const io: RealtimeServer = new Server(httpServer, opts.socketIo)
  const host: EngineHost = {
    name: 'ws',
    httpServer,
    listen: (port, hostname) =>
      new Promise((resolve, reject) => {
        httpServer.once('error', reject)
        // A reconnect storm brings thousands of SYNs at once; Node's default backlog (511) drops them.
        httpServer.listen({ port, host: hostname, backlog: 4096 }, () => {
          httpServer.off('error', reject)
          resolve((httpServer.address() as AddressInfo).port)
        })
      }),
    // io.close() closes the http server itself.
    stopListening: () => undefined,
  }
  return { io, host }
}

function uwsEngine(uws: UwsModule, opts: EngineOptions): { io: RealtimeServer; host: EngineHost } {
  const app = uws.App()
  const io: RealtimeServer = new Server(opts.socketIo)
  io.attachApp(withBackpressureClose(app), { maxBackpressure: opts.maxBufferedBytes } as Partial<ServerOptions>)
  roomTopics.attach(io, app)
  // Everything that is not Engine.IO's path (a static route outranks this wildcard in uWS's router).
  app.any('/*', (res) => {
    res.writeStatus('404 Not Found').writeHeader('content-type', 'application/json').end(NOT_FOUND)
  })
  canonicalRemoteAddresses(io)
  let listenSocket: unknown
  const host: EngineHost = {
    name: 'uws',
    listen: (port, hostname) =>
      new Promise((resolve, reject) => {
        // uWS would happily listen on a second port too; Node refuses, and so does this.
        if (listenSocket !== undefined) {
          reject(Object.assign(new Error('Listen method has been called more than once without closing.'), { code: 'ERR_SERVER_ALREADY_LISTEN' }))
          return
        }
        app.listen(hostname, port, EXCLUSIVE_PORT, (socket) => {
          if (!socket) {
            reject(Object.assign(new Error(`listen EADDRINUSE (or not permitted): ${hostname}:${port}`), { code: 'EADDRINUSE', address: hostname, port }))
            return
          }
          listenSocket = socket
          resolve(uws.us_socket_local_port(socket))
        })
      }),
    stopListening: () => {
      if (listenSocket === undefined) return
      uws.us_listen_socket_close(listenSocket)
      listenSocket = undefined
    },
  }
  return { io, host }
}

type AdapterMethods = Pick<Adapter, 'addAll' | 'del' | 'delAll' | 'broadcast'>
interface AdapterSocket {
  conn: { id: string; transport: { name: string; socket: { subscribe(topic: string): void; unsubscribe(topic: string): void } }; once(event: 'upgrade', fn: () => void): void }
  client: { writeToEngine(packets: unknown[], opts: Record<string, unknown>): void }
}
interface AdapterThis {
  nsp: { name: string; server: unknown; sockets: Map<string, AdapterSocket>; _preConnectSockets: Map<string, AdapterSocket> }
  sids: Map<string, Set<string>>
  rooms: Map<string, Set<string>>
  encoder: { encode(packet: unknown): Array<string | Uint8Array> }
}

/**
 * Rooms as uWS topics, so a broadcast to one room is one `app.publish` written from C++ to every
 * WebSocket subscriber, with no JavaScript per socket. Socket.IO's own version of this (attachApp's
 * patchAdapter) patches the process-wide Adapter prototype with the *last* attached uWS app, and
 * io.close() restores it for everyone: two servers in one process (two nodes in a test, a ws fallback
 * beside a uws server) would publish into each other's app, or subscribe `ws` sockets to topics they
 * do not have. This version looks the app up per Socket.IO server and leaves other servers alone.
 */
const roomTopics = (() => {
  const SEPARATOR = '\x1f' // Socket.IO's topic separator: `${namespace}\x1f${room}`
  const pristine: AdapterMethods = { addAll: Adapter.prototype.addAll, del: Adapter.prototype.del, delAll: Adapter.prototype.delAll, broadcast: Adapter.prototype.broadcast }
  const apps = new WeakMap<object, UwsApp>()
  // The sockets of each namespace still on long-polling: they have no topic, so a broadcast writes to
  // them one by one. Kept as a set so that a broadcast to 10,000 WebSocket dashboards need not look at
  // each of them to find the few polling ones (it did: ~10 ms of JavaScript per broadcast).
  const pollingByAdapter = new WeakMap<AdapterThis, Set<string>>()
  const pollingOf = (adapter: AdapterThis) => {
    let polling = pollingByAdapter.get(adapter)
    if (!polling) pollingByAdapter.set(adapter, (polling = new Set()))
    return polling
  }
  const socketOf = (adapter: AdapterThis, id: string) => adapter.nsp.sockets.get(id) ?? adapter.nsp._preConnectSockets.get(id)
  const subscribe = (adapter: AdapterThis, socket: AdapterSocket, isNew: boolean, rooms: Iterable<string>) => {
    const websocket = socket.conn.transport.socket
    if (isNew) websocket.subscribe(adapter.nsp.name)
    for (const room of rooms) websocket.subscribe(`${adapter.nsp.name}${SEPARATOR}${room}`)
  }
  const patched: AdapterMethods = {
    addAll(this: AdapterThis, id: string, rooms: Set<string>) {
      const isNew = !this.sids.has(id)
      pristine.addAll.call(this as unknown as Adapter, id, rooms)
      if (!apps.has(this.nsp.server as object)) return
      const socket = socketOf(this, id)
      if (!socket) return
      if (socket.conn.transport.name === 'websocket') return subscribe(this, socket, isNew, rooms)
      if (!isNew) return
      // Long-polling now: written to directly until it upgrades, then subscribed to every room it is in.
      pollingOf(this).add(id)
      socket.conn.once('upgrade', () => {
        // Gone meanwhile (delAll ran): nothing to subscribe, and it must not come back into the set.
        if (!pollingOf(this).delete(id)) return
        subscribe(this, socket, true, this.sids.get(id) ?? [])
      })
    },
    del(this: AdapterThis, id: string, room: string) {
      pristine.del.call(this as unknown as Adapter, id, room)
      if (!apps.has(this.nsp.server as object)) return
      const socket = socketOf(this, id)
      if (socket?.conn.transport.name === 'websocket') socket.conn.transport.socket.unsubscribe(`${this.nsp.name}${SEPARATOR}${room}`)
    },
    delAll(this: AdapterThis, id: string) {
      pristine.delAll.call(this as unknown as Adapter, id)
      pollingByAdapter.get(this)?.delete(id)
    },
    broadcast(this: AdapterThis, packet: { nsp?: string }, opts: { rooms: Set<string>; except: Set<string>; flags?: Record<string, unknown> }) {
      const app = apps.get(this.nsp.server as object)
      if (!app || opts.except.size > 0) return pristine.broadcast.call(this as unknown as Adapter, packet as never, opts as never)
      packet.nsp = this.nsp.name
      const encoded = this.encoder.encode(packet)
      const flags = opts.flags ?? {}
      const writeOptions = { preEncoded: true, volatile: flags.volatile, compress: flags.compress }
      // Several rooms (an SOS change goes to sos_channel, the SOS's room and its unit's room): publish to
      // the biggest one, whose WebSocket subscribers then cost no JavaScript, and write to the few sockets
      // of the others that are not in it one by one, so every socket still gets the packet exactly once.
      // uWS sends a socket's pending published frames before a direct send, so their order holds.
      let topicRoom: string | undefined
      let topicMembers: Set<string> | undefined
      for (const room of opts.rooms) {
        const members = this.rooms.get(room)
        if (topicRoom === undefined || (members?.size ?? 0) > (topicMembers?.size ?? 0)) {
          topicRoom = room
          topicMembers = members
        }
      }
      const topic = topicRoom === undefined ? this.nsp.name : `${this.nsp.name}${SEPARATOR}${topicRoom}`
      // "4" is Engine.IO's message type; uWS frames it for every subscribed WebSocket at once.
      for (const frame of encoded) app.publish(topic, typeof frame === 'string' ? `4${frame}` : frame, typeof frame !== 'string')
      // Connected sockets only, as Socket.IO's own broadcast (a socket still in its middlewares gets nothing).
      const write = (id: string) => this.nsp.sockets.get(id)?.client.writeToEngine(encoded, writeOptions)
      const inAnyRoom = (id: string) => {
        if (opts.rooms.size === 0) return true
        const joined = this.sids.get(id)
        if (!joined) return false
        for (const room of opts.rooms) if (joined.has(room)) return true
        return false
      }
      // Long-polling sockets have no topic: their packets are queued one by one, as usual.
      const polling = pollingByAdapter.get(this)
      if (polling) for (const id of polling) if (inAnyRoom(id)) write(id)
      if (opts.rooms.size < 2) return
      // WebSocket members of the other rooms that the topic did not reach, each once.
      const written = new Set<string>()
      for (const room of opts.rooms) {
        if (room === topicRoom) continue
        for (const id of this.rooms.get(room) ?? []) {
          if (topicMembers?.has(id) || polling?.has(id) || written.has(id)) continue
          written.add(id)
          write(id)
        }
      }
    },
  } as unknown as AdapterMethods
  const install = () => Object.assign(Adapter.prototype, patched)
  return {
    attach(io: RealtimeServer, app: UwsApp) {
      apps.set(io, app)
      install() // over attachApp's own patch
      // io.close() restores the pristine prototype for the whole process; put this one back at once.
      const close = io.close.bind(io)
      io.close = ((fn?: (err?: Error) => void) =>
        close((err) => {
          apps.delete(io)
          install()
          fn?.(err)
        })) as typeof io.close
    },
  }
})()

/**
 * Engine.IO registers its WebSocket route without `closeOnBackpressureLimit`, so uWS would silently drop
 * the frames of a socket over its backpressure limit. Dropping an SOS event is worse than disconnecting:
 * a disconnected client reconnects and its rooms replay from the database. So the route closes instead.
 */
function withBackpressureClose(app: UwsApp): UwsApp {
  const proxy: UwsApp = new Proxy(app, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        if (prop === 'ws') args[1] = { ...(args[1] as Record<string, unknown>), closeOnBackpressureLimit: 1 }
        const result = (value as (...a: unknown[]) => unknown).apply(target, args)
        return result === target ? proxy : result
      }
    },
  })
  return proxy
}

/**
 * uWS gives a peer's address in full IPv6 notation (`0000:…:ffff:7f00:0001`); Node gives `::ffff:127.0.0.1`.
 * Rate limits and logs key on it, so both engines must spell it the same way.
 */
function canonicalRemoteAddresses(io: RealtimeServer): void {
  const engine = io.engine as unknown as { prepare(req: { connection: { remoteAddress: string } }, res: unknown): void }
  const prepare = engine.prepare.bind(engine)
  engine.prepare = (req, res) => {
    prepare(req, res)
    req.connection.remoteAddress = canonicalAddress(req.connection.remoteAddress)
  }
}

export function canonicalAddress(address: string): string {
  if (!address.includes(':')) return address
  const groups = address.split(':')
  if (groups.length === 8 && groups.slice(0, 5).every((g) => /^0+$/.test(g)) && /^f{4}$/i.test(groups[5])) {
    const high = parseInt(groups[6], 16)
    const low = parseInt(groups[7], 16)
    return `::ffff:${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`
  }
  try {
    return new URL(`http://[${address}]/`).hostname.slice(1, -1)
  } catch {
    return address
  }
}
