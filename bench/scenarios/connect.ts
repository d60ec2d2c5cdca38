// `connect`: N concurrent sockets (spread over client processes and loopback source addresses): time to
// connect, the server's RSS per idle socket, then a reconnect storm (all disconnect, all reconnect at the
// same instant) and the time until every socket is back. With --staff K, K of the sockets are dashboards
// (dispatcher token, in sos_channel, joining again on every connect), and with --storm-rate R SOS are
// created at R/s from the moment everyone is gone until everyone is back: every dashboard must end up
// with every one of those SOS (live as new_sos or in the sos_snapshot sent when it joins again).
import { HttpPool } from '../lib/http-load.ts'
import { createBody, fmtInt, printLatency, printLoopDelay, printUsage, serverUsage, startServer, stopServer, serverNote, type CommonOptions, type ScenarioReport } from '../lib/common.ts'
import { mb, tcpCounters, tcpDelta } from '../lib/proc.ts'
import type { ReceiverKind } from '../lib/receiver.ts'
import { SocketPool } from '../lib/socket-pool.ts'
import { Samples, nowUs, round, sleep, waitFor } from '../lib/stats.ts'

export interface ConnectOptions {
  sockets: number
  /** Sockets opened at once per client process during the ramp. */
  connectConcurrency: number
  /** Seconds to sit idle before measuring memory. */
  idleS: number
  /** Connect with a staff token (handshake verifies it against the database) instead of anonymously. */
  auth: boolean
  /** Most sockets one client process holds (the per-process open-file limit applies to each). */
  perProcess: number
  stormTimeoutS: number
  /** Give each client process its own source address (for more sockets than one address has ports). */
  spreadSources: boolean
  /** Sockets (among `sockets`) that are staff dashboards in sos_channel. */
  staff: number
  /** SOS created per second while the sockets are away and reconnecting (needs staff > 0). */
  stormRate: number
  /** `client` (default): socket.io-client sockets; `lean`: raw-WebSocket receivers, far cheaper for the client processes. */
  receivers?: Exclude<ReceiverKind, 'raw'>
}

/** Spreads K staff sockets evenly over N (so every client process holds its share). */
const isStaffIndex = (i: number, staff: number, n: number) => Math.floor(((i + 1) * staff) / n) - Math.floor((i * staff) / n) === 1

export async function runConnect(common: CommonOptions, opts: ConnectOptions): Promise<ScenarioReport> {
  const report: ScenarioReport = { scenario: 'connect', problems: [], warnings: [], results: {} }
  const server = await startServer(common, false)
  let pool: SocketPool | undefined
  let creator: SosCreator | undefined
  try {
    const token = await server.createUser('dispatcher')
    await server.start()
    const engine = await server.realtimeEngine()
    const procs = Math.max(common.clientProcs, Math.ceil(opts.sockets / opts.perProcess))
    const staffNote = opts.staff > 0 ? ` (${fmtInt(Math.min(opts.staff, opts.sockets))} of them staff dashboards in sos_channel${opts.stormRate > 0 ? `, ${opts.stormRate} SOS/s created during the storm` : ''})` : ''
    console.log(`connect: ${fmtInt(opts.sockets)} ${opts.auth ? 'authenticated (staff token)' : 'anonymous'} ${opts.receivers ?? 'client'} sockets${staffNote} over ${procs} client process(es)${opts.spreadSources ? ` (source addresses 127.0.0.2–127.0.0.${procs + 1})` : ''}, ${opts.connectConcurrency} in flight per process; ${serverNote(common)}, realtime engine in use: ${engine}`)
    await sleep(2000)
    const base = server.snapshots()

    pool = new SocketPool(procs)
    const clients0 = await pool.usage()
    await server.loopDelay()
    const tcp0 = tcpCounters()
    const fromUs = nowUs()
    const staff = Math.min(opts.staff, opts.sockets)
    const ramp = await pool.connect({
      urls: server.socketUrls,
      specs: Array.from({ length: opts.sockets }, (_, i) =>
        isStaffIndex(i, staff, opts.sockets) ? { token, join: { event: 'join_sos_channel', payload: {} } } : opts.auth ? { token } : {},
      ),
      record: staff > 0 ? [{ event: 'new_sos', code: 0, key: 'sos_id' }, { event: 'sos_snapshot', code: 1, key: 'snapshot' }] : [],
      concurrency: opts.connectConcurrency,
      timeoutMs: 30_000,
      reconnection: true,
      spreadSources: opts.spreadSources,
      receivers: opts.receivers ?? 'client',
    })
    const afterRamp = server.snapshots()
    const rampLoop = await server.loopDelay()
    const rampTcp = tcpDelta(tcp0, tcpCounters())
    const clients1 = await pool.usage()
    const rampClientCpu = SocketPool.cpuPercent(clients0, clients1, ramp.wallMs / 1000)
    const connectS = samplesOf(ramp.connectMs).summary()
    console.log(`connected ${fmtInt(ramp.connected)}/${fmtInt(opts.sockets)} in ${round(ramp.wallMs / 1000, 2)} s (${fmtInt(ramp.connected / (ramp.wallMs / 1000))}/s; ${ramp.failures} failures${ramp.failures ? ` ${JSON.stringify(ramp.errors)}` : ''})`)
    printLatency('time to connect, per socket (ms, from opening it to its connection_established)', [['connect', connectS]])
    if (ramp.failures > 0) report.problems.push(`${ramp.failures} sockets failed to connect: ${JSON.stringify(ramp.errors)}`)

    console.log(`\nidle for ${opts.idleS} s …`)
    await sleep(opts.idleS * 1000)
    const idle = server.snapshots()
    const rssBase = sum(base.map((s) => s.rssKb))
    const rssIdle = sum(idle.map((s) => s.rssKb))
    const perSocketKb = ramp.connected > 0 ? (rssIdle - rssBase) / ramp.connected : 0
    const idleUsage = serverUsage(afterRamp, idle)
    const clientsIdle = await pool.usage()
    console.log(`server RSS ${mb(rssBase)} MB before → ${mb(rssIdle)} MB with ${fmtInt(ramp.connected)} idle sockets: ${perSocketKb.toFixed(1)} KB per socket; open files ${sum(idle.map((s) => s.openFiles))}`)
    console.log(`server CPU while idle: ${idleUsage.cpuPercent}% of one core; client processes ${clientsIdle.map((c) => `${c.rssMb} MB`).join(', ')} RSS`)
    printUsage('server during the ramp', serverUsage(base, afterRamp), base)
    console.log(`client processes during the ramp: CPU ${rampClientCpu}% of one core (all together)`)
    printLoopDelay(rampLoop)
    console.log(`TCP (machine-wide) during the ramp: ${JSON.stringify(rampTcp)}`)

    // Reconnect storm: every socket drops, then all reconnect at one instant.
    await pool.reset()
    await pool.disconnect()
    if (staff > 0 && opts.stormRate > 0) creator = await SosCreator.start(server.apiUrls, opts.stormRate)
    const baseFiles = sum(base.map((s) => s.openFiles))
    const drained = await waitFor(async () => sum(server.snapshots().map((s) => s.openFiles)) <= baseFiles + 20, 60_000)
    if (!drained) report.warnings.push('the server still held extra open files 60 s after every client disconnected')
    const stormBefore = server.snapshots()
    await server.loopDelay()
    const clients2 = await pool.usage()
    const tcp1 = tcpCounters()
    const startUs = nowUs() + 300_000
    const storm = await pool.reconnect(startUs, opts.stormTimeoutS * 1000)
    // Keep creating a little past the storm, then give the last broadcasts time to land.
    if (creator) await sleep(2000)
    const created = (await creator?.stop()) ?? []
    const stormAfter = server.snapshots()
    const stormLoop = await server.loopDelay()
    const stormTcp = tcpDelta(tcp1, tcpCounters())
    const stormClientCpu = SocketPool.cpuPercent(clients2, await pool.usage(), (nowUs() - startUs) / 1e6)
    report.profileWindow = { fromUs, toUs: nowUs() }
    const stormS = samplesOf(storm.reconnectMs).summary()
    const allBackMs = storm.missing === 0 ? stormS.max : null
    console.log(`\nreconnect storm: ${fmtInt(storm.reconnectMs.length)} of ${fmtInt(storm.reconnectMs.length + storm.missing)} back${allBackMs !== null ? `, all within ${round(allBackMs / 1000, 2)} s` : `; ${storm.missing} not back within ${opts.stormTimeoutS} s`}`)
    printLatency('time from the storm start until each socket is back (ms)', [['reconnect', stormS]])
    const stormUsage = serverUsage(stormBefore, stormAfter)
    printUsage('server during the storm', stormUsage, stormBefore)
    console.log(`client processes during the storm: CPU ${stormClientCpu}% of one core (all together)`)
    printLoopDelay(stormLoop)
    console.log(`TCP (machine-wide) during the storm: ${JSON.stringify(stormTcp)}`)
    if (stormTcp.ListenOverflows > 0) {
      console.log('  the accept queue of the Socket.IO port overflowed: refused SYNs are retried by the clients after 1, 3, 7, 15, 31 s')
    }
    if (storm.missing > 0) report.problems.push(`${storm.missing} sockets did not reconnect within ${opts.stormTimeoutS} s`)
    const rejoinS = samplesOf(storm.rejoinMs).summary()
    if (staff > 0) {
      printLatency(`staff sockets: time from the storm start until join_sos_channel answered again (ms; ${storm.rejoinFailures} failed)`, [['rejoin', rejoinS]])
      if (storm.rejoinFailures > 0) report.problems.push(`${storm.rejoinFailures} staff sockets could not join sos_channel again`)
    }
    const events = creator ? await deliveries(pool, created, staff) : undefined
    if (events) {
      console.log(`\nevents during the storm: ${events.created} SOS created (${creator!.failures} failed) while the sockets were away and coming back, to ${fmtInt(staff)} staff sockets`)
      console.log(`  ${fmtInt(events.delivered)} of ${fmtInt(events.expected)} (staff socket, SOS) pairs seen: ${fmtInt(events.live)} as new_sos only, ${fmtInt(events.snapshotOnly)} in the snapshot only, ${fmtInt(events.both)} both; ${fmtInt(events.missing)} missing`)
      if (events.missing > 0) report.problems.push(`${events.missing} (staff socket, SOS) pairs were never delivered`)
      if (creator!.failures > 0) report.problems.push(`${creator!.failures} create-sos requests failed during the storm`)
    }

    report.server = serverUsage(base, stormAfter)
    report.results = {
      sockets: opts.sockets,
      receivers: opts.receivers ?? 'client',
      engineRequested: common.engine ?? null,
      engine,
      auth: opts.auth,
      clientProcesses: procs,
      connected: ramp.connected,
      failures: ramp.failures,
      rampS: round(ramp.wallMs / 1000, 2),
      connectMs: connectS,
      rssBaseMb: mb(rssBase),
      rssIdleMb: mb(rssIdle),
      rssPerSocketKb: round(perSocketKb, 1),
      idleCpuPercent: idleUsage.cpuPercent,
      reconnected: storm.reconnectMs.length,
      reconnectMissing: storm.missing,
      allBackMs,
      reconnectMs: stormS,
      stormServerCpuPercent: stormUsage.cpuPercent,
      stormServerHwmMb: stormUsage.hwmMb,
      clientRssMb: clientsIdle.map((c) => c.rssMb),
      rampClientCpuPercent: rampClientCpu,
      rampLoopDelayMs: rampLoop,
      stormLoopDelayMs: stormLoop,
      rampTcp,
      stormTcp,
      stormClientCpuPercent: stormClientCpu,
      staff,
      rejoinMs: staff > 0 ? rejoinS : null,
      rejoinFailures: storm.rejoinFailures,
      stormEvents: events ?? null,
    }
  } finally {
    await creator?.stop()
    await pool?.close()
    await stopServer(server, report)
  }
  return report
}

/** Creates SOS at a steady rate (one request at a time per tick) until stopped; remembers the ids. */
class SosCreator {
  private readonly ids: number[] = []
  failures = 0
  private stopped = false
  private readonly loop: Promise<void>

  private constructor(private readonly http: HttpPool, rate: number) {
    this.loop = this.run(rate)
  }

  static async start(urls: string[], rate: number): Promise<SosCreator> {
    const http = new HttpPool(urls, 4)
    await http.open()
    return new SosCreator(http, rate)
  }

  private async run(rate: number): Promise<void> {
    const gapUs = 1e6 / rate
    let due = nowUs()
    for (let seq = 0; !this.stopped && seq < 100_000; seq++) {
      const res = await this.http.request({ method: 'POST', path: '/api/create-sos/', body: createBody('bench-storm', seq), wantBody: true })
      if (res.status === 201 && res.body) this.ids.push((JSON.parse(res.body) as { sos_id: number }).sos_id)
      else this.failures += 1
      due += gapUs
      const wait = (due - nowUs()) / 1000
      if (wait > 0) await sleep(wait)
    }
  }

  /** Idempotent: the scenario stops it after the storm, and again (harmlessly) on its way out. */
  async stop(): Promise<number[]> {
    if (!this.stopped) {
      this.stopped = true
      await this.loop
      this.http.close()
    }
    return this.ids
  }
}

/** Waits (≤ 20 s) until every staff socket has seen every SOS created during the storm, live or in a snapshot. */
async function deliveries(pool: SocketPool, created: number[], staff: number) {
  const wanted = new Set(created)
  const live = new Set<number>()
  const snap = new Set<number>()
  const sockets = new Set<number>()
  const expected = created.length * staff
  const deadline = Date.now() + 20_000
  for (;;) {
    const { parts } = await pool.collect()
    for (const part of parts) {
      for (let i = 0; i < part.t.length; i++) {
        const id = part.key[i]
        if (!wanted.has(id)) continue
        sockets.add(part.sock[i])
        // One pair per (socket, SOS): SOS ids stay far below 1e7 in a bench database.
        ;(part.code[i] === 0 ? live : snap).add(part.sock[i] * 1e7 + id)
      }
    }
    const delivered = new Set([...live, ...snap]).size
    if (delivered >= expected || Date.now() > deadline) {
      let both = 0
      for (const pair of live) if (snap.has(pair)) both += 1
      return { created: created.length, staffSockets: staff, expected, delivered, missing: expected - delivered, live: live.size - both, snapshotOnly: snap.size - both, both, socketsSeen: sockets.size }
    }
    await sleep(500)
  }
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0)

function samplesOf(values: number[]): Samples {
  const s = new Samples()
  for (const v of values) s.add(v)
  return s
}
