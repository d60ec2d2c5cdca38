// Redis outages, against a real redis-server of the test's own (started and SIGKILLed here; the
// machine's shared Redis is never touched): a node starts without Redis and serves; Redis dying while
// running never costs a 201; /ready and the metrics say so; the log stays quiet; delivery across nodes
// resumes by itself. Two nodes on one PostgreSQL database (npm run test:scale).
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { test, type TestContext } from 'node:test'
import { buildTestApp, dialect, type TestApp } from '../helpers/app.ts'
import { createUser, type TestUser } from '../helpers/factories.ts'
import { PrivateRedis, REDIS_SERVER, until } from '../helpers/faults.ts'
import { call } from '../helpers/http.ts'
import { collect, connect, emitAck, next, settle, type ClientSocket } from '../helpers/sockets.ts'
import { requireProgram } from '../helpers/system.ts'

const SOS = { name: 'Asha', sos_type: 0, initial_latitude: 12.97, initial_longitude: 77.59 }

async function twoNodes(t: TestContext, redis: PrivateRedis): Promise<[TestApp, TestApp]> {
  const shared = { redisUrl: redis.url, redisPrefix: `nk_outage_${crypto.randomBytes(6).toString('hex')}` }
  const nodeA = await buildTestApp(t, shared, { captureLogs: true })
  const nodeB = await buildTestApp(t, { ...shared, databaseUrl: nodeA.config.databaseUrl }, { captureLogs: true })
  return [nodeA, nodeB]
}

async function readiness(node: TestApp) {
  const res = await call(node.apiUrl, 'GET', '/ready')
  return { status: res.status, body: res.body as { status: string; database: string; redis: string } }
}

const redisState = async (node: TestApp) => (await readiness(node)).body.redis

async function metric(node: TestApp, line: RegExp): Promise<number> {
  const text = await (await fetch(`${node.apiUrl}/metrics`)).text()
  const match = line.exec(text)
  return match ? Number(match[1]) : NaN
}

/** Log lines at warn or above written after `since` (ms since epoch). */
function loudLines(node: TestApp, since: number): Array<{ level: number; msg: string }> {
  return node.logs
    .map((line) => JSON.parse(line) as { level: number; time: number; msg: string })
    .filter((entry) => entry.level >= 40 && entry.time >= since)
}

async function staffOn(t: TestContext, node: TestApp, user: TestUser): Promise<ClientSocket> {
  const socket = await connect(t, node.socketUrl, user.token)
  assert.equal((await emitAck(socket, 'join_sos_channel', {})).ok, true)
  return socket
}

/** An SOS created over REST on `node` reaches `watcher` (connected to another node) as new_sos. */
async function crossesNodes(node: TestApp, watcher: ClientSocket): Promise<void> {
  const seen = collect<{ sos_id: number }>(watcher, 'new_sos')
  const res = await call(node.apiUrl, 'POST', '/api/create-sos/', { json: SOS })
  assert.equal(res.status, 201)
  await until(`new_sos ${res.body.sos_id} on the other node`, () => seen.some((e) => e.sos_id === res.body.sos_id), 5000)
}

test('a node starts without Redis, serves REST and its own sockets, and joins the cluster when Redis appears', async (t) => {
  if (!requireProgram(t, REDIS_SERVER)) return
  assert.equal(dialect, 'postgres', 'run with TEST_DATABASE=postgres (npm run test:scale)')
  const redis = await PrivateRedis.create(t) // not started: nothing listens on its port yet
  const started = Date.now()
  const [nodeA, nodeB] = await twoNodes(t, redis)

  // Up and ready: readiness needs the database only; Redis's state is reported beside it.
  for (const node of [nodeA, nodeB]) {
    assert.deepEqual(await readiness(node), { status: 200, body: { status: 'ready', database: 'up', redis: 'down' } })
    assert.equal(await metric(node, /^naarikavach_redis_up (\d+)$/m), 0)
  }
  const dispatcher = await createUser(nodeA.app, 'dispatcher')
  const controlA = await staffOn(t, nodeA, dispatcher)
  const controlB = await staffOn(t, nodeB, dispatcher)
  const onB = collect<{ sos_id: number }>(controlB, 'new_sos')

  // REST stores every SOS; this node's own sockets hear it.
  const seenA = next<{ sos_id: number }>(controlA, 'new_sos')
  const created = await call(nodeA.apiUrl, 'POST', '/api/create-sos/', { json: SOS })
  assert.equal(created.status, 201)
  assert.equal((await seenA).sos_id, created.body.sos_id)
  const read = await call(nodeB.apiUrl, 'GET', `/api/sos/${created.body.sos_id}/`, { user: dispatcher })
  assert.equal(read.status, 200, 'stored in the shared database')
  // A socket-side create works too.
  const phone = await connect(t, nodeA.socketUrl)
  const viaSocket = await emitAck(phone, 'create_sos', SOS)
  assert.equal(viaSocket.ok, true, JSON.stringify(viaSocket))
  await settle(300)
  assert.deepEqual(onB, [], 'without Redis nothing crosses to the other node')

  await redis.start()
  await until('both nodes see Redis up', async () => (await redisState(nodeA)) === 'up' && (await redisState(nodeB)) === 'up', 15_000)
  assert.equal(await metric(nodeA, /^naarikavach_redis_up (\d+)$/m), 1)
  await crossesNodes(nodeA, controlB)
  await crossesNodes(nodeB, controlA)

  // One line when the outage was found, one when it ended: not one per retry.
  for (const node of [nodeA, nodeB]) {
    const loud = loudLines(node, started)
    assert.equal(loud.filter((l) => /^redis unavailable/.test(l.msg)).length, 1, JSON.stringify(loud))
    assert.equal(loud.filter((l) => /^redis is back/.test(l.msg)).length, 1, JSON.stringify(loud))
    assert.ok(loud.length <= 3, `warn/error lines while Redis was absent: ${JSON.stringify(loud)}`)
  }
})

test('Redis killed while running: every SOS still gets its 201, /ready and metrics say so, the log stays quiet, delivery resumes', async (t) => {
  if (!requireProgram(t, REDIS_SERVER)) return
  assert.equal(dialect, 'postgres', 'run with TEST_DATABASE=postgres (npm run test:scale)')
  const redis = await PrivateRedis.create(t)
  await redis.start()
  const [nodeA, nodeB] = await twoNodes(t, redis)
  const dispatcher = await createUser(nodeA.app, 'dispatcher')
  const controlA = await staffOn(t, nodeA, dispatcher)
  const controlB = await staffOn(t, nodeB, dispatcher)
  await crossesNodes(nodeA, controlB)

  const outage = Date.now()
  await redis.kill()
  await until('both nodes see Redis down', async () => (await redisState(nodeA)) === 'down' && (await redisState(nodeB)) === 'down')
  for (const node of [nodeA, nodeB]) assert.deepEqual(await readiness(node), { status: 200, body: { status: 'ready', database: 'up', redis: 'down' } })

  // About three seconds of SOS on both nodes, REST and socket: every one acknowledged and stored.
  const acknowledged: number[] = []
  const phoneB = await connect(t, nodeB.socketUrl)
  for (let i = 0; Date.now() - outage < 3000; i++) {
    const node = i % 2 === 0 ? nodeA : nodeB
    const res = await call(node.apiUrl, 'POST', '/api/create-sos/', { json: { ...SOS, name: `outage ${i}` } })
    assert.equal(res.status, 201, res.text)
    acknowledged.push(res.body.sos_id)
    if (i % 5 === 0) {
      const ack = await emitAck(phoneB, 'create_sos', { ...SOS, name: `socket ${i}` })
      assert.equal(ack.ok, true, JSON.stringify(ack))
      acknowledged.push((ack.data as { sos_id: number }).sos_id)
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  // Own sockets still hear their node's events.
  const localSeen = next<{ sos_id: number }>(controlB, 'new_sos')
  const local = await call(nodeB.apiUrl, 'POST', '/api/create-sos/', { json: SOS })
  assert.equal(local.status, 201)
  acknowledged.push(local.body.sos_id)
  assert.equal((await localSeen).sos_id, local.body.sos_id)

  for (const node of [nodeA, nodeB]) {
    const loud = loudLines(node, outage)
    assert.equal(loud.filter((l) => /^redis unavailable/.test(l.msg)).length, 1, JSON.stringify(loud))
    assert.ok(loud.length <= 2, `warn/error lines during a ${Date.now() - outage} ms outage: ${JSON.stringify(loud)}`)
    assert.equal(await metric(node, /^naarikavach_redis_up (\d+)$/m), 0)
    assert.ok((await metric(node, /^naarikavach_adapter_publish_failures_total (\d+)$/m)) > 0, 'broadcasts that stayed on this node are counted')
    assert.ok((await metric(node, /^naarikavach_redis_connection_errors_total\{connection="adapter-publisher"\} (\d+)$/m)) > 0)
  }

  await redis.start() // same port, empty (no persistence): as after a crash
  await until('both nodes see Redis up again', async () => (await redisState(nodeA)) === 'up' && (await redisState(nodeB)) === 'up', 15_000)
  await crossesNodes(nodeA, controlB)
  await crossesNodes(nodeB, controlA)

  // Nothing acknowledged was lost.
  const listed = await call(nodeA.apiUrl, 'GET', '/api/get-all-sos/', { user: dispatcher })
  const stored = new Set((listed.body.data as Array<{ id: number }>).map((s) => s.id))
  for (const id of acknowledged) assert.ok(stored.has(id), `SOS ${id} was acknowledged during the outage and is stored`)
  for (const node of [nodeA, nodeB]) assert.equal(loudLines(node, outage).filter((l) => /^redis is back/.test(l.msg)).length, 1)
})
