// The whole seed flow over real HTTP and real sockets: create → track → dispatch → resolve.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { buildTestApp } from '../../helpers/app.ts'
import { auth, createSos, createUser } from '../../helpers/factories.ts'
import { collect, connect, emitAck, next, settle } from '../../helpers/sockets.ts'

test('an SOS travels from the phone to the control room, the unit and back', async (t) => {
  const { app, socketUrl } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  const officer = await createUser(app, 'officer', 'UNIT007')

  const control = await connect(t, socketUrl, dispatcher.token)
  const joined = await emitAck(control, 'join_sos_channel', {})
  assert.deepEqual(joined, { ok: true, data: { channel: 'sos_channel', message: 'Joined sos_channel', snapshot_count: 0, truncated: false } })
  const tracking = await connect(t, socketUrl, dispatcher.token)
  await emitAck(tracking, 'join_location_tracking_channel', {})
  const unitSocket = await connect(t, socketUrl, officer.token)
  assert.equal((await emitAck(unitSocket, 'join_officer_room', 'UNIT007')).ok, true)

  const newSos = next<Record<string, unknown>>(control, 'new_sos')
  const created = await createSos(app, { name: 'Asha', initial_latitude: '12.9716', initial_longitude: 77.5946 })
  assert.equal(typeof created.sos_token, 'string')
  assert.ok(created.sos_token.length >= 22, 'sos_token carries at least 128 bits')
  const event = await newSos
  assert.equal(event.sos_id, created.sos_id)
  assert.equal(event.room_id, created.room_id)
  assert.equal(event.latitude, 12.9716)
  assert.match(String(event.created_at), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/)

  // The victim's phone joins its own room with its token and streams positions.
  const phone = await connect(t, socketUrl)
  // No stored history yet: no replay event at all, as the original (the ack comes after any replay).
  const replays = collect(phone, 'location_history')
  const join = await emitAck(phone, 'join_sos_room', { room_id: created.room_id, sos_token: created.sos_token })
  assert.equal(join.ok, true)
  assert.equal((join.data as { history_count: number }).history_count, 0)
  assert.deepEqual(replays, [])
  phone.off('location_history')

  const live = next<Record<string, unknown>>(phone, 'location_history')
  const track = next<Record<string, unknown>>(tracking, 'location_tracking_update')
  const res = await app.inject({
    method: 'POST',
    url: '/api/update-location/',
    headers: { 'x-sos-token': created.sos_token },
    payload: { sos_request: created.sos_id, latitude: 12.98, longitude: 77.6 },
  })
  assert.equal(res.statusCode, 201)
  assert.equal(res.json().status, 'Location updated successfully')
  // The original's four fields, plus the point's id (its place in storage order, to resume from).
  const point = await live
  assert.equal(typeof point.id, 'number')
  assert.deepEqual({ ...point, timestamp: undefined }, { sos_id: created.sos_id, latitude: 12.98, longitude: 77.6, timestamp: undefined, id: res.json().location.id })
  assert.equal((await track).unit_number, null)

  // Dispatch the unit; its room now gets the victim's positions.
  const assigned = await app.inject({
    method: 'POST',
    url: '/api/assign-officer/',
    headers: auth(dispatcher),
    payload: { sos_request: created.sos_id, officer_name: 'SI Meera', unit_number: 'UNIT007' },
  })
  assert.equal(assigned.statusCode, 201)
  assert.equal(assigned.json().status, 'Officer assigned successfully')
  // The original's fields, plus who made the dispatch.
  assert.deepEqual(Object.keys(assigned.json().officer).sort(), ['assigned_at', 'assigned_by', 'id', 'officer_name', 'sos_request', 'unit_number'])
  assert.equal(assigned.json().officer.assigned_by, dispatcher.id)

  const unitUpdate = next<Record<string, unknown>>(unitSocket, 'unit_location_update')
  const socketUpdate = await emitAck(phone, 'update_location', { sos_request: created.sos_id, latitude: 12.99, longitude: 77.61, sos_token: created.sos_token })
  assert.equal(socketUpdate.ok, true)
  assert.equal((await unitUpdate).latitude, 12.99)

  // The SOS as the control room reads it.
  const read = await app.inject({ method: 'GET', url: `/api/sos/${created.sos_id}`, headers: auth(dispatcher) })
  assert.equal(read.statusCode, 200)
  const sos = read.json()
  assert.equal(sos.status, 'dispatched')
  assert.equal(sos.acknowledged_flag, 1)
  assert.equal(sos.unit_number_dispatched, 'UNIT007')
  assert.equal(sos.location_updates.length, 2)
  assert.equal(sos.officer_assignments[0].officer_name, 'SI Meera')
  assert.equal('sos_token' in sos, false, 'the token is never read back')

  // The dispatched unit's officer resolves; every room hears it once.
  const phoneResolved = collect(phone, 'sos_resolved')
  const controlResolved = collect(control, 'sos_resolved')
  const unitResolved = collect(unitSocket, 'sos_resolved')
  const resolved = await app.inject({ method: 'POST', url: `/api/resolve-sos/${created.sos_id}/`, headers: auth(officer) })
  assert.equal(resolved.statusCode, 200)
  assert.equal(resolved.json().status, 'SOS marked as resolved successfully')
  assert.equal(resolved.json().sos.status_flag, 1)
  await settle()
  for (const events of [phoneResolved, controlResolved, unitResolved]) assert.equal(events.length, 1)

  // A closed SOS takes no more positions.
  const late = await app.inject({
    method: 'POST',
    url: '/api/update-location/',
    headers: { 'x-sos-token': created.sos_token },
    payload: { sos_request: created.sos_id, latitude: 1, longitude: 1 },
  })
  assert.equal(late.statusCode, 409)
})

test('a late joiner of an SOS room gets the stored history, oldest first', async (t) => {
  const { app, socketUrl } = await buildTestApp(t)
  const created = await createSos(app)
  for (const lat of [10, 11, 12]) {
    const res = await app.inject({
      method: 'POST',
      url: '/api/update-location/',
      payload: { sos_request: created.sos_id, latitude: lat, longitude: 70, sos_token: created.sos_token },
    })
    assert.equal(res.statusCode, 201)
  }
  const staff = await createUser(app, 'officer', 'U9')
  const socket = await connect(t, socketUrl, staff.token)
  const history = next<{ sos_id: number; updates: { latitude: number }[] }>(socket, 'location_history')
  assert.equal((await emitAck(socket, 'join_sos_room', created.room_id)).ok, true)
  const replay = await history
  // No top-level sos_id: the original dashboard takes any location_history with one for a live point.
  assert.equal('sos_id' in replay, false)
  assert.deepEqual(replay.updates.map((u) => u.latitude), [10, 11, 12])
})
