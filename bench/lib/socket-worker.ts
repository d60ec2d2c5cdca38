// Child process that holds many socket.io-client sockets for the parent (bench/lib/socket-pool.ts):
// connects and joins them, timestamps every event the parent asks for, and runs reconnect storms.
// Timestamps are microseconds on CLOCK_MONOTONIC, comparable with the parent's send times.
import { io, type Socket } from 'socket.io-client'
import { nowUs, sleep } from './stats.ts'
import type { ConnectRequest, ConnectResult, Receipts, RecordSpec, ReconnectResult, SocketSpec, WorkerReply, WorkerRequest } from './socket-protocol.ts'

const sockets: Socket[] = []
/** What each socket emits (and re-emits after every reconnect) to join its room. */
const joins: Array<SocketSpec['join']> = []
let baseIndex = 0
/** Unexpected disconnects seen while connected (the parent reports them). */
let drops = 0
let expectingDisconnect = false

class ReceiptLog {
  code = new Uint8Array(1024)
  sock = new Int32Array(1024)
  key = new Float64Array(1024)
  t = new Float64Array(1024)
  n = 0
  overflow = 0

  constructor(private readonly limit: number) {}

  add(code: number, sock: number, key: number, t: number): void {
    if (this.n === this.code.length) {
      if (this.n >= this.limit) {
        this.overflow += 1
        return
      }
      const size = Math.min(this.limit, this.n * 2)
      this.code = grow(this.code, new Uint8Array(size))
      this.sock = grow(this.sock, new Int32Array(size))
      this.key = grow(this.key, new Float64Array(size))
      this.t = grow(this.t, new Float64Array(size))
    }
    const i = this.n++
    this.code[i] = code
    this.sock[i] = sock
    this.key[i] = key
    this.t[i] = t
  }

  take(): Receipts {
    const out = { code: this.code.slice(0, this.n), sock: this.sock.slice(0, this.n), key: this.key.slice(0, this.n), t: this.t.slice(0, this.n), overflow: this.overflow }
    this.n = 0
    this.overflow = 0
    return out
  }
}

function grow<T extends Uint8Array | Int32Array | Float64Array>(from: T, to: T): T {
  to.set(from as never)
  return to
}

let log = new ReceiptLog(8_000_000)

/** The number a payload is matched on: the SOS id, or the sequence number the bench encoded in the latitude. */
function keyOf(spec: RecordSpec, payload: unknown): number | null {
  if (typeof payload !== 'object' || payload === null) return null
  const p = payload as Record<string, unknown>
  if (spec.key === 'sos_id') return typeof p.sos_id === 'number' ? p.sos_id : null
  // A join's history replay ({updates: [...]}) is not a live update.
  if (typeof p.latitude !== 'number') return null
  return Math.round(p.latitude * 1e5)
}

function attach(socket: Socket, index: number, record: RecordSpec[]): void {
  for (const spec of record) {
    socket.on(spec.event, (payload: unknown) => {
      const t = nowUs()
      if (spec.key === 'snapshot') {
        const list = (payload as { sos?: unknown } | null)?.sos
        if (Array.isArray(list)) for (const item of list) if (typeof item?.sos_id === 'number') log.add(spec.code, index, item.sos_id, t)
        return
      }
      const key = keyOf(spec, payload)
      if (key !== null) log.add(spec.code, index, key, t)
    })
  }
  socket.on('disconnect', (reason) => {
    if (!expectingDisconnect && reason !== 'io client disconnect') drops += 1
  })
}

function waitEstablished(socket: Socket, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => done('timeout'), timeoutMs)
    const onOk = () => done(null)
    const onErr = (err: Error) => {
      // With reconnection on, the manager retries by itself; only a final failure counts.
      if (!socket.io.opts.reconnection) done(err.message || 'connect_error')
    }
    function done(error: string | null) {
      clearTimeout(timer)
      socket.off('connection_established', onOk)
      socket.off('connect_error', onErr)
      resolve(error)
    }
    socket.once('connection_established', onOk)
    socket.on('connect_error', onErr)
  })
}

async function connect(req: ConnectRequest): Promise<ConnectResult> {
  baseIndex = req.baseIndex
  const connectMs: number[] = []
  const joinMs: number[] = []
  const errors: Record<string, number> = {}
  let failures = 0
  let next = 0
  const fail = (message: string) => {
    failures += 1
    errors[message] = (errors[message] ?? 0) + 1
  }
  const one = async (i: number) => {
    const spec = req.specs[i]
    const socket = io(req.urls[i % req.urls.length], {
      transports: ['websocket'],
      forceNew: true,
      reconnection: req.reconnection,
      reconnectionDelay: 1000,
      reconnectionDelayMax: 5000,
      randomizationFactor: 0.5,
      timeout: req.timeoutMs,
      autoConnect: false,
      auth: spec.token ? { token: spec.token } : {},
      ...(req.localAddress ? { localAddress: req.localAddress } : {}),
    } as Parameters<typeof io>[1])
    attach(socket, baseIndex + i, req.record)
    sockets[i] = socket
    joins[i] = spec.join
    const t0 = nowUs()
    socket.connect()
    const error = await waitEstablished(socket, req.timeoutMs)
    if (error) {
      fail(`connect: ${error}`)
      socket.disconnect()
      return
    }
    connectMs.push((nowUs() - t0) / 1000)
    if (spec.join) {
      const t1 = nowUs()
      try {
        const ack = (await socket.timeout(req.timeoutMs).emitWithAck(spec.join.event, spec.join.payload)) as { ok: boolean; error?: { code: string } }
        if (!ack.ok) fail(`${spec.join.event}: ${ack.error?.code ?? 'refused'}`)
        else joinMs.push((nowUs() - t1) / 1000)
      } catch (err) {
        fail(`${spec.join.event}: ${(err as Error).message}`)
      }
    }
  }
  const runner = async () => {
    while (next < req.specs.length) await one(next++)
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(req.concurrency, req.specs.length)) }, runner))
  return { connectMs, joinMs, failures, errors, connected: sockets.filter((s) => s?.connected).length }
}

async function reconnect(startUs: number, timeoutMs: number): Promise<ReconnectResult> {
  const times: number[] = []
  const rejoinMs: number[] = []
  let rejoinFailures = 0
  const pending = sockets.map(
    (socket, i) =>
      new Promise<void>((resolve) => {
        if (!socket) return resolve()
        const timer = setTimeout(() => {
          socket.off('connection_established', ok)
          resolve()
        }, timeoutMs)
        const ok = () => {
          clearTimeout(timer)
          times.push((nowUs() - startUs) / 1000)
          const join = joins[i]
          if (!join) return resolve()
          // A dashboard joins its channel again on every connect; "back" for it is the join's answer.
          socket
            .timeout(timeoutMs)
            .emitWithAck(join.event, join.payload)
            .then(
              (ack: { ok: boolean }) => {
                if (ack.ok) rejoinMs.push((nowUs() - startUs) / 1000)
                else rejoinFailures += 1
              },
              () => {
                rejoinFailures += 1
              },
            )
            .finally(resolve)
        }
        socket.once('connection_established', ok)
      }),
  )
  // Wait for the common start instant, so every worker opens its sockets at the same moment.
  const wait = (startUs - nowUs()) / 1000
  if (wait > 0) await sleep(wait)
  expectingDisconnect = false
  for (const socket of sockets) socket?.connect()
  await Promise.all(pending)
  return { reconnectMs: times, missing: sockets.filter(Boolean).length - times.length, rejoinMs, rejoinFailures }
}

async function handle(msg: WorkerRequest): Promise<unknown> {
  switch (msg.cmd) {
    case 'connect':
      log = new ReceiptLog(msg.maxReceipts)
      return connect(msg)
    case 'reset':
      log.take()
      drops = 0
      return null
    case 'count':
      return { receipts: log.n, drops, connected: sockets.filter((s) => s?.connected).length }
    case 'collect':
      return { receipts: log.take(), drops }
    case 'disconnect':
      expectingDisconnect = true
      for (const socket of sockets) socket?.disconnect()
      return null
    case 'reconnect':
      return reconnect(msg.startUs, msg.timeoutMs)
    case 'usage': {
      const cpu = process.cpuUsage()
      return { cpuSeconds: (cpu.user + cpu.system) / 1e6, rssMb: Math.round(process.memoryUsage().rss / 1048576) }
    }
    case 'close':
      expectingDisconnect = true
      for (const socket of sockets) socket?.disconnect()
      setTimeout(() => process.exit(0), 50)
      return null
  }
}

process.on('message', (msg: WorkerRequest) => {
  handle(msg).then(
    (result) => process.send?.({ id: msg.id, ok: true, result } satisfies WorkerReply),
    (err: unknown) => process.send?.({ id: msg.id, ok: false, error: err instanceof Error ? err.message : String(err) } satisfies WorkerReply),
  )
})
// If the parent goes away, so do we (and our sockets with us).
process.on('disconnect', () => process.exit(0))
