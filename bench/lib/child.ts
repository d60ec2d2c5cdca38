// A bench helper process of our own (a bare server of `limits`): forked under tsx with an IPC channel,
// asked things by request id, tracked for cleanup, stopped with SIGTERM then SIGKILL. The child side
// is `serveRequests` below.
import { fork, type ChildProcess } from 'node:child_process'
import { stopChild, track, untrack } from './cleanup.ts'

interface Reply {
  id: number
  ok: boolean
  result?: unknown
  error?: string
}

export class BenchChild {
  private readonly child: ChildProcess
  private nextId = 1
  private readonly waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>()
  private readonly stderrTail: string[] = []

  constructor(
    private readonly name: string,
    script: string,
    env: Record<string, string> = {},
  ) {
    this.child = fork(script, [], { execArgv: ['--import', 'tsx'], env: { ...process.env, ...env }, serialization: 'advanced', stdio: ['ignore', 'inherit', 'pipe', 'ipc'] })
    track(this.child)
    this.child.stderr?.setEncoding('utf8')
    this.child.stderr?.on('data', (chunk: string) => {
      this.stderrTail.push(chunk)
      if (this.stderrTail.length > 20) this.stderrTail.shift()
    })
    this.child.on('message', (msg: Reply) => {
      const waiter = this.waiting.get(msg.id)
      if (!waiter) return
      this.waiting.delete(msg.id)
      if (msg.ok) waiter.resolve(msg.result)
      else waiter.reject(new Error(`${name}: ${msg.error}`))
    })
    this.child.on('exit', (code, signal) => {
      untrack(this.child)
      for (const waiter of this.waiting.values()) waiter.reject(new Error(`${name} exited (${code ?? signal}): ${this.stderr()}`))
      this.waiting.clear()
    })
  }

  get pid(): number {
    return this.child.pid ?? -1
  }

  stderr(): string {
    return this.stderrTail.join('').trim().slice(-2000)
  }

  call<T>(cmd: string, args: Record<string, unknown> = {}, timeoutMs = 30_000): Promise<T> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.reject(new Error(`${this.name} is gone: ${this.stderr()}`))
    const id = this.nextId++
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id)
        reject(new Error(`${this.name}: "${cmd}" took longer than ${timeoutMs} ms`))
      }, timeoutMs)
      this.waiting.set(id, {
        resolve: (v) => {
          clearTimeout(timer)
          resolve(v as T)
        },
        reject: (e) => {
          clearTimeout(timer)
          reject(e)
        },
      })
      this.child.send({ id, cmd, ...args })
    })
  }

  stop(): Promise<void> {
    return stopChild(this.child, 10_000)
  }
}

/** Child side: answers each `{id, cmd, …}` from the parent with `handlers[cmd]`'s result; exits with the parent. */
export function serveRequests(handlers: Record<string, (msg: Record<string, unknown>) => unknown>): void {
  process.on('message', (msg: { id: number; cmd: string } & Record<string, unknown>) => {
    const handler = handlers[msg.cmd]
    Promise.resolve()
      .then(() => {
        if (!handler) throw new Error(`unknown command ${msg.cmd}`)
        return handler(msg)
      })
      .then(
        (result) => process.send?.({ id: msg.id, ok: true, result } satisfies Reply),
        (err: unknown) => process.send?.({ id: msg.id, ok: false, error: err instanceof Error ? err.message : String(err) } satisfies Reply),
      )
  })
  process.on('disconnect', () => process.exit(0))
  process.once('SIGTERM', () => process.exit(0))
}
