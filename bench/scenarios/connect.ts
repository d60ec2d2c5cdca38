// `connect`: N concurrent sockets (spread over client processes and loopback source addresses): time to
// connect, the server's RSS per idle socket, then a reconnect storm (all disconnect, all reconnect at the
// same instant) and the time until every socket is back.
import { fmtInt, printLatency, printLoopDelay, printUsage, serverUsage, startServer, stopServer, type CommonOptions, type ScenarioReport } from '../lib/common.ts'
import { mb, tcpCounters, tcpDelta } from '../lib/proc.ts'
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
}

export async function runConnect(common: CommonOptions, opts: ConnectOptions): Promise<ScenarioReport> {
  const report: ScenarioReport = { scenario: 'connect', problems: [], warnings: [], results: {} }
  const server = await startServer(common, false)
  let pool: SocketPool | undefined
  try {
    const token = await server.createUser('dispatcher')
    await server.start()
    const procs = Math.max(common.clientProcs, Math.ceil(opts.sockets / opts.perProcess))
    console.log(`connect: ${fmtInt(opts.sockets)} ${opts.auth ? 'authenticated (staff token)' : 'anonymous'} sockets over ${procs} client process(es)${opts.spreadSources ? ` (source addresses 127.0.0.2–127.0.0.${procs + 1})` : ''}, ${opts.connectConcurrency} in flight per process; ${common.workers} server process(es)`)
    await sleep(2000)
    const base = server.snapshots()

    pool = new SocketPool(procs)
    const clients0 = await pool.usage()
    await server.loopDelay()
    const tcp0 = tcpCounters()
    const fromUs = nowUs()
    const ramp = await pool.connect({
      urls: server.socketUrls,
      specs: Array.from({ length: opts.sockets }, () => (opts.auth ? { token } : {})),
      record: [],
      concurrency: opts.connectConcurrency,
      timeoutMs: 30_000,
      reconnection: true,
      spreadSources: opts.spreadSources,
    })
    const afterRamp = server.snapshots()
    const rampLoop = await server.loopDelay()
    const rampTcp = tcpDelta(tcp0, tcpCounters())
    const clients1 = await pool.usage()
    const rampClientCpu = SocketPool.cpuPercent(clients0, clients1, ramp.wallMs / 1000)
    const connectS = samplesOf(ramp.connectMs).summary()
    console.log(`connected ${fmtInt(ramp.connected)}/${fmtInt(opts.sockets)} in ${round(ramp.wallMs / 1000, 2)} s (${fmtInt(ramp.connected / (ramp.wallMs / 1000))}/s; ${ramp.failures} failures${ramp.failures ? ` ${JSON.stringify(ramp.errors)}` : ''})`)
    printLatency('time to connect, per socket (ms, io() → connection_established)', [['connect', connectS]])
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
    await pool.disconnect()
    const baseFiles = sum(base.map((s) => s.openFiles))
    const drained = await waitFor(async () => sum(server.snapshots().map((s) => s.openFiles)) <= baseFiles + 20, 60_000)
    if (!drained) report.warnings.push('the server still held extra open files 60 s after every client disconnected')
    const stormBefore = server.snapshots()
    await server.loopDelay()
    const clients2 = await pool.usage()
    const tcp1 = tcpCounters()
    const startUs = nowUs() + 300_000
    const storm = await pool.reconnect(startUs, opts.stormTimeoutS * 1000)
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

    report.server = serverUsage(base, stormAfter)
    report.results = {
      sockets: opts.sockets,
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
    }
  } finally {
    await pool?.close()
    await stopServer(server, report)
  }
  return report
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0)

function samplesOf(values: number[]): Samples {
  const s = new Samples()
  for (const v of values) s.add(v)
  return s
}
