// The HTTP limit: the bare Fastify routes (bench/limits/bare-http-server.ts, in a child process of its own
// like our server) loaded exactly as `create` and `track` load ours: create-sos closed loop with
// autocannon (same connections, warm-up, duration and body), update-location closed loop with the bench's
// HTTP client (same connections and request as `track`).
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

export async function measureBareRoutes(sample: ServerSample, opts: BareRoutesOptions): Promise<{ create: BareRouteResult; update: BareRouteResult }> {
  const child = new BenchChild('bare Fastify server', path.join(import.meta.dirname, 'bare-http-server.ts'))
  try {
    const port = await child.call<number>('start', { create: sample.create, update: sample.update })
    const url = `http://127.0.0.1:${port}`
    console.log(`bare Fastify routes (pid ${child.pid}, ${url}): the same status, headers and body as ours; no database, no auth`)

    const createUrl = `${url}/api/create-sos/`
    const cannon = (duration: number, body: string) =>
      autocannon({ url: createUrl, connections: opts.createConnections, duration, method: 'POST', headers: { 'content-type': 'application/json' }, body })
    if (opts.warmupS > 0) {
      await cannon(opts.warmupS, createBody('bench-warmup'))
      await sleep(500)
    }
    const latency = new Samples()
    const before = snapshot(child.pid)
    const instance = cannon(opts.durationS, createBody('bench-limits'))
    instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
      if (status >= 200 && status < 300) latency.add(ms)
    })
    const result = await instance
    const after = snapshot(child.pid)
    const create: BareRouteResult = {
      perS: result.duration > 0 ? Math.round(result['2xx'] / result.duration) : 0,
      latencyMs: latency.summary(),
      requests: result.requests.total,
      non2xx: result.non2xx,
      errors: result.errors + result.timeouts,
      serverCpuPercent: before && after ? delta(before, after).cpuPercent : 0,
      answerBytes: Buffer.byteLength(sample.create.body),
    }

    // update-location as `track` sends it: one pool of keep-alive connections, closed loop.
    const http = new HttpPool([url], opts.trackConnections)
    await http.open()
    const make = (seq: number) => ({ method: 'POST' as const, path: '/api/update-location/', headers: { 'x-sos-token': 'bench-bare' }, body: sample.updateBody(1 + (seq % 100), latitudeOf(seq)) })
    const noop = () => undefined
    if (opts.warmupS > 0) await closedLoop({ pool: http, concurrency: opts.trackConnections, durationMs: opts.warmupS * 1000, maxRequests: 10_000_000, make, onResult: noop })
    const before2 = snapshot(child.pid)
    const r = await closedLoop({ pool: http, concurrency: opts.trackConnections, durationMs: opts.durationS * 1000, maxRequests: 10_000_000, make, onResult: noop })
    const after2 = snapshot(child.pid)
    http.close()
    const update: BareRouteResult = {
      perS: r.spanSeconds > 0 ? Math.round(r.ok2xx / r.spanSeconds) : 0,
      latencyMs: r.latency.summary(),
      requests: r.answered,
      non2xx: r.answered - r.ok2xx - Object.values(r.errors).reduce((a, b) => a + b, 0),
      errors: Object.values(r.errors).reduce((a, b) => a + b, 0) + r.unanswered,
      serverCpuPercent: before2 && after2 ? delta(before2, after2).cpuPercent : 0,
      answerBytes: Buffer.byteLength(sample.update.body),
    }
    console.log(`bare create-sos route: ${create.perS.toLocaleString('en-US')}/s (p50 ${round(create.latencyMs.p50, 2)} ms, p99 ${round(create.latencyMs.p99, 2)} ms; server CPU ${create.serverCpuPercent}%); bare update-location route: ${update.perS.toLocaleString('en-US')}/s (p99 ${round(update.latencyMs.p99, 2)} ms; server CPU ${update.serverCpuPercent}%)`)
    return { create, update }
  } finally {
    await child.stop()
  }
}
