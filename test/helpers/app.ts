// Test helper: builds the real app on a fresh database (a SQLite file, or a fresh PostgreSQL database
// when TEST_DATABASE=postgres), listens on port 0, and tears everything down after the test.
import crypto from 'node:crypto'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import type { TestContext } from 'node:test'
import type { FastifyInstance } from 'fastify'
import pg from 'pg'
import { buildApp, LOG_REDACT } from '../../src/app.ts'
import { createConfig, type Config } from '../../src/config.ts'

export const PG_ADMIN_URL = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
export const dialect = (process.env.TEST_DATABASE ?? 'sqlite') as 'sqlite' | 'postgres'

export interface TestApp {
  app: FastifyInstance
  config: Config
  /** http://127.0.0.1:<port> of the REST API. */
  apiUrl: string
  /** http://127.0.0.1:<port> of the Socket.IO server. */
  socketUrl: string
  dir: string
  /** Every log line written so far (JSON), when built with captureLogs. */
  logs: string[]
  /** Closes the app (the database stays), e.g. to restart on the same database. */
  close(): Promise<void>
}

interface Cleanup {
  apps: Array<() => Promise<void>>
  after: Array<() => Promise<void>>
}
const cleanups = new WeakMap<TestContext, Cleanup>()

/** One teardown per test, in a safe order: close every app first, then drop databases and files. */
function cleanupFor(t: TestContext): Cleanup {
  let cleanup = cleanups.get(t)
  if (!cleanup) {
    const created: Cleanup = { apps: [], after: [] }
    cleanup = created
    cleanups.set(t, created)
    t.after(async () => {
      for (const close of created.apps.reverse()) await close()
      for (const step of created.after) await step()
    })
  }
  return cleanup
}

/** A fresh database URL: a SQLite file in `dir`, or a new PostgreSQL database. */
export async function freshDatabaseUrl(t: TestContext, dir: string): Promise<string> {
  if (dialect === 'sqlite') return `sqlite:${path.join(dir, 'test.sqlite3')}`
  const name = `nk_test_${crypto.randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${name}`)
  await admin.end()
  cleanupFor(t).after.push(async () => {
    const client = new pg.Client({ connectionString: PG_ADMIN_URL })
    await client.connect()
    try {
      // Closed pools may still be finishing their goodbyes: wait for them rather than cutting them off
      // (a cut connection surfaces as an error in the test process). FORCE is the last resort, for
      // connections of a server process a test killed.
      for (let attempt = 0; ; attempt++) {
        try {
          await client.query(`DROP DATABASE IF EXISTS ${name}${attempt >= 20 ? ' WITH (FORCE)' : ''}`)
          break
        } catch (error) {
          if (attempt >= 20) throw error
          await new Promise((resolve) => setTimeout(resolve, 100))
        }
      }
    } finally {
      await client.end()
    }
  })
  const url = new URL(PG_ADMIN_URL)
  url.pathname = `/${name}`
  return url.toString()
}

export interface BuildTestOptions {
  captureLogs?: boolean
  /** Reuse an existing database/media directory (restart tests). */
  reuse?: { databaseUrl: string; dir: string }
}

export async function buildTestApp(t: TestContext, overrides: Partial<Config> = {}, options: BuildTestOptions = {}): Promise<TestApp> {
  const dir = options.reuse?.dir ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'naarikavach-test-')))
  if (!options.reuse) cleanupFor(t).after.push(() => fs.rm(dir, { recursive: true, force: true }))
  const databaseUrl = options.reuse?.databaseUrl ?? (await freshDatabaseUrl(t, dir))
  const config = createConfig(
    // The realtime suites run on each engine (REALTIME_ENGINE=uws|ws; npm test and npm run test:ws).
    { REALTIME_ENGINE: process.env.REALTIME_ENGINE },
    {
      databaseUrl,
      mediaRoot: path.join(dir, 'media'),
      host: '127.0.0.1',
      port: 0,
      socketPort: 0,
      logLevel: 'silent',
      // Fast hashing for tests only (the hash format and code path are the same as in production).
      passwordHashCost: 10,
      redisUrl: process.env.TEST_REDIS_URL || undefined,
      // Each test app gets its own Redis stream, so parallel test files never hear each other.
      redisPrefix: `nk_test_${crypto.randomBytes(6).toString('hex')}`,
      ...overrides,
    },
  )
  const logs: string[] = []
  const logger = options.captureLogs
    ? {
        level: 'trace',
        redact: LOG_REDACT,
        stream: new Writable({
          write(chunk, _enc, done) {
            logs.push(String(chunk))
            done()
          },
        }),
      }
    : false
  const app = await buildApp(config, { logger })
  const apiUrl = await app.listen({ port: 0, host: '127.0.0.1' })
  const socketPort = await app.realtime.listen(0, '127.0.0.1')
  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    await app.close()
  }
  cleanupFor(t).apps.push(close)
  return { app, config, apiUrl, socketUrl: `http://127.0.0.1:${socketPort}`, dir, logs, close }
}
