// `track`: K open SOS, each with a subscriber in its SOS room (sos_token) and one in its unit's room, plus
// one location_tracking_channel subscriber; location updates at R/s, each sent as the victim's phone sends
// it (--via): `http` POST /api/update-location/ with X-SOS-Token, `socket` an `update_location` emit with
// the sos_token from one phone socket per SOS, or `batch` an offline phone's buffer of B fixes per
// POST /api/sos/{id}/locations/. Reports accepted/s, request latency, latency to each of the three rooms
// and the delivery ratio per room.
import { sql } from 'kysely'
import { openDatabase } from '../../src/db/dialect.ts'
import { createBody, fmtInt, latitudeOf, MAX_SEQ, perSecond, printLatency, printLoopDelay, printUsage, serverUsage, startServer, stopServer, serverNote, type CommonOptions, type ScenarioReport } from '../lib/common.ts'
import { closedLoop, HttpPool, openLoop, type HttpResult, type RequestSpec, type Requester } from '../lib/http-load.ts'
import type { ReceiverKind } from '../lib/receiver.ts'
import { SocketPool } from '../lib/socket-pool.ts'
import { SocketSender, type SocketUpdate } from '../lib/socket-sender.ts'
import { Samples, nowUs, round, sleep, waitFor } from '../lib/stats.ts'

export interface TrackOptions {
  sos: number
  rate: number
  durationS: number
  connections: number
  connectConcurrency: number
  /** `client` (default): socket.io-client subscribers; `lean`: raw-WebSocket receivers (bench/lib/lean-receiver.ts). */
  receivers?: Exclude<ReceiverKind, 'raw'>
  /** How each update is sent (default `http`). */
  via?: TrackVia
  /** `batch` only: fixes per request (default 50). */
  batch?: number
}

export type TrackVia = 'http' | 'socket' | 'batch'

interface OpenSos {
  id: number
  roomId: string
  token: string
  unit: string
}

const ROOM_NAMES = ['SOS room (location_history)', 'unit room (unit_location_update)', 'tracking channel (location_tracking_update)']

export async function runTrack(common: CommonOptions, opts: TrackOptions): Promise<ScenarioReport> {
  const report: ScenarioReport = { scenario: 'track', problems: [], warnings: [], results: {} }
  const via = opts.via ?? 'http'
  // A fix per request, or a batch's B fixes: every figure below counts fixes (points), requests apart.
  const perRequest = via === 'batch' ? Math.max(1, opts.batch ?? 50) : 1
  // The phone sockets carry the updates of many phones each (a real phone sends about one a second):
  // the per-socket event limit would refuse them, as it should refuse one phone sending thousands.
  const server = await startServer(common, true, via === 'socket' ? { SOCKET_EVENTS_PER_SECOND: '100000' } : {})
  let pool: SocketPool | undefined
  let http: HttpPool | undefined
  let phones: SocketSender | undefined
  try {
    const staff = await server.createUser('dispatcher')
    await server.start()
    const engine = await server.realtimeEngine()
    const K = opts.sos
    const sentVia = via === 'http' ? `over ${opts.connections} connections` : via === 'socket' ? `as update_location emits from ${K} phone sockets${opts.rate > 0 ? '' : `, ${opts.connections} in flight`}` : `in batches of ${perRequest} fixes over ${opts.connections} connections`
    console.log(`track: ${K} open SOS, each with an SOS-room and a unit-room subscriber, + 1 tracking-channel subscriber; ${via === 'batch' ? 'batch requests' : 'updates'} ${opts.rate > 0 ? `at ${fmtInt(opts.rate)}/s` : 'closed loop'} for ${opts.durationS} s ${sentVia}; ${opts.receivers ?? 'client'} receivers; ${serverNote(common)}, realtime engine in use: ${engine}; ${server.dialect}`)

    http = new HttpPool(server.apiUrls, opts.connections)
    await http.open()
    const sos = await setupSos(http, staff, K)

    pool = new SocketPool(common.clientProcs)
    const specs = [
      ...sos.map((s) => ({ join: { event: 'join_sos_room', payload: { room_id: s.roomId, sos_token: s.token } } })),
      ...sos.map((s) => ({ token: staff, join: { event: 'join_officer_room', payload: { unit_number: s.unit } } })),
      { token: staff, join: { event: 'join_location_tracking_channel', payload: {} } },
    ]
    const connected = await pool.connect({
      urls: server.socketUrls,
      specs,
      record: [
        { event: 'location_history', code: 0, key: 'lat-seq' },
        { event: 'unit_location_update', code: 1, key: 'lat-seq' },
        { event: 'location_tracking_update', code: 2, key: 'lat-seq' },
      ],
      concurrency: opts.connectConcurrency,
      timeoutMs: 20_000,
      reconnection: false,
      receivers: opts.receivers ?? 'client',
    })
    console.log(`connected ${connected.connected}/${specs.length} subscriber sockets (${connected.failures} failures${connected.failures ? ` ${JSON.stringify(connected.errors)}` : ''})`)
    if (connected.failures > 0) report.problems.push(`${connected.failures} subscribers failed to connect or join: ${JSON.stringify(connected.errors)}`)

    const update = (seq: number): RequestSpec => {
      const s = sos[seq % K]
      return {
        method: 'POST',
        path: '/api/update-location/',
        headers: { 'x-sos-token': s.token },
        body: `{"sos_request":${s.id},"latitude":${latitudeOf(seq)},"longitude":77.5}`,
      }
    }
    // Batch fixes carry the phone's time, rising per SOS from an hour ago (a fast run never reaches the
    // clock-skew limit) after a phone-timed warm-up point, so each is its SOS's newest and goes out live.
    // Batch b is SOS b % K's; its fixes are at base + (round × B + j) ms.
    const baseMs = Date.now() - 3_600_000
    const fix = (seq: number, atMs: number) => `{"latitude":${latitudeOf(seq)},"longitude":77.5,"recorded_at":"${new Date(atMs).toISOString()}"}`
    const fixes = (s: OpenSos, body: string[]): RequestSpec => ({ method: 'POST', path: `/api/sos/${s.id}/locations/`, headers: { 'x-sos-token': s.token }, body: `{"locations":[${body.join(',')}]}` })
    const batchOf = (b: number): RequestSpec => {
      const round = Math.floor(b / K)
      return fixes(sos[b % K], Array.from({ length: perRequest }, (_, j) => fix(b * perRequest + j, baseMs + round * perRequest + j)))
    }
    // Warm-up: one update per SOS all the way to its three rooms (sequence numbers far above the run's).
    const warmBase = MAX_SEQ - K - ((MAX_SEQ - K) % K)
    const warmUp = (k: number) => (via === 'batch' ? fixes(sos[k], [fix(warmBase + k, baseMs - 1)]) : update(warmBase + k))
    const warm = await Promise.all(sos.map((_, k) => http!.request(warmUp(k))))
    if (warm.some((r) => r.status !== 201)) throw new Error(`warm-up update-location answered ${JSON.stringify(warm.map((r) => r.status).filter((s) => s !== 201).slice(0, 5))}`)
    await waitFor(async () => (await pool!.count()).receipts >= 3 * K, 10_000)
    await pool.reset()
    await sleep(200)

    // Closed loop (--rate 0) has no planned count: cap it at what 200,000 req/s could send.
    const maxRequests = Math.floor(Math.min(MAX_SEQ - 2 * K - 1, Math.ceil((opts.rate || 200_000) * opts.durationS * perRequest)) / perRequest)
    const total = maxRequests * perRequest
    const sentAt = new Float64Array(total).fill(-1)
    if (via === 'socket') {
      phones = new SocketSender(server.socketUrls, K)
      await phones.open()
    }
    const emitOf = (seq: number): SocketUpdate => {
      const s = sos[seq % K]
      return { phone: seq % K, payload: { sos_request: s.id, latitude: latitudeOf(seq), longitude: 77.5, sos_token: s.token } }
    }
    await server.loopDelay()
    const clients0 = await pool.usage()
    const before = server.snapshots()
    const clientCpu = process.cpuUsage()
    const started = nowUs()
    const onResult = (seq: number, res: HttpResult) => {
      if (res.status === 201) for (let j = 0; j < perRequest; j++) sentAt[seq * perRequest + j] = res.sentUs
    }
    const loop = { durationMs: opts.durationS * 1000, maxRequests, onResult }
    const run = <S>(pool: Requester<S>, make: (seq: number) => S) =>
      opts.rate > 0 ? openLoop({ ...loop, pool, rate: opts.rate, make }) : closedLoop({ ...loop, pool, concurrency: opts.connections, make })
    const r = via === 'socket' ? await run(phones!, emitOf) : await run(http, via === 'batch' ? batchOf : update)
    const expectedPerRoom = r.ok2xx * perRequest
    await waitFor(async () => (await pool!.count()).receipts >= 3 * expectedPerRoom, 15_000)
    const after = server.snapshots()
    report.profileWindow = { fromUs: started, toUs: nowUs() }
    const loopDelay = await server.loopDelay()
    const cpu = process.cpuUsage(clientCpu)
    const wallS = (nowUs() - started) / 1e6
    const { parts, drops } = await pool.collect()
    const usage = serverUsage(before, after)
    const clients = await pool.usage()

    const perRoom = [new Samples(), new Samples(), new Samples()]
    const all = new Samples()
    const matched = [0, 0, 0]
    let misrouted = 0
    let unmatched = 0
    let duplicates = 0
    const seen = [new Uint8Array(total), new Uint8Array(total), new Uint8Array(total)]
    for (const part of parts) {
      for (let i = 0; i < part.t.length; i++) {
        const seq = part.key[i]
        const code = part.code[i]
        if (seq < 0 || seq >= total || sentAt[seq] < 0) {
          unmatched += 1
          continue
        }
        // Socket k is SOS k's room subscriber, K + k its unit's, 2K the tracking channel's (a batch's fixes are all its SOS's).
        const k = Math.floor(seq / perRequest) % K
        const expectedSocket = code === 0 ? k : code === 1 ? K + k : 2 * K
        if (part.sock[i] !== expectedSocket) {
          misrouted += 1
          continue
        }
        if (seen[code][seq]) {
          duplicates += 1
          continue
        }
        seen[code][seq] = 1
        matched[code] += 1
        const ms = (part.t[i] - sentAt[seq]) / 1000
        perRoom[code].add(ms)
        all.add(ms)
      }
    }
    const accepted = perSecond(r.ok2xx * perRequest, r.spanSeconds)
    const stored = await countLocations(server.databaseUrl, sos.map((s) => s.id))
    const httpS = r.latency.summary()
    const lag = r.lag.summary()
    const roomS = perRoom.map((p) => p.summary())
    const ratios = matched.map((m) => (expectedPerRoom > 0 ? m / expectedPerRoom : 0))

    console.log(`\nupdates sent ${fmtInt(r.sent)}, 2xx ${fmtInt(r.ok2xx)} (statuses ${JSON.stringify(r.statuses)}${Object.keys(r.errors).length ? `, errors ${JSON.stringify(r.errors)}` : ''}${r.unanswered ? `, unanswered ${r.unanswered}` : ''})`)
    const inRequests = perRequest > 1 ? ` in ${fmtInt(perSecond(r.ok2xx, r.spanSeconds))} batch requests/s of ${perRequest}` : ''
    console.log(`accepted ${fmtInt(accepted)} updates/s${inRequests} (${opts.rate > 0 ? `offered ${fmtInt(opts.rate)} requests/s` : `closed loop, ${opts.connections} in flight`}); pushed ${fmtInt(perSecond(matched[0] + matched[1] + matched[2], r.spanSeconds))} events/s to subscribers`)
    console.log(`stored location rows for these SOS: ${fmtInt(stored)} (accepted incl. ${K} warm-up: ${fmtInt(expectedPerRoom + K)})`)
    for (let c = 0; c < 3; c++) console.log(`delivery ${ROOM_NAMES[c]}: ${fmtInt(matched[c])}/${fmtInt(expectedPerRoom)} (ratio ${ratios[c].toFixed(6)})`)
    console.log(`duplicates ${duplicates}, misrouted ${misrouted}, unmatched ${unmatched}, unexpected socket drops ${drops}`)
    const sent = via === 'socket' ? 'emit' : 'POST'
    printLatency('latency (ms)', [
      [via === 'http' ? 'POST update-location (HTTP)' : via === 'socket' ? 'emit update_location → ack' : `POST ${perRequest} fixes (HTTP)`, httpS],
      [`${sent} → SOS room`, roomS[0]],
      [`${sent} → unit room`, roomS[1]],
      [`${sent} → tracking channel`, roomS[2]],
      [`${sent} → any room (all)`, all.summary()],
    ])
    console.log(`sender lag behind schedule: p50 ${lag.p50} ms, p99 ${lag.p99} ms, max ${lag.max} ms`)
    console.log('')
    printUsage('server', usage, before)
    printLoopDelay(loopDelay)
    const socketCpu = SocketPool.cpuPercent(clients0, clients, wallS)
    console.log(`load generator (this process): CPU ${Math.round(((cpu.user + cpu.system) / 1e6 / wallS) * 100)}% of one core; socket client processes: CPU ${socketCpu}%, ${clients.map((c) => `${c.rssMb} MB`).join(', ')} RSS`)

    if (r.ok2xx === 0) report.problems.push('no location update was accepted')
    if (r.ok2xx < r.sent) report.problems.push(`${r.sent - r.ok2xx} ${via === 'socket' ? 'update_location emits' : 'location requests'} failed: ${JSON.stringify({ ...r.statuses, ...r.errors })}`)
    if (matched.some((m) => m === 0)) report.problems.push(`a room received nothing (deliveries per room ${matched.join('/')})`)
    if (misrouted > 0) report.problems.push(`${misrouted} events reached a socket that was not subscribed to them`)
    if (stored < expectedPerRoom + K) report.problems.push(`only ${stored} location rows stored for ${expectedPerRoom + K} accepted updates`)
    if (matched.some((m) => m < expectedPerRoom)) report.warnings.push(`missing deliveries per room: ${matched.map((m) => expectedPerRoom - m).join('/')}`)
    if (lag.p99 > 5) report.warnings.push(`the load generator fell behind its schedule (p99 lag ${lag.p99} ms): the rate was not really offered`)
    report.server = usage
    report.loopDelay = loopDelay
    report.results = {
      sos: K,
      via,
      perRequest,
      requestsPerS: perSecond(r.ok2xx, r.spanSeconds),
      receivers: opts.receivers ?? 'client',
      engineRequested: common.engine ?? null,
      engine,
      rate: opts.rate,
      durationS: opts.durationS,
      connections: opts.connections,
      sent: r.sent,
      accepted: expectedPerRoom,
      acceptedPerS: accepted,
      stored,
      statuses: r.statuses,
      errors: r.errors,
      deliveries: matched,
      deliveryRatio: ratios.map((x) => round(x, 6)),
      duplicates,
      misrouted,
      drops,
      httpLatencyMs: httpS,
      sosRoomLatencyMs: roomS[0],
      unitRoomLatencyMs: roomS[1],
      trackingLatencyMs: roomS[2],
      senderLagMs: lag,
      clientCpuPercent: Math.round(((cpu.user + cpu.system) / 1e6 / wallS) * 100),
      clientRssMb: clients.map((c) => c.rssMb),
      socketClientCpuPercent: socketCpu,
    }
  } finally {
    http?.close()
    phones?.close()
    await pool?.close()
    await stopServer(server, report)
  }
  return report
}

/** Creates K SOS and dispatches a unit (BENCH<k>) to each, as a dispatcher. */
async function setupSos(http: HttpPool, staff: string, K: number): Promise<OpenSos[]> {
  const created = await Promise.all(
    Array.from({ length: K }, (_, k) => http.request({ method: 'POST', path: '/api/create-sos/', body: createBody(`bench-track-${k}`, k), wantBody: true })),
  )
  const sos = created.map((res, k) => {
    if (res.status !== 201 || !res.body) throw new Error(`create-sos for the track setup answered ${res.status} ${res.error ?? res.body}`)
    const body = JSON.parse(res.body) as { sos_id: number; room_id: string; sos_token: string }
    return { id: body.sos_id, roomId: body.room_id, token: body.sos_token, unit: `BENCH${k}` }
  })
  const assigned = await Promise.all(
    sos.map((s) =>
      http.request({
        method: 'POST',
        path: '/api/assign-officer/',
        headers: { authorization: `Token ${staff}` },
        body: JSON.stringify({ sos_request: s.id, officer_name: 'Bench Officer', unit_number: s.unit }),
        wantBody: true,
      }),
    ),
  )
  const bad = assigned.find((res) => res.status !== 201)
  if (bad) throw new Error(`assign-officer answered ${bad.status}: ${bad.body ?? bad.error}`)
  return sos
}

async function countLocations(databaseUrl: string, ids: number[]): Promise<number> {
  const { db } = openDatabase(databaseUrl)
  try {
    const row = await db.selectFrom('location_updates').select(sql<number>`count(*)`.as('n')).where('sos_request_id', 'in', ids).executeTakeFirst()
    return Number(row?.n ?? 0)
  } finally {
    await db.destroy()
  }
}
