// Child process that holds many receiving sockets for the parent (bench/lib/socket-pool.ts): connects and
// joins them, timestamps every event the parent asks for, and runs reconnect storms. The sockets are
// socket.io-client sockets or lean raw-WebSocket receivers (bench/lib/receiver.ts), as the parent asks.
// Timestamps are microseconds on CLOCK_MONOTONIC, comparable with the parent's send times.
import { receiverFactory, type Receiver } from './receiver.ts'
import { nowUs, sleep } from './stats.ts'
import type { ConnectRequest, ConnectResult, Receipts, ReconnectResult, SocketSpec, WorkerReply, WorkerRequest } from './socket-protocol.ts'

const sockets: Receiver[] = []
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

const sink = {
  receipt: (code: number, sock: number, key: number, t: number) => log.add(code, sock, key, t),
  dropped: () => {
    if (!expectingDisconnect) drops += 1
  },
}

async function connect(req: ConnectRequest): Promise<ConnectResult> {
  baseIndex = req.baseIndex
  const make = await receiverFactory(req.receivers)
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
    const socket = make({ url: req.urls[i % req.urls.length], index: baseIndex + i, token: spec.token, record: req.record, reconnection: req.reconnection, localAddress: req.localAddress, sink })
    sockets[i] = socket
    joins[i] = spec.join
    const t0 = nowUs()
    const error = await socket.open(req.timeoutMs)
    if (error) {
      fail(`connect: ${error}`)
      return
    }
    connectMs.push((nowUs() - t0) / 1000)
    if (spec.join) {
      const t1 = nowUs()
      const refused = await socket.join(spec.join.event, spec.join.payload, req.timeoutMs)
      if (refused) fail(`${spec.join.event}: ${refused}`)
      else joinMs.push((nowUs() - t1) / 1000)
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
  // Wait for the common start instant, so every worker opens its sockets at the same moment.
  const wait = (startUs - nowUs()) / 1000
  if (wait > 0) await sleep(wait)
  expectingDisconnect = false
  await Promise.all(
    sockets.map(async (socket, i) => {
      if (!socket) return
      if (await socket.open(timeoutMs)) return
      times.push((nowUs() - startUs) / 1000)
      const join = joins[i]
      if (!join) return
      // A dashboard joins its channel again on every connect; "back" for it is the join's answer.
      if (await socket.join(join.event, join.payload, timeoutMs)) rejoinFailures += 1
      else rejoinMs.push((nowUs() - startUs) / 1000)
    }),
  )
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
      for (const socket of sockets) socket?.close()
      return null
    case 'reconnect':
      return reconnect(msg.startUs, msg.timeoutMs)
    case 'usage': {
      const cpu = process.cpuUsage()
      return { cpuSeconds: (cpu.user + cpu.system) / 1e6, rssMb: Math.round(process.memoryUsage().rss / 1048576) }
    }
    case 'close':
      expectingDisconnect = true
      for (const socket of sockets) socket?.close()
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
