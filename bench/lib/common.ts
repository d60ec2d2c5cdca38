// What every scenario shares: its options, starting and stopping its own server, the report it returns.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { formatProfile, summarizeProfile, type ProfileSummary } from './profile.ts'
import { BenchServer, serverUsage, type LoopDelay, type ServerUsage } from './server.ts'
import type { ProcSnapshot } from './proc.ts'
import { fmtInt, latencyTable, type Summary } from './stats.ts'

export interface CommonOptions {
  /** Server processes (>1 shares the database; socket scenarios then need REDIS_URL). */
  workers: number
  /** WORKERS for each server process (node:cluster behind one pair of ports; > 1 needs PostgreSQL and Redis). */
  cluster: number
  /** Each server start gets its own PostgreSQL database (created on DATABASE_URL's server, dropped after). */
  freshDatabase?: boolean
  /** Socket client processes. */
  clientProcs: number
  cpuProf: boolean
  profDir: string
  nofile?: number
  /** Smoke mode: tiny numbers, no timing judgement. */
  smoke: boolean
  /** EXPERIMENT: the same app with this TCP accept backlog (bench/lib/serve-backlog.ts). */
  listenBacklog?: number
  /** REALTIME_ENGINE for the server (unset: the server's own default). */
  engine?: 'uws' | 'ws'
}

export interface ScenarioReport {
  scenario: string
  /** Things that mean the scenario broke (errors, nothing delivered); the process exits non-zero. */
  problems: string[]
  warnings: string[]
  results: Record<string, unknown>
  server?: ServerUsage
  /** The server's event-loop delay over the measured phase (from its /metrics). */
  loopDelay?: LoopDelay | null
  profiles?: ProfileSummary[]
  /** The measured phase (µs, monotonic); a CPU profile is summarized over this window only. */
  profileWindow?: { fromUs: number; toUs: number }
}

export function defaultProfDir(): string {
  return path.join(os.tmpdir(), `naarikavach-bench-prof-${new Date().toISOString().replace(/[:.]/g, '-')}`)
}

let serverStarts = 0

/** Starts the scenario's own server(s); refuses a multi-process run whose socket events could not cross processes. */
export async function startServer(common: CommonOptions, needsFanout: boolean, env: Record<string, string> = {}): Promise<BenchServer> {
  if (common.workers > 1 && needsFanout && !process.env.REDIS_URL) {
    throw new Error('--workers > 1 needs REDIS_URL for this scenario: without the Redis adapter an event reaches only the sockets of the process that produced it')
  }
  if (common.cluster > 1 && (!/^postgres(ql)?:\/\//.test(process.env.DATABASE_URL ?? '') || !process.env.REDIS_URL)) {
    throw new Error('--cluster > 1 (WORKERS) needs DATABASE_URL=postgres://… and REDIS_URL=redis://…, as the server does')
  }
  // One directory per server start, so a smoke run's scenarios do not mix their profiles.
  const profDir = path.join(common.profDir, `run-${++serverStarts}`)
  if (common.cpuProf) fs.mkdirSync(profDir, { recursive: true })
  if (common.listenBacklog) console.log(`EXPERIMENT: the server is bench/lib/serve-backlog.ts (the same app) with listen backlog ${common.listenBacklog}, not \`naarikavach serve\``)
  const server = new BenchServer({ workers: common.workers, cluster: common.cluster, freshDatabase: common.freshDatabase, cpuProf: common.cpuProf, profDir, nofile: common.nofile, listenBacklog: common.listenBacklog, env: { ...(common.engine ? { REALTIME_ENGINE: common.engine } : {}), ...env } })
  await server.init()
  return server
}

/** Stops the server(s) and, with --cpu-prof, summarizes the profiles they wrote. */
export async function stopServer(server: BenchServer, report: ScenarioReport): Promise<void> {
  const dead = server.dead()
  if (dead.length > 0) report.problems.push(...dead.map((d) => `server died: ${d}`))
  const profiles = await server.stop()
  if (profiles.length > 0) {
    report.profiles = profiles.map((file) => summarizeProfile(file, 25, report.profileWindow))
    for (const p of report.profiles) console.log(`\n${formatProfile(p)}`)
  }
  const warnings = server.warnings()
  if (warnings) console.log(`\nserver stderr (last lines):\n${warnings.split('\n').slice(-10).join('\n')}`)
}

export function printUsage(label: string, usage: ServerUsage, before: ProcSnapshot[]): void {
  const first = usage.processes[0]
  const fds = before.map((b) => b.openFiles).join('+')
  console.log(
    `${label}: CPU ${usage.cpuPercent}% of one core (user ${usage.userPercent}%, system ${usage.systemPercent}%) over ${first?.wallSeconds ?? 0} s; ` +
      `RSS ${usage.rssBeforeMb} → ${usage.rssAfterMb} MB (peak ${usage.hwmMb} MB); open files ${fds} → ${usage.processes.map((p) => p.openFilesAfter).join('+')}`,
  )
}

export function printLoopDelay(loop: LoopDelay | null): void {
  if (loop) console.log(`server event-loop delay (beyond its 10 ms sampling timer): p50 ${loop.p50} ms, p99 ${loop.p99} ms, max ${loop.max} ms`)
}

export function printLatency(title: string, rows: Array<[string, Summary]>): void {
  console.log(`\n${title}`)
  console.log(latencyTable(rows))
}

export const perSecond = (n: number, seconds: number) => (seconds > 0 ? Math.round(n / seconds) : 0)

export { fmtInt, serverUsage }

/** A body for POST /api/create-sos/ whose name identifies this run (so stored rows can be counted). */
export function createBody(name: string, i = 0): string {
  return JSON.stringify({ name, sos_type: i % 2, initial_latitude: 12.97 + (i % 1000) / 1e4, initial_longitude: 77.59 })
}

/** The sequence number of a location update travels in its latitude, [0, 80), recovered as round(lat × 1e5). */
export const MAX_SEQ = 7_999_999
export const latitudeOf = (seq: number) => (seq % 8_000_000) / 1e5

/** "1 server process(es)", or with --cluster "1 server process(es) × WORKERS=2", and the engine asked for. */
export const serverNote = (common: CommonOptions) => `${common.workers} server process(es)${common.cluster > 1 ? ` × WORKERS=${common.cluster}` : ''}${common.engine ? `, REALTIME_ENGINE=${common.engine}` : ''}`
