// Scale-out: two nodes on one PostgreSQL database and one Redis behave as one server.
// Runs in `npm run test:scale` (and CI); it fails, not skips, when PostgreSQL or Redis is unreachable.
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { test } from 'node:test'
import { buildTestApp, dialect } from '../helpers/app.ts'
import { auth, createSos, createUser } from '../helpers/factories.ts'
import { connect, emitAck, next } from '../helpers/sockets.ts'

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

test('an event produced on one node reaches subscribers on the other', async (t) => {
  assert.equal(dialect, 'postgres', 'run with TEST_DATABASE=postgres (npm run test:scale)')
  const shared = { redisUrl: REDIS_URL, redisPrefix: `nk_scale_${crypto.randomBytes(6).toString('hex')}` }
  const nodeA = await buildTestApp(t, shared)
  const nodeB = await buildTestApp(t, { ...shared, databaseUrl: nodeA.config.databaseUrl })

  // An account and its token created through node A work on node B (shared database).
  const dispatcher = await createUser(nodeA.app, 'dispatcher')
  const officer = await createUser(nodeA.app, 'officer', 'UNIT042')
  const control = await connect(t, nodeB.socketUrl, dispatcher.token)
  assert.equal((await emitAck(control, 'join_sos_channel', {})).ok, true)
  const unit = await connect(t, nodeA.socketUrl, officer.token)
  assert.equal((await emitAck(unit, 'join_officer_room', 'UNIT042')).ok, true)

  const seen = next<{ sos_id: number }>(control, 'new_sos')
  const created = await createSos(nodeA.app)
  assert.equal((await seen).sos_id, created.sos_id)

  // The victim's phone is on node B; the location is posted to node A.
  const phone = await connect(t, nodeB.socketUrl)
  // No history yet, so no replay event (as the original); the ack says so.
  const joined = await emitAck(phone, 'join_sos_room', { room_id: created.room_id, sos_token: created.sos_token })
  assert.equal(joined.ok, true)
  assert.equal((joined.data as { history_count: number }).history_count, 0)
  const assigned = await nodeB.app.inject({
    method: 'POST',
    url: '/api/assign-officer/',
    headers: auth(dispatcher),
    payload: { sos_request: created.sos_id, officer_name: 'SI Rao', unit_number: 'UNIT042' },
  })
  assert.equal(assigned.statusCode, 201)

  const phoneSees = next<{ latitude: number }>(phone, 'location_history')
  const unitSees = next<{ latitude: number }>(unit, 'unit_location_update')
  const res = await nodeA.app.inject({
    method: 'POST',
    url: '/api/update-location/',
    headers: { 'x-sos-token': created.sos_token },
    payload: { sos_request: created.sos_id, latitude: 19.07, longitude: 72.87 },
  })
  assert.equal(res.statusCode, 201)
  assert.equal((await phoneSees).latitude, 19.07)
  assert.equal((await unitSees).latitude, 19.07)

  // Resolved on node B: the phone (node B) and the unit (node A) both hear it.
  const phoneClosed = next<{ status: string }>(phone, 'sos_resolved')
  const unitClosed = next<{ status: string }>(unit, 'sos_resolved')
  const resolved = await nodeB.app.inject({ method: 'POST', url: `/api/resolve-sos/${created.sos_id}/`, headers: auth(officer) })
  assert.equal(resolved.statusCode, 200)
  assert.equal((await phoneClosed).status, 'resolved')
  assert.equal((await unitClosed).status, 'resolved')
})

test('rate limits are shared by the nodes through Redis', async (t) => {
  const shared = { redisUrl: REDIS_URL, redisPrefix: `nk_scale_${crypto.randomBytes(6).toString('hex')}`, loginRateLimitPerMinute: 4 }
  const nodeA = await buildTestApp(t, shared)
  const nodeB = await buildTestApp(t, { ...shared, databaseUrl: nodeA.config.databaseUrl })
  const statuses: number[] = []
  for (let i = 0; i < 6; i++) {
    const node = i % 2 === 0 ? nodeA : nodeB
    const res = await node.app.inject({ method: 'POST', url: '/auth/token/login/', payload: { username: 'nobody', password: 'wrong-password-1' } })
    statuses.push(res.statusCode)
  }
  assert.deepEqual(statuses, [400, 400, 400, 400, 429, 429], 'the fifth attempt is refused whichever node takes it')
})
