// Escalation (issue 10): an unacknowledged SOS and a silent unit are escalated once per step, with a rising
// level, from the database: across a restart, and with two app instances on one database without doubling.
// The waits below are generous upper bounds for things to happen, not timing assertions.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { FastifyInstance } from 'fastify'
import { buildTestApp } from '../helpers/app.ts'
import { auth, createSos, createUser } from '../helpers/factories.ts'
import { collect, connect, emitAck, settle } from '../helpers/sockets.ts'

interface Escalated {
  sos_id: number
  seq: number
  cursor: number
  level: number
  reason: string
  waiting_seconds: number
  unit_number?: string
}

const FAST = { escalateAfterSeconds: 1, escalateRepeatSeconds: 1, unitAcceptSeconds: 1, escalationCheckMs: 50 }

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 10_000) {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`not within ${ms} ms: ${what}`)
    await settle(25)
  }
}

async function escalationsInLog(app: FastifyInstance, sosId: number) {
  const rows = await app.db.selectFrom('sos_events').selectAll().where('sos_request_id', '=', sosId).where('kind', '=', 'escalated').orderBy('seq').execute()
  return rows.map((row) => ({ ...(JSON.parse(row.payload) as { level: number; reason: string; waiting_seconds: number }), actor: row.actor_kind }))
}

test('an unacknowledged SOS is escalated to the control rooms with a rising level until someone acknowledges', async (t) => {
  const { app, socketUrl } = await buildTestApp(t, FAST)
  const dispatcher = await createUser(app, 'dispatcher')
  const control = await connect(t, socketUrl, dispatcher.token)
  assert.equal((await emitAck(control, 'join_sos_channel', {})).ok, true)
  const heard = collect<Escalated>(control, 'sos_escalated')

  const sos = await createSos(app)
  await until(() => heard.length >= 2, 'two escalations')
  assert.deepEqual(heard.slice(0, 2).map((e) => [e.sos_id, e.level, e.reason]), [[sos.sos_id, 1, 'unacknowledged'], [sos.sos_id, 2, 'unacknowledged']])
  assert.ok(heard[0].waiting_seconds >= 1)
  assert.ok(heard[1].cursor > heard[0].cursor && heard[1].seq === heard[0].seq + 1)

  assert.equal((await app.inject({ method: 'POST', url: `/api/sos/${sos.sos_id}/acknowledge/`, headers: auth(dispatcher) })).statusCode, 200)
  const count = heard.length
  await settle(2500)
  assert.equal(heard.length, count, 'acknowledging stops the escalation')
  const logged = await escalationsInLog(app, sos.sos_id)
  assert.deepEqual(logged.map((e) => [e.level, e.reason, e.actor]), heard.map((e) => [e.level, 'unacknowledged', 'system']), 'each escalation is an event in the log, by the system')
  const read = (await app.inject({ method: 'GET', url: `/api/sos/${sos.sos_id}/`, headers: auth(dispatcher) })).json()
  assert.equal(read.escalation_level, 0, 'acknowledging resets the level')
  // Operators alert on this counter.
  const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body
  const sent = Number(/^naarikavach_escalations_total\{reason="unacknowledged"\} (\d+)/m.exec(metrics)?.[1])
  assert.equal(sent, heard.length, 'each escalation counted once')
})

test('a dispatched unit that does not accept in time: unit_not_responding to the control rooms and the unit; accepting stops it', async (t) => {
  const { app, socketUrl } = await buildTestApp(t, { ...FAST, escalateAfterSeconds: 0 })
  const dispatcher = await createUser(app, 'dispatcher')
  const officer = await createUser(app, 'officer', 'UNIT007')
  const control = await connect(t, socketUrl, dispatcher.token)
  assert.equal((await emitAck(control, 'join_sos_channel', {})).ok, true)
  const unitRoom = await connect(t, socketUrl, officer.token)
  assert.equal((await emitAck(unitRoom, 'join_officer_room', 'UNIT007')).ok, true)
  const controlHeard = collect<Escalated>(control, 'sos_escalated')
  const unitHeard = collect<Escalated>(unitRoom, 'sos_escalated')

  const sos = await createSos(app)
  await settle(1500)
  assert.equal(controlHeard.length, 0, 'ESCALATE_AFTER_SECONDS=0 turns the unacknowledged timer off')
  await app.inject({ method: 'POST', url: '/api/assign-officer/', headers: auth(dispatcher), payload: { sos_request: sos.sos_id, officer_name: 'SI Rao', unit_number: 'UNIT007' } })
  await until(() => controlHeard.length >= 1 && unitHeard.length >= 1, 'a unit_not_responding escalation')
  assert.deepEqual([controlHeard[0].reason, controlHeard[0].unit_number, controlHeard[0].level], ['unit_not_responding', 'UNIT007', 1])
  assert.deepEqual(unitHeard[0], controlHeard[0])

  assert.equal((await app.inject({ method: 'POST', url: `/api/sos/${sos.sos_id}/accept/`, headers: auth(officer) })).statusCode, 200)
  const count = controlHeard.length
  await settle(2500)
  assert.equal(controlHeard.length, count, 'accepting stops it')
})

test('escalation survives a restart: the timer is in the database', async (t) => {
  // The first instance never checks (its interval is a minute); the SOS falls due while it is down.
  const first = await buildTestApp(t, { ...FAST, escalationCheckMs: 60_000 })
  const sos = await createSos(first.app)
  await first.close()
  await settle(1200)
  const second = await buildTestApp(t, { ...FAST, databaseUrl: first.config.databaseUrl, mediaRoot: first.config.mediaRoot })
  await until(async () => (await escalationsInLog(second.app, sos.sos_id)).length >= 1, 'an escalation by the restarted instance')
  const [escalated] = await escalationsInLog(second.app, sos.sos_id)
  assert.deepEqual([escalated.level, escalated.reason, escalated.actor], [1, 'unacknowledged', 'system'])
  assert.ok(escalated.waiting_seconds >= 1, 'it waited while the first instance was down')
})

test('two instances on one database escalate each step exactly once', async (t) => {
  const a = await buildTestApp(t, { ...FAST, escalationCheckMs: 20 })
  const b = await buildTestApp(t, { ...FAST, escalationCheckMs: 20, databaseUrl: a.config.databaseUrl, mediaRoot: a.config.mediaRoot })
  const sosIds: number[] = []
  for (let i = 0; i < 5; i++) sosIds.push((await createSos(i % 2 ? a.app : b.app)).sos_id)
  await until(async () => {
    for (const id of sosIds) if ((await escalationsInLog(a.app, id)).length < 3) return false
    return true
  }, 'three escalation steps of every SOS', 20_000)
  await b.close()
  for (const id of sosIds) {
    const levels = (await escalationsInLog(a.app, id)).map((e) => e.level)
    assert.deepEqual(levels, levels.map((_, i) => i + 1), `SOS ${id}: each level once, in order (${levels.join(',')})`)
  }
})
