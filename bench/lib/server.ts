// Starts the bench's own server process(es): `node bin/naarikavach.js serve` on free loopback ports with a
// temporary SQLite file (or the caller's DATABASE_URL / REDIS_URL), and stops exactly those processes.
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'
import pg from 'pg'
import { stopChild, track, trackDir, untrack } from './cleanup.ts'
import { delta, snapshot, type ProcDelta, type ProcSnapshot } from './proc.ts'
import { sleep } from './stats.ts'

const execFileAsync = promisify(execFile)
export const ROOT = path.resolve(import.meta.dirname, '../..')
const BIN = path.join(ROOT, 'bin', 'naarikavach.js')

export interface ServerOptions {
  /** Server processes sharing one database (and Redis, if REDIS_URL is set). */
  workers: number
  /** WORKERS for each server process: node:cluster workers behind its one pair of ports (1 = no cluster). */
  cluster: number
  /** Run on a database of its own, created on DATABASE_URL's PostgreSQL server and dropped at stop. */
  freshDatabase?: boolean
  /** Run each server under `node --cpu-prof`; profiles land in `profDir`. */
  cpuProf: boolean
  profDir: string
  /** Raise the server's open-file limit (needs the privilege to do so). */
  nofile?: number
  /** Extra environment for the server (overrides the bench defaults). */
  env?: Record<string, string>
  /** EXPERIMENT: run bench/lib/serve-backlog.ts (the same app, this TCP accept backlog) instead of `serve`. */
  listenBacklog?: number
}

interface Proc {
  child: ChildProcess
  apiUrl: string
  socketUrl: string
  stderrTail: string[]
}

async function freePort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const { port } = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** True when something accepts TCP connections at the URL's port (the Socket.IO port opens after the API's). */
function accepts(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname)
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

/** The PIDs whose parent is `pid` (a cluster primary's workers), from /proc. */
function childrenOf(pid: number): number[] {
  const out: number[] = []
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === pid) out.push(Number(entry))
    } catch {
      // gone meanwhile
    }
  }
  return out
}

export class BenchServer {
  readonly dir: string
  readonly env: Record<string, string>
  databaseUrl: string
  readonly dialect: 'sqlite' | 'postgres'
  private procs: Proc[] = []
  private ownDatabase: { adminUrl: string; name: string } | undefined

  constructor(private readonly opts: ServerOptions) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'naarikavach-bench-'))
    trackDir(this.dir)
    // The user's DATABASE_URL / REDIS_URL pass through, so PostgreSQL + Redis can be measured too.
    this.databaseUrl = process.env.DATABASE_URL || `sqlite:${path.join(this.dir, 'bench.sqlite3')}`
    this.dialect = /^postgres(ql)?:\/\//.test(this.databaseUrl) ? 'postgres' : 'sqlite'
    const redis: Record<string, string> = process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL, REDIS_PREFIX: `nkbench-${crypto.randomBytes(4).toString('hex')}` } : {}
    this.env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? os.tmpdir(),
      TMPDIR: process.env.TMPDIR ?? os.tmpdir(),
      DATABASE_URL: this.databaseUrl,
      MEDIA_ROOT: path.join(this.dir, 'media'),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      SOS_CREATE_RATE_LIMIT_PER_MINUTE: '1000000',
      LOGIN_RATE_LIMIT_PER_MINUTE: '1000000',
      PASSWORD_HASH_COST: '10',
      ...redis,
      ...(opts.cluster > 1 ? { WORKERS: String(opts.cluster) } : {}),
      ...opts.env,
    }
  }

  /** With `freshDatabase` on PostgreSQL: creates this run's own database (so runs compared side by side start equal). */
  async init(): Promise<void> {
    if (!this.opts.freshDatabase || this.dialect !== 'postgres') return
    const admin = new URL(this.databaseUrl)
    admin.pathname = '/postgres'
    const name = `nkbench_${crypto.randomBytes(5).toString('hex')}`
    const client = new pg.Client({ connectionString: admin.toString() })
    await client.connect()
    try {
      await client.query(`CREATE DATABASE ${name}`)
    } finally {
      await client.end()
    }
    this.ownDatabase = { adminUrl: admin.toString(), name }
    const url = new URL(this.databaseUrl)
    url.pathname = `/${name}`
    this.databaseUrl = url.toString()
    this.env.DATABASE_URL = this.databaseUrl
  }

  private async dropOwnDatabase(): Promise<void> {
    if (!this.ownDatabase) return
    const client = new pg.Client({ connectionString: this.ownDatabase.adminUrl })
    try {
      await client.connect()
      await client.query(`DROP DATABASE IF EXISTS ${this.ownDatabase.name} WITH (FORCE)`)
    } catch (err) {
      console.warn(`could not drop this run's database ${this.ownDatabase.name}: ${(err as Error).message}`)
    } finally {
      await client.end().catch(() => undefined)
    }
    this.ownDatabase = undefined
  }

  get apiUrls(): string[] {
    return this.procs.map((p) => p.apiUrl)
  }

  get socketUrls(): string[] {
    return this.procs.map((p) => p.socketUrl)
  }

  get pids(): number[] {
    return this.procs.map((p) => p.child.pid ?? -1)
  }

  /** Runs the CLI's create-user (which also migrates) and returns the API token it prints last. */
  async createUser(role: string, unitNumber?: string): Promise<string> {
    const username = `bench_${role}_${crypto.randomBytes(5).toString('hex')}`
    const args = [BIN, 'create-user', '--username', username, '--password', `Bench-${crypto.randomBytes(9).toString('hex')}`, '--role', role, '--token']
    if (unitNumber) args.push('--unit-number', unitNumber)
    const { stdout } = await execFileAsync(process.execPath, args, { cwd: ROOT, env: this.env, timeout: 60_000 })
    const token = stdout.trim().split('\n').pop()?.trim()
    if (!token) throw new Error(`create-user printed no token: ${stdout}`)
    return token
  }

  async start(): Promise<void> {
    for (let i = 0; i < this.opts.workers; i++) this.procs.push(await this.startOne())
    await Promise.all(this.procs.map((p) => this.waitReady(p)))
    console.log(`server pid ${this.pids.join(', ')}: API ${this.apiUrls.join(', ')}, Socket.IO ${this.socketUrls.join(', ')}`)
  }

  private async startOne(): Promise<Proc> {
    const port = await freePort()
    const socketPort = await freePort()
    const nodeArgs = this.opts.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${this.opts.profDir}`] : []
    const argv = this.opts.listenBacklog
      ? [process.execPath, ...nodeArgs, '--import', 'tsx', path.join(ROOT, 'bench', 'lib', 'serve-backlog.ts')]
      : [process.execPath, ...nodeArgs, BIN, 'serve']
    // `exec` keeps the PID, so the PID we read /proc for and signal is the server's own.
    const [cmd, args] = this.opts.nofile ? ['sh', ['-c', `ulimit -n ${this.opts.nofile} && exec "$@"`, 'sh', ...argv]] : [argv[0], argv.slice(1)]
    const child = spawn(cmd, args, {
      cwd: ROOT,
      env: { ...this.env, PORT: String(port), SOCKET_PORT: String(socketPort), ...(this.opts.listenBacklog ? { BENCH_LISTEN_BACKLOG: String(this.opts.listenBacklog) } : {}) },
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    track(child)
    const proc: Proc = { child, apiUrl: `http://127.0.0.1:${port}`, socketUrl: `http://127.0.0.1:${socketPort}`, stderrTail: [] }
    child.stderr?.setEncoding('utf8')
    child.stderr?.on('data', (chunk: string) => {
      proc.stderrTail.push(chunk)
      if (proc.stderrTail.length > 50) proc.stderrTail.shift()
    })
    child.on('exit', () => untrack(child))
    return proc
  }

  private async waitReady(p: Proc): Promise<void> {
    const deadline = Date.now() + 60_000
    while (Date.now() < deadline) {
      if (p.child.exitCode !== null) throw new Error(`server exited with code ${p.child.exitCode} during start:\n${p.stderrTail.join('')}`)
      const ok = await fetch(`${p.apiUrl}/ready`).then(
        (r) => r.ok,
        () => false,
      )
      if (ok) {
        if (await accepts(p.socketUrl)) return
      }
      await sleep(100)
    }
    throw new Error('server did not become ready within 60 s')
  }

  /** Server processes that died (a crash during a run is a failed run). */
  dead(): string[] {
    return this.procs.filter((p) => p.child.exitCode !== null || p.child.signalCode !== null).map((p) => `pid ${p.child.pid} exited (${p.child.exitCode ?? p.child.signalCode}): ${p.stderrTail.join('').slice(-2000)}`)
  }

  warnings(): string {
    return this.procs.map((p) => p.stderrTail.join('')).join('').trim()
  }

  /**
   * The server's event-loop delay since the previous call, from its /metrics (prom-client resets the
   * perf_hooks histogram on every scrape, so call once at the start of a phase and once at its end).
   * The histogram samples with a 10 ms timer and records whole intervals, so 10 ms is subtracted.
   * Null when the server has no such metrics.
   */
  async loopDelay(): Promise<LoopDelay | null> {
    return (await this.scrape()).loopDelay
  }

  /**
   * One /metrics scrape of every server process: the texts (for other metrics) and the event-loop delay
   * since the previous scrape. Every scrape resets that delay histogram: a scenario that needs both
   * takes them from the same scrape.
   */
  async scrape(): Promise<{ texts: string[]; loopDelay: LoopDelay | null }> {
    const texts = await Promise.all(
      this.procs.map((p) =>
        fetch(`${p.apiUrl}/metrics`).then(
          (r) => (r.ok ? r.text() : ''),
          () => '',
        ),
      ),
    )
    // /metrics answers from whichever cluster worker takes the connection: no figure for the process.
    if (this.opts.cluster > 1) return { texts, loopDelay: null }
    const all = texts.map((text) => {
      const get = (name: string) => {
        const m = new RegExp(`^\\w*nodejs_eventloop_lag_${name}_seconds(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text)
        return m ? Math.max(0, Number(m[1]) * 1000 - 10) : null
      }
      const p50 = get('p50')
      const p99 = get('p99')
      const max = get('max')
      return p50 === null || p99 === null || max === null ? null : { p50, p99, max }
    })
    if (all.some((x) => x === null)) return { texts, loopDelay: null }
    const ok = all as LoopDelay[]
    const r = (x: number) => Math.round(x * 10) / 10
    return { texts, loopDelay: { p50: r(Math.max(...ok.map((x) => x.p50))), p99: r(Math.max(...ok.map((x) => x.p99))), max: r(Math.max(...ok.map((x) => x.max))) } }
  }

  /**
   * Which engine serves the realtime port, seen from outside: uWebSockets.js marks every HTTP answer with
   * a `uWebSockets` header, Node's http server does not. A server that names its engine in /metrics
   * (a label `engine="…"` on a realtime metric) is believed first.
   */
  async realtimeEngine(): Promise<string> {
    const p = this.procs[0]
    if (!p) return 'unknown'
    const metrics = await fetch(`${p.apiUrl}/metrics`).then(
      (r) => (r.ok ? r.text() : ''),
      () => '',
    )
    const named = /^naarikavach_realtime\w*\{[^}]*engine="(\w+)"/m.exec(metrics)?.[1]
    if (named) return named
    const answer = await fetch(`${p.socketUrl}/`).catch(() => null)
    if (!answer) return 'unknown'
    await answer.arrayBuffer().catch(() => undefined)
    return answer.headers.has('uwebsockets') ? 'uws' : 'ws'
  }

  /** CPU and memory of every server process, a cluster primary's workers included. */
  snapshots(): ProcSnapshot[] {
    const pids = this.pids.flatMap((pid) => (this.opts.cluster > 1 ? [pid, ...childrenOf(pid)] : [pid]))
    return pids.map((pid) => snapshot(pid)).filter((s): s is ProcSnapshot => s !== null)
  }

  /** Removes the keys this run created under its own REDIS_PREFIX (the adapter's stream, rate-limit counters). */
  private async dropRedisKeys(): Promise<void> {
    const prefix = this.env.REDIS_PREFIX
    if (!this.env.REDIS_URL || !prefix) return
    const redis = new Redis(this.env.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 })
    try {
      await redis.connect()
      let cursor = '0'
      let rounds = 0
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
        if (keys.length > 0) await redis.del(...keys)
        cursor = next
      } while (cursor !== '0' && ++rounds < 10_000)
    } catch (err) {
      console.warn(`could not remove this run's Redis keys (${prefix}*): ${(err as Error).message}`)
    } finally {
      redis.disconnect()
    }
  }

  /** SIGTERM (graceful: a CPU profile is written on exit), SIGKILL after 20 s. Returns the profiles written. */
  async stop(): Promise<string[]> {
    await Promise.all(
      this.procs.map((p) => stopChild(p.child, 20_000)),
    )
    this.procs = []
    await this.dropRedisKeys()
    await this.dropOwnDatabase()
    if (!this.opts.cpuProf) return []
    // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the main thread (the others are the
    // module loader's worker, which only runs at start-up).
    return fs.existsSync(this.opts.profDir)
      ? fs.readdirSync(this.opts.profDir).filter((f) => /^CPU\.\d+\.\d+\.\d+\.0\.\d+\.cpuprofile$/.test(f)).map((f) => path.join(this.opts.profDir, f))
      : []
  }
}

/** Event-loop delay (ms) beyond the sampling timer: how long the server's thread was busy without a break. */
export interface LoopDelay {
  p50: number
  p99: number
  max: number
}

/** Per-process and summed CPU/RSS between two sets of snapshots. */
export function serverUsage(before: ProcSnapshot[], after: ProcSnapshot[]) {
  const per: ProcDelta[] = []
  for (const b of before) {
    const a = after.find((s) => s.pid === b.pid)
    if (a) per.push(delta(b, a))
  }
  const sum = (f: (d: ProcDelta) => number) => Math.round(per.reduce((acc, d) => acc + f(d), 0) * 10) / 10
  return {
    processes: per,
    cpuPercent: sum((d) => d.cpuPercent),
    userPercent: sum((d) => d.userPercent),
    systemPercent: sum((d) => d.systemPercent),
    cpuSeconds: sum((d) => d.cpuSeconds),
    rssBeforeMb: sum((d) => d.rssBeforeMb),
    rssAfterMb: sum((d) => d.rssAfterMb),
    hwmMb: sum((d) => d.hwmMb),
  }
}

export type ServerUsage = ReturnType<typeof serverUsage>
