// The HTTP limit: the bare Fastify routes (bench/limits/bare-http-server.ts, in a child process of its own
// like our server) loaded exactly as `create` and `track` load ours: create-sos closed loop with
// autocannon (same connections, warm-up, duration and body), update-location closed loop with the bench's
// HTTP client (same connections and request as `track`). The bare server at well under 100 % of a core
// means the limit is the load generator's, sharing the machine: that is the split ours runs under too.
import path from 'node:path'
import autocannon from 'autocannon'
import { BenchChild } from '../lib/child.ts'
import { createBody, latitudeOf } from '../lib/common.ts'
import { closedLoop, HttpPool } from '../lib/http-load.ts'
import { delta, snapshot } from '../lib/proc.ts'
import { Samples, round, sleep, type Summary } from '../lib/stats.ts'
import type { ServerSample } from './sample.ts'

export interface BareRouteResult {
  perS: number
  latencyMs: Summary
  requests: number
  non2xx: number
  errors: number
  serverCpuPercent: number
  answerBytes: number
}

export interface BareRoutesOptions {
  createConnections: number
  trackConnections: number
  durationS: number
  warmupS: number
}

/**
 * The bare routes' server, kept running between measurements so each limit can be taken right before the
 * figure of ours it is compared with (the machine's other load drifts over minutes).
 */
export class BareRoutes {
  private readonly child = new BenchChild('bare Fastify server', path.join(import.meta.dirname, 'bare-http-server.ts'))
  private url = ''

  constructor(
    private readonly sample: ServerSample,
    private readonly opts: BareRoutesOptions,
  ) {}

  async start(): Promise<void> {
    const port = await this.child.call<number>('start', { create: this.sample.create, update: this.sample.update })
    this.url = `http://127.0.0.1:${port}`
    console.log(`bare Fastify routes (pid ${this.child.pid}, ${this.url}): the same status, headers and body as ours; no database, no auth`)
  }

  /** create-sos as `create` loads ours: autocannon, closed loop, same connections, warm-up, duration and body. */
  async create(): Promise<BareRouteResult> {
    const { opts } = this
    const createUrl = `${this.url}/api/create-sos/`
    const cannon = (duration: number, body: string) =>
      autocannon({ url: createUrl, connections: opts.createConnections, duration, method: 'POST', headers: { 'content-type': 'application/json' }, body })
    if (opts.warmupS > 0) {
      await cannon(opts.warmupS, createBody('bench-warmup'))
      await sleep(500)
    }
    const latency = new Samples()
    const before = snapshot(this.child.pid)
    const instance = cannon(opts.durationS, createBody('bench-limits'))
    instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
      if (status >= 200 && status < 300) latency.add(ms)
    })
    const result = await instance
    const after = snapshot(this.child.pid)
    const r: BareRouteResult = {
      perS: result.duration > 0 ? Math.round(result['2xx'] / result.duration) : 0,
      latencyMs: latency.summary(),
      requests: result.requests.total,
      non2xx: result.non2xx,
      errors: result.errors + result.timeouts,
      serverCpuPercent: before && after ? delta(before, after).cpuPercent : 0,
      answerBytes: Buffer.byteLength(this.sample.create.body),
    }
    console.log(`bare create-sos route: ${r.perS.toLocaleString('en-US')}/s (p50 ${round(r.latencyMs.p50, 2)} ms, p99 ${round(r.latencyMs.p99, 2)} ms); the bare server at ${r.serverCpuPercent}% of a core`)
    return r
  }

  /** update-location as `track` sends it: the bench's keep-alive pool, closed loop, same connections and request. */
  async update(): Promise<BareRouteResult> {
    const { opts } = this
    const http = new HttpPool([this.url], opts.trackConnections)
    await http.open()
    const make = (seq: number) => ({ method: 'POST' as const, path: '/api/update-location/', headers: { 'x-sos-token': 'bench-bare' }, body: this.sample.updateBody(1 + (seq % 100), latitudeOf(seq)) })
    const noop = () => undefined
    try {
      if (opts.warmupS > 0) await closedLoop({ pool: http, concurrency: opts.trackConnections, durationMs: opts.warmupS * 1000, maxRequests: 10_000_000, make, onResult: noop })
      const before = snapshot(this.child.pid)
      const r = await closedLoop({ pool: http, concurrency: opts.trackConnections, durationMs: opts.durationS * 1000, maxRequests: 10_000_000, make, onResult: noop })
      const after = snapshot(this.child.pid)
      const errors = Object.values(r.errors).reduce((a, b) => a + b, 0)
      const out: BareRouteResult = {
        perS: r.spanSeconds > 0 ? Math.round(r.ok2xx / r.spanSeconds) : 0,
        latencyMs: r.latency.summary(),
        requests: r.answered,
        non2xx: r.answered - r.ok2xx - errors,
        errors: errors + r.unanswered,
        serverCpuPercent: before && after ? delta(before, after).cpuPercent : 0,
        answerBytes: Buffer.byteLength(this.sample.update.body),
      }
      console.log(`bare update-location route: ${out.perS.toLocaleString('en-US')}/s (p50 ${round(out.latencyMs.p50, 2)} ms, p99 ${round(out.latencyMs.p99, 2)} ms); the bare server at ${out.serverCpuPercent}% of a core`)
      return out
    } finally {
      http.close()
    }
  }

  stop(): Promise<void> {
    return this.child.stop()
  }
}
