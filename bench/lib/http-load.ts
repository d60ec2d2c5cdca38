// A lean HTTP/1.1 keep-alive client (one request in flight per connection) and an open-loop pacer that
// sends requests at a fixed rate whether or not earlier ones have been answered. Lean because the load
// generator shares a 2-core machine with the server: every microsecond it spends is one the server lacks.
import net from 'node:net'
import { nowUs, Samples, sleep } from './stats.ts'

export interface RequestSpec {
  method: 'GET' | 'POST'
  path: string
  headers?: Record<string, string>
  /** A JSON body (already serialized). */
  body?: string
  /** Keep the response body (parsing costs client CPU; only setup requests need it). */
  wantBody?: boolean
}

export interface HttpResult {
  status: number
  body: string | null
  /** When the pacer meant to send it, when it was written, when the answer was complete (µs, monotonic). */
  intendedUs: number
  sentUs: number
  doneUs: number
  error?: string
}

interface Pending {
  raw: string
  wantBody: boolean
  intendedUs: number
  sentUs: number
  resolve(result: HttpResult): void
}

class Connection {
  private socket!: net.Socket
  current: Pending | null = null
  private buf: Buffer | null = null
  private need = -1
  private bodyStart = 0
  private status = 0
  closed = false

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly onFree: (conn: Connection) => void,
  ) {}

  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: this.host, port: this.port, noDelay: true })
      this.socket = socket
      this.buf = null
      this.need = -1
      socket.once('connect', () => {
        socket.off('error', reject)
        socket.on('error', () => undefined)
        resolve()
      })
      socket.once('error', reject)
      socket.on('data', (chunk: Buffer) => this.onData(chunk))
      socket.on('close', () => this.onClose())
    })
  }

  send(p: Pending): void {
    this.current = p
    p.sentUs = nowUs()
    this.socket.write(p.raw)
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf ? Buffer.concat([this.buf, chunk]) : chunk
    for (;;) {
      const buf: Buffer | null = this.buf
      if (!buf) return
      if (this.need < 0) {
        const end = buf.indexOf('\r\n\r\n')
        if (end < 0) return
        const head = buf.toString('latin1', 0, end)
        this.status = Number(head.slice(9, 12))
        const length = /\r\ncontent-length:\s*(\d+)/i.exec(head)
        if (!length && /\r\ntransfer-encoding:\s*chunked/i.test(head)) {
          this.fail('chunked responses are not supported by the bench client')
          return
        }
        this.need = length ? Number(length[1]) : 0
        this.bodyStart = end + 4
      }
      if (buf.length - this.bodyStart < this.need) return
      const p = this.current
      const bodyEnd = this.bodyStart + this.need
      const body = p?.wantBody ? buf.toString('utf8', this.bodyStart, bodyEnd) : null
      this.buf = bodyEnd < buf.length ? buf.subarray(bodyEnd) : null
      this.need = -1
      this.current = null
      if (p) p.resolve({ status: this.status, body, intendedUs: p.intendedUs, sentUs: p.sentUs, doneUs: nowUs() })
      if (!this.closed) this.onFree(this)
    }
  }

  private fail(error: string): void {
    const p = this.current
    this.current = null
    if (p) p.resolve({ status: 0, body: null, intendedUs: p.intendedUs, sentUs: p.sentUs, doneUs: nowUs(), error })
    this.socket.destroy()
  }

  private onClose(): void {
    const p = this.current
    this.current = null
    if (p) p.resolve({ status: 0, body: null, intendedUs: p.intendedUs, sentUs: p.sentUs, doneUs: nowUs(), error: 'connection closed' })
    if (this.closed) return
    // The server closed a keep-alive connection: open a new one (bounded by the run's own time limits).
    this.open().then(
      () => this.onFree(this),
      () => {
        this.closed = true
      },
    )
  }

  close(): void {
    this.closed = true
    this.socket.destroy()
  }
}

/** A fixed set of keep-alive connections spread over the servers; requests wait in a FIFO when all are busy. */
export class HttpPool {
  private readonly conns: Connection[] = []
  private readonly idle: Connection[] = []
  private readonly queue: Pending[] = []
  private readonly hosts: string[]

  constructor(urls: string[], connections: number) {
    this.hosts = urls.map((u) => new URL(u).host)
    for (let i = 0; i < connections; i++) {
      const url = new URL(urls[i % urls.length])
      this.conns.push(new Connection(url.hostname, Number(url.port), (c) => this.free(c)))
    }
  }

  async open(): Promise<void> {
    await Promise.all(this.conns.map((c) => c.open()))
    this.idle.push(...this.conns)
  }

  get inFlight(): number {
    return this.conns.filter((c) => c.current).length + this.queue.length
  }

  private free(conn: Connection): void {
    const next = this.queue.shift()
    if (next) conn.send(next)
    else this.idle.push(conn)
  }

  request(spec: RequestSpec, intendedUs = nowUs()): Promise<HttpResult> {
    return new Promise((resolve) => {
      const conn = this.idle.pop()
      const host = conn ? `${conn.host}:${conn.port}` : this.hosts[0]
      const headers: Record<string, string> = { host, ...spec.headers }
      if (spec.body !== undefined) {
        headers['content-type'] ??= 'application/json'
        headers['content-length'] = String(Buffer.byteLength(spec.body))
      }
      let raw = `${spec.method} ${spec.path} HTTP/1.1\r\n`
      for (const [k, v] of Object.entries(headers)) raw += `${k}: ${v}\r\n`
      raw += `\r\n${spec.body ?? ''}`
      const p: Pending = { raw, wantBody: spec.wantBody ?? false, intendedUs, sentUs: 0, resolve }
      if (conn) conn.send(p)
      else this.queue.push(p)
    })
  }

  close(): void {
    for (const c of this.conns) c.close()
  }
}

/** What the loops send through: HttpPool, or anything answering a spec the same way (bench/lib/socket-sender.ts). */
export interface Requester<S> {
  request(spec: S, intendedUs?: number): Promise<HttpResult>
}

export interface OpenLoopOptions<S = RequestSpec> {
  pool: Requester<S>
  /** Requests per second, evenly spaced (not bursts). */
  rate: number
  durationMs: number
  /** Hard cap on the number of requests, whatever the rate and duration. */
  maxRequests: number
  make(seq: number): S
  onResult(seq: number, result: HttpResult): void
  /** How long to wait for the last answers after the sending stops. */
  drainMs?: number
}

export interface OpenLoopResult {
  sent: number
  answered: number
  ok2xx: number
  statuses: Record<string, number>
  errors: Record<string, number>
  /** Requests without an answer when the drain time ran out. */
  unanswered: number
  sendSeconds: number
  /** From the first slot to the last answer: the span the 2xx throughput is computed over. */
  spanSeconds: number
  /** Request latency (ms) from the moment it was written to the complete answer. */
  latency: Samples
  /** How late each request was written compared to its slot (ms): large values mean the generator could not keep up. */
  lag: Samples
}

export async function openLoop<S>(opts: OpenLoopOptions<S>): Promise<OpenLoopResult> {
  const intervalUs = 1e6 / opts.rate
  const total = Math.max(1, Math.min(opts.maxRequests, Math.round((opts.durationMs / 1000) * opts.rate)))
  const latency = new Samples()
  const lag = new Samples()
  const statuses: Record<string, number> = {}
  const errors: Record<string, number> = {}
  let sent = 0
  let answered = 0
  let ok2xx = 0
  let lastSentUs = 0
  let lastDoneUs = 0
  const start = nowUs() + 1000
  const finished = new Promise<void>((resolveAll) => {
    const onDone = (seq: number, r: HttpResult) => {
      answered += 1
      lastDoneUs = Math.max(lastDoneUs, r.doneUs)
      if (r.error) errors[r.error] = (errors[r.error] ?? 0) + 1
      else {
        statuses[r.status] = (statuses[r.status] ?? 0) + 1
        if (r.status >= 200 && r.status < 300) ok2xx += 1
        latency.add((r.doneUs - r.sentUs) / 1000)
      }
      lag.add((r.sentUs - r.intendedUs) / 1000)
      opts.onResult(seq, r)
      if (answered === total) resolveAll()
    }
    const tick = () => {
      const now = nowUs()
      const due = Math.min(total, Math.floor((now - start) / intervalUs) + 1)
      while (sent < due) {
        const seq = sent++
        opts.pool.request(opts.make(seq), start + seq * intervalUs).then((r) => onDone(seq, r))
      }
      if (sent === total) lastSentUs = nowUs()
      if (sent < total) {
        const wait = (start + sent * intervalUs - nowUs()) / 1000
        setTimeout(tick, Math.max(0, Math.min(wait, 1000)))
      }
    }
    setTimeout(tick, 1)
  })
  while (sent < total) await sleep(5)
  const sendSeconds = (lastSentUs - start) / 1e6 + intervalUs / 1e6
  let drainTimer: NodeJS.Timeout | undefined
  await Promise.race([finished, new Promise<void>((resolve) => (drainTimer = setTimeout(resolve, opts.drainMs ?? 30_000)))])
  clearTimeout(drainTimer)
  const spanSeconds = Math.max(sendSeconds, (lastDoneUs - start) / 1e6)
  return { sent, answered, ok2xx, statuses, errors, unanswered: sent - answered, sendSeconds, spanSeconds, latency, lag }
}

/**
 * Closed loop: `concurrency` requests in flight, each answer immediately followed by the next request,
 * until `durationMs` or `maxRequests`. Finds the most the server accepts; latency here includes no queueing
 * in the client. Same result shape as openLoop (lag is always ~0).
 */
export async function closedLoop<S>(opts: Omit<OpenLoopOptions<S>, 'rate'> & { concurrency: number }): Promise<OpenLoopResult> {
  const latency = new Samples()
  const lag = new Samples()
  const statuses: Record<string, number> = {}
  const errors: Record<string, number> = {}
  let sent = 0
  let answered = 0
  let ok2xx = 0
  let lastDoneUs = 0
  const start = nowUs()
  const end = start + opts.durationMs * 1000
  const loop = async () => {
    while (sent < opts.maxRequests && nowUs() < end) {
      const seq = sent++
      const r = await opts.pool.request(opts.make(seq))
      answered += 1
      lastDoneUs = Math.max(lastDoneUs, r.doneUs)
      if (r.error) errors[r.error] = (errors[r.error] ?? 0) + 1
      else {
        statuses[r.status] = (statuses[r.status] ?? 0) + 1
        if (r.status >= 200 && r.status < 300) ok2xx += 1
        latency.add((r.doneUs - r.sentUs) / 1000)
      }
      opts.onResult(seq, r)
    }
  }
  await Promise.all(Array.from({ length: opts.concurrency }, loop))
  const spanSeconds = (Math.max(lastDoneUs, start) - start) / 1e6
  return { sent, answered, ok2xx, statuses, errors, unanswered: sent - answered, sendSeconds: spanSeconds, spanSeconds, latency, lag }
}
