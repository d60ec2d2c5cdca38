// The units endpoints' access matrix over real HTTP: every endpoint × every kind of caller, in secure mode
// and in legacy open-access mode. A refused report stores nothing and broadcasts nothing.
import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { findUnitLocation } from '../../../src/modules/units/units.repository.ts'
import { buildTestApp } from '../../helpers/app.ts'
import { createSos, createUser } from '../../helpers/factories.ts'
import { call, type CallOptions } from '../../helpers/http.ts'
import { collect, connect, emitAck, settle } from '../../helpers/sockets.ts'

const NOT_PROVIDED = { detail: 'Authentication credentials were not provided.' }
const INVALID_TOKEN = { detail: 'Invalid token.' }
const FORBIDDEN = { detail: 'You do not have permission to perform this action.' }

const ACTORS = ['anonymous', 'invalid API token', 'SOS token holder', 'citizen', 'officer of UNIT_A', 'officer of UNIT_B', 'dispatcher', 'admin'] as const
type Actor = (typeof ACTORS)[number]
type Matrix = Record<Actor, number>

const STAFF_READ: Matrix = {
  anonymous: 401,
  'invalid API token': 401,
  'SOS token holder': 401,
  citizen: 403,
  'officer of UNIT_A': 200,
  'officer of UNIT_B': 200,
  dispatcher: 200,
  admin: 200,
}
const LEGACY_READ: Matrix = { ...STAFF_READ, citizen: 200 }

/** Secure: officers of that unit only (dispatchers and admins watch, they do not report). */
const REPORT: Matrix = {
  anonymous: 401,
  'invalid API token': 401,
  'SOS token holder': 401,
  citizen: 403,
  'officer of UNIT_A': 201,
  'officer of UNIT_B': 403,
  dispatcher: 403,
  admin: 403,
}
/** Legacy: any signed-in account, any unit; this new endpoint still needs an account. */
const LEGACY_REPORT: Matrix = { ...REPORT, citizen: 201, 'officer of UNIT_B': 201, dispatcher: 201, admin: 201 }

async function world(t: TestContext, legacy: boolean) {
  const built = await buildTestApp(t, { legacyOpenAccess: legacy })
  const { app } = built
  const users = {
    citizen: await createUser(app, 'citizen'),
    officerA: await createUser(app, 'officer', 'UNIT_A'),
    officerB: await createUser(app, 'officer', 'UNIT_B'),
    dispatcher: await createUser(app, 'dispatcher'),
    admin: await createUser(app, 'admin'),
  }
  const sos = await createSos(app, { name: 'Asha' })
  const as: Record<Actor, CallOptions> = {
    anonymous: {},
    'invalid API token': { token: 'not-a-real-token' },
    'SOS token holder': { headers: { 'x-sos-token': sos.sos_token } },
    citizen: { user: users.citizen },
    'officer of UNIT_A': { user: users.officerA },
    'officer of UNIT_B': { user: users.officerB },
    dispatcher: { user: users.dispatcher },
    admin: { user: users.admin },
  }
  return { ...built, users, sos, as }
}

const expectedBody = (status: number) => (status === 403 ? FORBIDDEN : status === 401 ? NOT_PROVIDED : undefined)

for (const legacy of [false, true]) {
  const mode = legacy ? 'legacy' : 'secure'

  test(`${mode} mode: who may read GET /api/units/, nearest-units and a unit's history`, async (t) => {
    const w = await world(t, legacy)
    const matrix = legacy ? LEGACY_READ : STAFF_READ
    for (const path of ['/api/units/', `/api/sos/${w.sos.sos_id}/nearest-units/`, '/api/units/UNIT_A/locations/']) {
      for (const actor of ACTORS) {
        const res = await call(w.apiUrl, 'GET', path, w.as[actor])
        assert.equal(res.status, matrix[actor], `${actor} GET ${path}: ${res.text}`)
        if (actor === 'invalid API token') assert.deepEqual(res.body, INVALID_TOKEN)
        else if (expectedBody(res.status)) assert.deepEqual(res.body, expectedBody(res.status), `${actor} GET ${path}`)
      }
    }
  })

  test(`${mode} mode: who may report UNIT_A's position over REST; refusals store and broadcast nothing`, async (t) => {
    const w = await world(t, legacy)
    const matrix = legacy ? LEGACY_REPORT : REPORT
    const watcher = await connect(t, w.socketUrl, w.users.dispatcher.token)
    assert.equal((await emitAck(watcher, 'join_officer_update', {})).ok, true)
    const heard = collect<{ latitude: number }>(watcher, 'unit_loc')
    const allowed: number[] = []
    for (const [index, actor] of ACTORS.entries()) {
      const latitude = 10 + index
      const res = await call(w.apiUrl, 'POST', '/api/units/UNIT_A/location/', { ...w.as[actor], json: { latitude, longitude: 77 } })
      assert.equal(res.status, matrix[actor], `${actor}: ${res.text}`)
      if (res.status === 201) allowed.push(latitude)
      else if (actor === 'invalid API token') assert.deepEqual(res.body, INVALID_TOKEN)
      else assert.deepEqual(res.body, expectedBody(res.status), actor)
    }
    await settle()
    assert.deepEqual(heard.map((loc) => loc.latitude), allowed, 'only the allowed reports were broadcast')
    assert.equal((await findUnitLocation(w.app.db, 'UNIT_A'))?.latitude, allowed.at(-1))
    const history = await w.app.db.selectFrom('unit_location_history').select('latitude').orderBy('id').execute()
    assert.deepEqual(history.map((row) => row.latitude), allowed, 'only the allowed reports are in the history')
  })
}

test('secure mode: permission is decided before validation (an officer of another unit gets 403 for a bad body too)', async (t) => {
  const w = await world(t, false)
  const wrongUnit = await call(w.apiUrl, 'POST', '/api/units/UNIT_A/location/', { user: w.users.officerB, json: { latitude: 'x' } })
  assert.deepEqual([wrongUnit.status, wrongUnit.body], [403, FORBIDDEN])
  const anonymous = await call(w.apiUrl, 'POST', '/api/units/not%20a%20unit/location/', { json: {} })
  assert.deepEqual([anonymous.status, anonymous.body], [401, NOT_PROVIDED], '401 before the unit number is looked at')
  const malformed = await call(w.apiUrl, 'POST', '/api/units/not%20a%20unit/location/', { user: w.users.officerA, json: { latitude: 1, longitude: 1 } })
  assert.equal(malformed.status, 404)
})
