// The one translation of failures (src/errors.ts knownError): real errors from the real drivers, not
// imitations. Outages (refused, reset, timed out, terminated, busy) become 503 `unavailable`; a
// request's own mistakes and bugs (constraint, syntax) stay what they are.
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import SQLite from 'better-sqlite3'
import pg from 'pg'
import { AppError, errors, isUnavailable, knownError } from '../../src/errors.ts'
import { dialect, PG_ADMIN_URL } from '../helpers/app.ts'
import { freePort } from '../helpers/faults.ts'

async function failure(run: () => Promise<unknown> | unknown): Promise<unknown> {
  try {
    await run()
  } catch (error) {
    return error
  }
  throw new Error('expected a failure')
}

test('AppErrors pass through; unknown errors are bugs (null: a masked 500); outages are 503 with Retry-After', () => {
  const refusal = errors.forbidden()
  assert.equal(knownError(refusal), refusal)
  assert.equal(knownError(new Error('boom')), null)
  assert.equal(knownError(new TypeError("Cannot read properties of undefined (reading 'id')")), null)
  const outage = knownError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }))
  assert.ok(outage instanceof AppError)
  assert.equal(outage.status, 503)
  assert.deepEqual(outage.body, { detail: 'Service temporarily unavailable, try again.' })
  assert.equal(outage.retryAfter, 5)
  assert.deepEqual(outage.toSocketError(), { code: 'unavailable', message: 'Service temporarily unavailable, try again.', retry_after: 5 })
  // Wrapped (as a library may): found through `cause`.
  assert.equal(isUnavailable(new Error('query failed', { cause: Object.assign(new Error('reset'), { code: 'ECONNRESET' }) })), true)
  // A client's words never decide: a message that reads like an outage but carries another code is not one.
  assert.equal(isUnavailable(Object.assign(new Error('Connection terminated unexpectedly'), { code: '23505' })), false)
})

test('node-postgres: a refused connection and a connect timeout are outages', async () => {
  const closedPort = await freePort()
  const refused = await failure(async () => {
    const client = new pg.Client({ host: '127.0.0.1', port: closedPort, user: 'x', database: 'x' })
    await client.connect()
  })
  assert.equal(isUnavailable(refused), true, String(refused))

  // A server that accepts and never answers: pg-pool gives up after connectionTimeoutMillis.
  const silent = net.createServer(() => undefined)
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  const pool = new pg.Pool({ host: '127.0.0.1', port: (silent.address() as net.AddressInfo).port, user: 'x', database: 'x', connectionTimeoutMillis: 200 })
  try {
    const timedOut = await failure(() => pool.query('select 1'))
    assert.equal(isUnavailable(timedOut), true, String(timedOut))
  } finally {
    await pool.end().catch(() => undefined)
    silent.close()
  }
})

test('PostgreSQL: statement timeout, read timeout and a terminated session are outages; constraint and syntax errors are not', { skip: dialect !== 'postgres' && 'needs TEST_DATABASE=postgres' }, async () => {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL, statement_timeout: 100 })
  await client.connect()
  try {
    const cancelled = await failure(() => client.query('select pg_sleep(2)'))
    assert.equal((cancelled as { code?: string }).code, '57014')
    assert.equal(isUnavailable(cancelled), true)
    // The rest must not race the 100 ms limit on a busy machine (creating a table can take longer).
    await client.query('set statement_timeout = 0')
    const syntax = await failure(() => client.query('selec 1'))
    assert.equal((syntax as { code?: string }).code, '42601')
    assert.equal(isUnavailable(syntax), false)
    await client.query('create temporary table t (id int primary key)')
    await client.query('insert into t values (1)')
    const duplicate = await failure(() => client.query('insert into t values (1)'))
    assert.equal((duplicate as { code?: string }).code, '23505')
    assert.equal(isUnavailable(duplicate), false)
  } finally {
    await client.end()
  }

  const slow = new pg.Client({ connectionString: PG_ADMIN_URL, query_timeout: 100 })
  await slow.connect()
  const readTimeout = await failure(() => slow.query('select pg_sleep(1)'))
  assert.equal(isUnavailable(readTimeout), true, String(readTimeout))
  await slow.end().catch(() => undefined)

  // Its own session, ended as a restart or failover would end it.
  const victim = new pg.Client({ connectionString: PG_ADMIN_URL })
  victim.on('error', () => undefined)
  await victim.connect()
  const pid = (await victim.query('select pg_backend_pid() as pid')).rows[0].pid
  const sleeping = failure(() => victim.query('select pg_sleep(5)'))
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL })
  await admin.connect()
  await new Promise((resolve) => setTimeout(resolve, 100))
  await admin.query('select pg_terminate_backend($1)', [pid])
  await admin.end()
  const terminated = await sleeping
  assert.equal((terminated as { code?: string }).code, '57P01')
  assert.equal(isUnavailable(terminated), true)
  await victim.end().catch(() => undefined)
})

test('SQLite: a database locked by another process past busy_timeout is an outage; a constraint violation is not', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'naarikavach-busy-'))
  t.after(() => fs.rm(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'db.sqlite3')
  const holder = new SQLite(file)
  holder.exec('create table t (id integer primary key)')
  const other = new SQLite(file)
  other.pragma('busy_timeout = 0')
  try {
    holder.exec('begin exclusive')
    const busy = await failure(() => other.exec('insert into t values (1)'))
    assert.match(String((busy as { code?: string }).code), /^SQLITE_BUSY/)
    assert.equal(isUnavailable(busy), true)
    holder.exec('commit')
    other.exec('insert into t values (1)')
    const duplicate = await failure(() => other.exec('insert into t values (1)'))
    assert.match(String((duplicate as { code?: string }).code), /^SQLITE_CONSTRAINT/)
    assert.equal(isUnavailable(duplicate), false)
  } finally {
    holder.close()
    other.close()
  }
})
