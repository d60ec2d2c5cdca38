// Entry point: `npm run bench -- <scenario> [options]` (create | fanout | track | connect | workers | limits | smoke | profile).
// Prints a human-readable report, then ONE JSON line (the last line of stdout) for machines.
import { parseArgs } from 'node:util'
import { defaultProfDir, type CommonOptions, type ScenarioReport } from './lib/common.ts'
import { installCleanup, killAll } from './lib/cleanup.ts'
import { formatProfile, summarizeProfile } from './lib/profile.ts'
import { loadAverage, machineInfo } from './lib/proc.ts'
import { ROOT } from './lib/server.ts'
import { runConnect } from './scenarios/connect.ts'
import { runCreate } from './scenarios/create.ts'
import { runFanout } from './scenarios/fanout.ts'
import { runLimits, type Engine } from './scenarios/limits.ts'
import { runTrack, type TrackVia } from './scenarios/track.ts'
import { runWorkers } from './scenarios/workers.ts'

const USAGE = `Usage: npm run bench -- <scenario> [options]

Scenarios (each starts its own server on 127.0.0.1 and stops it at the end):
  create    POST /api/create-sos/ closed loop (autocannon), or open loop with --rate
            --connections 32  --duration 10  --warmup 2  --rate 0 (req/s; 0 = closed loop)
  fanout    S staff sockets in sos_channel, SOS created at R/s, POST → new_sos latency per socket, and
            the server's event-loop time per broadcast
            --sockets 1000  --rate 5  --duration 10  --receivers lean|client (default lean)
  track     K open SOS with SOS-room, unit-room and tracking subscribers; location updates at R/s
            --sos 100  --rate 1000 (0 = closed loop at --connections)  --duration 10  --connections 64
            --receivers client|lean (default client)
            --via http|socket|batch (default http): POST /api/update-location/, an update_location
            emit from one phone socket per SOS, or an offline phone's batch of --batch fixes (default 50)
            per POST /api/sos/{id}/locations/ (--rate then counts batch requests)
  connect   N idle sockets: connect time, RSS per socket, reconnect storm
            --sockets 2000  --idle 10  --auth  --per-process 5000  --storm-timeout 60
            --staff K (K of them are dashboards in sos_channel)  --storm-rate R (SOS/s during the storm)
            --spread-sources (one loopback source address per client process, for > 28,000 sockets)
            --receivers client|lean (default client; lean: raw-WebSocket receivers, far less client CPU)
  workers   create, track and fanout with WORKERS=1 and WORKERS=2, side by side, and the ratios; each
            server start on its own database (needs DATABASE_URL=postgres://… and REDIS_URL)
            --compare 1,2  --scenarios create,track,fanout  --duration 5
            --connections (create 32, track 64)  --sos 100  --sockets 2000  --rate 5 (fanout SOS/s)
  limits    the machine's own limits and ours in one invocation, every figure as a fraction of its limit:
            bare Fastify routes answering what ours answer, bare broadcasts of our new_sos frame (ws and
            uWS without Socket.IO, bare Socket.IO on each engine), then our create, track (closed loop and
            at half the target rate) and fanout; one table of ours, the limit and the ratio
            --engine uws|ws|both (default both)  --sockets 10000  --broadcasts 20  --duration 5  --warmup 2
            --connections (create 32, track 64)  --sos 100  --rate 2 (fanout SOS/s)  --client-procs 2
            --receivers lean|client (default lean)
  smoke     every scenario for a couple of seconds with small numbers; exits non-zero only if one breaks
  profile <file.cpuprofile>   summarize a CPU profile (top self-time functions)

Common options:
  --workers N            server processes sharing the database (socket scenarios need REDIS_URL when N > 1)
  --cluster N            run each server process with WORKERS=N (node:cluster behind one pair of ports;
                         needs DATABASE_URL=postgres://… and REDIS_URL)
  --client-procs N       socket client processes (default 1; connect: enough for --per-process)
  --connect-concurrency  sockets opened at once per client process (default 100)
  --cpu-prof             run the server under node --cpu-prof and summarize the profile at the end
  --prof-dir DIR         where profiles are written (default: a new directory under the temp dir)
  --nofile N             raise the server's open-file limit (ulimit -n) for big socket counts
  --engine uws|ws        REALTIME_ENGINE for the server (default: the server's own); each socket scenario
                         reports the engine its realtime port actually answers with
  --listen-backlog N     EXPERIMENT: run the same app through bench/lib/serve-backlog.ts with this TCP
                         accept backlog (Node's default is 511; the kernel caps it at net.core.somaxconn)

Environment: DATABASE_URL=postgres://… and REDIS_URL=redis://… are passed to the server (default: a
temporary SQLite file, in-memory adapter).`

const LIMITS = { sockets: 60_000, rate: 200_000, duration: 600, connections: 2048, sos: 10_000 }

function viaOf(value: unknown): TrackVia {
  if (value === undefined) return 'http'
  if (value !== 'http' && value !== 'socket' && value !== 'batch') throw new Error('--via must be http, socket or batch')
  return value
}

function num(values: Record<string, unknown>, name: string, fallback: number, max: number, min = 0): number {
  const raw = values[name]
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`--${name} must be a number between ${min} and ${max}`)
  return n
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      connections: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      rate: { type: 'string' },
      sockets: { type: 'string' },
      sos: { type: 'string' },
      idle: { type: 'string' },
      auth: { type: 'boolean', default: false },
      'per-process': { type: 'string' },
      'storm-timeout': { type: 'string' },
      staff: { type: 'string' },
      'storm-rate': { type: 'string' },
      'spread-sources': { type: 'boolean', default: false },
      workers: { type: 'string' },
      cluster: { type: 'string' },
      compare: { type: 'string' },
      scenarios: { type: 'string' },
      'client-procs': { type: 'string' },
      'connect-concurrency': { type: 'string' },
      'cpu-prof': { type: 'boolean', default: false },
      'prof-dir': { type: 'string' },
      nofile: { type: 'string' },
      'listen-backlog': { type: 'string' },
      receivers: { type: 'string' },
      engine: { type: 'string' },
      broadcasts: { type: 'string' },
      via: { type: 'string' },
      batch: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  const scenario = positionals[0]
  if (!scenario || values.help) {
    console.log(USAGE)
    return scenario || values.help ? 0 : 2
  }
  if (scenario === 'profile') {
    if (!positionals[1]) throw new Error('profile needs a .cpuprofile file')
    console.log(formatProfile(summarizeProfile(positionals[1], 30)))
    return 0
  }

  const common: CommonOptions = {
    workers: num(values, 'workers', 1, 8, 1),
    cluster: num(values, 'cluster', 1, 16, 1),
    clientProcs: num(values, 'client-procs', 1, 16, 1),
    cpuProf: values['cpu-prof'] === true,
    profDir: (values['prof-dir'] as string | undefined) ?? defaultProfDir(),
    nofile: values.nofile ? num(values, 'nofile', 0, 1_048_576, 1024) : undefined,
    listenBacklog: values['listen-backlog'] ? num(values, 'listen-backlog', 0, 65_535, 1) : undefined,
    smoke: scenario === 'smoke',
    engine: engineOf(values.engine, scenario === 'limits'),
  }
  const cc = num(values, 'connect-concurrency', 100, 5000, 1)
  const receivers = (fallback: 'lean' | 'client') => {
    const kind = values.receivers ?? fallback
    if (kind !== 'lean' && kind !== 'client') throw new Error('--receivers must be lean or client')
    return kind
  }
  const duration = num(values, 'duration', 10, LIMITS.duration, 1)

  const run = async (): Promise<ScenarioReport[]> => {
    switch (scenario) {
      case 'create':
        return [await runCreate(common, { connections: num(values, 'connections', 32, LIMITS.connections, 1), durationS: duration, warmupS: num(values, 'warmup', 2, 60), rate: num(values, 'rate', 0, LIMITS.rate) })]
      case 'fanout':
        return [await runFanout(common, { sockets: num(values, 'sockets', 1000, LIMITS.sockets, 1), rate: num(values, 'rate', 5, 1000, 0.1), durationS: duration, connectConcurrency: cc, receivers: receivers('lean') })]
      case 'track':
        return [await runTrack(common, { sos: num(values, 'sos', 100, LIMITS.sos, 1), rate: num(values, 'rate', 1000, LIMITS.rate, 0), durationS: duration, connections: num(values, 'connections', 64, LIMITS.connections, 1), connectConcurrency: cc, receivers: receivers('client'), via: viaOf(values.via), batch: num(values, 'batch', 50, 500, 1) })]
      case 'connect':
        return [
          await runConnect(common, {
            sockets: num(values, 'sockets', 2000, LIMITS.sockets, 1),
            connectConcurrency: cc,
            idleS: num(values, 'idle', 10, 300),
            auth: values.auth === true,
            perProcess: num(values, 'per-process', 5000, 15_000, 1),
            stormTimeoutS: num(values, 'storm-timeout', 60, 600, 1),
            spreadSources: values['spread-sources'] === true,
            staff: num(values, 'staff', 0, LIMITS.sockets, 0),
            stormRate: num(values, 'storm-rate', 0, 1000, 0),
            receivers: receivers('client'),
          }),
        ]
      case 'workers': {
        const compare = String(values.compare ?? '1,2').split(',').map((x) => Number(x.trim()))
        if (compare.length < 2 || compare.some((n) => !Number.isInteger(n) || n < 1 || n > 16)) throw new Error('--compare must list at least two WORKERS values between 1 and 16, e.g. 1,2')
        const scenarios = String(values.scenarios ?? 'create,track,fanout').split(',').map((x) => x.trim())
        if (scenarios.some((x) => !['create', 'track', 'fanout'].includes(x))) throw new Error('--scenarios is a list of create, track, fanout')
        const connections = values.connections === undefined ? undefined : num(values, 'connections', 32, LIMITS.connections, 1)
        return runWorkers(common, {
          compare,
          scenarios: scenarios as Array<'create' | 'track' | 'fanout'>,
          durationS: num(values, 'duration', 5, LIMITS.duration, 1),
          createConnections: connections ?? 32,
          trackConnections: connections ?? 64,
          trackSos: num(values, 'sos', 100, LIMITS.sos, 1),
          fanoutSockets: num(values, 'sockets', 2000, LIMITS.sockets, 1),
          fanoutRate: num(values, 'rate', 5, 1000, 0.1),
          connectConcurrency: cc,
          receivers: receivers('lean'),
        })
      }
      case 'limits': {
        const engine = String(values.engine ?? 'both')
        const connections = values.connections === undefined ? undefined : num(values, 'connections', 32, LIMITS.connections, 1)
        // Two socket client processes by default: one per core, as the server's broadcast has to reach them.
        const clientProcs = values['client-procs'] === undefined ? 2 : common.clientProcs
        return runLimits(
          { ...common, clientProcs },
          {
            engines: engine === 'both' ? ['uws', 'ws'] : [engine as Engine],
            sockets: num(values, 'sockets', 10_000, LIMITS.sockets, 1),
            broadcasts: num(values, 'broadcasts', 20, 1000, 1),
            fanoutRate: num(values, 'rate', 2, 100, 0.1),
            durationS: num(values, 'duration', 5, LIMITS.duration, 1),
            warmupS: num(values, 'warmup', 2, 60),
            createConnections: connections ?? 32,
            trackConnections: connections ?? 64,
            trackSos: num(values, 'sos', 100, LIMITS.sos, 1),
            connectConcurrency: cc,
            receivers: receivers('lean'),
          },
        )
      }
      case 'smoke':
        return smoke(common)
      default:
        throw new Error(`unknown scenario "${scenario}"\n\n${USAGE}`)
    }
  }

  // Every run is bounded: the scenario's own length plus generous room for setup, drain and shutdown.
  const sockets = num(values, 'sockets', 2000, LIMITS.sockets, 1)
  const limitMs = scenario === 'limits' ? 30 * 60_000 : scenario === 'smoke' || scenario === 'workers' ? 10 * 60_000 : (300 + duration + num(values, 'warmup', 2, 60) + num(values, 'idle', 10, 300) + sockets / 20) * 1000
  const cancelWatchdog = installCleanup(limitMs)

  const machine = machineInfo(ROOT)
  const loadBefore = loadAverage()
  console.log(`machine: ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGb} GB, node ${machine.node}, SQLite ${machine.sqlite}, commit ${machine.commit}${machine.dirty ? ' + uncommitted changes' : ''}; load average ${loadBefore.join(' ')}\n`)
  const reports = await run()
  cancelWatchdog()
  const loadAfter = loadAverage()
  const problems = reports.flatMap((r) => r.problems.map((p) => `${r.scenario}: ${p}`))
  const warnings = reports.flatMap((r) => r.warnings.map((w) => `${r.scenario}: ${w}`))
  console.log('')
  for (const w of warnings) console.log(`WARNING ${w}`)
  for (const p of problems) console.log(`PROBLEM ${p}`)
  console.log(`load average before ${loadBefore.join(' ')}, after ${loadAfter.join(' ')}`)
  console.log(problems.length === 0 ? `${scenario}: OK` : `${scenario}: FAILED (${problems.length} problem(s))`)
  console.log(
    JSON.stringify({
      bench: 'naarikavach',
      scenario,
      at: new Date().toISOString(),
      argv,
      ok: problems.length === 0,
      machine,
      loadAverage: { before: loadBefore, after: loadAfter },
      database: process.env.DATABASE_URL ? 'postgres' : 'sqlite',
      redis: Boolean(process.env.REDIS_URL),
      workers: common.workers,
      cluster: common.cluster,
      problems,
      warnings,
      reports: reports.map((r) => ({
        scenario: r.scenario,
        results: r.results,
        server: r.server && { cpuPercent: r.server.cpuPercent, userPercent: r.server.userPercent, systemPercent: r.server.systemPercent, rssBeforeMb: r.server.rssBeforeMb, rssAfterMb: r.server.rssAfterMb, hwmMb: r.server.hwmMb },
        loopDelayMs: r.loopDelay,
        profiles: r.profiles?.map((p) => ({ file: p.file, busyMs: p.busyMs, idleMs: p.idleMs, gcMs: p.gcMs, top: p.topFunctions.slice(0, 10) })),
      })),
    }),
  )
  return problems.length === 0 ? 0 : 1
}

/** REALTIME_ENGINE for the server: uws or ws (limits also takes both, its default); unset: the server's default. */
function engineOf(raw: unknown, limits: boolean): 'uws' | 'ws' | undefined {
  if (raw === undefined || (limits && raw === 'both')) return undefined
  if (raw !== 'uws' && raw !== 'ws') throw new Error(`--engine must be uws or ws${limits ? ' or both' : ''}`)
  return raw
}

/** Every scenario, tiny and short; a scenario that throws counts as broken. No timing is judged. */
async function smoke(common: CommonOptions): Promise<ScenarioReport[]> {
  const steps: Array<[string, () => Promise<ScenarioReport | ScenarioReport[]>]> = [
    ['create', () => runCreate(common, { connections: 4, durationS: 2, warmupS: 0, rate: 0 })],
    ['create (open loop)', () => runCreate(common, { connections: 4, durationS: 2, warmupS: 0, rate: 50 })],
    // fanout with lean receivers runs inside limits below; here with socket.io-client receivers.
    ['fanout', () => runFanout(common, { sockets: 20, rate: 5, durationS: 1, connectConcurrency: 10, receivers: 'client' })],
    ['track', () => runTrack(common, { sos: 4, rate: 100, durationS: 2, connections: 8, connectConcurrency: 10 })],
    ['track --via socket', () => runTrack(common, { sos: 4, rate: 100, durationS: 2, connections: 8, connectConcurrency: 10, via: 'socket' })],
    ['track --via batch', () => runTrack(common, { sos: 4, rate: 20, durationS: 2, connections: 8, connectConcurrency: 10, via: 'batch', batch: 10 })],
    ['connect', () => runConnect({ ...common, clientProcs: 2 }, { sockets: 40, connectConcurrency: 10, idleS: 1, auth: true, perProcess: 20, stormTimeoutS: 30, spreadSources: true, staff: 10, stormRate: 20 })],
    ['connect (lean receivers)', () => runConnect({ ...common, clientProcs: 2 }, { sockets: 40, connectConcurrency: 10, idleS: 1, auth: true, perProcess: 20, stormTimeoutS: 30, spreadSources: false, staff: 10, stormRate: 20, receivers: 'lean' })],
    [
      'limits',
      () =>
        runLimits(
          { ...common, clientProcs: 2 },
          { engines: ['uws'], sockets: 20, broadcasts: 3, fanoutRate: 5, durationS: 1, warmupS: 0, createConnections: 4, trackConnections: 8, trackSos: 4, connectConcurrency: 10, receivers: 'lean' },
        ),
    ],
  ]
  const reports: ScenarioReport[] = []
  for (const [name, step] of steps) {
    console.log(`\n=== smoke: ${name} ===`)
    try {
      reports.push(...[await step()].flat())
    } catch (err) {
      console.log(`${name} threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
      reports.push({ scenario: name, problems: [`threw: ${err instanceof Error ? err.message : String(err)}`], warnings: [], results: {} })
    }
  }
  return reports
}

main(process.argv.slice(2)).then(
  (code) => {
    killAll()
    process.exit(code)
  },
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err)
    killAll()
    process.exit(2)
  },
)
