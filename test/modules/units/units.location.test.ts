// Officers' position reports over REST (POST /api/units/{unit_number}/location/) and their bounded history
// (GET /api/units/{unit_number}/locations/): the same store and `unit_loc` broadcast as the socket
// `officer_location_update`, the newest UNIT_POSITION_HISTORY kept per unit, also under concurrent reports.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import type { UnitSnapshot } from '../../../src/realtime/contract.ts'
import { findUnitLocation } from '../../../src/modules/units/units.repository.ts'
import { buildTestApp } from '../../helpers/app.ts'
import { auth, createSos, createUser } from '../../helpers/factories.ts'
import { call } from '../../helpers/http.ts'
import { collect, connect, emitAck, next, settle } from '../../helpers/sockets.ts'

interface UnitLoc {
  unit_id: string
  latitude: number
  longitude: number
  timestamp: string
}

test('REST report: 201 with the stored position, broadcast as unit_loc exactly like the socket event', async (t) => {
  const { app, apiUrl, socketUrl } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  const officer = await createUser(app, 'officer', 'UNIT007')
  const watcher = await connect(t, socketUrl, dispatcher.token)
  assert.equal((await emitAck(watcher, 'join_officer_update', {})).ok, true)
  const heard = collect<UnitLoc>(watcher, 'unit_loc')

  // The same report, once over REST and once over the socket.
  const timestamp = new Date(Date.now() - 5000).toISOString()
  const restHeard = next<UnitLoc>(watcher, 'unit_loc')
  const rest = await call(apiUrl, 'POST', '/api/units/UNIT007/location/', { user: officer, json: { latitude: 12.95, longitude: 77.55, timestamp } })
  assert.equal(rest.status, 201, rest.text)
  const expected = { unit_id: 'UNIT007', latitude: 12.95, longitude: 77.55, timestamp }
  assert.deepEqual(rest.body, expected)
  assert.deepEqual(await restHeard, expected)

  const phone = await connect(t, socketUrl, officer.token)
  const socketHeard = next<UnitLoc>(watcher, 'unit_loc')
  const ack = await emitAck(phone, 'officer_location_update', { unit_id: 'UNIT007', latitude: 12.95, longitude: 77.55, timestamp })
  assert.deepEqual(ack, { ok: true, data: expected }, 'the socket acks what REST answered')
  assert.deepEqual(await socketHeard, expected, 'and broadcasts the same payload')

  // Numeric strings and epoch seconds as the socket accepts them; no timestamp: the server's clock.
  const epoch = Math.floor(Date.now() / 1000) - 30
  const strings = await call(apiUrl, 'POST', '/api/units/UNIT007/location', { user: officer, json: { latitude: '12.96', longitude: '77.56', timestamp: epoch } })
  assert.deepEqual([strings.status, strings.body], [201, { unit_id: 'UNIT007', latitude: 12.96, longitude: 77.56, timestamp: new Date(epoch * 1000).toISOString() }])
  const before = Date.now()
  const stamped = await call(apiUrl, 'POST', '/api/units/UNIT007/location/', { user: officer, json: { latitude: 12.97, longitude: 77.57 } })
  assert.equal(stamped.status, 201)
  assert.ok(Date.parse(stamped.body.timestamp) >= before - 1 && Date.parse(stamped.body.timestamp) <= Date.now())

  await settle()
  assert.equal(heard.length, 4, 'one unit_loc per report')
  const stored = await findUnitLocation(app.db, 'UNIT007')
  assert.deepEqual({ ...stored }, { unit_number: 'UNIT007', latitude: 12.97, longitude: 77.57, timestamp: stamped.body.timestamp, updated_by: officer.id })

  // A socket joining the officer channel afterwards is sent the REST-reported position in its snapshot.
  const late = await connect(t, socketUrl, dispatcher.token)
  const snapshot = next<UnitSnapshot>(late, 'unit_snapshot')
  assert.equal((await emitAck(late, 'join_officer_update', {})).ok, true)
  assert.deepEqual((await snapshot).units, [{ unit_id: 'UNIT007', latitude: 12.97, longitude: 77.57, timestamp: stamped.body.timestamp }])

  // The unit's history holds all four, newest first, in the order they were stored.
  const history = await call(apiUrl, 'GET', '/api/units/UNIT007/locations/', { user: dispatcher })
  assert.equal(history.status, 200, history.text)
  assert.equal(history.body.unit_number, 'UNIT007')
  assert.equal(history.body.history_size, 100)
  assert.deepEqual(history.body.results.map((r: { latitude: number }) => r.latitude), [12.97, 12.96, 12.95, 12.95])
  const newest = history.body.results[0]
  assert.equal(newest.reported_by, officer.id)
  assert.equal(newest.timestamp, stamped.body.timestamp)
  assert.ok(Date.parse(newest.received_at) >= Date.parse(newest.timestamp))
  assert.equal(history.body.results[2].timestamp, timestamp, 'each row keeps the phone\'s fix time')
})

test('REST report: validation in the DRF shape; nothing stored, nothing broadcast', async (t) => {
  const { app, apiUrl, socketUrl } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  const officer = await createUser(app, 'officer', 'UNIT007')
  const watcher = await connect(t, socketUrl, dispatcher.token)
  await emitAck(watcher, 'join_officer_update', {})
  const heard = collect(watcher, 'unit_loc')
  for (const [json, errors] of [
    [{}, { latitude: ['This field is required.'], longitude: ['This field is required.'] }],
    [{ latitude: 91, longitude: 'x' }, { latitude: ['Ensure this value is less than or equal to 90.'], longitude: ['A valid number is required.'] }],
    [{ latitude: 1, longitude: 1, timestamp: new Date(Date.now() + 3_600_000).toISOString() }, { timestamp: ['Datetime is in the future.'] }],
    [[1, 2], { non_field_errors: ['Invalid data. Expected a dictionary, but got list.'] }],
  ] as const) {
    const res = await call(apiUrl, 'POST', '/api/units/UNIT007/location/', { user: officer, json })
    assert.deepEqual([res.status, res.body], [400, errors], JSON.stringify(json))
  }
  // A unit_id in the body cannot redirect the report: the path names the unit.
  const redirected = await call(apiUrl, 'POST', '/api/units/UNIT007/location/', { user: officer, json: { unit_id: 'UNIT999', latitude: 1, longitude: 2 } })
  assert.deepEqual([redirected.status, redirected.body.unit_id], [201, 'UNIT007'])
  await settle()
  assert.equal(heard.length, 1)
  assert.equal(await findUnitLocation(app.db, 'UNIT999'), undefined)
  const rows = await app.db.selectFrom('unit_location_history').selectAll().execute()
  assert.deepEqual(rows.map((row) => row.unit_number), ['UNIT007'])
})

test('history keeps the newest UNIT_POSITION_HISTORY reports per unit, REST and socket alike, also when they race', async (t) => {
  const { app, apiUrl, socketUrl } = await buildTestApp(t, { unitPositionHistory: 5 })
  const dispatcher = await createUser(app, 'dispatcher')
  const alpha = await createUser(app, 'officer', 'ALPHA')
  const bravo = await createUser(app, 'officer', 'BRAVO')
  const phone = await connect(t, socketUrl, alpha.token)
  for (let i = 1; i <= 12; i++) {
    if (i % 2 === 0) assert.equal((await emitAck(phone, 'officer_location_update', { unit_id: 'ALPHA', latitude: i, longitude: 1 })).ok, true)
    else assert.equal((await call(apiUrl, 'POST', '/api/units/ALPHA/location/', { user: alpha, json: { latitude: i, longitude: 1 } })).status, 201)
  }
  assert.equal((await call(apiUrl, 'POST', '/api/units/BRAVO/location/', { user: bravo, json: { latitude: 50, longitude: 1 } })).status, 201)

  const history = await call(apiUrl, 'GET', '/api/units/ALPHA/locations/', { user: dispatcher })
  assert.equal(history.body.history_size, 5)
  assert.deepEqual(history.body.results.map((r: { latitude: number }) => r.latitude), [12, 11, 10, 9, 8], 'the newest five, newest first')
  const limited = await call(apiUrl, 'GET', '/api/units/ALPHA/locations/?limit=2', { user: dispatcher })
  assert.deepEqual(limited.body.results.map((r: { latitude: number }) => r.latitude), [12, 11])
  const bravoHistory = await call(apiUrl, 'GET', '/api/units/BRAVO/locations/', { user: dispatcher })
  assert.deepEqual(bravoHistory.body.results.map((r: { latitude: number }) => r.latitude), [50], 'one unit\'s trim never touches another\'s')

  // Thirty reports at once (on PostgreSQL, thirty concurrent transactions): still exactly five kept.
  const raced = await Promise.all(
    Array.from({ length: 30 }, (_, i) => call(apiUrl, 'POST', '/api/units/ALPHA/location/', { user: alpha, json: { latitude: 20 + i / 100, longitude: 2 } })),
  )
  assert.ok(raced.every((res) => res.status === 201))
  const count = async (unit: string) => (await app.db.selectFrom('unit_location_history').selectAll().where('unit_number', '=', unit).execute()).length
  assert.equal(await count('ALPHA'), 5)
  assert.equal(await count('BRAVO'), 1)
  const last = await findUnitLocation(app.db, 'ALPHA')
  const kept = (await call(apiUrl, 'GET', '/api/units/ALPHA/locations/', { user: dispatcher })).body.results
  assert.equal(kept[0].latitude, last?.latitude, 'the newest history row is the unit\'s last known position')
})

test('UNIT_POSITION_HISTORY=0 keeps no history; the last position is still stored', async (t) => {
  const { app, apiUrl } = await buildTestApp(t, { unitPositionHistory: 0 })
  const dispatcher = await createUser(app, 'dispatcher')
  const officer = await createUser(app, 'officer', 'ALPHA')
  assert.equal((await call(apiUrl, 'POST', '/api/units/ALPHA/location/', { user: officer, json: { latitude: 1, longitude: 1 } })).status, 201)
  assert.equal((await findUnitLocation(app.db, 'ALPHA'))?.latitude, 1)
  assert.deepEqual((await call(apiUrl, 'GET', '/api/units/ALPHA/locations/', { user: dispatcher })).body, { unit_number: 'ALPHA', history_size: 0, results: [] })
})

test('history endpoint: a known unit without reports is empty, an unknown or malformed unit 404, limit bounded', async (t) => {
  const { app, apiUrl } = await buildTestApp(t)
  const admin = await createUser(app, 'admin')
  await createUser(app, 'officer', 'QUIET')
  assert.deepEqual((await call(apiUrl, 'GET', '/api/units/QUIET/locations/', { user: admin })).body.results, [])
  for (const unit of ['NOBODY', 'bad%20unit', 'x'.repeat(51)]) {
    const res = await call(apiUrl, 'GET', `/api/units/${unit}/locations/`, { user: admin })
    assert.deepEqual([res.status, res.body], [404, { detail: 'Not found.' }], unit)
  }
  const tooMany = await call(apiUrl, 'GET', '/api/units/QUIET/locations/?limit=1001', { user: admin })
  assert.deepEqual([tooMany.status, tooMany.body], [400, { limit: ['Ensure this value is less than or equal to 1000.'] }])
})

test('hostile bodies, queries and unit numbers: always a 4xx or a 2xx with a JSON body, never a 5xx', async (t) => {
  const { app } = await buildTestApp(t)
  const officer = await createUser(app, 'officer', 'UNIT007')
  const dispatcher = await createUser(app, 'dispatcher')
  const sos = await createSos(app)
  const hostile = fc.oneof(fc.anything(), fc.string(), fc.double(), fc.constantFrom('NaN', '1e309', '-0', '', '\u0000', '2025-13-45T99:99:99Z'))
  const body = fc.oneof(fc.record({ latitude: hostile, longitude: hostile, timestamp: hostile, unit_id: hostile }, { requiredKeys: [] }), hostile)
  await fc.assert(
    fc.asyncProperty(body, async (payload) => {
      const res = await app.inject({ method: 'POST', url: '/api/units/UNIT007/location/', headers: { 'content-type': 'application/json', ...auth(officer) }, payload: JSON.stringify(payload ?? null) ?? 'null' })
      assert.ok(res.statusCode < 500, `${res.statusCode} ${res.body}`)
      assert.equal(typeof res.json(), 'object')
    }),
    { numRuns: 60, seed: 20261202 },
  )
  const text = fc.oneof(fc.string(), fc.constantFrom('%00', '%ZZ', '..', '-1', '1e3', 'true', '[]'))
  await fc.assert(
    fc.asyncProperty(text, text, text, async (unit, limit, flag) => {
      const q = `limit=${encodeURIComponent(limit)}&include_busy=${encodeURIComponent(flag)}`
      for (const url of [`/api/units/${encodeURIComponent(unit)}/locations/?${q}`, `/api/sos/${sos.sos_id}/nearest-units/?${q}`, `/api/units/?${q}`]) {
        const res = await app.inject({ method: 'GET', url, headers: auth(dispatcher) })
        assert.ok(res.statusCode < 500, `${url} → ${res.statusCode} ${res.body}`)
        assert.equal(typeof res.json(), 'object')
      }
    }),
    { numRuns: 60, seed: 20261202 },
  )
})
