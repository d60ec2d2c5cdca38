// GET /api/sos/{id}/nearest-units/ (issue 10, officer side): free units with a fresh position, ranked by
// great-circle distance from the SOS's newest point (else where it was raised); stale and busy units left out.
import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { haversineMetres } from '../../../src/lib/geo.ts'
import { buildTestApp } from '../../helpers/app.ts'
import { createSos, createUser, type TestUser } from '../../helpers/factories.ts'
import { call } from '../../helpers/http.ts'
import { connect, emitAck } from '../../helpers/sockets.ts'

// The SOS is raised at MG Road, Bengaluru. One degree of latitude is 111,195 m on the mean-radius sphere.
const SOS_AT = { latitude: 12.9756, longitude: 77.6066 }
const north = (metres: number) => ({ latitude: SOS_AT.latitude + metres / 111_195, longitude: SOS_AT.longitude })
const ago = (seconds: number) => new Date(Date.now() - seconds * 1000).toISOString()

/** Independent of the server's formula: the spherical law of cosines on the same sphere. */
function cosineMetres(a: { latitude: number; longitude: number }, b: { latitude: number; longitude: number }): number {
  const rad = Math.PI / 180
  const c = Math.sin(a.latitude * rad) * Math.sin(b.latitude * rad) + Math.cos(a.latitude * rad) * Math.cos(b.latitude * rad) * Math.cos((b.longitude - a.longitude) * rad)
  return 6_371_008.8 * Math.acos(Math.min(1, c))
}

interface Nearest {
  unit_number: string
  distance_m: number
  status: string
  busy_with: number[]
  stale: boolean
  officers: Array<{ id: number; username: string }>
  position: { latitude: number; longitude: number; timestamp: string } | null
  position_age_seconds: number
}

async function world(t: TestContext) {
  const test = await buildTestApp(t, { unitPositionMaxAgeSeconds: 300 })
  const { app, apiUrl, socketUrl } = test
  const dispatcher = await createUser(app, 'dispatcher')
  const officers: Record<string, TestUser> = {}
  for (const unit of ['U100', 'U1000', 'U2000', 'U3000', 'U_STALE', 'U_BUSY', 'U_NONE']) officers[unit] = await createUser(app, 'officer', unit)
  const report = async (unit: string, at: { latitude: number; longitude: number }, timestamp?: string) => {
    const res = await call(apiUrl, 'POST', `/api/units/${unit}/location/`, { user: officers[unit], json: { ...at, ...(timestamp && { timestamp }) } })
    assert.equal(res.status, 201, res.text)
  }
  const target = await createSos(app, { name: 'Asha', initial_latitude: SOS_AT.latitude, initial_longitude: SOS_AT.longitude })
  // U100 was busy with an SOS that is now resolved: free again. U_BUSY is on an open SOS elsewhere.
  const done = await createSos(app, { name: 'Done' })
  const elsewhere = await createSos(app, { name: 'Elsewhere' })
  for (const [sos, unit] of [[done.sos_id, 'U100'], [elsewhere.sos_id, 'U_BUSY']] as const) {
    assert.equal((await call(apiUrl, 'POST', '/api/assign-officer/', { user: dispatcher, json: { sos_request: sos, officer_name: 'SI', unit_number: unit } })).status, 201)
  }
  assert.equal((await call(apiUrl, 'POST', `/api/resolve-sos/${done.sos_id}/`, { user: dispatcher })).status, 200)

  await report('U1000', north(1000))
  await report('U2000', north(-2000))
  await report('U3000', { latitude: SOS_AT.latitude, longitude: SOS_AT.longitude + 0.0277 }, ago(60))
  await report('U_STALE', north(50), ago(301))
  await report('U_BUSY', north(300))
  // U100 reports over the socket: the same service call as REST.
  const phone = await connect(t, socketUrl, officers.U100.token)
  assert.equal((await emitAck(phone, 'officer_location_update', { unit_id: 'U100', ...north(100) })).ok, true)
  return { ...test, dispatcher, officers, target, elsewhere, report }
}

test('nearest units: free units with a fresh position, nearest first, with distance_m; stale, busy and position-less units left out', async (t) => {
  const w = await world(t)
  const res = await call(w.apiUrl, 'GET', `/api/sos/${w.target.sos_id}/nearest-units/`, { user: w.dispatcher })
  assert.equal(res.status, 200, res.text)
  assert.deepEqual(res.body.origin, { ...SOS_AT, timestamp: res.body.origin.timestamp, source: 'initial' }, 'no point yet: measured from where the SOS was raised')
  assert.equal(res.body.position_max_age_seconds, 300)
  assert.equal(res.body.include_busy, false)
  const results = res.body.results as Nearest[]
  assert.deepEqual(results.map((u) => u.unit_number), ['U100', 'U1000', 'U2000', 'U3000'])
  assert.equal(res.body.count, 4)
  for (const unit of results) {
    assert.ok(Number.isInteger(unit.distance_m))
    assert.ok(Math.abs(unit.distance_m - cosineMetres(SOS_AT, unit.position!)) <= 1, `${unit.unit_number}: ${unit.distance_m} m`)
    assert.equal(unit.status, 'free')
    assert.equal(unit.stale, false)
    assert.deepEqual(unit.officers, [{ id: w.officers[unit.unit_number].id, username: w.officers[unit.unit_number].username }])
  }
  assert.ok(Math.abs(results[0].distance_m - 100) <= 1 && Math.abs(results[1].distance_m - 1000) <= 1 && Math.abs(results[2].distance_m - 2000) <= 1)
  assert.ok(Math.abs(results[3].distance_m - 3004) <= 5, `0.0277° of longitude at 12.98° N is ~3 km, got ${results[3].distance_m}`)
  assert.ok(results[3].position_age_seconds >= 60)
})

test('nearest units: ?limit= (default 5, at most 50) and ?include_busy=true (stale still never)', async (t) => {
  const w = await world(t)
  for (const unit of ['U_X1', 'U_X2', 'U_X3']) {
    w.officers[unit] = await createUser(w.app, 'officer', unit)
    await w.report(unit, north(5000 + Number(unit.at(-1))))
  }
  const url = `/api/sos/${w.target.sos_id}/nearest-units/`
  const byDefault = await call(w.apiUrl, 'GET', url, { user: w.dispatcher })
  assert.deepEqual(byDefault.body.results.map((u: Nearest) => u.unit_number), ['U100', 'U1000', 'U2000', 'U3000', 'U_X1'], 'five by default')
  const two = await call(w.apiUrl, 'GET', `${url}?limit=2`, { user: w.dispatcher })
  assert.deepEqual(two.body.results.map((u: Nearest) => u.unit_number), ['U100', 'U1000'])
  const all = await call(w.apiUrl, 'GET', `${url}?limit=50`, { user: w.dispatcher })
  assert.equal(all.body.count, 7)

  const busy = await call(w.apiUrl, 'GET', `${url}?include_busy=true&limit=3`, { user: w.dispatcher })
  assert.equal(busy.status, 200, busy.text)
  assert.equal(busy.body.include_busy, true)
  assert.deepEqual(busy.body.results.map((u: Nearest) => [u.unit_number, u.status]), [['U100', 'free'], ['U_BUSY', 'busy'], ['U1000', 'free']])
  assert.deepEqual(busy.body.results[1].busy_with, [w.elsewhere.sos_id])
  const everything = await call(w.apiUrl, 'GET', `${url}?include_busy=1&limit=50`, { user: w.dispatcher })
  assert.ok(!everything.body.results.some((u: Nearest) => u.unit_number === 'U_STALE' || u.unit_number === 'U_NONE'), 'stale and position-less units are never offered')

  for (const [query, field, message] of [
    ['limit=51', 'limit', 'Ensure this value is less than or equal to 50.'],
    ['limit=0', 'limit', 'Ensure this value is greater than or equal to 1.'],
    ['limit=abc', 'limit', 'A valid integer is required.'],
    ['include_busy=maybe', 'include_busy', '"maybe" is not a valid boolean.'],
  ]) {
    const bad = await call(w.apiUrl, 'GET', `${url}?${query}`, { user: w.dispatcher })
    assert.deepEqual([bad.status, bad.body], [400, { [field]: [message] }], query)
  }
})

test('nearest units: measured from the SOS\'s newest point; a unit dispatched to this SOS is busy; a unit going stale drops out', async (t) => {
  const w = await buildTestApp(t, { unitPositionMaxAgeSeconds: 2 })
  const dispatcher = await createUser(w.app, 'dispatcher')
  const south = await createUser(w.app, 'officer', 'SOUTH')
  const northUnit = await createUser(w.app, 'officer', 'NORTH')
  const sos = await createSos(w.app, { initial_latitude: SOS_AT.latitude, initial_longitude: SOS_AT.longitude })
  for (const [officer, at] of [[south, north(-1000)], [northUnit, north(1500)]] as const) {
    assert.equal((await call(w.apiUrl, 'POST', `/api/units/${officer.unit_number}/location/`, { user: officer, json: at })).status, 201)
  }
  const url = `/api/sos/${sos.sos_id}/nearest-units/`
  assert.deepEqual((await call(w.apiUrl, 'GET', url, { user: dispatcher })).body.results.map((u: Nearest) => u.unit_number), ['SOUTH', 'NORTH'])

  // The victim moves 2 km north: NORTH is now 500 m away, SOUTH 3 km.
  for (const metres of [1000, 2000]) {
    const moved = await call(w.apiUrl, 'POST', '/api/update-location/', { headers: { 'x-sos-token': sos.sos_token }, json: { sos_request: sos.sos_id, ...north(metres) } })
    assert.equal(moved.status, 201, moved.text)
  }
  const res = await call(w.apiUrl, 'GET', url, { user: dispatcher })
  assert.equal(res.body.origin.source, 'location_update')
  assert.equal(res.body.origin.latitude, north(2000).latitude)
  assert.deepEqual(res.body.results.map((u: Nearest) => [u.unit_number, u.distance_m]), [['NORTH', 500], ['SOUTH', 3000]])

  // NORTH takes this SOS: busy, so only SOUTH is offered.
  assert.equal((await call(w.apiUrl, 'POST', '/api/assign-officer/', { user: northUnit, json: { sos_request: sos.sos_id, officer_name: 'SI', unit_number: 'NORTH' } })).status, 201)
  assert.deepEqual((await call(w.apiUrl, 'GET', url, { user: dispatcher })).body.results.map((u: Nearest) => u.unit_number), ['SOUTH'])

  // Past UNIT_POSITION_MAX_AGE_SECONDS (2 s here) without a new report, SOUTH is stale: nobody is offered.
  await new Promise((resolve) => setTimeout(resolve, 2300))
  const stale = await call(w.apiUrl, 'GET', url, { user: dispatcher })
  assert.deepEqual(stale.body.results, [])
  assert.equal((await call(w.apiUrl, 'POST', '/api/units/SOUTH/location/', { user: south, json: north(-1000) })).status, 201)
  assert.deepEqual((await call(w.apiUrl, 'GET', url, { user: dispatcher })).body.results.map((u: Nearest) => u.unit_number), ['SOUTH'], 'a new report makes it fresh again')
})

test('nearest units: unknown SOS 404 (after the access check); a closed SOS still answers', async (t) => {
  const { app, apiUrl } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  const citizen = await createUser(app, 'citizen')
  const NOT_FOUND = { detail: 'Not found.' }
  for (const id of ['999999', 'abc', '0']) {
    assert.deepEqual(await call(apiUrl, 'GET', `/api/sos/${id}/nearest-units/`, { user: dispatcher }).then((r) => [r.status, r.body]), [404, NOT_FOUND], id)
    assert.equal((await call(apiUrl, 'GET', `/api/sos/${id}/nearest-units/`)).status, 401, `anonymous, ${id}`)
    assert.equal((await call(apiUrl, 'GET', `/api/sos/${id}/nearest-units/`, { user: citizen })).status, 403, `citizen, ${id}`)
  }
  const sos = await createSos(app)
  assert.equal((await call(apiUrl, 'POST', `/api/resolve-sos/${sos.sos_id}/`, { user: dispatcher })).status, 200)
  const closed = await call(apiUrl, 'GET', `/api/sos/${sos.sos_id}/nearest-units/`, { user: dispatcher })
  assert.deepEqual([closed.status, closed.body.results], [200, []])
})

test('haversine: one degree of latitude, a quarter meridian, antipodes, and symmetry', () => {
  assert.equal(Math.round(haversineMetres(0, 0, 1, 0)), 111_195)
  assert.equal(Math.round(haversineMetres(0, 0, 90, 0)), 10_007_557)
  assert.equal(Math.round(haversineMetres(0, 0, 0, 180)), 20_015_114)
  assert.equal(haversineMetres(12.97, 77.59, 28.61, 77.2), haversineMetres(28.61, 77.2, 12.97, 77.59))
  assert.equal(Math.round(haversineMetres(12.9716, 77.5946, 28.6139, 77.209) / 1000), 1740, 'Bengaluru to New Delhi is about 1,740 km')
  assert.equal(haversineMetres(10, 10, 10, 10), 0)
})
