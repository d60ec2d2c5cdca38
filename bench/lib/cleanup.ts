// Every child process the bench starts is tracked here and killed (by its own PID) if the bench exits
// early, is interrupted, or hits its overall time limit, so no server or worker is ever left running.
import type { ChildProcess } from 'node:child_process'
import fs from 'node:fs'

const children = new Set<ChildProcess>()
const dirs = new Set<string>()

export function track(child: ChildProcess): void {
  children.add(child)
}

export function untrack(child: ChildProcess): void {
  children.delete(child)
}

/** A temporary directory removed when the bench exits. */
export function trackDir(dir: string): void {
  dirs.add(dir)
}

export function killAll(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
  children.clear()
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true })
  dirs.clear()
}

let installed = false

/** Installs the exit/signal hooks once, and a watchdog that ends the whole run after `limitMs`; returns its canceller. */
export function installCleanup(limitMs: number): () => void {
  if (!installed) {
    installed = true
    process.on('exit', killAll)
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.on(signal, () => {
        console.error(`\nbench: ${signal}, stopping the processes it started`)
        killAll()
        process.exit(130)
      })
    }
  }
  const watchdog = setTimeout(() => {
    console.error(`bench: the run exceeded its time limit (${Math.round(limitMs / 1000)} s); stopping`)
    killAll()
    process.exit(3)
  }, limitMs)
  watchdog.unref()
  return () => clearTimeout(watchdog)
}

/** SIGTERM (graceful), then SIGKILL if it has not exited after `killAfterMs`; resolves once it exited. */
export async function stopChild(child: ChildProcess, killAfterMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs)
  await exited
  clearTimeout(timer)
}

