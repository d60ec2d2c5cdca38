// `create`: POST /api/create-sos/ closed-loop at C connections (autocannon), or open-loop at a fixed
// rate with --rate. Reports req/s, latency percentiles, non-2xx, and checks every 2xx is stored.
import crypto from 'node:crypto'
import autocannon from 'autocannon'
import { sql } from 'kysely'
import { openDatabase } from '../../src/db/dialect.ts'
import { createBody, fmtInt, perSecond, printLatency, printLoopDelay, printUsage, serverUsage, startServer, stopServer, serverNote, type CommonOptions, type ScenarioReport } from '../lib/common.ts'
import { HttpPool, openLoop, type RequestSpec } from '../lib/http-load.ts'
import { Samples, nowUs, round, sleep } from '../lib/stats.ts'

export interface CreateOptions {
  connections: number
  durationS: number
  warmupS: number
  /** Open-loop rate (req/s); 0 means closed loop at `connections`. */
  rate: number
}

export async function runCreate(common: CommonOptions, opts: CreateOptions): Promise<ScenarioReport> {
  const report: ScenarioReport = { scenario: 'create', problems: [], warnings: [], results: {} }
  const server = await startServer(common, false)
  try {
    await server.createUser('dispatcher') // also migrates, before the server processes start
    await server.start()
    const urls = server.apiUrls.map((u) => `${u}/api/create-sos/`)
    const runName = `bench-create-${crypto.randomBytes(4).toString('hex')}`
    const mode = opts.rate > 0 ? `open loop at ${fmtInt(opts.rate)} req/s over ${opts.connections} connections` : `closed loop, ${opts.connections} connections`
    console.log(`create: ${mode}, ${opts.durationS} s after ${opts.warmupS} s warm-up; ${serverNote(common)}, ${server.dialect}`)

    if (opts.warmupS > 0) {
      await autocannon({ url: urls, connections: opts.connections, duration: opts.warmupS, method: 'POST', headers: { 'content-type': 'application/json' }, body: createBody('bench-warmup') })
      await sleep(500)
    }

    await server.loopDelay()
    const before = server.snapshots()
    const fromUs = nowUs()
    const clientCpu = process.cpuUsage()
    let requests: number
    let ok2xx: number
    let non2xx: number
    let errors: number
    let timeouts: number
    let seconds: number
    let latency: Samples
    let statuses: Record<string, number>
    let extra: Record<string, unknown> = {}
    if (opts.rate > 0) {
      const pool = new HttpPool(server.apiUrls, opts.connections)
      await pool.open()
      const bodies = Array.from({ length: 1000 }, (_, i) => createBody(runName, i))
      const r = await openLoop<RequestSpec>({
        pool,
        rate: opts.rate,
        durationMs: opts.durationS * 1000,
        maxRequests: Math.ceil(opts.rate * opts.durationS * 1.01) + 10,
        make: (seq) => ({ method: 'POST', path: '/api/create-sos/', body: bodies[seq % bodies.length] }),
        onResult: () => undefined,
      })
      pool.close()
      requests = r.answered
      ok2xx = r.ok2xx
      non2xx = r.answered - r.ok2xx - Object.values(r.errors).reduce((a, b) => a + b, 0)
      errors = Object.values(r.errors).reduce((a, b) => a + b, 0) + r.unanswered
      timeouts = r.unanswered
      seconds = r.spanSeconds
      latency = r.latency
      statuses = r.statuses
      const lag = r.lag.summary()
      extra = { targetRate: opts.rate, senderLagMs: lag }
      if (lag.p99 > 5) report.warnings.push(`the load generator fell behind its schedule (p99 lag ${lag.p99} ms): the rate was not really offered`)
    } else {
      latency = new Samples()
      const instance = autocannon({ url: urls, connections: opts.connections, duration: opts.durationS, method: 'POST', headers: { 'content-type': 'application/json' }, body: createBody(runName) })
      instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
        if (status >= 200 && status < 300) latency.add(ms)
      })
      const result = await instance
      requests = result.requests.total
      ok2xx = result['2xx']
      non2xx = result.non2xx
      errors = result.errors
      timeouts = result.timeouts
      seconds = result.duration
      statuses = Object.fromEntries(Object.entries(result.statusCodeStats).map(([k, v]) => [k, v.count]))
    }
    const cpu = process.cpuUsage(clientCpu)
    const after = server.snapshots()
    report.profileWindow = { fromUs, toUs: nowUs() }
    const loop = await server.loopDelay()
    const usage = serverUsage(before, after)
    const s = latency.summary()
    const throughput = perSecond(ok2xx, seconds)

    // Durability check: every 2xx is a row (a request cut off at the end may have committed too, so ≥).
    const stored = await countRows(server.databaseUrl, runName)

    console.log(`\nrequests ${fmtInt(requests)} in ${round(seconds, 2)} s: 2xx ${fmtInt(ok2xx)}, non-2xx ${fmtInt(non2xx)}, errors ${errors}, timeouts ${timeouts}; statuses ${JSON.stringify(statuses)}`)
    console.log(`throughput ${fmtInt(throughput)} created/s (2xx)`)
    printLatency('latency of 2xx answers (ms)', [['create-sos', s]])
    if (extra.senderLagMs) console.log(`sender lag behind schedule: p99 ${(extra.senderLagMs as { p99: number }).p99} ms`)
    console.log(`\nstored rows for this run: ${fmtInt(stored)} (2xx answered: ${fmtInt(ok2xx)})`)
    printUsage('server', usage, before)
    printLoopDelay(loop)
    console.log(`load generator (this process): CPU ${Math.round(((cpu.user + cpu.system) / 1e6 / seconds) * 100)}% of one core`)

    if (ok2xx === 0) report.problems.push('no SOS was created')
    if (non2xx > 0) report.problems.push(`${non2xx} non-2xx answers`)
    if (errors > 0) report.problems.push(`${errors} request errors/timeouts`)
    if (stored < ok2xx) report.problems.push(`only ${stored} rows stored for ${ok2xx} 2xx answers`)
    report.server = usage
    report.loopDelay = loop
    report.results = { mode: opts.rate > 0 ? 'open-loop' : 'closed-loop', connections: opts.connections, durationS: opts.durationS, requests, ok2xx, non2xx, errors, timeouts, statuses, seconds: round(seconds, 2), throughputPerS: throughput, latencyMs: s, stored, dialect: server.dialect, ...extra, clientCpuPercent: Math.round(((cpu.user + cpu.system) / 1e6 / seconds) * 100) }
  } finally {
    await stopServer(server, report)
  }
  return report
}

async function countRows(databaseUrl: string, name: string): Promise<number> {
  const { db } = openDatabase(databaseUrl)
  try {
    const row = await sql<{ n: number }>`select count(*) as n from sos_requests where name = ${name}`.execute(db)
    return Number(row.rows[0]?.n ?? 0)
  } finally {
    await db.destroy()
  }
}
