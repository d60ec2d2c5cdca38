// The SOS rows of CONTRACT §2/§3/§5 not covered by the end-to-end flow test: the /api/sos/ resource
// (create, list, admin PUT/PATCH/DELETE), get-all-sos, resolve's own 404, cancel and acknowledge with the
// state machine and its flags, timestamp format, and socket-side create_sos / update_location.
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import path from 'node:path'
import { test } from 'node:test'
import { buildTestApp } from '../../helpers/app.ts'
import { call } from '../../helpers/http.ts'
import { createSos, createUser, IMAGES } from '../../helpers/factories.ts'
import { connect, emitAck, next } from '../../helpers/sockets.ts'

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
const SOS_KEYS = [
  'acknowledged_flag', 'created_at', 'id', 'images', 'initial_latitude', 'initial_longitude', 'location_updates', 'name',
  'officer_assignments', 'room_id', 'sos_type', 'status', 'status_flag', 'unit_number_dispatched', 'updated_at', 'user',
]
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const NOT_PROVIDED = { detail: 'Authentication credentials were not provided.' }
const FORBIDDEN = { detail: 'You do not have permission to perform this action.' }
const NOT_FOUND = { detail: 'Not found.' }
const BODY = { name: 'Asha', initial_latitude: 12.9716, initial_longitude: 77.5946 }

/** Every SOS read carries the full shape of CONTRACT §2 (plus `status` of §5) and no secret. */
function assertSosShape(sos: Record<string, unknown>) {
  for (const key of SOS_KEYS) assert.ok(key in sos, `SOS has ${key}`)
  for (const secret of ['sos_token', 'sos_token_hash']) assert.equal(secret in sos, false, `SOS never carries ${secret}`)
  assert.match(String(sos.room_id), UUID)
  assert.match(String(sos.created_at), ISO_MS)
  assert.match(String(sos.updated_at), ISO_MS)
}

/** The flags the original's clients read must always agree with the state machine. */
function assertFlags(sos: { status: string; status_flag: number; acknowledged_flag: number }, status: string, statusFlag: number, ackFlag: number) {
  assert.deepEqual(
    { status: sos.status, status_flag: sos.status_flag, acknowledged_flag: sos.acknowledged_flag },
    { status, status_flag: statusFlag, acknowledged_flag: ackFlag },
  )
}

test('POST /api/sos/ creates exactly like /api/create-sos/ (201, sos_token, new_sos), with or without the slash', async (t) => {
  const { app, apiUrl, socketUrl } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  const control = await connect(t, socketUrl, dispatcher.token)
  assert.equal((await emitAck(control, 'join_sos_channel', {})).ok, true)

  const alert = next<Record<string, unknown>>(control, 'new_sos')
  const res = await call(apiUrl, 'POST', '/api/sos/', { json: { ...BODY, name: 'Kiran', sos_type: 1 } })
  assert.equal(res.status, 201, res.text)
  assert.deepEqual(Object.keys(res.body).sort(), ['message', 'room_id', 'sos_id', 'sos_token', 'status'])
  assert.equal(res.body.status, 'success')
  assert.equal(res.body.message, 'SOS created successfully')
  assert.ok(Number.isInteger(res.body.sos_id))
  assert.match(res.body.room_id, UUID)
  assert.ok(res.body.sos_token.length >= 22)
  const event = await alert
  assert.equal(event.sos_id, res.body.sos_id)
  assert.equal(event.name, 'Kiran')
  assert.equal(event.sos_type, 1)

  // The token it returned reads that SOS.
  const read = await call(apiUrl, 'GET', `/api/sos/${res.body.sos_id}/`, { headers: { 'x-sos-token': res.body.sos_token } })
  assert.equal(read.status, 200)
  assertSosShape(read.body)
  assert.equal(read.body.name, 'Kiran')
  assert.equal(read.body.user, null, 'an anonymous SOS has no owner')
  assertFlags(read.body, 'active', 0, 0)

  const noSlash = await call(apiUrl, 'POST', '/api/sos', { json: BODY })
  assert.equal(noSlash.status, 201, noSlash.text)
  assert.notEqual(noSlash.body.sos_id, res.body.sos_id)

  const invalid = await call(apiUrl, 'POST', '/api/sos/', { json: { name: '', initial_latitude: 91, initial_longitude: 'east' } })
  assert.equal(invalid.status, 400)
  assert.deepEqual(invalid.body, {
    name: ['This field may not be blank.'],
    initial_latitude: ['Ensure this value is less than or equal to 90.'],
    initial_longitude: ['A valid number is required.'],
  })
})

test('sos_type accepts the numeric string "1"; other values are refused as DRF choices', async (t) => {
  const { app, apiUrl } = await buildTestApp(t)
  const staff = await createUser(app, 'dispatcher')
  const alert = await call(apiUrl, 'POST', '/api/create-sos/', { json: { ...BODY, sos_type: '1', initial_latitude: '12.5' } })
  assert.equal(alert.status, 201, alert.text)
  const read = await call(apiUrl, 'GET', `/api/sos/${alert.body.sos_id}/`, { user: staff })
  assert.equal(read.body.sos_type, 1)
  assert.equal(read.body.initial_latitude, 12.5)

  const defaulted = await call(apiUrl, 'POST', '/api/create-sos/', { json: BODY })
  assert.equal((await call(apiUrl, 'GET', `/api/sos/${defaulted.body.sos_id}/`, { user: staff })).body.sos_type, 0, 'Emergency by default')

  const bad = await call(apiUrl, 'POST', '/api/create-sos/', { json: { ...BODY, sos_type: '7' } })
  assert.equal(bad.status, 400)
  assert.deepEqual(bad.body, { sos_type: ['"7" is not a valid choice.'] })
})

test('GET /api/sos/: a plain array newest first for staff; a citizen sees only their own', async (t) => {
  const { app, apiUrl } = await buildTestApp(t)
  const staff = await createUser(app, 'officer', 'UNIT005')
  const citizen = await createUser(app, 'citizen')
  const neighbour = await createUser(app, 'citizen')
  const mine1 = await createSos(app, { name: 'mine 1' }, citizen)
  const anonymous = await createSos(app, { name: 'anonymous' })
  const theirs = await createSos(app, { name: 'theirs' }, neighbour)
  const mine2 = await createSos(app, { name: 'mine 2' }, citizen)

  const all = await call(apiUrl, 'GET', '/api/sos/', { user: staff })
  assert.equal(all.status, 200)
  assert.ok(Array.isArray(all.body), 'a plain array, as the original')
  assert.deepEqual(all.body.map((s: { id: number }) => s.id), [mine2.sos_id, theirs.sos_id, anonymous.sos_id, mine1.sos_id])
  for (const sos of all.body) assertSosShape(sos)

  const own = await call(apiUrl, 'GET', '/api/sos', { user: citizen })
  assert.equal(own.status, 200)
  assert.deepEqual(own.body.map((s: { id: number }) => s.id), [mine2.sos_id, mine1.sos_id])
  assert.ok(own.body.every((s: { user: number }) => s.user === citizen.id))

  const none = await call(apiUrl, 'GET', '/api/sos/')
  assert.equal(none.status, 401)
  assert.deepEqual(none.body, NOT_PROVIDED)
})

test('GET /api/get-all-sos/: {status, message, count, data} for staff only', async (t) => {
  const { app, apiUrl } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  const first = await createSos(app, { name: 'first' })
  const second = await createSos(app, { name: 'second' })

  const res = await call(apiUrl, 'GET', '/api/get-all-sos/', { user: dispatcher })
  assert.equal(res.status, 200)
  assert.deepEqual(Object.keys(res.body).sort(), ['count', 'data', 'message', 'status'])
  assert.equal(res.body.status, 'success')
  assert.equal(res.body.message, 'SOS entries fetched successfully')
  assert.equal(res.body.count, 2)
  assert.deepEqual(res.body.data.map((s: { id: number }) => s.id), [second.sos_id, first.sos_id])
  for (const sos of res.body.data) assertSosShape(sos)

  const citizen = await createUser(app, 'citizen')
  const refused = await call(apiUrl, 'GET', '/api/get-all-sos/', { user: citizen })
  assert.equal(refused.status, 403)
  assert.deepEqual(refused.body, FORBIDDEN)
  const anonymous = await call(apiUrl, 'GET', '/api/get-all-sos')
  assert.equal(anonymous.status, 401)
  assert.deepEqual(anonymous.body, NOT_PROVIDED)
})

test('POST /api/resolve-sos/{id}/ on an unknown id is 404 {"error": "SOS not found"}', async (t) => {
  const { app, apiUrl } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  for (const id of ['999999', 'abc']) {
    const res = await call(apiUrl, 'POST', `/api/resolve-sos/${id}/`, { user: dispatcher })
    assert.equal(res.status, 404, id)
    assert.deepEqual(res.body, { error: 'SOS not found' })
  }
})

test('PUT/PATCH /api/sos/{id}/: admin corrections with DRF semantics; others refused', async (t) => {
  const { app, apiUrl } = await buildTestApp(t)
  const admin = await createUser(app, 'admin')
  const sos = await createSos(app, { name: 'Asha', sos_type: 0 })
  const before = (await call(apiUrl, 'GET', `/api/sos/${sos.sos_id}/`, { user: admin })).body

  const patched = await call(apiUrl, 'PATCH', `/api/sos/${sos.sos_id}/`, { user: admin, json: { name: 'Asha R.' } })
  assert.equal(patched.status, 200, patched.text)
  assertSosShape(patched.body)
  assert.equal(patched.body.name, 'Asha R.')
  assert.equal(patched.body.initial_latitude, before.initial_latitude, 'PATCH leaves other fields alone')
  assert.equal(patched.body.room_id, before.room_id)
  assert.equal(patched.body.created_at, before.created_at)

  const put = await call(apiUrl, 'PUT', `/api/sos/${sos.sos_id}`, {
    user: admin,
    json: { name: 'Asha Rao', sos_type: 1, initial_latitude: 13.0, initial_longitude: '77.7' },
  })
  assert.equal(put.status, 200, put.text)
  assert.equal(put.body.name, 'Asha Rao')
  assert.equal(put.body.sos_type, 1)
  assert.equal(put.body.initial_latitude, 13)
  assert.equal(put.body.initial_longitude, 77.7)
  const reread = await call(apiUrl, 'GET', `/api/sos/${sos.sos_id}/`, { user: admin })
  assert.deepEqual(reread.body, put.body, 'the change is stored')

  const incomplete = await call(apiUrl, 'PUT', `/api/sos/${sos.sos_id}/`, { user: admin, json: { name: 'Only a name' } })
  assert.equal(incomplete.status, 400)
  assert.deepEqual(incomplete.body, { initial_latitude: ['This field is required.'], initial_longitude: ['This field is required.'] })

  const outOfRange = await call(apiUrl, 'PATCH', `/api/sos/${sos.sos_id}/`, { user: admin, json: { initial_longitude: 181 } })
  assert.equal(outOfRange.status, 400)
  assert.deepEqual(outOfRange.body, { initial_longitude: ['Ensure this value is less than or equal to 180.'] })

  const dispatcher = await createUser(app, 'dispatcher')
  const notAdmin = await call(apiUrl, 'PATCH', `/api/sos/${sos.sos_id}/`, { user: dispatcher, json: { name: 'x' } })
  assert.equal(notAdmin.status, 403)
  assert.deepEqual(notAdmin.body, FORBIDDEN)
  const victim = await call(apiUrl, 'PATCH', `/api/sos/${sos.sos_id}/`, { headers: { 'x-sos-token': sos.sos_token }, json: { name: 'x' } })
  assert.equal(victim.status, 401, 'the SOS token is no account')
  assert.deepEqual(victim.body, NOT_PROVIDED)
  const unknown = await call(apiUrl, 'PATCH', '/api/sos/999999/', { user: admin, json: { name: 'x' } })
  assert.equal(unknown.status, 404)
  assert.deepEqual(unknown.body, NOT_FOUND)
  assert.equal((await call(apiUrl, 'GET', `/api/sos/${sos.sos_id}/`, { user: admin })).body.name, 'Asha Rao', 'refused changes changed nothing')
})

test('DELETE /api/sos/{id}/: admin only; 204, the SOS is gone and so are its image files', async (t) => {
  const { app, apiUrl, config } = await buildTestApp(t)
  const admin = await createUser(app, 'admin')
  const dispatcher = await createUser(app, 'dispatcher')
  const sos = await createSos(app)
  const keep = await createSos(app, { name: 'kept' })

  const form = new FormData()
  form.append('sos_id', String(sos.sos_id))
  form.append('images', new Blob([IMAGES.png]), 'a.png')
  form.append('images', new Blob([IMAGES.jpg]), 'b.jpg')
  const uploaded = await fetch(`${apiUrl}/api/upload-sos-images/`, { method: 'POST', body: form, headers: { 'x-sos-token': sos.sos_token } })
  assert.equal(uploaded.status, 201)
  const files = ((await uploaded.json()).uploaded_images as Array<{ image: string }>).map((i) => path.join(config.mediaRoot, i.image.replace(/^\/media\//, '')))
  for (const file of files) await fs.access(file)

  const refused = await call(apiUrl, 'DELETE', `/api/sos/${sos.sos_id}/`, { user: dispatcher })
  assert.equal(refused.status, 403)
  assert.deepEqual(refused.body, FORBIDDEN)
  const anonymous = await call(apiUrl, 'DELETE', `/api/sos/${sos.sos_id}/`)
  assert.equal(anonymous.status, 401)
  assert.deepEqual(anonymous.body, NOT_PROVIDED)

  const deleted = await call(apiUrl, 'DELETE', `/api/sos/${sos.sos_id}/`, { user: admin })
  assert.equal(deleted.status, 204)
  assert.equal(deleted.text, '')
  const gone = await call(apiUrl, 'GET', `/api/sos/${sos.sos_id}/`, { user: admin })
  assert.equal(gone.status, 404)
  assert.deepEqual(gone.body, NOT_FOUND)
  for (const file of files) await assert.rejects(fs.access(file), { code: 'ENOENT' }, 'the image file is removed from disk')
  const images = await call(apiUrl, 'GET', `/api/get-sos-images/${sos.sos_id}/`, { user: admin })
  assert.equal(images.status, 404)

  const again = await call(apiUrl, 'DELETE', `/api/sos/${sos.sos_id}`, { user: admin })
  assert.equal(again.status, 404)
  assert.deepEqual(again.body, NOT_FOUND)
  assert.equal((await call(apiUrl, 'GET', `/api/sos/${keep.sos_id}/`, { user: admin })).status, 200, 'other SOS untouched')
})

test('cancel with the sos_token: cancelled, status_flag 1, sos_resolved; then location updates and resolve get 409', async (t) => {
  const { app, apiUrl, socketUrl } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  const sos = await createSos(app)
  const other = await createSos(app)

  const phone = await connect(t, socketUrl)
  assert.equal((await emitAck(phone, 'join_sos_room', { room_id: sos.room_id, sos_token: sos.sos_token })).ok, true)

  const anonymous = await call(apiUrl, 'POST', `/api/sos/${sos.sos_id}/cancel/`)
  assert.equal(anonymous.status, 401)
  assert.deepEqual(anonymous.body, NOT_PROVIDED)
  const wrongToken = await call(apiUrl, 'POST', `/api/sos/${sos.sos_id}/cancel/`, { json: { sos_token: other.sos_token } })
  assert.equal(wrongToken.status, 403)
  assert.deepEqual(wrongToken.body, FORBIDDEN)
  const unknown = await call(apiUrl, 'POST', '/api/sos/999999/cancel/', { json: { sos_token: sos.sos_token } })
  assert.equal(unknown.status, 404)
  assert.deepEqual(unknown.body, NOT_FOUND)

  const closedEvent = next<Record<string, unknown>>(phone, 'sos_resolved')
  const cancelled = await call(apiUrl, 'POST', `/api/sos/${sos.sos_id}/cancel/`, { json: { sos_token: sos.sos_token } })
  assert.equal(cancelled.status, 200, cancelled.text)
  assert.equal(cancelled.body.status, 'SOS cancelled successfully')
  assertSosShape(cancelled.body.sos)
  assertFlags(cancelled.body.sos, 'cancelled', 1, 0)
  assert.equal((await closedEvent).sos_id, sos.sos_id)

  const late = await call(apiUrl, 'POST', '/api/update-location/', {
    headers: { 'x-sos-token': sos.sos_token },
    json: { sos_request: sos.sos_id, latitude: 12.9, longitude: 77.6 },
  })
  assert.equal(late.status, 409)
  assert.equal(typeof late.body.detail, 'string')

  const resolve = await call(apiUrl, 'POST', `/api/resolve-sos/${sos.sos_id}/`, { user: dispatcher })
  assert.equal(resolve.status, 409)
  assert.equal(typeof resolve.body.detail, 'string')

  const twice = await call(apiUrl, 'POST', `/api/sos/${sos.sos_id}/cancel`, { headers: { 'x-sos-token': sos.sos_token } })
  assert.equal(twice.status, 409)

  const read = await call(apiUrl, 'GET', `/api/sos/${sos.sos_id}/`, { user: dispatcher })
  assertFlags(read.body, 'cancelled', 1, 0)
  assert.deepEqual(read.body.location_updates, [], 'the refused update was not stored')
})

test('acknowledge by staff: active → acknowledged once; a second time, or by a citizen, is refused', async (t) => {
  const { app, apiUrl } = await buildTestApp(t)
  const officer = await createUser(app, 'officer', 'UNIT002')
  const citizen = await createUser(app, 'citizen')
  const sos = await createSos(app)

  const anonymous = await call(apiUrl, 'POST', `/api/sos/${sos.sos_id}/acknowledge/`)
  assert.equal(anonymous.status, 401)
  assert.deepEqual(anonymous.body, NOT_PROVIDED)
  const asCitizen = await call(apiUrl, 'POST', `/api/sos/${sos.sos_id}/acknowledge/`, { user: citizen })
  assert.equal(asCitizen.status, 403)
  assert.deepEqual(asCitizen.body, FORBIDDEN)
  // An SOS token is no account: staff-only actions treat its holder as unauthenticated.
  const asVictim = await call(apiUrl, 'POST', `/api/sos/${sos.sos_id}/acknowledge/`, { headers: { 'x-sos-token': sos.sos_token } })
  assert.equal(asVictim.status, 401)
  assert.deepEqual(asVictim.body, NOT_PROVIDED)

  const acked = await call(apiUrl, 'POST', `/api/sos/${sos.sos_id}/acknowledge/`, { user: officer })
  assert.equal(acked.status, 200, acked.text)
  assert.equal(acked.body.status, 'SOS acknowledged successfully')
  assertSosShape(acked.body.sos)
  assertFlags(acked.body.sos, 'acknowledged', 0, 1)

  const twice = await call(apiUrl, 'POST', `/api/sos/${sos.sos_id}/acknowledge`, { user: officer })
  assert.equal(twice.status, 409)
  assert.equal(typeof twice.body.detail, 'string')

  const unknown = await call(apiUrl, 'POST', '/api/sos/999999/acknowledge/', { user: officer })
  assert.equal(unknown.status, 404)
  assert.deepEqual(unknown.body, NOT_FOUND)
})

test('the state machine keeps status_flag and acknowledged_flag consistent through every step; timestamps are ISO 8601 UTC with ms', async (t) => {
  const { app, apiUrl } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  const sos = await createSos(app)
  const read = async () => (await call(apiUrl, 'GET', `/api/sos/${sos.sos_id}/`, { user: dispatcher })).body

  assertFlags(await read(), 'active', 0, 0)
  assert.equal((await call(apiUrl, 'POST', `/api/sos/${sos.sos_id}/acknowledge/`, { user: dispatcher })).status, 200)
  assertFlags(await read(), 'acknowledged', 0, 1)

  const located = await call(apiUrl, 'POST', '/api/update-location/', {
    headers: { 'x-sos-token': sos.sos_token },
    json: { sos_request: sos.sos_id, latitude: 12.98, longitude: 77.6 },
  })
  assert.equal(located.status, 201)
  const assigned = await call(apiUrl, 'POST', '/api/assign-officer/', {
    user: dispatcher,
    json: { sos_request: sos.sos_id, officer_name: 'SI Meera', unit_number: 'UNIT007' },
  })
  assert.equal(assigned.status, 201)
  const dispatched = await read()
  assertFlags(dispatched, 'dispatched', 0, 1)
  assert.equal(dispatched.unit_number_dispatched, 'UNIT007')
  const illegalAck = await call(apiUrl, 'POST', `/api/sos/${sos.sos_id}/acknowledge/`, { user: dispatcher })
  assert.equal(illegalAck.status, 409, 'dispatched → acknowledged is not a legal transition')

  const form = new FormData()
  form.append('sos_id', String(sos.sos_id))
  form.append('images', new Blob([IMAGES.gif]), 'a.gif')
  assert.equal((await fetch(`${apiUrl}/api/upload-sos-images/`, { method: 'POST', body: form, headers: { 'x-sos-token': sos.sos_token } })).status, 201)

  const resolved = await call(apiUrl, 'POST', `/api/resolve-sos/${sos.sos_id}/`, { user: dispatcher })
  assert.equal(resolved.status, 200)
  assertFlags(resolved.body.sos, 'resolved', 1, 1)
  const final = await read()
  assertFlags(final, 'resolved', 1, 1)

  // After resolution nothing moves it again.
  for (const [method, urlPath, json] of [
    ['POST', `/api/sos/${sos.sos_id}/acknowledge/`, undefined],
    ['POST', `/api/sos/${sos.sos_id}/cancel/`, undefined],
    ['POST', `/api/resolve-sos/${sos.sos_id}/`, undefined],
    ['POST', '/api/assign-officer/', { sos_request: sos.sos_id, officer_name: 'SI Ravi', unit_number: 'UNIT008' }],
  ] as const) {
    const res = await call(apiUrl, method, urlPath, { user: dispatcher, json })
    assert.equal(res.status, 409, `${urlPath} on a resolved SOS: ${res.text}`)
  }
  assertFlags(await read(), 'resolved', 1, 1)

  // Every timestamp of the SOS object, in the contract's format.
  const stamps = [
    final.created_at,
    final.updated_at,
    ...final.location_updates.map((l: { timestamp: string }) => l.timestamp),
    ...final.officer_assignments.map((a: { assigned_at: string }) => a.assigned_at),
    ...final.images.map((i: { uploaded_at: string }) => i.uploaded_at),
  ]
  assert.equal(stamps.length, 5)
  for (const stamp of stamps) assert.match(stamp, ISO_MS)
  assert.ok(Date.parse(final.updated_at) >= Date.parse(final.created_at))
  assert.equal(located.body.location.timestamp, final.location_updates[0].timestamp)
  assert.match(assigned.body.officer.assigned_at, ISO_MS)
})

test('socket create_sos: create_sos_response {success: true, data} and ack {ok: true}; bad input answers success: false', async (t) => {
  const { app, apiUrl, socketUrl } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  const control = await connect(t, socketUrl, dispatcher.token)
  await emitAck(control, 'join_sos_channel', {})
  const phone = await connect(t, socketUrl)

  const alert = next<Record<string, unknown>>(control, 'new_sos')
  const response = next<{ success: boolean; data: Record<string, unknown> }>(phone, 'create_sos_response')
  const ack = await emitAck(phone, 'create_sos', { name: 'Deepa', sos_type: '1', initial_latitude: 19.076, initial_longitude: '72.8777' })
  const event = await response
  assert.equal(event.success, true)
  assert.deepEqual(Object.keys(event.data).sort(), ['message', 'room_id', 'sos_id', 'sos_token', 'status'])
  assert.equal(event.data.status, 'success')
  assert.equal(event.data.message, 'SOS created successfully')
  assert.match(String(event.data.room_id), UUID)
  assert.deepEqual(ack, { ok: true, data: event.data })
  assert.equal((await alert).sos_id, event.data.sos_id)

  // Same effect as REST: the SOS exists and the returned token reads it.
  const read = await call(apiUrl, 'GET', `/api/sos/${event.data.sos_id}/`, { headers: { 'x-sos-token': String(event.data.sos_token) } })
  assert.equal(read.status, 200)
  assert.equal(read.body.name, 'Deepa')
  assert.equal(read.body.sos_type, 1)
  assert.equal(read.body.initial_longitude, 72.8777)

  const failed = next<Record<string, unknown>>(phone, 'create_sos_response')
  const refusedAck = await emitAck(phone, 'create_sos', { name: 'Deepa', initial_latitude: 200, initial_longitude: 72 })
  const failure = await failed
  assert.equal(failure.success, false)
  assert.equal(typeof failure.error, 'string')
  assert.equal(refusedAck.ok, false)
  assert.equal(refusedAck.error?.code, 'validation_error')
  assert.deepEqual(refusedAck.error?.fields, { initial_latitude: ['Ensure this value is less than or equal to 90.'] })
  assert.equal(phone.connected, true, 'the connection stays up')
  const all = await call(apiUrl, 'GET', '/api/get-all-sos/', { user: dispatcher })
  assert.equal(all.body.count, 1, 'the refused create stored nothing')
})

test('socket update_location: update_location_response {success, data} with the stored point; refusals answer success: false', async (t) => {
  const { app, apiUrl, socketUrl } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  const sos = await createSos(app)
  const other = await createSos(app)
  const phone = await connect(t, socketUrl)

  const response = next<{ success: boolean; data: Record<string, unknown> }>(phone, 'update_location_response')
  const ack = await emitAck(phone, 'update_location', { sos_request: sos.sos_id, latitude: '12.99', longitude: 77.61, sos_token: sos.sos_token })
  const event = await response
  assert.equal(event.success, true)
  assert.equal(event.data.status, 'Location updated successfully')
  const location = event.data.location as Record<string, unknown>
  assert.deepEqual({ ...location, id: undefined, timestamp: undefined }, { id: undefined, sos_request: sos.sos_id, latitude: 12.99, longitude: 77.61, timestamp: undefined, accuracy: null })
  assert.match(String(location.timestamp), ISO_MS)
  assert.deepEqual(ack, { ok: true, data: event.data })

  const read = await call(apiUrl, 'GET', `/api/sos/${sos.sos_id}/`, { user: dispatcher })
  assert.deepEqual(read.body.location_updates, [location], 'the same point is stored')

  const refused = next<Record<string, unknown>>(phone, 'update_location_response')
  const refusedAck = await emitAck(phone, 'update_location', { sos_request: sos.sos_id, latitude: 1, longitude: 1, sos_token: other.sos_token })
  assert.deepEqual(await refused, { success: false, error: 'You do not have permission to perform this action.', code: 'permission_denied' })
  assert.deepEqual(refusedAck, { ok: false, error: { code: 'permission_denied', message: 'You do not have permission to perform this action.' } })

  await call(apiUrl, 'POST', `/api/sos/${sos.sos_id}/cancel/`, { json: { sos_token: sos.sos_token } })
  const closed = next<Record<string, unknown>>(phone, 'update_location_response')
  const closedAck = await emitAck(phone, 'update_location', { sos_request: sos.sos_id, latitude: 1, longitude: 1, sos_token: sos.sos_token })
  const closedEvent = await closed
  assert.equal(closedEvent.success, false)
  assert.equal(closedEvent.code, 'conflict')
  assert.equal(closedAck.ok, false)
  assert.equal(closedAck.error?.code, 'conflict')
  assert.equal((await call(apiUrl, 'GET', `/api/sos/${sos.sos_id}/`, { user: dispatcher })).body.location_updates.length, 1)
})
