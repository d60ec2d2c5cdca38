// Revocation takes effect at once on every node (two app instances on one PostgreSQL database and one
// Redis): a disabled officer's sockets on both nodes drop within a second and the token is refused;
// a logout drops only that token's sockets; an officer made a citizen loses the unit room; the CLI's
// `users disable` reaches the running nodes through Redis too. Runs in `npm run test:scale`.
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { test, type TestContext } from 'node:test'
import { buildTestApp, dialect, type TestApp } from '../helpers/app.ts'
import { cliEnv, runCli } from '../helpers/cli.ts'
import { createSos, createUser } from '../helpers/factories.ts'
import { call } from '../helpers/http.ts'
import { collect, connect, emitAck, next, settle, type ClientSocket } from '../helpers/sockets.ts'

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

async function twoNodes(t: TestContext): Promise<[TestApp, TestApp]> {
  assert.equal(dialect, 'postgres', 'run with TEST_DATABASE=postgres (npm run test:scale)')
  const shared = { redisUrl: REDIS_URL, redisPrefix: `nk_revoke_${crypto.randomBytes(6).toString('hex')}` }
  const nodeA = await buildTestApp(t, shared)
  const nodeB = await buildTestApp(t, { ...shared, databaseUrl: nodeA.config.databaseUrl })
  return [nodeA, nodeB]
}

/** Resolves with the milliseconds from now until the socket is disconnected by the server. */
function dropped(socket: ClientSocket): Promise<number> {
  const started = performance.now()
  return next<string>(socket, 'disconnect', 5000).then((reason) => {
    assert.equal(reason, 'io server disconnect')
    return performance.now() - started
  })
}

test('a disabled officer is disconnected on every node within a second, and the token is refused from then on', async (t) => {
  const [nodeA, nodeB] = await twoNodes(t)
  const admin = await createUser(nodeA.app, 'admin')
  const officer = await createUser(nodeA.app, 'officer', 'UNIT042')
  const onA = await connect(t, nodeA.socketUrl, officer.token)
  const onB = await connect(t, nodeB.socketUrl, officer.token)
  for (const socket of [onA, onB]) {
    assert.equal((await emitAck(socket, 'join_sos_channel', {})).ok, true)
    assert.equal((await emitAck(socket, 'join_officer_room', 'UNIT042')).ok, true)
  }
  const bystander = await createUser(nodeA.app, 'officer', 'UNIT042')
  const stays = await connect(t, nodeB.socketUrl, bystander.token)

  const drops = [dropped(onA), dropped(onB)]
  const told = next<{ code: string }>(onA, 'error')
  const res = await call(nodeB.apiUrl, 'PATCH', `/auth/users/${officer.id}/`, { user: admin, json: { is_active: false } })
  assert.equal(res.status, 200, res.text)
  for (const ms of await Promise.all(drops)) assert.ok(ms < 1000, `disconnected after ${Math.round(ms)} ms`)
  assert.equal((await told).code, 'session_revoked')

  for (const node of [nodeA, nodeB]) {
    await assert.rejects(connect(t, node.socketUrl, officer.token), /Invalid token/)
    assert.equal((await call(node.apiUrl, 'GET', '/auth/users/me/', { user: officer })).status, 401)
  }
  // A new SOS reaches the other officer of the unit, not the disabled one.
  const seen = next<{ sos_id: number }>(stays, 'new_sos', 5000)
  assert.equal((await emitAck(stays, 'join_sos_channel', {})).ok, true)
  const sos = await createSos(nodeA.app)
  assert.equal((await seen).sos_id, sos.sos_id)
})

test('logout disconnects only that token\'s sockets, on every node; the user\'s other sessions stay', async (t) => {
  const [nodeA, nodeB] = await twoNodes(t)
  const dispatcher = await createUser(nodeA.app, 'dispatcher')
  const laptop = await nodeA.app.services.auth.issueToken(dispatcher.id)
  const phoneA = await connect(t, nodeA.socketUrl, dispatcher.token)
  const phoneB = await connect(t, nodeB.socketUrl, dispatcher.token)
  const laptopB = await connect(t, nodeB.socketUrl, laptop)
  const drops = [dropped(phoneA), dropped(phoneB)]
  assert.equal((await call(nodeA.apiUrl, 'POST', '/auth/token/logout/', { token: dispatcher.token })).status, 204)
  for (const ms of await Promise.all(drops)) assert.ok(ms < 1000, `disconnected after ${Math.round(ms)} ms`)
  await settle(300)
  assert.equal(laptopB.connected, true)
  assert.equal((await emitAck(laptopB, 'join_sos_channel', {})).ok, true)
  await assert.rejects(connect(t, nodeB.socketUrl, dispatcher.token), /Invalid token/)
})

test('an officer made a citizen is dropped on every node and, reconnected, no longer gets the unit room', async (t) => {
  const [nodeA, nodeB] = await twoNodes(t)
  const admin = await createUser(nodeA.app, 'admin')
  const officer = await createUser(nodeA.app, 'officer', 'UNIT077')
  const onA = await connect(t, nodeA.socketUrl, officer.token)
  assert.equal((await emitAck(onA, 'join_officer_room', 'UNIT077')).ok, true)
  const drop = dropped(onA)
  assert.equal((await call(nodeB.apiUrl, 'PATCH', `/auth/users/${officer.id}/`, { user: admin, json: { role: 'citizen' } })).status, 200)
  assert.ok((await drop) < 1000)

  // The token still proves who she is; what she may join follows the new role.
  const again = await connect(t, nodeB.socketUrl, officer.token)
  const refused = await emitAck(again, 'join_officer_room', 'UNIT077')
  assert.equal(refused.error?.code, 'permission_denied')
  assert.equal((await emitAck(again, 'join_sos_channel', {})).error?.code, 'permission_denied')
  const heard = collect(again, 'unit_location_update')
  const sos = await createSos(nodeA.app)
  assert.equal((await call(nodeA.apiUrl, 'POST', '/api/assign-officer/', { user: admin, json: { sos_request: sos.sos_id, officer_name: 'SI Rao', unit_number: 'UNIT077' } })).status, 201)
  assert.equal((await call(nodeA.apiUrl, 'POST', '/api/update-location/', { headers: { 'x-sos-token': sos.sos_token }, json: { sos_request: sos.sos_id, latitude: 19.07, longitude: 72.87 } })).status, 201)
  await settle(300)
  assert.deepEqual(heard, [])
})

test('`naarikavach users disable` (the CLI, a separate process) disconnects the account on every running node', async (t) => {
  const [nodeA, nodeB] = await twoNodes(t)
  const officer = await createUser(nodeA.app, 'officer', 'UNIT005')
  const onA = await connect(t, nodeA.socketUrl, officer.token)
  const onB = await connect(t, nodeB.socketUrl, officer.token)
  const drops = [next(onA, 'disconnect', 30_000), next(onB, 'disconnect', 30_000)]
  const res = await runCli(t, ['users', 'disable', officer.username], cliEnv(nodeA.config))
  assert.equal(res.code, 0, res.stderr)
  assert.match(res.stdout, /disconnected on every node/)
  await Promise.all(drops)
  await assert.rejects(connect(t, nodeB.socketUrl, officer.token), /Invalid token/)
})
