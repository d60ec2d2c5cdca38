// Offline phones: a batch of buffered fixes with the phone's own times (POST /api/sos/{id}/locations/), recorded_at
// and accuracy on update-location and the socket, duplicates, future-dated fixes, the fix order in every read, live push.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { buildTestApp } from '../../helpers/app.ts'
import { auth, createSos, createUser, type CreatedSos } from '../../helpers/factories.ts'
import { collect, connect, emitAck, next, settle } from '../../helpers/sockets.ts'

const iso = (ms: number) => new Date(ms).toISOString()
/** A fix at `ms` (the phone's clock), somewhere near Bengaluru. */
const fix = (ms: number, extra: Record<string, unknown> = {}) => ({ latitude: 12.9 + (ms % 1000) / 1e5, longitude: 77.6, recorded_at: iso(ms), ...extra })

interface BatchAnswer {
  status: string
  accepted: number
  duplicates: number
  rejected: Array<{ index: number; errors: Record<string, string[]> }>
  locations: Array<{ id: number; sos_request: number; latitude: number; longitude: number; timestamp: string; accuracy: number | null }>
}

function postBatch(app: FastifyInstance, sos: CreatedSos, payload: unknown, headers: Record<string, string | undefined> = { 'x-sos-token': sos.sos_token }) {
  return app.inject({ method: 'POST', url: `/api/sos/${sos.sos_id}/locations/`, headers, payload: payload as object })
}

async function timestampsOf(app: FastifyInstance, sos: CreatedSos): Promise<string[]> {
  const res = await app.inject({ method: 'GET', url: `/api/sos/${sos.sos_id}/`, headers: { 'x-sos-token': sos.sos_token } })
  assert.equal(res.statusCode, 200)
  return res.json().location_updates.map((point: { timestamp: string }) => point.timestamp)
}

test('a batch is stored with the phone\'s times; GET, the room replay and paging follow the phone\'s time, not arrival', async (t) => {
  const { app, socketUrl } = await buildTestApp(t)
  const sos = await createSos(app)
  const base = Date.now() - 3_600_000
  const minute = 60_000

  // Out of order, as a phone's buffer may be; one with accuracy, one with epoch milliseconds.
  const first = await postBatch(app, sos, [fix(base + 3 * minute), fix(base + minute, { accuracy: 12.5 }), { ...fix(base + 2 * minute), recorded_at: base + 2 * minute }])
  assert.equal(first.statusCode, 201, first.body)
  const answer = first.json() as BatchAnswer
  assert.equal(answer.status, 'Locations stored')
  assert.equal(answer.accepted, 3)
  assert.equal(answer.duplicates, 0)
  assert.deepEqual(answer.rejected, [])
  assert.deepEqual(answer.locations.map((p) => p.timestamp), [iso(base + minute), iso(base + 2 * minute), iso(base + 3 * minute)], 'answered in the phone\'s time order')
  assert.deepEqual(answer.locations.map((p) => p.accuracy), [12.5, null, null])

  // A live point (server time, the newest), then a late fix from before all of them.
  const live = await app.inject({ method: 'POST', url: '/api/update-location/', headers: { 'x-sos-token': sos.sos_token }, payload: { sos_request: sos.sos_id, latitude: 13, longitude: 77.7 } })
  assert.equal(live.statusCode, 201)
  const liveTime = live.json().location.timestamp as string
  const late = await postBatch(app, sos, { locations: [fix(base)], sos_token: sos.sos_token }, {})
  assert.equal(late.statusCode, 201, late.body)

  const expected = [iso(base), iso(base + minute), iso(base + 2 * minute), iso(base + 3 * minute), liveTime]
  assert.deepEqual(await timestampsOf(app, sos), expected, 'GET /api/sos/{id}/ embeds the points in the phone\'s time order')

  const phone = await connect(t, socketUrl)
  const replay = next<{ updates: Array<{ timestamp: string }> }>(phone, 'location_history')
  assert.equal((await emitAck(phone, 'join_sos_room', { room_id: sos.room_id, sos_token: sos.sos_token })).ok, true)
  assert.deepEqual((await replay).updates.map((p) => p.timestamp), expected, 'the room replay too')

  // Paging by `after` walks the same order, page by page, following `next`.
  const paged: string[] = []
  let url: string | null = `/api/sos/${sos.sos_id}/locations/?limit=2`
  let pages = 0
  while (url) {
    const res: LightMyRequestResponse = await app.inject({ method: 'GET', url: url.replace(/^https?:\/\/[^/]+/, ''), headers: { 'x-sos-token': sos.sos_token } })
    assert.equal(res.statusCode, 200, res.body)
    const body = res.json() as { count: number; next: string | null; results: Array<{ timestamp: string }> }
    assert.equal(body.count, 5)
    paged.push(...body.results.map((p) => p.timestamp))
    if (body.next) assert.match(body.next, /[?&]after=\d+&limit=2$/)
    url = body.next
    pages += 1
  }
  assert.deepEqual(paged, expected)
  assert.equal(pages, 3)

  // `received_after` pages storage order: what arrived since a given point (the late fix last).
  const byReceipt: string[] = []
  url = `/api/sos/${sos.sos_id}/locations/?received_after=0&limit=3`
  while (url) {
    const res: LightMyRequestResponse = await app.inject({ method: 'GET', url: url.replace(/^https?:\/\/[^/]+/, ''), headers: { 'x-sos-token': sos.sos_token } })
    const body = res.json() as { next: string | null; results: Array<{ timestamp: string }> }
    byReceipt.push(...body.results.map((p) => p.timestamp))
    if (body.next) assert.match(body.next, /[?&]received_after=\d+&limit=3$/)
    url = body.next
  }
  assert.deepEqual(byReceipt, [iso(base + minute), iso(base + 2 * minute), iso(base + 3 * minute), liveTime, iso(base)])

  const both = await app.inject({ method: 'GET', url: `/api/sos/${sos.sos_id}/locations/?after=1&received_after=1`, headers: { 'x-sos-token': sos.sos_token } })
  assert.equal(both.statusCode, 400)
  assert.deepEqual(both.json(), { non_field_errors: ['Use either after or received_after, not both.'] })
  const other = await createSos(app)
  const foreign = await app.inject({ method: 'GET', url: `/api/sos/${other.sos_id}/locations/?after=${answer.locations[0].id}`, headers: { 'x-sos-token': other.sos_token } })
  assert.equal(foreign.statusCode, 400, 'a cursor must be a point of this SOS')
  assert.deepEqual(foreign.json(), { after: ['No location point of this SOS has this id.'] })
})

test('duplicates (the same recorded_at) are dropped within a batch and against stored points, however the time is written', async (t) => {
  const { app } = await buildTestApp(t)
  const sos = await createSos(app)
  const at = Date.UTC(2026, 0, 15, 8, 30, 0, 250)

  const first = await postBatch(app, sos, [fix(at), fix(at + 1000), { ...fix(at), latitude: 10 }])
  assert.equal(first.statusCode, 201)
  assert.deepEqual({ ...(first.json() as BatchAnswer), locations: undefined }, { status: 'Locations stored', accepted: 2, duplicates: 1, rejected: [], locations: undefined })
  assert.equal(first.json().locations[0].latitude, fix(at).latitude, 'the first of two items with one time is the one kept')

  // The same instants as an offset time and as epoch milliseconds: still the same fixes.
  const again = await postBatch(app, sos, [
    { latitude: 1, longitude: 1, recorded_at: '2026-01-15T14:00:00.250+05:30' },
    { latitude: 1, longitude: 1, recorded_at: at + 1000 },
  ])
  assert.equal(again.statusCode, 201, 'a batch of duplicates only is still a success: a retried upload')
  assert.deepEqual(again.json(), { status: 'Locations stored', accepted: 0, duplicates: 2, rejected: [], locations: [] })

  // update-location with a stored time: answered with the stored point, nothing new.
  const single = await app.inject({ method: 'POST', url: '/api/update-location/', headers: { 'x-sos-token': sos.sos_token }, payload: { sos_request: sos.sos_id, latitude: 5, longitude: 5, recorded_at: iso(at) } })
  assert.equal(single.statusCode, 201)
  assert.equal(single.json().duplicate, true)
  assert.deepEqual(single.json().location, first.json().locations[0])
  assert.deepEqual(await timestampsOf(app, sos), [iso(at), iso(at + 1000)])

  // Server-timed points are never de-duplicated (two original clients may post in the same millisecond).
  const count = await app.db.selectFrom('location_updates').select((eb) => eb.fn.countAll<number>().as('n')).where('sos_request_id', '=', sos.sos_id).executeTakeFirstOrThrow()
  assert.equal(Number(count.n), 2)
})

test('future-dated and invalid items are refused per item, by index; the valid ones are stored; none valid is 400', async (t) => {
  const { app } = await buildTestApp(t, { locationClockSkewSeconds: 120 })
  const sos = await createSos(app)
  const now = Date.now()
  const res = await postBatch(app, sos, [
    fix(now - 5000),
    fix(now + 10 * 60_000),
    { ...fix(now - 4000), latitude: 91 },
    'not a fix',
    { latitude: 1, longitude: 2 },
    { ...fix(now - 3000), recorded_at: '2026-01-15T08:30:00' },
    fix(now + 60_000),
    { ...fix(now - 2000), accuracy: -1 },
    { ...fix(now - 1000), recorded_at: 1_700_000_000 },
    { ...fix(now - 900), recorded_at: '2026-02-30T10:00:00Z' },
  ])
  assert.equal(res.statusCode, 201, res.body)
  const body = res.json() as BatchAnswer
  assert.equal(body.accepted, 2, 'the fix of 5 s ago, and one 60 s ahead (inside the 120 s clock skew)')
  assert.equal(body.duplicates, 0)
  const formatError = 'Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]](Z|+HH:MM|-HH:MM), or epoch milliseconds.'
  assert.deepEqual(body.rejected, [
    { index: 1, errors: { recorded_at: ['Ensure this value is not in the future (at most 120 seconds ahead of the server\'s clock).'] } },
    { index: 2, errors: { latitude: ['Ensure this value is less than or equal to 90.'] } },
    { index: 3, errors: { non_field_errors: ['Invalid data. Expected a dictionary, but got str.'] } },
    { index: 4, errors: { recorded_at: ['This field is required.'] } },
    { index: 5, errors: { recorded_at: [formatError] } },
    { index: 7, errors: { accuracy: ['Ensure this value is greater than or equal to 0.'] } },
    { index: 8, errors: { recorded_at: ['Ensure this value is on or after 2000-01-01T00:00:00Z (epoch milliseconds, not seconds).'] } },
    { index: 9, errors: { recorded_at: [formatError] } },
  ])
  assert.deepEqual(body.locations.map((p) => p.timestamp), [iso(now - 5000), iso(now + 60_000)])

  const none = await postBatch(app, sos, [fix(now + 3_600_000), { latitude: 'x', longitude: 1, recorded_at: iso(now) }])
  assert.equal(none.statusCode, 400)
  assert.deepEqual(none.json(), {
    non_field_errors: ['No location in this batch was valid.'],
    rejected: [
      { index: 0, errors: { recorded_at: ['Ensure this value is not in the future (at most 120 seconds ahead of the server\'s clock).'] } },
      { index: 1, errors: { latitude: ['A valid number is required.'] } },
    ],
  })

  const single = await app.inject({ method: 'POST', url: '/api/update-location/', headers: { 'x-sos-token': sos.sos_token }, payload: { sos_request: sos.sos_id, latitude: 1, longitude: 1, recorded_at: iso(now + 3_600_000) } })
  assert.equal(single.statusCode, 400)
  assert.deepEqual(single.json(), { recorded_at: ['Ensure this value is not in the future (at most 120 seconds ahead of the server\'s clock).'] })
  const badAccuracy = await app.inject({ method: 'POST', url: '/api/update-location/', headers: { 'x-sos-token': sos.sos_token }, payload: { sos_request: sos.sos_id, latitude: 1, longitude: 1, accuracy: 1e9 } })
  assert.equal(badAccuracy.statusCode, 400)
  assert.deepEqual(badAccuracy.json(), { accuracy: ['Ensure this value is less than or equal to 100000.'] })
  assert.equal((await timestampsOf(app, sos)).length, 2, 'nothing else was stored')
})

test('batch shapes and limits: a bare array or {locations}, at most LOCATION_BATCH_MAX items, never empty', async (t) => {
  const { app } = await buildTestApp(t, { locationBatchMax: 5 })
  const sos = await createSos(app)
  const base = Date.now() - 600_000
  const six = Array.from({ length: 6 }, (_, i) => fix(base + i * 1000))

  const overBare = await postBatch(app, sos, six)
  assert.equal(overBare.statusCode, 400)
  assert.deepEqual(overBare.json(), { non_field_errors: ['Ensure this field has no more than 5 elements.'] })
  const overObject = await postBatch(app, sos, { locations: six })
  assert.equal(overObject.statusCode, 400)
  assert.deepEqual(overObject.json(), { locations: ['Ensure this field has no more than 5 elements.'] })
  assert.deepEqual((await postBatch(app, sos, [])).json(), { non_field_errors: ['This list may not be empty.'] })
  assert.deepEqual((await postBatch(app, sos, { locations: [] })).json(), { locations: ['This list may not be empty.'] })
  assert.deepEqual((await postBatch(app, sos, {})).json(), { locations: ['This field is required.'] })
  assert.deepEqual((await postBatch(app, sos, { locations: 'x' })).json(), { locations: ['Expected a list of items but got type "str".'] })
  assert.equal((await timestampsOf(app, sos)).length, 0, 'a refused batch stores nothing')

  const exactly = await postBatch(app, sos, six.slice(0, 5))
  assert.equal(exactly.statusCode, 201)
  assert.equal(exactly.json().accepted, 5)
  const trailing = await app.inject({ method: 'POST', url: `/api/sos/${sos.sos_id}/locations`, headers: { 'x-sos-token': sos.sos_token }, payload: [fix(base + 9000)] })
  assert.equal(trailing.statusCode, 201, 'the path without its trailing slash works too')
})

test('batch credentials: the SOS token (header or body), the owner, staff; others refused; legacy mode lets anyone', async (t) => {
  const { app } = await buildTestApp(t)
  const owner = await createUser(app, 'citizen')
  const stranger = await createUser(app, 'citizen')
  const dispatcher = await createUser(app, 'dispatcher')
  const sos = await createSos(app, {}, owner)
  const other = await createSos(app)
  let at = Date.now() - 600_000
  const batch = () => [fix((at += 1000))]

  assert.equal((await postBatch(app, sos, batch(), {})).statusCode, 401)
  assert.deepEqual((await postBatch(app, sos, batch(), {})).json(), { detail: 'Authentication credentials were not provided.' })
  assert.equal((await postBatch(app, sos, batch(), { 'x-sos-token': other.sos_token })).statusCode, 403, 'another SOS\'s token')
  assert.equal((await postBatch(app, sos, { locations: batch(), sos_token: other.sos_token }, {})).statusCode, 403)
  assert.equal((await postBatch(app, sos, batch(), auth(stranger))).statusCode, 403, 'a citizen who is not the owner')
  assert.equal((await postBatch(app, { ...sos, sos_id: 999_999 }, batch())).statusCode, 404)

  assert.equal((await postBatch(app, sos, batch())).statusCode, 201, 'token in X-SOS-Token')
  assert.equal((await postBatch(app, sos, { locations: batch(), sos_token: sos.sos_token }, {})).statusCode, 201, 'token in the body')
  assert.equal((await postBatch(app, sos, batch(), auth(owner))).statusCode, 201, 'the owner')
  assert.equal((await postBatch(app, sos, batch(), auth(dispatcher))).statusCode, 201, 'staff')
  assert.equal((await timestampsOf(app, sos)).length, 4)

  const legacy = await buildTestApp(t, { legacyOpenAccess: true })
  const open = await createSos(legacy.app)
  assert.equal((await postBatch(legacy.app, open, batch(), {})).statusCode, 201, 'legacy: anyone, as update-location')
})

test('a closed SOS refuses the batch with 409 and stores nothing', async (t) => {
  const { app } = await buildTestApp(t)
  const sos = await createSos(app)
  const cancelled = await app.inject({ method: 'POST', url: `/api/sos/${sos.sos_id}/cancel/`, headers: { 'x-sos-token': sos.sos_token } })
  assert.equal(cancelled.statusCode, 200)
  const res = await postBatch(app, sos, [fix(Date.now() - 1000)])
  assert.equal(res.statusCode, 409)
  assert.deepEqual(res.json(), { detail: 'This SOS is closed; it no longer accepts location updates.' })
  assert.equal((await timestampsOf(app, sos)).length, 0)
})

test('one batch is one transaction: racing a resolve, it is stored whole or not at all', async (t) => {
  const { app } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  const base = Date.now() - 3_600_000
  for (let round = 0; round < 4; round++) {
    const sos = await createSos(app)
    const points = Array.from({ length: 200 }, (_, i) => fix(base + i * 1000))
    const [batch, resolved] = await Promise.all([
      postBatch(app, sos, points),
      app.inject({ method: 'POST', url: `/api/resolve-sos/${sos.sos_id}/`, headers: auth(dispatcher) }),
    ])
    assert.equal(resolved.statusCode, 200)
    const stored = (await app.inject({ method: 'GET', url: `/api/sos/${sos.sos_id}/locations/`, headers: auth(dispatcher) })).json().count
    if (batch.statusCode === 201) assert.equal(stored, 200, `round ${round}: all of it`)
    else {
      assert.equal(batch.statusCode, 409)
      assert.equal(stored, 0, `round ${round}: none of it`)
    }
  }
})

test('only a point newer than every stored one is pushed live (room, tracking channel, unit room); older ones are stored quietly', async (t) => {
  const { app, socketUrl } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  const officer = await createUser(app, 'officer', 'UNIT031')
  const sos = await createSos(app)
  const assigned = await app.inject({ method: 'POST', url: '/api/assign-officer/', headers: auth(dispatcher), payload: { sos_request: sos.sos_id, officer_name: 'SI Rao', unit_number: 'UNIT031' } })
  assert.equal(assigned.statusCode, 201)

  const room = await connect(t, socketUrl, dispatcher.token)
  assert.equal((await emitAck(room, 'join_sos_room', sos.room_id)).ok, true)
  const tracking = await connect(t, socketUrl, dispatcher.token)
  assert.equal((await emitAck(tracking, 'join_location_tracking_channel', {})).ok, true)
  const unit = await connect(t, socketUrl, officer.token)
  assert.equal((await emitAck(unit, 'join_officer_room', 'UNIT031')).ok, true)
  const roomSeen = collect<{ timestamp: string; accuracy?: number; id: number }>(room, 'location_history')
  const trackingSeen = collect<{ timestamp: string }>(tracking, 'location_tracking_update')
  const unitSeen = collect<{ timestamp: string }>(unit, 'unit_location_update')

  const base = Date.now() - 3_600_000
  const stamps = (items: Array<{ timestamp: string }>) => items.map((p) => p.timestamp)

  const first = await postBatch(app, sos, [fix(base + 20_000), fix(base + 10_000)])
  assert.equal(first.statusCode, 201)
  await settle()
  assert.deepEqual(stamps(roomSeen), [iso(base + 10_000), iso(base + 20_000)], 'nothing stored yet: both are newer, pushed in the phone\'s order')

  // Older than the newest stored: stored, not pushed. Mixed: only the newer ones, in order.
  assert.equal((await postBatch(app, sos, [fix(base + 5000), fix(base + 15_000)])).json().accepted, 2)
  assert.equal((await postBatch(app, sos, [fix(base + 40_000), fix(base + 1000), fix(base + 30_000, { accuracy: 8 })])).json().accepted, 3)
  const older = await app.inject({ method: 'POST', url: '/api/update-location/', headers: { 'x-sos-token': sos.sos_token }, payload: { sos_request: sos.sos_id, latitude: 1, longitude: 1, recorded_at: iso(base + 2000) } })
  assert.equal(older.statusCode, 201)
  assert.deepEqual(Object.keys(older.json()).sort(), ['location', 'status'], 'an older single fix keeps update-location\'s answer')
  const newer = await app.inject({ method: 'POST', url: '/api/update-location/', headers: { 'x-sos-token': sos.sos_token }, payload: { sos_request: sos.sos_id, latitude: 2, longitude: 2, recorded_at: iso(base + 50_000), accuracy: 3 } })
  assert.equal(newer.statusCode, 201)
  // A duplicate is not pushed again either.
  assert.equal((await postBatch(app, sos, [fix(base + 50_000)])).json().duplicates, 1)
  await settle()

  const pushed = [iso(base + 10_000), iso(base + 20_000), iso(base + 30_000), iso(base + 40_000), iso(base + 50_000)]
  assert.deepEqual(stamps(roomSeen), pushed)
  assert.deepEqual(stamps(trackingSeen), pushed)
  assert.deepEqual(stamps(unitSeen), pushed)
  assert.equal(roomSeen[2].accuracy, 8, 'live points carry the accuracy when the phone sent one')
  assert.equal(roomSeen[4].accuracy, 3)
  assert.equal('accuracy' in roomSeen[0], false)
  assert.equal(roomSeen[4].id, newer.json().location.id)

  const everything = (await app.inject({ method: 'GET', url: `/api/sos/${sos.sos_id}/locations/`, headers: auth(dispatcher) })).json()
  assert.equal(everything.count, 9, 'every fix is stored, pushed or not')
})

test('socket update_location takes recorded_at (ISO or epoch ms) and accuracy; refusals name the field', async (t) => {
  const { app, socketUrl } = await buildTestApp(t)
  const sos = await createSos(app)
  const phone = await connect(t, socketUrl)
  const at = Date.now() - 120_000

  const ack = await emitAck(phone, 'update_location', { sos_request: sos.sos_id, latitude: 12.95, longitude: 77.6, recorded_at: at, accuracy: '4.5', sos_token: sos.sos_token })
  assert.equal(ack.ok, true, JSON.stringify(ack))
  const location = (ack.data as { location: Record<string, unknown> }).location
  assert.equal(location.timestamp, iso(at))
  assert.equal(location.accuracy, 4.5)

  const repeat = await emitAck(phone, 'update_location', { sos_request: sos.sos_id, latitude: 1, longitude: 1, recorded_at: iso(at), sos_token: sos.sos_token })
  assert.equal(repeat.ok, true)
  assert.deepEqual(repeat.data, { status: 'Location updated successfully', location, duplicate: true })

  const future = await emitAck(phone, 'update_location', { sos_request: sos.sos_id, latitude: 1, longitude: 1, recorded_at: iso(Date.now() + 3_600_000), sos_token: sos.sos_token })
  assert.equal(future.ok, false)
  assert.equal(future.error?.code, 'validation_error')
  assert.deepEqual(future.error?.fields, { recorded_at: ['Ensure this value is not in the future (at most 120 seconds ahead of the server\'s clock).'] })
  assert.equal(phone.connected, true)
})

test('without the new fields update-location behaves as before: server time, no accuracy, the original answer', async (t) => {
  const { app } = await buildTestApp(t)
  const sos = await createSos(app)
  const before = Date.now()
  const res = await app.inject({ method: 'POST', url: '/api/update-location/', headers: { 'x-sos-token': sos.sos_token }, payload: { sos_request: sos.sos_id, latitude: 12.98, longitude: 77.6 } })
  assert.equal(res.statusCode, 201)
  const body = res.json()
  assert.deepEqual(Object.keys(body).sort(), ['location', 'status'])
  assert.deepEqual({ ...body.location, id: undefined, timestamp: undefined }, { id: undefined, sos_request: sos.sos_id, latitude: 12.98, longitude: 77.6, timestamp: undefined, accuracy: null })
  const stamped = Date.parse(body.location.timestamp)
  assert.ok(stamped >= before - 5 && stamped <= Date.now() + 5, 'stamped with the server\'s clock')
  const row = await app.db.selectFrom('location_updates').selectAll().where('id', '=', body.location.id).executeTakeFirstOrThrow()
  assert.equal(row.client_time, 0)
  assert.equal(row.received_at, row.timestamp, 'received_at is the server time, here the same as the point\'s time')

  // Two server-timed points are never merged, even in the same millisecond.
  const again = await Promise.all([1, 2].map((n) => app.inject({ method: 'POST', url: '/api/update-location/', headers: { 'x-sos-token': sos.sos_token }, payload: { sos_request: sos.sos_id, latitude: n, longitude: n } })))
  assert.deepEqual(again.map((r) => r.statusCode), [201, 201])
  assert.equal((await timestampsOf(app, sos)).length, 3)
})
