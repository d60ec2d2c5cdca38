// `workers`: the same scenarios with WORKERS=1 and WORKERS=2 (node:cluster behind one pair of ports),
// side by side in one run, each server start on a database of its own, and the ratio of every headline
// figure. Needs DATABASE_URL=postgres://… and REDIS_URL=redis://… (WORKERS > 1 does; WORKERS=1 uses them too,
// so the worker count is the only difference).
import os from 'node:os'
import type { CommonOptions, ScenarioReport } from '../lib/common.ts'
import { cpuSecondsBetween, cpuSecondsByName, machineCpuSeconds } from '../lib/proc.ts'
import { nowUs, round, sleep } from '../lib/stats.ts'
import { runCreate } from './create.ts'
import { runFanout } from './fanout.ts'
import { runTrack } from './track.ts'

export interface WorkersOptions {
  /** WORKERS values to compare, in the order they run, e.g. [1, 2]. */
  compare: number[]
  scenarios: Array<'create' | 'track' | 'fanout'>
  durationS: number
  /** create: closed-loop connections; track: closed-loop connections. */
  createConnections: number
  trackConnections: number
  trackSos: number
  fanoutSockets: number
  fanoutRate: number
  connectConcurrency: number
  receivers: 'lean' | 'client'
}

type Figure = [label: string, pick: (r: ScenarioReport) => number | undefined, better: 'higher' | 'lower']

const at = (obj: unknown, path: string): number | undefined => {
  let v: unknown = obj
  for (const k of path.split('.')) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[k] : undefined
  return typeof v === 'number' ? v : undefined
}
const cpu = (r: ScenarioReport) => r.server?.cpuPercent
const split = (key: string) => (r: ScenarioReport) => at(r.results, `machineCpu.${key}`)
const CPU_FIGURES: Figure[] = [
  ['server CPU % (all processes)', cpu, 'lower'],
  ['PostgreSQL CPU %', split('postgres'), 'lower'],
  ['Redis CPU %', split('redis'), 'lower'],
  ['machine busy % (of 200)', split('machine'), 'lower'],
]

const FIGURES: Record<WorkersOptions['scenarios'][number], Figure[]> = {
  create: [
    ['created/s', (r) => at(r.results, 'throughputPerS'), 'higher'],
    ['p50 ms', (r) => at(r.results, 'latencyMs.p50'), 'lower'],
    ['p99 ms', (r) => at(r.results, 'latencyMs.p99'), 'lower'],
    ...CPU_FIGURES,
  ],
  track: [
    ['accepted/s', (r) => at(r.results, 'acceptedPerS'), 'higher'],
    ['HTTP p99 ms', (r) => at(r.results, 'httpLatencyMs.p99'), 'lower'],
    ['SOS room p99 ms', (r) => at(r.results, 'sosRoomLatencyMs.p99'), 'lower'],
    ['tracking channel p99 ms', (r) => at(r.results, 'trackingLatencyMs.p99'), 'lower'],
    ['min delivery ratio', (r) => Math.min(...((r.results.deliveryRatio as number[] | undefined) ?? [0])), 'higher'],
    ...CPU_FIGURES,
  ],
  fanout: [
    ['last socket p50 ms', (r) => at(r.results, 'lastSocketPerSosMs.p50'), 'lower'],
    ['last socket p99 ms', (r) => at(r.results, 'lastSocketPerSosMs.p99'), 'lower'],
    ['each socket p99 ms', (r) => at(r.results, 'fanoutLatencyMs.p99'), 'lower'],
    ['create answer p50 ms', (r) => at(r.results, 'httpLatencyMs.p50'), 'lower'],
    ['delivery ratio', (r) => at(r.results, 'deliveryRatio'), 'higher'],
    ...CPU_FIGURES,
  ],
}

interface CpuSample {
  atUs: number
  machine: { busy: number; total: number }
  services: ReturnType<typeof cpuSecondsByName>
}

/**
 * Samples the whole machine's CPU and that of PostgreSQL and Redis (all on these same cores) every 200 ms,
 * so the measured phase of a run can be split into: the server, the database, Redis, and the rest (the
 * load generator, the socket clients, and anything else running on the machine).
 */
function cpuSampler(): { stop(): CpuSample[] } {
  const samples: CpuSample[] = []
  const take = () => samples.push({ atUs: nowUs(), machine: machineCpuSeconds(), services: cpuSecondsByName(['postgres', 'redis-server']) })
  take()
  const timer = setInterval(take, 200)
  return {
    stop() {
      clearInterval(timer)
      take()
      return samples
    },
  }
}

/** % of one core over the run's measured phase: the machine (all cores), PostgreSQL, Redis, and what is left beside the server. */
function cpuSplit(samples: CpuSample[], report: ScenarioReport): Record<string, number> | undefined {
  const window = report.profileWindow
  if (!window) return undefined
  const first = samples.find((s) => s.atUs >= window.fromUs)
  const last = [...samples].reverse().find((s) => s.atUs <= window.toUs)
  if (!first || !last || last.atUs - first.atUs < 500_000) return undefined
  const wall = (last.atUs - first.atUs) / 1e6
  const pct = (seconds: number) => round((seconds / wall) * 100, 1)
  const machine = pct(last.machine.busy - first.machine.busy)
  const postgres = pct(cpuSecondsBetween(first.services, last.services, 'postgres'))
  const redis = pct(cpuSecondsBetween(first.services, last.services, 'redis-server'))
  const server = report.server?.cpuPercent ?? 0
  return { machine, of: os.availableParallelism() * 100, server, postgres, redis, rest: round(machine - server - postgres - redis, 1) }
}

export async function runWorkers(common: CommonOptions, opts: WorkersOptions): Promise<ScenarioReport[]> {
  if (!/^postgres(ql)?:\/\//.test(process.env.DATABASE_URL ?? '') || !process.env.REDIS_URL) {
    throw new Error('workers needs DATABASE_URL=postgres://… (each run creates and drops its own database on that server) and REDIS_URL=redis://…')
  }
  const reports: ScenarioReport[] = []
  const table: Array<{ scenario: string; figure: string; values: Array<number | null>; ratio: number | null }> = []
  for (const scenario of opts.scenarios) {
    const runs: ScenarioReport[] = []
    for (const n of opts.compare) {
      console.log(`\n=== workers: ${scenario} with WORKERS=${n} ===`)
      const c: CommonOptions = { ...common, workers: 1, cluster: n, freshDatabase: true }
      const sampler = cpuSampler()
      const report =
        scenario === 'create'
          ? await runCreate(c, { connections: opts.createConnections, durationS: opts.durationS, warmupS: 1, rate: 0 })
          : scenario === 'track'
            ? await runTrack(c, { sos: opts.trackSos, rate: 0, durationS: opts.durationS, connections: opts.trackConnections, connectConcurrency: opts.connectConcurrency })
            : await runFanout(c, { sockets: opts.fanoutSockets, rate: opts.fanoutRate, durationS: opts.durationS, connectConcurrency: opts.connectConcurrency, receivers: opts.receivers })
      const split = cpuSplit(sampler.stop(), report)
      if (split) {
        report.results.machineCpu = split
        console.log(`machine CPU over the measured phase: ${split.machine}% of ${split.of}% — server ${split.server}%, PostgreSQL ${split.postgres}%, Redis ${split.redis}%, the rest (load generator, clients, others) ${split.rest}%`)
      }
      report.scenario = `${scenario} (WORKERS=${n})`
      runs.push(report)
      reports.push(report)
      await sleep(2000) // let the previous server's exit and the database drop settle
    }
    for (const [figure, pick] of FIGURES[scenario]) {
      const values = runs.map((r) => pick(r) ?? null)
      // Largest WORKERS over smallest, whatever the order they ran in (--compare 2,1 runs 2 first).
      const base = values[opts.compare.indexOf(Math.min(...opts.compare))]
      const top = values[opts.compare.indexOf(Math.max(...opts.compare))]
      table.push({ scenario, figure, values, ratio: base && top !== null ? round(top / base, 2) : null })
    }
  }

  const header = ['scenario', 'figure', ...opts.compare.map((n) => `WORKERS=${n}`), `ratio ${Math.max(...opts.compare)}/${Math.min(...opts.compare)}`]
  const rows = table.map((row) => [row.scenario, row.figure, ...row.values.map((v) => (v === null ? '–' : String(round(v, 1)))), row.ratio === null ? '–' : `×${row.ratio}`])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
  console.log('\nside by side (one run each, this machine, same commit):')
  for (const row of [header, widths.map((w) => '-'.repeat(w)), ...rows]) console.log(row.map((cell, i) => cell.padEnd(widths[i])).join('  '))
  reports.push({ scenario: 'workers', problems: [], warnings: [], results: { compare: opts.compare, durationS: opts.durationS, table } })
  return reports
}
