// GET /api/units/ (issue 10, officer side): every known unit with its officers, last position, its age, and
// whether it is free or on which open SOS; over real HTTP on a fresh database. Also the OpenAPI entries.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { buildTestApp } from '../../helpers/app.ts'
import { createSos, createUser } from '../../helpers/factories.ts'
import { call } from '../../helpers/http.ts'

const ago = (seconds: number) => new Date(Date.now() - seconds * 1000).toISOString()

interface UnitBody {
  unit_number: string
  officers: Array<{ id: number; username: string }>
  position: { latitude: number; longitude: number; timestamp: string; reported_by: number | null } | null
  position_age_seconds: number | null
  stale: boolean
  status: 'free' | 'busy'
  busy_with: number[]
}

test('GET /api/units/ lists every known unit: officers, last position and its age, free or busy with which open SOS', async (t) => {
  const { app, apiUrl } = await buildTestApp(t, { unitPositionMaxAgeSeconds: 300 })
  const dispatcher = await createUser(app, 'dispatcher')
  const meera = await createUser(app, 'officer', 'UNIT2')
  const ravi = await createUser(app, 'officer', 'UNIT2')
  const kiran = await createUser(app, 'officer', 'UNIT10')
  await createUser(app, 'officer', 'UNIT_IDLE')
  await createUser(app, 'citizen')

  // UNIT2 reported two minutes ago (REST), UNIT10 ten minutes ago (socket path, through the same service).
  const fresh = ago(120)
  const reported = await call(apiUrl, 'POST', '/api/units/UNIT2/location/', { user: ravi, json: { latitude: 12.97, longitude: 77.59, timestamp: fresh } })
  assert.equal(reported.status, 201, reported.text)
  await app.services.units.recordOfficerLocation({ unit_id: 'UNIT10', latitude: 12.9, longitude: 77.5, timestamp: ago(600) }, { ...kiran, email: '' }, false)
  // A unit known only from a stored position (a legacy, anonymous report): no officers.
  await app.services.units.recordOfficerLocation({ unit_id: 'UNIT_POS', latitude: 13, longitude: 77 }, null, true)

  // UNIT_D only from dispatches: busy with two open SOS. UNIT_OLD was taken off an SOS (re-dispatch): still known, free.
  const first = await createSos(app, { name: 'First' })
  const second = await createSos(app, { name: 'Second' })
  const moved = await createSos(app, { name: 'Moved' })
  for (const [sos, unit] of [[first.sos_id, 'UNIT_D'], [second.sos_id, 'UNIT_D'], [moved.sos_id, 'UNIT_OLD'], [moved.sos_id, 'UNIT2']] as const) {
    const res = await call(apiUrl, 'POST', '/api/assign-officer/', { user: dispatcher, json: { sos_request: sos, officer_name: 'SI Meera', unit_number: unit } })
    assert.equal(res.status, 201, res.text)
  }

  const res = await call(apiUrl, 'GET', '/api/units/', { user: dispatcher })
  assert.equal(res.status, 200, res.text)
  assert.equal(res.body.truncated, false)
  assert.equal(res.body.position_max_age_seconds, 300)
  const units = res.body.results as UnitBody[]
  assert.deepEqual(units.map((u) => u.unit_number), ['UNIT_D', 'UNIT_IDLE', 'UNIT_OLD', 'UNIT_POS', 'UNIT2', 'UNIT10'], 'every known unit, once, numbers inside names in numeric order')
  assert.equal(res.body.count, 6)
  const by = Object.fromEntries(units.map((u) => [u.unit_number, u]))

  const unit2 = by.UNIT2
  assert.deepEqual(unit2.officers, [{ id: meera.id, username: meera.username }, { id: ravi.id, username: ravi.username }])
  assert.deepEqual(unit2.position, { latitude: 12.97, longitude: 77.59, timestamp: fresh, reported_by: ravi.id })
  assert.ok(unit2.position_age_seconds! >= 120 && unit2.position_age_seconds! <= 125, `age ${unit2.position_age_seconds}`)
  assert.equal(unit2.stale, false)
  assert.deepEqual([unit2.status, unit2.busy_with], ['busy', [moved.sos_id]])

  const unit10 = by.UNIT10
  assert.deepEqual(unit10.officers, [{ id: kiran.id, username: kiran.username }])
  assert.ok(unit10.position_age_seconds! >= 600 && unit10.position_age_seconds! <= 605)
  assert.equal(unit10.stale, true, 'older than UNIT_POSITION_MAX_AGE_SECONDS')
  assert.deepEqual([unit10.status, unit10.busy_with], ['free', []])

  assert.deepEqual(by.UNIT_IDLE.position, null)
  assert.equal(by.UNIT_IDLE.position_age_seconds, null)
  assert.equal(by.UNIT_IDLE.stale, true)
  assert.equal(by.UNIT_IDLE.status, 'free')

  assert.deepEqual(by.UNIT_POS.officers, [])
  assert.equal(by.UNIT_POS.position?.reported_by, null)
  assert.ok(by.UNIT_POS.position_age_seconds! <= 5)

  assert.deepEqual(by.UNIT_D.officers, [])
  assert.deepEqual([by.UNIT_D.status, by.UNIT_D.busy_with], ['busy', [first.sos_id, second.sos_id]])
  assert.deepEqual([by.UNIT_OLD.status, by.UNIT_OLD.busy_with], ['free', []], 'a unit taken off an SOS is free again')

  // Busy only while the SOS is open: resolving one leaves the other; closing both frees the unit.
  assert.equal((await call(apiUrl, 'POST', `/api/resolve-sos/${first.sos_id}/`, { user: dispatcher })).status, 200)
  let after = (await call(apiUrl, 'GET', '/api/units/', { user: dispatcher })).body.results as UnitBody[]
  assert.deepEqual(after.find((u) => u.unit_number === 'UNIT_D')?.busy_with, [second.sos_id])
  assert.equal((await call(apiUrl, 'POST', `/api/sos/${second.sos_id}/cancel/`, { user: dispatcher })).status, 200)
  after = (await call(apiUrl, 'GET', '/api/units/', { user: dispatcher })).body.results as UnitBody[]
  const unitD = after.find((u) => u.unit_number === 'UNIT_D')!
  assert.deepEqual([unitD.status, unitD.busy_with], ['free', []])
})

test('GET /api/units/ on a fresh system is an empty list; SNAPSHOT_LIMIT bounds it with truncated', async (t) => {
  const { app, apiUrl } = await buildTestApp(t, { snapshotLimit: 2 })
  const admin = await createUser(app, 'admin')
  assert.deepEqual((await call(apiUrl, 'GET', '/api/units/', { user: admin })).body, { count: 0, truncated: false, position_max_age_seconds: 300, results: [] })
  for (const unit of ['U1', 'U2', 'U3']) await createUser(app, 'officer', unit)
  const res = await call(apiUrl, 'GET', '/api/units/', { user: admin })
  assert.equal(res.body.count, 2)
  assert.equal(res.body.truncated, true)
})

test('the units endpoints are in the OpenAPI document, tagged units', async (t) => {
  const { apiUrl } = await buildTestApp(t)
  const doc = (await call(apiUrl, 'GET', '/api/schema/')).body
  assert.ok(doc.tags.some((tag: { name: string }) => tag.name === 'units'))
  for (const [path, method] of [
    ['/api/units/', 'get'],
    ['/api/sos/{id}/nearest-units/', 'get'],
    ['/api/units/{unit_number}/location/', 'post'],
    ['/api/units/{unit_number}/locations/', 'get'],
  ]) {
    const operation = doc.paths[path]?.[method]
    assert.ok(operation, `${method} ${path} is documented`)
    assert.deepEqual(operation.tags, ['units'])
    assert.ok(Object.keys(operation.responses).includes('401'), `${path} documents 401`)
  }
  assert.ok(doc.components.schemas.Unit, 'the Unit schema is a named component')
})
