// The state machine (CONTRACT §5, issue 10): every action from every status by every kind of caller, over
// real HTTP; the flags that follow the status; and one incident run end to end with its log and live events.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { FastifyInstance } from 'fastify'
import { buildTestApp } from '../../helpers/app.ts'
import { auth, createSos, createUser, type CreatedSos, type TestUser } from '../../helpers/factories.ts'
import { collect, connect, emitAck, settle } from '../../helpers/sockets.ts'

type Status = 'active' | 'acknowledged' | 'dispatched' | 'responding' | 'on_scene' | 'resolved' | 'cancelled'
type Action = 'acknowledge' | 'assign' | 'accept' | 'arrive' | 'resolve' | 'cancel'
type Role = 'anonymous' | 'token' | 'owner' | 'citizen' | 'unitOfficer' | 'otherOfficer' | 'dispatcher' | 'admin'

const STATUSES: Status[] = ['active', 'acknowledged', 'dispatched', 'responding', 'on_scene', 'resolved', 'cancelled']
const ACTIONS: Action[] = ['acknowledge', 'assign', 'accept', 'arrive', 'resolve', 'cancel']
const ROLES: Role[] = ['anonymous', 'token', 'owner', 'citizen', 'unitOfficer', 'otherOfficer', 'dispatcher', 'admin']
const OPEN: Status[] = ['active', 'acknowledged', 'dispatched', 'responding', 'on_scene']
const UNIT = 'UNIT001'
const OTHER_UNIT = 'UNIT002'

/** The legal moves, written out independently of the server's table. */
const LEGAL: Record<Action, { from: Status[]; to: Status }> = {
  acknowledge: { from: ['active'], to: 'acknowledged' },
  assign: { from: OPEN, to: 'dispatched' },
  accept: { from: ['dispatched'], to: 'responding' },
  arrive: { from: ['dispatched', 'responding'], to: 'on_scene' },
  resolve: { from: OPEN, to: 'resolved' },
  cancel: { from: OPEN, to: 'cancelled' },
}

interface World {
  app: FastifyInstance
  users: Record<Exclude<Role, 'anonymous' | 'token'>, TestUser>
}

/** Drives a fresh SOS (owned by `owner`) to `status` through the API, as a control room would. */
async function sosIn(w: World, status: Status): Promise<CreatedSos> {
  const sos = await createSos(w.app, {}, w.users.owner)
  const post = async (url: string, user: TestUser | null, payload?: object, headers: Record<string, string> = {}) => {
    const res = await w.app.inject({ method: 'POST', url, headers: { ...auth(user), ...headers }, ...(payload && { payload }) })
    assert.ok(res.statusCode < 300, `setup ${url}: ${res.statusCode} ${res.body}`)
  }
  const { dispatcher, unitOfficer } = w.users
  if (status === 'acknowledged') await post(`/api/sos/${sos.sos_id}/acknowledge/`, dispatcher)
  if (['dispatched', 'responding', 'on_scene'].includes(status)) await post('/api/assign-officer/', dispatcher, { sos_request: sos.sos_id, officer_name: 'SI Meera', unit_number: UNIT })
  if (['responding', 'on_scene'].includes(status)) await post(`/api/sos/${sos.sos_id}/accept/`, unitOfficer)
  if (status === 'on_scene') await post(`/api/sos/${sos.sos_id}/arrive/`, unitOfficer)
  if (status === 'resolved') await post(`/api/resolve-sos/${sos.sos_id}/`, dispatcher)
  if (status === 'cancelled') await post(`/api/sos/${sos.sos_id}/cancel/`, null, undefined, { 'x-sos-token': sos.sos_token })
  return sos
}

/** What the rules say a caller gets, before looking at the status: 401, 403, or allowed (0). */
function permission(role: Role, action: Action, status: Status): 0 | 401 | 403 {
  const account = !['anonymous', 'token'].includes(role)
  const dispatchedToUnit = ['dispatched', 'responding', 'on_scene'].includes(status)
  switch (action) {
    case 'acknowledge':
      return !account ? 401 : ['unitOfficer', 'otherOfficer', 'dispatcher', 'admin'].includes(role) ? 0 : 403
    case 'assign':
      if (!account) return 401
      if (role === 'dispatcher' || role === 'admin') return 0
      // Officers name their own unit: UNIT001 for the unit's officer, UNIT002 for the other one.
      if (role === 'unitOfficer') return 0
      if (role === 'otherOfficer') return dispatchedToUnit ? 403 : 0
      return 403
    case 'accept':
    case 'arrive':
      return !account ? 401 : role === 'unitOfficer' && dispatchedToUnit ? 0 : 403
    case 'resolve':
      if (!account) return 401
      if (role === 'dispatcher' || role === 'admin') return 0
      return role === 'unitOfficer' && dispatchedToUnit ? 0 : 403
    case 'cancel':
      if (role === 'anonymous') return 401
      return ['token', 'owner', 'dispatcher', 'admin'].includes(role) ? 0 : 403
  }
}

async function perform(w: World, role: Role, action: Action, sos: CreatedSos) {
  const user = role === 'anonymous' || role === 'token' ? null : w.users[role]
  const headers = { ...auth(user), ...(role === 'token' && { 'x-sos-token': sos.sos_token }) }
  const unit = role === 'otherOfficer' ? OTHER_UNIT : UNIT
  const request = {
    acknowledge: { url: `/api/sos/${sos.sos_id}/acknowledge/` },
    assign: { url: '/api/assign-officer/', payload: { sos_request: sos.sos_id, officer_name: 'SI Rao', unit_number: unit } },
    accept: { url: `/api/sos/${sos.sos_id}/accept/` },
    arrive: { url: `/api/sos/${sos.sos_id}/arrive/` },
    resolve: { url: `/api/resolve-sos/${sos.sos_id}/`, payload: { outcome: 'assisted', note: 'Escorted home' } },
    cancel: { url: `/api/sos/${sos.sos_id}/cancel/`, payload: { reason: 'pocket press' } },
  }[action]
  return w.app.inject({ method: 'POST', url: request.url, headers, ...('payload' in request && { payload: request.payload }) })
}

test('every action from every status by every kind of caller: 2xx and the right status, or 401/403/409', async (t) => {
  // 336 SOS by one citizen: her creation budget is not what this test is about.
  const { app } = await buildTestApp(t, { sosCreateAccountLimitPerMinute: 1_000_000, sosCreateAccountLimitPerHour: 1_000_000 })
  const w: World = {
    app,
    users: {
      owner: await createUser(app, 'citizen'),
      citizen: await createUser(app, 'citizen'),
      unitOfficer: await createUser(app, 'officer', UNIT),
      otherOfficer: await createUser(app, 'officer', OTHER_UNIT),
      dispatcher: await createUser(app, 'dispatcher'),
      admin: await createUser(app, 'admin'),
    },
  }
  let cases = 0
  for (const status of STATUSES) {
    for (const action of ACTIONS) {
      for (const role of ROLES) {
        const sos = await sosIn(w, status)
        const before = (await app.inject({ method: 'GET', url: `/api/sos/${sos.sos_id}/`, headers: auth(w.users.admin) })).json()
        const res = await perform(w, role, action, sos)
        const denied = permission(role, action, status)
        const legal = LEGAL[action].from.includes(status)
        const expected = denied || (legal ? (action === 'assign' ? 201 : 200) : 409)
        const label = `${role} ${action} on ${status}: ${res.statusCode} ${res.body.slice(0, 160)}`
        assert.equal(res.statusCode, expected, label)
        cases++

        const read = (await app.inject({ method: 'GET', url: `/api/sos/${sos.sos_id}/`, headers: auth(w.users.admin) })).json()
        const now: Status = expected < 300 ? LEGAL[action].to : status
        assert.equal(read.status, now, label)
        // The original's flags always agree with the status.
        assert.equal(read.status_flag, ['resolved', 'cancelled'].includes(now) ? 1 : 0, label)
        // acknowledged_flag: 1 once past `active`; closing keeps what it was (a pocket press cancelled
        // while active was never acknowledged), as the original's resolve only set status_flag.
        const closed = now === 'resolved' || now === 'cancelled'
        assert.equal(read.acknowledged_flag, closed ? before.acknowledged_flag : now === 'active' ? 0 : 1, label)
        if (expected < 300 && action === 'resolve') assert.deepEqual([read.outcome, read.resolution_note], ['assisted', 'Escorted home'], label)
        if (expected < 300 && action === 'cancel') assert.equal(read.cancel_reason, 'pocket press', label)
        if (expected === 409) assert.match(res.json().detail, /SOS/, label)
      }
    }
  }
  assert.equal(cases, STATUSES.length * ACTIONS.length * ROLES.length)
})

test('resolve validates its optional outcome and note; the original clients’ bodyless resolve still works', async (t) => {
  const { app } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  const sos = await createSos(app)
  const bad = await app.inject({ method: 'POST', url: `/api/resolve-sos/${sos.sos_id}/`, headers: auth(dispatcher), payload: { outcome: 'solved', note: 'x'.repeat(2001) } })
  assert.equal(bad.statusCode, 400)
  assert.deepEqual(bad.json(), { outcome: ['"solved" is not a valid choice.'], note: ['Ensure this field has no more than 2000 characters.'] })
  const still = (await app.inject({ method: 'GET', url: `/api/sos/${sos.sos_id}/`, headers: auth(dispatcher) })).json()
  assert.equal(still.status, 'active', 'a refused resolve changes nothing')
  const plain = await app.inject({ method: 'POST', url: `/api/resolve-sos/${sos.sos_id}/`, headers: { ...auth(dispatcher), 'content-type': 'application/json' } })
  assert.equal(plain.statusCode, 200)
  assert.deepEqual([plain.json().sos.status, plain.json().sos.outcome, plain.json().sos.closed_at !== null], ['resolved', null, true])
})

test('an incident from alert to closure: who did what is in the log, and every change reached the right rooms live', async (t) => {
  const { app, socketUrl } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  const officer = await createUser(app, 'officer', UNIT)
  const other = await createUser(app, 'officer', OTHER_UNIT)

  const control = await connect(t, socketUrl, dispatcher.token)
  assert.equal((await emitAck(control, 'join_sos_channel', {})).ok, true)
  const unitRoom = await connect(t, socketUrl, officer.token)
  assert.equal((await emitAck(unitRoom, 'join_officer_room', UNIT)).ok, true)
  const otherRoom = await connect(t, socketUrl, other.token)
  assert.equal((await emitAck(otherRoom, 'join_officer_room', OTHER_UNIT)).ok, true)
  const controlHeard = collect<{ sos_id: number; seq: number; cursor: number; kind: string; status: string; by: { user_id: number | null; kind: string } }>(control, 'sos_updated')
  const unitHeard = collect<{ kind: string }>(unitRoom, 'sos_updated')
  const otherHeard = collect<{ kind: string }>(otherRoom, 'sos_updated')

  const sos = await createSos(app, { name: 'Kavya' })
  const phone = await connect(t, socketUrl)
  assert.equal((await emitAck(phone, 'join_sos_room', { room_id: sos.room_id, sos_token: sos.sos_token })).ok, true)
  const phoneHeard = collect<{ kind: string; status: string }>(phone, 'sos_updated')

  const step = async (url: string, user: TestUser, payload?: object) => {
    const res = await app.inject({ method: 'POST', url, headers: auth(user), ...(payload && { payload }) })
    assert.ok(res.statusCode < 300, `${url}: ${res.statusCode} ${res.body}`)
  }
  await step(`/api/sos/${sos.sos_id}/acknowledge/`, dispatcher)
  await step('/api/assign-officer/', dispatcher, { sos_request: sos.sos_id, officer_name: 'SI Rao', unit_number: OTHER_UNIT })
  await step('/api/assign-officer/', dispatcher, { sos_request: sos.sos_id, officer_name: 'SI Meera', unit_number: UNIT }) // re-dispatch
  await step(`/api/sos/${sos.sos_id}/accept/`, officer)
  await step(`/api/sos/${sos.sos_id}/arrive/`, officer)
  await step(`/api/resolve-sos/${sos.sos_id}/`, officer, { outcome: 'assisted' })
  await settle(200)

  const kinds = ['created', 'acknowledged', 'assigned', 'assigned', 'accepted', 'arrived', 'resolved']
  const log = await app.inject({ method: 'GET', url: `/api/sos/${sos.sos_id}/events/`, headers: auth(dispatcher) })
  assert.equal(log.statusCode, 200)
  const events = log.json().results as Array<{ seq: number; cursor: number; kind: string; by: { kind: string; user_id: number | null; role: string | null }; data: Record<string, unknown> }>
  assert.deepEqual(events.map((e) => e.kind), kinds)
  assert.deepEqual(events.map((e) => e.seq), [1, 2, 3, 4, 5, 6, 7])
  assert.ok(events.every((e, i) => i === 0 || e.cursor > events[i - 1].cursor), 'cursors increase')
  assert.deepEqual(events.map((e) => e.by.user_id), [null, dispatcher.id, dispatcher.id, dispatcher.id, officer.id, officer.id, officer.id])
  assert.deepEqual(events[0].by, { kind: 'anonymous', user_id: null, role: null })
  assert.deepEqual(events[3].data, { unit_number: UNIT, officer_name: 'SI Meera', previous_unit: OTHER_UNIT })
  assert.deepEqual(events[6].data, { outcome: 'assisted', note: null })
  // ?after=<seq> resumes.
  const tail = await app.inject({ method: 'GET', url: `/api/sos/${sos.sos_id}/events/?after=5&limit=1`, headers: { 'x-sos-token': sos.sos_token } })
  assert.deepEqual([tail.json().results.map((e: { kind: string }) => e.kind), tail.json().next_after], [['arrived'], 6])
  assert.match(String(tail.json().next), /\/api\/sos\/\d+\/events\/\?after=6&limit=1$/)

  // Live: the control room heard every change (created included) with the log's numbers, in order.
  const mine = controlHeard.filter((e) => e.sos_id === sos.sos_id)
  assert.deepEqual(mine.map((e) => e.kind), kinds)
  assert.deepEqual(mine.map((e) => [e.seq, e.cursor]), events.map((e) => [e.seq, e.cursor]))
  assert.deepEqual(mine.at(-1)?.status, 'resolved')
  // The victim's phone (in the SOS room) heard the changes after it joined; each once.
  assert.deepEqual(phoneHeard.map((e) => e.kind), kinds.slice(1))
  // UNIT002 heard its dispatch and that it was taken off; UNIT001 everything from its dispatch on.
  assert.deepEqual(otherHeard.map((e) => e.kind), ['assigned', 'assigned'])
  assert.deepEqual(unitHeard.map((e) => e.kind), ['assigned', 'accepted', 'arrived', 'resolved'])
})
