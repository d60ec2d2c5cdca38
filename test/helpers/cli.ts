// Runs the real `bin/naarikavach.js` in a child process, as an operator would (tests of CLI commands).
import { spawn } from 'node:child_process'
import path from 'node:path'
import type { TestContext } from 'node:test'
import { fileURLToPath } from 'node:url'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
export const BIN = path.join(ROOT, 'bin', 'naarikavach.js')
/** A guard against a hung child (a failure, never a timing assertion). */
const CHILD_DEADLINE_MS = 60_000

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs one command to completion; killed after the test if it is still running. */
export function runCli(t: TestContext, args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`naarikavach ${args.join(' ')} did not finish within ${CHILD_DEADLINE_MS} ms\n${stdout}\n${stderr}`))
    }, CHILD_DEADLINE_MS)
    child.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

/** The environment of a CLI run against a test app's database (and Redis, when given). */
export function cliEnv(config: { databaseUrl: string; redisUrl?: string; redisPrefix?: string; mediaRoot?: string }): NodeJS.ProcessEnv {
  return {
    ...process.env,
    DATABASE_URL: config.databaseUrl,
    REDIS_URL: config.redisUrl ?? '',
    REDIS_PREFIX: config.redisPrefix ?? 'naarikavach',
    MEDIA_ROOT: config.mediaRoot ?? '',
    PASSWORD_HASH_COST: '10',
    LEGACY_OPEN_ACCESS: 'false',
    LOG_LEVEL: 'warn',
  }
}
