// The original clients' call sequences, unchanged, against LEGACY_OPEN_ACCESS=true: the phone app
// (anonymous SOS, positions by sos_request id, bare-string room join) and the dashboard (login, list,
// unauthenticated channel joins, assign, resolve).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { buildTestApp } from './helpers/app.ts'
import { connect, emitAck, next } from './helpers/sockets.ts'

test('legacy mode: the original phone app and dashboard work without tokens or SOS tokens', async (t) => {
  const { app, socketUrl } = await buildTestApp(t, { legacyOpenAccess: true })

  // Dashboard: an operator account registers and logs in the Djoser way.
  const register = await app.inject({
    method: 'POST',
    url: '/auth/users/',
    payload: { username: 'control1', password: 'Kavach-Control-2025', re_password: 'Kavach-Control-2025', email: 'c1@example.org' },
  })
  assert.equal(register.statusCode, 201)
  const login = await app.inject({ method: 'POST', url: '/auth/token/login', payload: { username: 'control1', password: 'Kavach-Control-2025' } })
  assert.equal(login.statusCode, 200)
  const headers = { authorization: `Token ${login.json().auth_token}` }

  // Dashboard sockets join the channels with no handshake token, as the original allowed.
  const dashboard = await connect(t, socketUrl)
  const channelJoined = next<{ channel: string }>(dashboard, 'room_joined')
  dashboard.emit('join_sos_channel', {})
  assert.equal((await channelJoined).channel, 'sos_channel')
  const tracking = await connect(t, socketUrl)
  tracking.emit('join_location_tracking_channel', {})
  await next(tracking, 'room_joined')

  // Phone: anonymous SOS; the app ignores sos_token and streams by id.
  const alert = next<{ sos_id: number; room_id: string }>(dashboard, 'new_sos')
  const created = await app.inject({ method: 'POST', url: '/api/create-sos/', payload: { name: 'Priya', sos_type: 1, initial_latitude: 28.61, initial_longitude: 77.2 } })
  assert.equal(created.statusCode, 201)
  const { sos_id, room_id } = created.json()
  assert.equal((await alert).sos_id, sos_id)

  const phone = await connect(t, socketUrl)
  const roomJoined = next<{ room_id: string }>(phone, 'room_joined')
  phone.emit('join_sos_room', room_id)
  assert.equal((await roomJoined).room_id, room_id)

  const tracked = next<{ sos_id: number; unit_number: string | null }>(tracking, 'location_tracking_update')
  const moved = await app.inject({ method: 'POST', url: '/api/update-location/', payload: { sos_request: sos_id, latitude: 28.62, longitude: 77.21 } })
  assert.equal(moved.statusCode, 201)
  assert.deepEqual(moved.json().status, 'Location updated successfully')
  assert.equal((await tracked).sos_id, sos_id)

  // Dashboard: list, assign, resolve with its ordinary (citizen) token.
  const list = await app.inject({ method: 'GET', url: '/api/sos', headers })
  assert.equal(list.statusCode, 200)
  assert.deepEqual(list.json().map((s: { id: number }) => s.id), [sos_id])
  const all = await app.inject({ method: 'GET', url: '/api/get-all-sos', headers })
  assert.equal(all.json().count, 1)

  const officerRoom = await connect(t, socketUrl)
  officerRoom.emit('join_officer_room', 'UNIT001')
  await next(officerRoom, 'room_joined')
  const assign = await app.inject({ method: 'POST', url: '/api/assign-officer', headers, payload: { sos_request: sos_id, officer_name: 'Ravi', unit_number: 'UNIT001' } })
  assert.equal(assign.statusCode, 201)
  const unitUpdate = next<{ sos_id: number }>(officerRoom, 'unit_location_update')
  await app.inject({ method: 'POST', url: '/api/update-location/', payload: { sos_request: sos_id, latitude: 28.63, longitude: 77.22 } })
  assert.equal((await unitUpdate).sos_id, sos_id)

  // Officers' phones publish positions without a token; the dashboard sees them as unit_loc.
  const officerTracking = await connect(t, socketUrl)
  officerTracking.emit('join_officer_update', {})
  await next(officerTracking, 'room_joined')
  const unitLoc = next<{ unit_id: string }>(officerTracking, 'unit_loc')
  officerRoom.emit('officer_location_update', { unit_id: 'UNIT001', latitude: 28.6, longitude: 77.19, timestamp: new Date().toISOString() })
  assert.equal((await unitLoc).unit_id, 'UNIT001')

  const phoneResolved = next<{ sos_id: number }>(phone, 'sos_resolved')
  const resolved = await app.inject({ method: 'POST', url: `/api/resolve-sos/${sos_id}`, headers })
  assert.equal(resolved.statusCode, 200)
  assert.equal((await phoneResolved).sos_id, sos_id)

  // What stays on in legacy mode: validation and forged server events.
  const bad = await app.inject({ method: 'POST', url: '/api/update-location/', payload: { sos_request: sos_id, latitude: 1e308 * 10, longitude: 0 } })
  assert.equal(bad.statusCode, 400)
  const forged = next<{ code: string }>(phone, 'error')
  phone.emit('sos_created', { sos_id: 999 })
  assert.equal((await forged).code, 'forbidden_event')
  const ack = await emitAck(phone, 'join_sos_room', { room_id: 'not-a-uuid' })
  assert.equal(ack.ok, false)
})
