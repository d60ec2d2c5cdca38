// Fault injection against real services: a private redis-server the test starts and kills, and a TCP
// proxy that can cut, black-hole and restore the connections to PostgreSQL. Neither touches the
// machine's shared PostgreSQL or Redis: the server is the test's own, the proxy only drops its own sockets.
import { spawn, type ChildProcess } from 'node:child_process'
import net from 'node:net'
import type { TestContext } from 'node:test'
import type { SystemProgram } from './system.ts'

/** Debian's redis-server; REDIS_SERVER_PATH points the tests at another build. */
export const REDIS_SERVER: SystemProgram = {
  path: process.env.REDIS_SERVER_PATH || '/usr/bin/redis-server',
  name: 'redis-server',
  envVar: 'REDIS_SERVER_PATH',
  debianPackage: 'redis-server',
}

/** A port that was free a moment ago (the OS picks it). */
export async function freePort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** Resolves once `check` is true (polled), or rejects after `ms`: a guard against a hang, not a timing assertion. */
export async function until(what: string, check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

/**
 * A redis-server of the test's own on a fixed port: `start()` (again after `kill()`, on the same port,
 * empty: no persistence), `kill()` (SIGKILL, as a crash). Killed after the test in any case.
 */
export class PrivateRedis {
  private child: ChildProcess | null = null
  readonly url: string

  constructor(
    private readonly t: TestContext,
    readonly port: number,
  ) {
    this.url = `redis://127.0.0.1:${port}`
    t.after(() => this.kill())
  }

  static async create(t: TestContext): Promise<PrivateRedis> {
    return new PrivateRedis(t, await freePort())
  }

  async start(): Promise<void> {
    if (this.child) return
    const child = spawn(REDIS_SERVER.path, ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    this.child = child
    let output = ''
    child.stdout!.on('data', (d) => (output += d))
    child.stderr!.on('data', (d) => (output += d))
    child.once('exit', () => {
      if (this.child === child) this.child = null
    })
    await until(`redis-server on port ${this.port} (${output.trim().slice(-300)})`, () => this.ping(), 10_000)
  }

  /** SIGKILL and wait for the exit: the port is closed when this resolves. */
  async kill(): Promise<void> {
    const child = this.child
    if (!child) return
    this.child = null
    if (child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve())
        child.kill('SIGKILL')
      })
    }
  }

  private ping(): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = net.connect(this.port, '127.0.0.1')
      socket.setTimeout(500, () => {
        socket.destroy()
        resolve(false)
      })
      socket.once('error', () => resolve(false))
      socket.once('connect', () => socket.write('PING\r\n'))
      socket.once('data', (d) => {
        socket.destroy()
        resolve(String(d).startsWith('+PONG'))
      })
    })
  }
}

export type ProxyMode = 'open' | 'reset' | 'blackhole'

/**
 * A TCP proxy on 127.0.0.1:<port> to `target`. `cut('reset')`: every connection through it is reset
 * and new ones are reset at once (the server refuses, crashed, or a firewall rejects); `cut('blackhole')`:
 * connections stay open but nothing passes, new ones are accepted and never answered (a network
 * partition); `restore()`: the held connections are dropped (as a partition's are, eventually) and new
 * ones pass again. `connections` counts the connections open through it now.
 */
export class TcpProxy {
  mode: ProxyMode = 'open'
  private readonly pairs = new Set<{ client: net.Socket; upstream: net.Socket | null }>()

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(t: TestContext, target: { host: string; port: number }): Promise<TcpProxy> {
    let proxy: TcpProxy | null = null
    const server = net.createServer((client) => proxy!.accept(client, target))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    proxy = new TcpProxy(server, (server.address() as net.AddressInfo).port)
    t.after(() => proxy!.close())
    return proxy
  }

  get connections(): number {
    return [...this.pairs].filter((p) => p.upstream && !p.client.destroyed).length
  }

  cut(mode: Exclude<ProxyMode, 'open'>): void {
    this.mode = mode
    for (const pair of this.pairs) {
      if (mode === 'reset') this.drop(pair, true)
      else {
        // Stop forwarding both ways; the sockets stay open, as across a partition.
        pair.client.unpipe()
        pair.upstream?.unpipe()
        pair.client.pause()
        pair.upstream?.pause()
      }
    }
  }

  restore(): void {
    this.mode = 'open'
    for (const pair of this.pairs) this.drop(pair, true)
  }

  async close(): Promise<void> {
    for (const pair of this.pairs) this.drop(pair, false)
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  private accept(client: net.Socket, target: { host: string; port: number }): void {
    client.on('error', () => undefined)
    if (this.mode === 'reset') return void client.resetAndDestroy()
    const pair: { client: net.Socket; upstream: net.Socket | null } = { client, upstream: null }
    this.pairs.add(pair)
    client.once('close', () => this.drop(pair, false))
    if (this.mode === 'blackhole') return void client.pause()
    const upstream = net.connect(target.port, target.host)
    pair.upstream = upstream
    upstream.on('error', () => undefined)
    upstream.once('close', () => this.drop(pair, false))
    client.pipe(upstream)
    upstream.pipe(client)
  }

  /** `hard`: a reset both ways (a cut); otherwise one side closed, and the other is closed after it. */
  private drop(pair: { client: net.Socket; upstream: net.Socket | null }, hard: boolean): void {
    if (!this.pairs.delete(pair)) return
    for (const socket of [pair.client, pair.upstream]) {
      if (!socket || socket.destroyed) continue
      if (hard) socket.resetAndDestroy()
      else socket.end(() => socket.destroy())
    }
  }
}
