// Parent side of the socket workers: forks N child processes, spreads sockets over them (optionally each
// on its own loopback source address 127.0.0.x), and gathers their results.
import { fork, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { track, untrack } from './cleanup.ts'
import type { ReceiverKind } from './receiver.ts'
import type { ConnectResult, Receipts, ReconnectResult, RecordSpec, SocketSpec, WorkerReply, WorkerRequest } from './socket-protocol.ts'

const WORKER = path.join(import.meta.dirname, 'socket-worker.ts')

/** A request without its id (added by `call`), kept as a union so each command's fields are checked. */
type Message = WorkerRequest extends infer T ? (T extends unknown ? Omit<T, 'id'> : never) : never

class Worker {
  private readonly child: ChildProcess
  private nextId = 1
  private readonly waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>()
  exited = false

  constructor(readonly index: number) {
    // BENCH_CLIENT_CPU_PROF=<dir> profiles the client processes too (to tell a client-bound run from a server-bound one).
    const prof = process.env.BENCH_CLIENT_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CLIENT_CPU_PROF}`] : []
    this.child = fork(WORKER, [], { execArgv: [...prof, '--import', 'tsx'], serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    track(this.child)
    this.child.on('message', (msg: WorkerReply) => {
      const waiter = this.waiting.get(msg.id)
      if (!waiter) return
      this.waiting.delete(msg.id)
      if (msg.ok) waiter.resolve(msg.result)
      else waiter.reject(new Error(`socket worker ${index}: ${msg.error}`))
    })
    this.child.on('exit', (code) => {
      this.exited = true
      untrack(this.child)
      for (const waiter of this.waiting.values()) waiter.reject(new Error(`socket worker ${index} exited (${code})`))
      this.waiting.clear()
    })
  }

  get pid(): number {
    return this.child.pid ?? -1
  }

  call<T>(msg: Message, timeoutMs: number): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`socket worker ${this.index} is gone`))
    const id = this.nextId++
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id)
        reject(new Error(`socket worker ${this.index}: "${msg.cmd}" took longer than ${timeoutMs} ms`))
      }, timeoutMs)
      this.waiting.set(id, {
        resolve: (v) => {
          clearTimeout(timer)
          resolve(v as T)
        },
        reject: (e) => {
          clearTimeout(timer)
          reject(e)
        },
      })
      this.child.send({ ...msg, id } as WorkerRequest)
    })
  }

  async close(): Promise<void> {
    if (this.exited) return
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()))
    await this.call({ cmd: 'close' }, 5000).catch(() => undefined)
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  }
}

export interface PoolConnectOptions {
  urls: string[]
  specs: SocketSpec[]
  record: RecordSpec[]
  /** Sockets being opened at once, per worker. */
  concurrency: number
  timeoutMs: number
  reconnection: boolean
  maxReceipts?: number
  /**
   * Bind each worker's sockets to its own source address 127.0.0.(2+w). Only needed beyond ~28,000
   * sockets (one address's ephemeral ports): binding before connect makes the kernel search for a free
   * port on every connect (no IP_BIND_ADDRESS_NO_PORT in Node), which costs the client ~1 ms per socket
   * at 5,000 sockets and grows with the count — it slows the client, not the server.
   */
  spreadSources?: boolean
  /** socket.io-client sockets (default), lean Engine.IO receivers, or raw WebSockets (the bare servers of `limits`). */
  receivers?: ReceiverKind
}

export interface PoolConnectResult {
  connectMs: number[]
  joinMs: number[]
  failures: number
  errors: Record<string, number>
  connected: number
  wallMs: number
}

export class SocketPool {
  private readonly workers: Worker[]

  constructor(processes: number) {
    this.workers = Array.from({ length: Math.max(1, processes) }, (_, i) => new Worker(i))
  }

  get pids(): number[] {
    return this.workers.map((w) => w.pid)
  }

  /** Splits `specs` into contiguous slices, one per worker; socket i keeps global index i. */
  async connect(opts: PoolConnectOptions): Promise<PoolConnectResult> {
    const per = Math.ceil(opts.specs.length / this.workers.length)
    const started = performance.now()
    const budget = opts.timeoutMs + Math.ceil(per / Math.max(1, opts.concurrency)) * opts.timeoutMs + 10_000
    const results = await Promise.all(
      this.workers.map((worker, w) =>
        worker.call<ConnectResult>(
          {
            cmd: 'connect',
            urls: opts.urls,
            specs: opts.specs.slice(w * per, (w + 1) * per),
            record: opts.record,
            baseIndex: w * per,
            concurrency: opts.concurrency,
            timeoutMs: opts.timeoutMs,
            reconnection: opts.reconnection,
            // 127.0.0.2, .3, …: the server listens on 127.0.0.1; every 127/8 address is loopback on Linux.
            localAddress: opts.spreadSources ? `127.0.0.${2 + w}` : undefined,
            maxReceipts: opts.maxReceipts ?? 8_000_000,
            receivers: opts.receivers ?? 'client',
          },
          Math.min(budget, 30 * 60_000),
        ),
      ),
    )
    const errors: Record<string, number> = {}
    for (const r of results) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v
    return {
      connectMs: results.flatMap((r) => r.connectMs),
      joinMs: results.flatMap((r) => r.joinMs),
      failures: results.reduce((a, r) => a + r.failures, 0),
      errors,
      connected: results.reduce((a, r) => a + r.connected, 0),
      wallMs: performance.now() - started,
    }
  }

  async reset(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.call({ cmd: 'reset' }, 30_000)))
  }

  async count(): Promise<{ receipts: number; drops: number; connected: number }> {
    const all = await Promise.all(this.workers.map((w) => w.call<{ receipts: number; drops: number; connected: number }>({ cmd: 'count' }, 30_000)))
    return all.reduce((a, c) => ({ receipts: a.receipts + c.receipts, drops: a.drops + c.drops, connected: a.connected + c.connected }), { receipts: 0, drops: 0, connected: 0 })
  }

  async collect(): Promise<{ parts: Receipts[]; drops: number }> {
    const all = await Promise.all(this.workers.map((w) => w.call<{ receipts: Receipts; drops: number }>({ cmd: 'collect' }, 120_000)))
    return { parts: all.map((a) => a.receipts), drops: all.reduce((a, c) => a + c.drops, 0) }
  }

  async disconnect(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.call({ cmd: 'disconnect' }, 60_000)))
  }

  async reconnect(startUs: number, timeoutMs: number): Promise<ReconnectResult> {
    const all = await Promise.all(this.workers.map((w) => w.call<ReconnectResult>({ cmd: 'reconnect', startUs, timeoutMs }, timeoutMs + 30_000)))
    return {
      reconnectMs: all.flatMap((a) => a.reconnectMs),
      missing: all.reduce((a, c) => a + c.missing, 0),
      rejoinMs: all.flatMap((a) => a.rejoinMs),
      rejoinFailures: all.reduce((a, c) => a + c.rejoinFailures, 0),
    }
  }

  async usage(): Promise<Array<{ cpuSeconds: number; rssMb: number }>> {
    return Promise.all(this.workers.map((w) => w.call<{ cpuSeconds: number; rssMb: number }>({ cmd: 'usage' }, 10_000)))
  }

  /** CPU used by all client processes since `before` (from usage()), in % of one core over `seconds`. */
  static cpuPercent(before: Array<{ cpuSeconds: number }>, after: Array<{ cpuSeconds: number }>, seconds: number): number {
    const used = after.reduce((a, u, i) => a + u.cpuSeconds - (before[i]?.cpuSeconds ?? 0), 0)
    return seconds > 0 ? Math.round((used / seconds) * 100) : 0
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()))
  }
}
