// PostgreSQL outages, through a TCP proxy of the test's own between the app and the shared PostgreSQL
// (the proxy resets or black-holes only its own connections; the server itself is never touched):
// requests fail fast with 503 + Retry-After, socket events get a negative `unavailable` ack and the
// socket stays, /ready is 503, and everything recovers by itself with no pool leak and nothing
// acknowledged lost. Runs in `npm run test:scale`.
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { test, type TestContext } from 'node:test'
import pg from 'pg'
import type { Config } from '../../src/config.ts'
import { buildTestApp, dialect, freshDatabaseUrl, PG_ADMIN_URL, type TestApp } from '../helpers/app.ts'
import { createUser } from '../helpers/factories.ts'
import { TcpProxy, until } from '../helpers/faults.ts'
import { call } from '../helpers/http.ts'
import { connect, emitAck } from '../helpers/sockets.ts'

const SOS = { name: 'Asha', sos_type: 0, initial_latitude: 12.97, initial_longitude: 77.59 }
const UNAVAILABLE = { detail: 'Service temporarily unavailable, try again.' }

/** An app whose database connections all pass through a proxy the test can cut. */
async function behindProxy(t: TestContext, overrides: Partial<Config> = {}): Promise<{ node: TestApp; proxy: TcpProxy; databaseUrl: string }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'naarikavach-pgfault-'))
  t.after(() => fs.rm(dir, { recursive: true, force: true }))
  const direct = new URL(await freshDatabaseUrl(t, dir))
  const proxy = await TcpProxy.start(t, { host: direct.hostname, port: Number(direct.port || 5432) })
  const proxied = new URL(direct)
  proxied.host = `127.0.0.1:${proxy.port}`
  const node = await buildTestApp(t, { databaseUrl: proxied.toString(), ...overrides }, { reuse: { databaseUrl: proxied.toString(), dir }, captureLogs: true })
  return { node, proxy, databaseUrl: direct.toString() }
}

/** Times one request; the answer and how long it took. */
async function timed<T>(run: () => Promise<T>): Promise<{ res: T; ms: number }> {
  const started = performance.now()
  const res = await run()
  return { res, ms: performance.now() - started }
}

/** The pool after the storm: no connection held, none waited for, none beyond the limit, none orphaned in the proxy. */
async function assertPoolSettled(node: TestApp, proxy: TcpProxy) {
  await until('the pool to settle', () => {
    const stats = node.app.dbPool()!
    return stats.waiting === 0 && stats.idle === stats.total && proxy.connections === stats.total
  })
  const stats = node.app.dbPool()!
  assert.ok(stats.total <= stats.max, JSON.stringify(stats))
}

/** Every SOS id in `ids` is stored (read straight from PostgreSQL, not through the proxy). */
async function assertStored(databaseUrl: string, ids: number[]) {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    const { rows } = await client.query<{ id: number }>('select id from sos_requests where id = any($1::int[])', [ids])
    assert.deepEqual(rows.map((r) => Number(r.id)).sort((a, b) => a - b), [...ids].sort((a, b) => a - b))
  } finally {
    await client.end()
  }
}

test('PostgreSQL refusing connections: 503 + Retry-After at once, socket nack `unavailable`, /ready 503; recovery by itself, no pool leak', async (t) => {
  assert.equal(dialect, 'postgres', 'run with TEST_DATABASE=postgres (npm run test:scale)')
  const { node, proxy, databaseUrl } = await behindProxy(t)
  const dispatcher = await createUser(node.app, 'dispatcher')
  const phone = await connect(t, node.socketUrl)
  const acknowledged: number[] = []
  for (let i = 0; i < 5; i++) {
    const res = await call(node.apiUrl, 'POST', '/api/create-sos/', { json: SOS })
    assert.equal(res.status, 201)
    acknowledged.push(res.body.sos_id)
  }

  proxy.cut('reset')
  const { res: refused, ms } = await timed(() => call(node.apiUrl, 'POST', '/api/create-sos/', { json: SOS }))
  assert.equal(refused.status, 503, refused.text)
  assert.deepEqual(refused.body, UNAVAILABLE)
  assert.equal(refused.headers.get('retry-after'), '5')
  assert.ok(ms < 2000, `answered in ${Math.round(ms)} ms`)
  // Signed-in requests too (authentication needs the database), and a burst: each one fails fast.
  const burst = await Promise.all(Array.from({ length: 30 }, (_, i) => timed(() => call(node.apiUrl, i % 2 ? 'GET' : 'POST', i % 2 ? '/api/sos/' : '/api/create-sos/', i % 2 ? { user: dispatcher } : { json: SOS }))))
  for (const { res, ms: took } of burst) {
    assert.equal(res.status, 503)
    assert.ok(took < 2500, `answered in ${Math.round(took)} ms`)
  }
  const nack = await emitAck(phone, 'create_sos', SOS)
  assert.equal(nack.ok, false)
  assert.equal(nack.error?.code, 'unavailable')
  assert.equal(phone.connected, true, 'the socket stays connected')
  const ready = await call(node.apiUrl, 'GET', '/ready')
  assert.equal(ready.status, 503)
  assert.equal(ready.body.status, 'unavailable')
  assert.equal(ready.body.database, 'down')
  // 30-odd failed requests and events, one warning about them (with the driver's error).
  const warnings = node.logs.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.level >= 40 && /^database unavailable/.test(l.msg))
  assert.equal(warnings.length, 1, JSON.stringify(warnings))
  assert.deepEqual((await call(node.apiUrl, 'GET', '/health')).body, { status: 'ok' }, 'the process is alive')

  proxy.restore()
  await until('/ready 200', async () => (await call(node.apiUrl, 'GET', '/ready')).status === 200)
  for (let i = 0; i < 5; i++) {
    const res = await call(node.apiUrl, 'POST', '/api/create-sos/', { json: SOS })
    assert.equal(res.status, 201, res.text)
    acknowledged.push(res.body.sos_id)
  }
  const again = await emitAck(phone, 'create_sos', SOS)
  assert.equal(again.ok, true, 'the same socket works again')
  acknowledged.push((again.data as { sos_id: number }).sos_id)
  await Promise.all(Array.from({ length: 40 }, () => call(node.apiUrl, 'GET', '/api/sos/', { user: dispatcher }).then((r) => assert.equal(r.status, 200))))
  await assertPoolSettled(node, proxy)
  await assertStored(databaseUrl, acknowledged)
})

test('PostgreSQL unreachable (a network partition: packets vanish): requests still fail within ~2 s, and recover', async (t) => {
  assert.equal(dialect, 'postgres', 'run with TEST_DATABASE=postgres (npm run test:scale)')
  // Production defaults are 2 s to connect and 5 s per statement; shorter here so a hang shows quickly.
  const { node, proxy, databaseUrl } = await behindProxy(t, { databaseConnectTimeoutMs: 1000, databaseStatementTimeoutMs: 500 })
  const phone = await connect(t, node.socketUrl)
  const acknowledged: number[] = []
  // Several pooled connections exist (and go silent in the partition), not only new ones.
  await Promise.all(Array.from({ length: 8 }, () => call(node.apiUrl, 'POST', '/api/create-sos/', { json: SOS }).then((r) => acknowledged.push(r.body.sos_id))))

  proxy.cut('blackhole')
  const answers = await Promise.all(Array.from({ length: 12 }, () => timed(() => call(node.apiUrl, 'POST', '/api/create-sos/', { json: SOS }))))
  for (const { res, ms } of answers) {
    assert.equal(res.status, 503)
    assert.ok(ms < 2500, `answered in ${Math.round(ms)} ms`)
  }
  const { res: ready, ms: readyMs } = await timed(() => call(node.apiUrl, 'GET', '/ready'))
  assert.equal(ready.status, 503)
  assert.ok(readyMs < 2500, `/ready answered in ${Math.round(readyMs)} ms`)
  const started = performance.now()
  const nack = await emitAck(phone, 'create_sos', SOS)
  assert.equal(nack.error?.code, 'unavailable')
  assert.ok(performance.now() - started < 2500)
  assert.equal(phone.connected, true)

  proxy.restore()
  await until('/ready 200', async () => (await call(node.apiUrl, 'GET', '/ready')).status === 200)
  const res = await call(node.apiUrl, 'POST', '/api/create-sos/', { json: SOS })
  assert.equal(res.status, 201, res.text)
  acknowledged.push(res.body.sos_id)
  await assertPoolSettled(node, proxy)
  await assertStored(databaseUrl, acknowledged)
})

test('PostgreSQL terminating the sessions ("terminating connection due to administrator command", as in a restart or failover) costs no request', async (t) => {
  assert.equal(dialect, 'postgres', 'run with TEST_DATABASE=postgres (npm run test:scale)')
  const { node, proxy, databaseUrl } = await behindProxy(t)
  await Promise.all(Array.from({ length: 5 }, () => call(node.apiUrl, 'POST', '/api/create-sos/', { json: SOS })))
  const before = node.app.dbPool()!.total
  assert.ok(before > 0)
  // Only this test's own database's sessions are ended.
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL })
  await admin.connect()
  try {
    const { rows } = await admin.query('select count(pg_terminate_backend(pid)) as n from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [new URL(databaseUrl).pathname.slice(1)])
    assert.ok(Number(rows[0].n) >= 1)
  } finally {
    await admin.end()
  }
  await until('the pool to drop the terminated connections', () => node.app.dbPool()!.total === 0)
  const res = await call(node.apiUrl, 'POST', '/api/create-sos/', { json: SOS })
  assert.equal(res.status, 201, res.text)
  await assertPoolSettled(node, proxy)
  await assertStored(databaseUrl, [res.body.sos_id])
})
