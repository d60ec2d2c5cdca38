// `limits`: the machine's own limits and our figures, in one invocation, so every figure of ours can be
// given as a fraction of its limit (the tracker's issue 13). First the bytes our server sends
// (bench/limits/sample.ts); then each limit right before the figures of ours it is compared with: the
// bare create-sos route (bench/limits/bare-http.ts) and our create; the bare update-location route and
// our track (closed loop, and open loop at half the target rate) on each engine; bare broadcasts of our
// new_sos frame without Socket.IO (ws, uWS) and through a bare Socket.IO server on each engine
// (bench/limits/bare-broadcast.ts), each engine's followed by our fanout on it; and one table of ours,
// the limit, and the ratio.
import { BARE_KIND_LABELS, measureBareBroadcast, type BareBroadcastResult } from '../limits/bare-broadcast.ts'
import type { BareKind } from '../limits/bare-broadcast-server.ts'
import { BareRoutes, type BareRouteResult } from '../limits/bare-http.ts'
import { sampleServer } from '../limits/sample.ts'
import { formatLimits, ratioPercent, type LimitRow } from '../limits/table.ts'
import type { CommonOptions, ScenarioReport } from '../lib/common.ts'
import { fmtMs, table } from '../lib/stats.ts'
import { BROADCAST_TARGET_MS, runFanout } from './fanout.ts'
import { runCreate } from './create.ts'
import { runTrack } from './track.ts'

export type Engine = 'uws' | 'ws'

export interface LimitsOptions {
  engines: Engine[]
  /** Staff sockets for the broadcasts (bare and ours). */
  sockets: number
  /** Broadcasts per bare server; our fanout creates as many SOS, at `fanoutRate` per second. */
  broadcasts: number
  fanoutRate: number
  durationS: number
  warmupS: number
  createConnections: number
  trackConnections: number
  trackSos: number
  connectConcurrency: number
  receivers: 'lean' | 'client'
}

/** The tracker's targets (issue 13), as fractions of the limit or absolute times. */
export /** Fixes per request in the batch row (an offline phone's buffer; LOCATION_BATCH_MAX allows 500). */
const BATCH_FIXES = 50

const TARGETS = { createShare: 0.35, updateShare: 0.25, trackP99Ms: 10, broadcastLoopMs: BROADCAST_TARGET_MS, lastReceiverP99Ms: 50 }

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null)
const at = (obj: unknown, path: string): number | null => {
  let v: unknown = obj
  for (const k of path.split('.')) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[k] : undefined
  return num(v)
}

export async function runLimits(common: CommonOptions, opts: LimitsOptions): Promise<ScenarioReport[]> {
  const report: ScenarioReport = { scenario: 'limits', problems: [], warnings: [], results: {} }
  const reports: ScenarioReport[] = []
  console.log(
    `limits: engines ${opts.engines.join(', ')}; ${opts.sockets.toLocaleString('en-US')} sockets × ${opts.broadcasts} broadcasts; create ${opts.createConnections} connections, ` +
      `track ${opts.trackSos} SOS over ${opts.trackConnections} connections; ${opts.durationS} s per HTTP run after ${opts.warmupS} s warm-up; ${common.clientProcs} socket client process(es), ${opts.receivers} receivers`,
  )

  console.log('\n=== limits: the bytes our server sends ===')
  const sample = await sampleServer({ ...common, engine: opts.engines[0] })
  console.log(`create-sos answer ${sample.create.body.length} B body + ${Object.keys(sample.create.headers).length} headers; update-location answer ${sample.update.body.length} B; new_sos frame ${Buffer.byteLength(sample.newSosFrame)} B: ${sample.newSosFrame.slice(0, 120)}…`)

  const step = async (name: string, run: () => Promise<ScenarioReport>): Promise<ScenarioReport | undefined> => {
    console.log(`\n=== limits: ours, ${name} ===`)
    try {
      const r = await run()
      r.scenario = name
      reports.push(r)
      return r
    } catch (err) {
      report.problems.push(`${name}: ${(err as Error).message}`)
      return undefined
    }
  }
  const bareStep = async <T>(name: string, run: () => Promise<T>): Promise<T | undefined> => {
    console.log(`\n=== limits: ${name} ===`)
    try {
      return await run()
    } catch (err) {
      report.problems.push(`${name}: ${(err as Error).message}`)
      return undefined
    }
  }
  const broadcast = (kind: BareKind) =>
    bareStep(`bare broadcast, ${BARE_KIND_LABELS[kind]}, ${opts.sockets.toLocaleString('en-US')} sockets in one room`, async () => {
      const r = await measureBareBroadcast(kind, sample.newSosFrame, { sockets: opts.sockets, broadcasts: opts.broadcasts, clientProcs: common.clientProcs, connectConcurrency: opts.connectConcurrency })
      bare[kind] = r
      if (r.delivered < r.expected) report.warnings.push(`bare ${kind}: ${r.expected - r.delivered} of ${r.expected} deliveries missing`)
      if (r.connected < r.sockets) report.problems.push(`bare ${kind}: only ${r.connected} of ${r.sockets} receivers connected`)
      if (!r.sameBytes) report.warnings.push(`bare ${kind}: Socket.IO's encoding of the sampled payload differs from our frame`)
      return r
    })

  // Each limit is taken right before the figure of ours it is compared with: the machine's other load
  // drifts over minutes, and what counts is the ratio.
  const routes = new BareRoutes(sample, { createConnections: opts.createConnections, trackConnections: opts.trackConnections, durationS: opts.durationS, warmupS: opts.warmupS })
  const bareRoutes: { create?: BareRouteResult; update?: BareRouteResult } = {}
  const perEngine: Array<{ engine: Engine; track?: ScenarioReport; trackHalf?: ScenarioReport; trackSocket?: ScenarioReport; trackBatch?: ScenarioReport; fanout?: ScenarioReport }> = opts.engines.map((engine) => ({ engine }))
  let create: ScenarioReport | undefined
  let halfRate = 0
  const bare: Partial<Record<BareKind, BareBroadcastResult>> = {}
  try {
    await routes.start()
    bareRoutes.create = await bareStep('bare Fastify route, create-sos', () => routes.create())
    // create-sos broadcasts to nobody here (no staff socket), so the engine does not matter: one run.
    create = await step('create', () => runCreate({ ...common, engine: opts.engines[0] }, { connections: opts.createConnections, durationS: opts.durationS, warmupS: opts.warmupS, rate: 0 }))
    bareRoutes.update = await bareStep('bare Fastify route, update-location', () => routes.update())
    // Half the target rate: the target is 25 % of the bare route, and p99 ≤ 10 ms is asked at half that.
    halfRate = Math.max(1, Math.round(((bareRoutes.update?.perS ?? 0) * TARGETS.updateShare) / 2))
    for (const row of perEngine) {
      const c: CommonOptions = { ...common, engine: row.engine }
      row.track = await step(`track (${row.engine})`, () => runTrack(c, { sos: opts.trackSos, rate: 0, durationS: opts.durationS, connections: opts.trackConnections, connectConcurrency: opts.connectConcurrency, receivers: opts.receivers }))
      row.trackHalf = await step(`track at ${halfRate}/s (${row.engine})`, () => runTrack(c, { sos: opts.trackSos, rate: halfRate, durationS: opts.durationS, connections: opts.trackConnections, connectConcurrency: opts.connectConcurrency, receivers: opts.receivers }))
      // The other two ways a fix arrives, closed loop like the first: an update_location emit, an offline batch.
      row.trackSocket = await step(`track --via socket (${row.engine})`, () => runTrack(c, { sos: opts.trackSos, rate: 0, durationS: opts.durationS, connections: opts.trackConnections, connectConcurrency: opts.connectConcurrency, receivers: opts.receivers, via: 'socket' }))
      row.trackBatch = await step(`track --via batch (${row.engine})`, () => runTrack(c, { sos: opts.trackSos, rate: 0, durationS: opts.durationS, connections: opts.trackConnections, connectConcurrency: opts.connectConcurrency, receivers: opts.receivers, via: 'batch', batch: BATCH_FIXES }))
    }
  } finally {
    await routes.stop()
  }
  for (const r of Object.values(bareRoutes)) if (r && r.non2xx + r.errors > 0) report.problems.push(`bare route: ${r.non2xx} non-2xx, ${r.errors} errors`)

  await broadcast('ws-raw')
  await broadcast('uws-raw')
  for (const row of perEngine) {
    await broadcast(row.engine === 'uws' ? 'sio-uws' : 'sio-ws')
    row.fanout = await step(`fanout (${row.engine})`, () =>
      runFanout({ ...common, engine: row.engine }, { sockets: opts.sockets, rate: opts.fanoutRate, durationS: Math.max(1, opts.broadcasts / opts.fanoutRate), connectConcurrency: opts.connectConcurrency, receivers: opts.receivers }),
    )
  }
  printBareBroadcasts(bare)

  for (const r of reports) {
    report.problems.push(...r.problems.map((p) => `${r.scenario}: ${p}`))
    report.warnings.push(...r.warnings.map((w) => `${r.scenario}: ${w}`))
  }

  const rows = limitRows({ create, perEngine, bareRoutes, bare, halfRate })
  console.log('\n=== limits: ours against the machine\'s own limits (one invocation, this machine) ===')
  console.log(formatLimits(rows))
  console.log('(% of limit: ours ÷ limit for a rate, limit ÷ ours for a time or a size; 100 % = as good as the bare server.')
  console.log(' Our broadcast time is the synchronous emit from naarikavach_realtime_broadcast_seconds (p99 interpolated in its buckets); our longest')
  console.log(' stall is prom-client\'s event-loop delay max over the fanout phase (10 ms timer, 10 ms subtracted), the bare one a 1 ms timer per broadcast;')
  console.log(' our last receiver is POST → last socket, the bare one send → last socket.)')

  report.results = {
    engines: opts.engines,
    sockets: opts.sockets,
    broadcasts: opts.broadcasts,
    durationS: opts.durationS,
    sample: { createBytes: sample.create.body.length, updateBytes: sample.update.body.length, newSosFrameBytes: Buffer.byteLength(sample.newSosFrame), newSosFrame: sample.newSosFrame },
    bareRoutes,
    bareBroadcasts: bare,
    halfRate,
    table: rows.map((r) => ({ ...r, percentOfLimit: ratioPercent(r) })),
  }
  // Every scenario's own report is returned too (one JSON line holds them all); the problems are counted once, here.
  for (const r of reports) {
    r.problems = []
    r.warnings = []
  }
  return [...reports, report]
}

function printBareBroadcasts(bare: Partial<Record<BareKind, BareBroadcastResult>>): void {
  const head = ['bare server', 'receivers', 'delivered', 'send sync p50', 'p99', 'to setImmediate p99', 'loop busy p50', 'p99', 'longest stall p99', 'first p50', 'last p50', 'last p90', 'last p99', 'RSS/socket']
  const body = Object.values(bare).map((r) => [
    BARE_KIND_LABELS[r.kind],
    r.connected.toLocaleString('en-US'),
    `${r.delivered.toLocaleString('en-US')}/${r.expected.toLocaleString('en-US')}`,
    fmtMs(r.syncMs.p50),
    fmtMs(r.syncMs.p99),
    fmtMs(r.immediateMs.p99),
    fmtMs(r.busyMs.p50),
    fmtMs(r.busyMs.p99),
    fmtMs(r.loopMaxMs.p99),
    fmtMs(r.firstMs.p50),
    fmtMs(r.lastMs.p50),
    fmtMs(r.lastMs.p90),
    fmtMs(r.lastMs.p99),
    `${r.rssPerSocketKb} KB`,
  ])
  if (body.length === 0) return
  const frame = Object.values(bare)[0]
  console.log(`\n${frame?.broadcasts} broadcasts each of a ${frame?.frameBytes} B new_sos frame (times from just before the send call, ms):`)
  console.log(table([head, ...body]))
}

interface RowInputs {
  create?: ScenarioReport
  perEngine: Array<{ engine: Engine; track?: ScenarioReport; trackHalf?: ScenarioReport; trackSocket?: ScenarioReport; trackBatch?: ScenarioReport; fanout?: ScenarioReport }>
  bareRoutes: { create?: BareRouteResult; update?: BareRouteResult }
  bare: Partial<Record<BareKind, BareBroadcastResult>>
  halfRate: number
}

function limitRows({ create, perEngine, bareRoutes, bare, halfRate }: RowInputs): LimitRow[] {
  const rows: LimitRow[] = []
  const share = (ours: number | null, limit: number | null, wanted: number) => (ours === null || limit === null || limit <= 0 ? null : ours / limit >= wanted)
  const createPerS = at(create?.results, 'throughputPerS')
  rows.push({ figure: 'create-sos/s (closed loop)', engine: '–', ours: createPerS, limit: bareRoutes.create?.perS ?? null, limitIs: 'bare Fastify route', unit: '/s', better: 'higher', target: `≥ ${TARGETS.createShare * 100}% of limit`, met: share(createPerS, bareRoutes.create?.perS ?? null, TARGETS.createShare) })
  rows.push({ figure: 'create-sos p99', engine: '–', ours: at(create?.results, 'latencyMs.p99'), limit: bareRoutes.create?.latencyMs.p99 ?? null, limitIs: 'bare Fastify route', unit: 'ms', better: 'lower', target: '–', met: null })
  for (const { engine, track, trackHalf, trackSocket, trackBatch, fanout } of perEngine) {
    // Label with the engine asked for and, when the server answered with another, the one it used.
    const served = String(fanout?.results.engine ?? track?.results.engine ?? engine)
    const label = served === engine ? engine : `${engine} (served: ${served})`
    const limitEngine: Engine = served === 'uws' || served === 'ws' ? served : engine
    const sio = bare[limitEngine === 'uws' ? 'sio-uws' : 'sio-ws'] ?? bare[engine === 'uws' ? 'sio-uws' : 'sio-ws']
    const raw = bare[limitEngine === 'uws' ? 'uws-raw' : 'ws-raw']
    const sioIs = sio ? BARE_KIND_LABELS[sio.kind] : 'bare Socket.IO (not measured)'
    const rawIs = raw ? BARE_KIND_LABELS[raw.kind] : 'no Socket.IO (not measured)'
    const perS = at(track?.results, 'acceptedPerS')
    rows.push({ figure: 'update-location/s (stored, pushed to 3 rooms)', engine: label, ours: perS, limit: bareRoutes.update?.perS ?? null, limitIs: 'bare Fastify route', unit: '/s', better: 'higher', target: `≥ ${TARGETS.updateShare * 100}% of limit`, met: share(perS, bareRoutes.update?.perS ?? null, TARGETS.updateShare) })
    // No target of their own (the issue sets one for REST); the limit is still the bare HTTP route, so the
    // socket row says what the same update costs over Socket.IO, and the batch row what B fixes per request buy.
    const socketPerS = at(trackSocket?.results, 'acceptedPerS')
    rows.push({ figure: 'update_location emits/s (socket, stored, 3 rooms)', engine: label, ours: socketPerS, limit: bareRoutes.update?.perS ?? null, limitIs: 'bare Fastify route (HTTP)', unit: '/s', better: 'higher', target: '–', met: null })
    const batchPerS = at(trackBatch?.results, 'acceptedPerS')
    rows.push({ figure: `batch fixes/s (${BATCH_FIXES} per request, stored, 3 rooms)`, engine: label, ours: batchPerS, limit: bareRoutes.update?.perS ?? null, limitIs: 'bare Fastify route (HTTP), one fix', unit: '/s', better: 'higher', target: '–', met: null })
    const roomsP99 = ['sosRoomLatencyMs.p99', 'unitRoomLatencyMs.p99', 'trackingLatencyMs.p99'].map((p) => at(trackHalf?.results, p))
    const halfP99 = roomsP99.every((x) => x !== null) ? Math.max(...(roomsP99 as number[])) : null
    const accepted = at(trackHalf?.results, 'acceptedPerS')
    const offered = accepted !== null && accepted >= 0.95 * halfRate
    rows.push({ figure: 'update → subscriber p99, half the target rate', engine: label, ours: halfP99, limit: null, limitIs: '–', unit: 'ms', better: 'lower', target: `≤ ${TARGETS.trackP99Ms} ms at ${halfRate.toLocaleString('en-US')}/s`, met: halfP99 === null ? null : halfP99 <= TARGETS.trackP99Ms && offered })
    const loopP99 = at(fanout?.results, 'broadcastLoopMs.p99Ms')
    const loopTarget = `≤ ${TARGETS.broadcastLoopMs} ms`
    const loopMet = loopP99 === null ? null : loopP99 <= TARGETS.broadcastLoopMs
    rows.push({ figure: 'new_sos: server event loop per broadcast p99', engine: label, ours: loopP99, limit: sio?.syncMs.p99 ?? null, limitIs: `${sioIs}, sync emit`, unit: 'ms', better: 'lower', target: loopTarget, met: loopMet })
    rows.push({ figure: 'new_sos: server event loop per broadcast p99', engine: label, ours: loopP99, limit: raw?.syncMs.p99 ?? null, limitIs: `${rawIs}, sync send`, unit: 'ms', better: 'lower', target: loopTarget, met: loopMet })
    // A create sends new_sos and sos_updated to the same dashboards: its loop time is both broadcasts,
    // where the limit is one broadcast of the news.
    const bothMean = [at(fanout?.results, 'broadcastLoopMs.meanMs'), at(fanout?.results, 'sosUpdatedLoopMs.meanMs')]
    const perSos = bothMean.every((x) => x !== null) ? Math.round((bothMean as number[]).reduce((a, b) => a + b, 0) * 1000) / 1000 : null
    rows.push({ figure: 'per SOS created: new_sos + sos_updated, mean', engine: label, ours: perSos, limit: sio?.syncMs.mean ?? null, limitIs: `${sioIs}, one sync emit`, unit: 'ms', better: 'lower', target: loopTarget, met: perSos === null ? null : perSos <= TARGETS.broadcastLoopMs })
    // The synchronous emit misses what an engine writes after it returns (uWS drains its queue later in
    // the loop turn): the longest stall seen by a loop-delay timer over the whole phase catches that too.
    const stall = at(fanout?.loopDelay, 'max')
    rows.push({ figure: 'new_sos: longest event-loop stall (max)', engine: label, ours: stall, limit: sio?.loopMaxMs.max ?? null, limitIs: `${sioIs}, 1 ms timer`, unit: 'ms', better: 'lower', target: loopTarget, met: stall === null ? null : stall <= TARGETS.broadcastLoopMs })
    const lastP99 = at(fanout?.results, 'lastSocketPerSosMs.p99')
    const lastMet = lastP99 === null ? null : lastP99 <= TARGETS.lastReceiverP99Ms
    rows.push({ figure: 'new_sos: last receiver p99', engine: label, ours: lastP99, limit: sio?.lastMs.p99 ?? null, limitIs: sioIs, unit: 'ms', better: 'lower', target: `≤ ${TARGETS.lastReceiverP99Ms} ms`, met: lastMet })
    rows.push({ figure: 'new_sos: last receiver p99', engine: label, ours: lastP99, limit: raw?.lastMs.p99 ?? null, limitIs: rawIs, unit: 'ms', better: 'lower', target: `≤ ${TARGETS.lastReceiverP99Ms} ms`, met: lastMet })
    rows.push({ figure: 'RSS per socket in sos_channel', engine: label, ours: at(fanout?.results, 'rssPerSocketKb'), limit: sio?.rssPerSocketKb ?? null, limitIs: sioIs, unit: 'KB', better: 'lower', target: '–', met: null })
  }
  return rows
}
