// Reads a process's CPU time, memory and open files from /proc (Linux), and the machine's description.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

/** Clock ticks per second for /proc/<pid>/stat (USER_HZ); 100 on every mainstream Linux. */
const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()

export interface ProcSnapshot {
  pid: number
  /** When the snapshot was taken (ms, monotonic). */
  atMs: number
  /** User + system CPU seconds since the process started. */
  cpuSeconds: number
  userSeconds: number
  systemSeconds: number
  rssKb: number
  /** Peak RSS since start (VmHWM). */
  hwmKb: number
  threads: number
  openFiles: number
}

export function snapshot(pid: number): ProcSnapshot | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const utime = Number(fields[11])
    const stime = Number(fields[12])
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0)
    let openFiles = 0
    try {
      openFiles = fs.readdirSync(`/proc/${pid}/fd`).length
    } catch {
      openFiles = -1
    }
    return {
      pid,
      atMs: performance.now(),
      cpuSeconds: (utime + stime) / CLK_TCK,
      userSeconds: utime / CLK_TCK,
      systemSeconds: stime / CLK_TCK,
      rssKb: kb('VmRSS'),
      hwmKb: kb('VmHWM'),
      threads: kb('Threads'),
      openFiles,
    }
  } catch {
    return null
  }
}

export interface ProcDelta {
  pid: number
  wallSeconds: number
  cpuSeconds: number
  /** CPU use over the interval, in percent of one core (200% = both cores of a 2-core machine). */
  cpuPercent: number
  userPercent: number
  systemPercent: number
  rssBeforeMb: number
  rssAfterMb: number
  hwmMb: number
  openFilesAfter: number
}

export function delta(before: ProcSnapshot, after: ProcSnapshot): ProcDelta {
  const wall = (after.atMs - before.atMs) / 1000
  const pct = (seconds: number) => (wall > 0 ? Math.round((seconds / wall) * 1000) / 10 : 0)
  return {
    pid: after.pid,
    wallSeconds: Math.round(wall * 100) / 100,
    cpuSeconds: Math.round((after.cpuSeconds - before.cpuSeconds) * 100) / 100,
    cpuPercent: pct(after.cpuSeconds - before.cpuSeconds),
    userPercent: pct(after.userSeconds - before.userSeconds),
    systemPercent: pct(after.systemSeconds - before.systemSeconds),
    rssBeforeMb: mb(before.rssKb),
    rssAfterMb: mb(after.rssKb),
    hwmMb: mb(after.hwmKb),
    openFilesAfter: after.openFiles,
  }
}

export const mb = (kb: number) => Math.round((kb / 1024) * 10) / 10

export function loadAverage(): [number, number, number] {
  const [a, b, c] = os.loadavg()
  return [round2(a), round2(b), round2(c)]
}

const round2 = (x: number) => Math.round(x * 100) / 100

export interface MachineInfo {
  cpus: number
  cpuModel: string
  memoryGb: number
  kernel: string
  node: string
  sqlite: string
  commit: string
  dirty: boolean
  fdLimit: string
}

/** What BENCHMARKS.md records about the machine (best effort; every field has a fallback). */
export function machineInfo(root: string): MachineInfo {
  const tryRun = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    } catch {
      return ''
    }
  }
  let sqlite = ''
  try {
    sqlite = execFileSync(process.execPath, ['-e', "const D=require('better-sqlite3');process.stdout.write(new D(':memory:').prepare('select sqlite_version() v').get().v)"], {
      cwd: root,
      encoding: 'utf8',
    })
  } catch {
    sqlite = 'unknown'
  }
  const cpuModel = /^model name\s*:\s*(.+)$/m.exec(readOr('/proc/cpuinfo'))?.[1] ?? os.cpus()[0]?.model ?? 'unknown'
  return {
    cpus: os.availableParallelism(),
    cpuModel,
    memoryGb: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    kernel: os.release(),
    node: process.version,
    sqlite,
    commit: tryRun('git', ['rev-parse', '--short', 'HEAD']) || 'unknown',
    dirty: tryRun('git', ['status', '--porcelain', '--', 'src', 'bin', 'package.json']) !== '',
    fdLimit: tryRun('sh', ['-c', 'ulimit -n']) || 'unknown',
  }
}

function readOr(file: string): string {
  try {
    return fs.readFileSync(path.resolve(file), 'utf8')
  } catch {
    return ''
  }
}

const TCP_COUNTERS = ['ListenOverflows', 'ListenDrops', 'SyncookiesSent', 'TCPReqQFullDoCookies', 'TCPSynRetrans', 'TCPTimeouts'] as const
export type TcpCounters = Record<(typeof TCP_COUNTERS)[number], number>

/**
 * Machine-wide TCP counters from /proc/net/netstat (TcpExt): a full accept queue shows as ListenOverflows /
 * ListenDrops, and the clients' answer to it as SYN retransmissions (after 1, 3, 7, 15, 31 s). Machine-wide,
 * so another program's traffic counts too; on a quiet machine the deltas are the bench's.
 */
export function tcpCounters(): TcpCounters {
  const out = Object.fromEntries(TCP_COUNTERS.map((k) => [k, 0])) as TcpCounters
  const lines = readOr('/proc/net/netstat').split('\n').filter((l) => l.startsWith('TcpExt:'))
  if (lines.length < 2) return out
  const names = lines[0].split(/\s+/)
  const values = lines[1].split(/\s+/)
  for (const k of TCP_COUNTERS) {
    const i = names.indexOf(k)
    if (i > 0) out[k] = Number(values[i])
  }
  return out
}

export function tcpDelta(before: TcpCounters, after: TcpCounters): TcpCounters {
  return Object.fromEntries(Object.keys(before).map((k) => [k, after[k as keyof TcpCounters] - before[k as keyof TcpCounters]])) as TcpCounters
}

/** CPU seconds (user + system) used so far by each live process whose command name is one of `names`: name → pid → seconds. */
export function cpuSecondsByName(names: string[]): Record<string, Map<number, number>> {
  const out: Record<string, Map<number, number>> = Object.fromEntries(names.map((n) => [n, new Map<number, number>()]))
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8')
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
      if (!(name in out)) continue
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      out[name].set(Number(entry), (Number(fields[11]) + Number(fields[12])) / CLK_TCK)
    } catch {
      // gone meanwhile
    }
  }
  return out
}

/**
 * CPU seconds `name`'s processes used between two cpuSecondsByName() samples: each process alive at the
 * end counts from the first sample (or from its start, if it started in between). Processes that ended
 * in between are not counted (their last seconds are unknown), so this can only undercount.
 */
export function cpuSecondsBetween(first: Record<string, Map<number, number>>, last: Record<string, Map<number, number>>, name: string): number {
  let seconds = 0
  for (const [pid, s] of last[name] ?? []) seconds += s - (first[name]?.get(pid) ?? 0)
  return seconds
}

/** Busy and total CPU seconds of the whole machine so far (all CPUs, from /proc/stat). */
export function machineCpuSeconds(): { busy: number; total: number } {
  const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
  const total = fields.reduce((a, b) => a + b, 0)
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0)
  return { busy: (total - idle) / CLK_TCK, total: total / CLK_TCK }
}
