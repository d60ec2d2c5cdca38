// `fanout`: S staff sockets in sos_channel; SOS created over HTTP at R/s; latency from just before each
// POST to each socket's new_sos (matched on sos_id), the slowest socket per SOS, the delivery ratio, and
// how long each broadcast held the server's event loop (its naarikavach_realtime_broadcast_seconds).
// The receivers are lean raw-WebSocket clients by default (bench/lib/lean-receiver.ts), so what is
// measured is the server, not socket.io-client parsing 10,000 copies of every event.
import crypto from 'node:crypto'
import { createBody, fmtInt, perSecond, printLatency, printLoopDelay, printUsage, serverUsage, startServer, stopServer, serverNote, type CommonOptions, type ScenarioReport } from '../lib/common.ts'
import { HttpPool, openLoop, type RequestSpec } from '../lib/http-load.ts'
import { mb } from '../lib/proc.ts'
import { histogramDelta, readHistogram, summarizeHistogram, type HistogramScrape, type HistogramSummary } from '../lib/prom.ts'
import type { ReceiverKind } from '../lib/receiver.ts'
import { SocketPool } from '../lib/socket-pool.ts'
import { Samples, nowUs, round, sleep, waitFor } from '../lib/stats.ts'

export interface FanoutOptions {
  sockets: number
  rate: number
  durationS: number
  connectConcurrency: number
  /** `lean` (default): raw-WebSocket receivers; `client`: socket.io-client sockets, as a real dashboard runs. */
  receivers: Exclude<ReceiverKind, 'raw'>
}

/** The event-loop time a broadcast may take (the tracker's issue 13); the metric has a bucket bound there. */
export const BROADCAST_TARGET_MS = 15

export async function runFanout(common: CommonOptions, opts: FanoutOptions): Promise<ScenarioReport> {
  const report: ScenarioReport = { scenario: 'fanout', problems: [], warnings: [], results: {} }
  const server = await startServer(common, true)
  let pool: SocketPool | undefined
  try {
    const token = await server.createUser('dispatcher')
    await server.start()
    const engine = await server.realtimeEngine()
    console.log(`fanout: ${fmtInt(opts.sockets)} staff sockets (${opts.receivers} receivers) in sos_channel over ${common.clientProcs} client process(es); SOS created at ${opts.rate}/s for ${opts.durationS} s; ${serverNote(common)}, realtime engine in use: ${engine}; ${server.dialect}`)

    pool = new SocketPool(common.clientProcs)
    const rssEmpty = sumRssKb(server.snapshots())
    const connected = await pool.connect({
      urls: server.socketUrls,
      specs: Array.from({ length: opts.sockets }, () => ({ token, join: { event: 'join_sos_channel', payload: {} } })),
      record: [{ event: 'new_sos', code: 0, key: 'sos_id' }],
      concurrency: opts.connectConcurrency,
      timeoutMs: 20_000,
      reconnection: false,
      receivers: opts.receivers,
    })
    const rssPerSocketKb = connected.connected > 0 ? round((sumRssKb(server.snapshots()) - rssEmpty) / connected.connected, 1) : 0
    console.log(`connected ${fmtInt(connected.connected)}/${fmtInt(opts.sockets)} sockets in ${round(connected.wallMs / 1000, 2)} s (${connected.failures} failures${connected.failures ? ` ${JSON.stringify(connected.errors)}` : ''})`)
    if (connected.failures > 0) report.problems.push(`${connected.failures} sockets failed to connect or join: ${JSON.stringify(connected.errors)}`)

    const http = new HttpPool(server.apiUrls, Math.max(4, Math.min(64, Math.ceil(opts.rate / 10))))
    await http.open()
    // Warm-up: one SOS all the way through, so first-use costs are not in the figures.
    const warm = await http.request({ method: 'POST', path: '/api/create-sos/', body: createBody('bench-warmup') })
    if (warm.status !== 201) throw new Error(`warm-up create-sos answered ${warm.status}`)
    await waitFor(async () => (await pool!.count()).receipts >= connected.connected, 10_000)
    await pool.reset()
    await sleep(200)

    const runName = `bench-fanout-${crypto.randomBytes(4).toString('hex')}`
    const sentAt = new Map<number, number>()
    const scrape0 = await server.scrape()
    const clients0 = await pool.usage()
    const before = server.snapshots()
    const started = nowUs()
    const r = await openLoop<RequestSpec>({
      pool: http,
      rate: opts.rate,
      durationMs: opts.durationS * 1000,
      maxRequests: Math.ceil(opts.rate * opts.durationS) + 1,
      make: (seq) => ({ method: 'POST', path: '/api/create-sos/', body: createBody(runName, seq), wantBody: true }),
      onResult: (_seq, res) => {
        if (res.status !== 201 || !res.body) return
        const id = (JSON.parse(res.body) as { sos_id: number }).sos_id
        sentAt.set(id, res.sentUs)
      },
    })
    const expected = sentAt.size * connected.connected
    // Drain: until every socket has every SOS, or 15 s, whichever first.
    await waitFor(async () => (await pool!.count()).receipts >= expected, 15_000)
    const after = server.snapshots()
    report.profileWindow = { fromUs: started, toUs: nowUs() }
    const scrape1 = await server.scrape()
    const loop = scrape1.loopDelay
    const broadcast = broadcastTime(scrape0.texts, scrape1.texts, 'new_sos')
    // A create also sends sos_updated ("created") to sos_channel and the SOS room: a second broadcast to
    // the same dashboards, in the same loop turn.
    const updated = broadcastTime(scrape0.texts, scrape1.texts, 'sos_updated')
    const wallS = (nowUs() - started) / 1e6
    const { parts, drops } = await pool.collect()
    const usage = serverUsage(before, after)
    const clients = await pool.usage()

    const all = new Samples()
    const perSos = new Map<number, { n: number; first: number; last: number }>()
    let matched = 0
    let unmatched = 0
    // One delivery per (socket, SOS): sos ids stay far below 1e7 in a bench database.
    const seen = new Set<number>()
    let duplicates = 0
    for (const part of parts) {
      for (let i = 0; i < part.t.length; i++) {
        const id = part.key[i]
        const t0 = sentAt.get(id)
        if (t0 === undefined) {
          unmatched += 1
          continue
        }
        const pair = part.sock[i] * 1e7 + id
        if (seen.has(pair)) {
          duplicates += 1
          continue
        }
        seen.add(pair)
        matched += 1
        const ms = (part.t[i] - t0) / 1000
        all.add(ms)
        const agg = perSos.get(id) ?? { n: 0, first: Infinity, last: 0 }
        agg.n += 1
        agg.first = Math.min(agg.first, ms)
        agg.last = Math.max(agg.last, ms)
        perSos.set(id, agg)
      }
    }
    const lastSocket = new Samples()
    const firstSocket = new Samples()
    let complete = 0
    for (const agg of perSos.values()) {
      lastSocket.add(agg.last)
      firstSocket.add(agg.first)
      if (agg.n === connected.connected) complete += 1
    }
    const ratio = expected > 0 ? matched / expected : 0
    const httpS = r.latency.summary()
    const allS = all.summary()
    const lastS = lastSocket.summary()
    const firstS = firstSocket.summary()

    console.log(`\nSOS created ${fmtInt(r.ok2xx)}/${fmtInt(r.sent)} (statuses ${JSON.stringify(r.statuses)}${Object.keys(r.errors).length ? `, errors ${JSON.stringify(r.errors)}` : ''})`)
    console.log(`deliveries ${fmtInt(matched)}/${fmtInt(expected)} (ratio ${ratio.toFixed(6)}); SOS reaching every socket ${complete}/${sentAt.size}; duplicates ${duplicates}; unmatched ${unmatched}; unexpected socket drops ${drops}`)
    console.log(`delivered ${fmtInt(perSecond(matched, r.spanSeconds))} events/s to sockets`)
    printLatency('latency (ms)', [
      ['POST create-sos (HTTP)', httpS],
      ['POST → each socket', allS],
      ['POST → first socket, per SOS', firstS],
      ['POST → last socket, per SOS', lastS],
    ])
    console.log('')
    printUsage('server', usage, before)
    printLoopDelay(loop)
    const cpuPerSosMs = r.ok2xx > 0 ? round((usage.cpuSeconds * 1000) / r.ok2xx, 2) : 0
    console.log(`server CPU per SOS (create + broadcast to ${fmtInt(connected.connected)}): ${cpuPerSosMs} ms; server RSS per connected staff socket: ${rssPerSocketKb} KB (${mb(rssEmpty)} MB before connecting)`)
    if (broadcast) {
      console.log(
        `server event loop held per new_sos broadcast (naarikavach_realtime_broadcast_seconds, the synchronous emit; p50/p99 interpolated in its buckets): n ${broadcast.n}, mean ${broadcast.meanMs} ms, p50 ${broadcast.p50Ms} ms, p99 ${broadcast.p99Ms} ms, max ≤ ${broadcast.maxAtMostMs} ms; ${Math.round(broadcast.shareWithin * 1000) / 10}% ≤ ${broadcast.withinMs} ms`,
      )
      if (updated) console.log(`  and per sos_updated broadcast that each create also sends to sos_channel: n ${updated.n}, mean ${updated.meanMs} ms, p99 ${updated.p99Ms} ms; per SOS together: mean ${round(broadcast.meanMs + updated.meanMs, 3)} ms`)
    } else console.log('server event loop per broadcast: the server has no naarikavach_realtime_broadcast_seconds metric')
    const clientCpu = SocketPool.cpuPercent(clients0, clients, wallS)
    console.log(`socket client processes: CPU ${clientCpu}% of one core (all together), ${clients.map((c) => `${c.rssMb} MB`).join(', ')} RSS`)

    if (r.ok2xx === 0) report.problems.push('no SOS was created')
    if (r.ok2xx < r.sent) report.problems.push(`${r.sent - r.ok2xx} create-sos requests failed: ${JSON.stringify({ ...r.statuses, ...r.errors })}`)
    if (matched === 0) report.problems.push('no new_sos was delivered')
    if (matched < expected) report.warnings.push(`${expected - matched} of ${expected} deliveries missing`)
    if (drops > 0) report.warnings.push(`${drops} sockets dropped during the run`)
    report.server = usage
    report.loopDelay = loop
    report.results = {
      sockets: opts.sockets,
      receivers: opts.receivers,
      engineRequested: common.engine ?? null,
      engine,
      connected: connected.connected,
      rate: opts.rate,
      durationS: opts.durationS,
      created: r.ok2xx,
      expectedDeliveries: expected,
      deliveries: matched,
      deliveryRatio: round(ratio, 6),
      completeSos: complete,
      duplicates,
      drops,
      wallS: round(wallS, 2),
      httpLatencyMs: httpS,
      fanoutLatencyMs: allS,
      firstSocketPerSosMs: firstS,
      lastSocketPerSosMs: lastS,
      broadcastLoopMs: broadcast,
      sosUpdatedLoopMs: updated,
      cpuPerSosMs,
      rssPerSocketKb,
      clientRssMb: clients.map((c) => c.rssMb),
      socketClientCpuPercent: clientCpu,
    }
    http.close()
  } finally {
    await pool?.close()
    await stopServer(server, report)
  }
  return report
}

const sumRssKb = (snaps: Array<{ rssKb: number }>) => snaps.reduce((a, s) => a + s.rssKb, 0)

/** The `event` broadcasts between two scrapes (every server process together), or null without the metric. */
function broadcastTime(before: string[], after: string[], event: string): HistogramSummary | null {
  let total: HistogramScrape | null = null
  for (let i = 0; i < after.length; i++) {
    const a = readHistogram(after[i], 'naarikavach_realtime_broadcast_seconds', { event })
    if (!a) continue
    const d = histogramDelta(readHistogram(before[i] ?? '', 'naarikavach_realtime_broadcast_seconds', { event }), a)
    total = total ? { buckets: total.buckets.map(([le, n], j) => [le, n + (d.buckets[j]?.[1] ?? 0)]), sum: total.sum + d.sum, count: total.count + d.count } : d
  }
  return total && summarizeHistogram(total, BROADCAST_TARGET_MS)
}
