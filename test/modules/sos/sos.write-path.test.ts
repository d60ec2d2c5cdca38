// The durable write path's shortcuts (issue 13): what they skip changes no answer and no row, on every dialect.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { prepared } from '../../../src/db/prepared.ts'
import { createWriter } from '../../../src/db/writer.ts'
import { buildTestApp } from '../../helpers/app.ts'
import { auth, createSos, createUser } from '../../helpers/factories.ts'

const location = (sosId: number, extra: Record<string, unknown> = {}) => ({ sos_request: sosId, latitude: 12.5, longitude: 77.5, ...extra })

test('update-location: a refused caller, an unknown SOS and a closed SOS are answered as before and change nothing', async (t) => {
  const { app } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  const sos = await createSos(app)
  const other = await createSos(app)
  const before = await app.db.selectFrom('sos_requests').select(['updated_at', 'last_seq']).where('id', '=', sos.sos_id).executeTakeFirstOrThrow()
  await new Promise((resolve) => setTimeout(resolve, 5))

  // Another SOS's token: refused (403) after the conditional touch, which is rolled back with the job.
  const wrong = await app.inject({ method: 'POST', url: '/api/update-location/', headers: { 'x-sos-token': other.sos_token }, payload: location(sos.sos_id) })
  assert.equal(wrong.statusCode, 403, wrong.body)
  const after = await app.db.selectFrom('sos_requests').select(['updated_at', 'last_seq']).where('id', '=', sos.sos_id).executeTakeFirstOrThrow()
  assert.deepEqual(after, before, 'the refused update left the SOS as it was')
  const stored = await app.db.selectFrom('location_updates').select('id').where('sos_request_id', '=', sos.sos_id).execute()
  assert.deepEqual(stored, [], 'and stored no point')

  // Unknown SOS: DRF's 400 for a missing pk, whoever asks.
  const unknown = await app.inject({ method: 'POST', url: '/api/update-location/', headers: { 'x-sos-token': sos.sos_token }, payload: location(999_999) })
  assert.equal(unknown.statusCode, 400)
  assert.deepEqual(unknown.json().sos_request, ['Invalid pk "999999" - object does not exist.'])

  // The holder's own update goes through, then the SOS is closed: 409 for its holder, still 403 for a stranger.
  const ok = await app.inject({ method: 'POST', url: '/api/update-location/', headers: { 'x-sos-token': sos.sos_token }, payload: location(sos.sos_id) })
  assert.equal(ok.statusCode, 201, ok.body)
  const resolved = await app.inject({ method: 'POST', url: `/api/resolve-sos/${sos.sos_id}/`, headers: auth(dispatcher) })
  assert.equal(resolved.statusCode, 200, resolved.body)
  const closed = await app.inject({ method: 'POST', url: '/api/update-location/', headers: { 'x-sos-token': sos.sos_token }, payload: location(sos.sos_id) })
  assert.equal(closed.statusCode, 409, closed.body)
  const closedStranger = await app.inject({ method: 'POST', url: '/api/update-location/', headers: { 'x-sos-token': other.sos_token }, payload: location(sos.sos_id) })
  assert.equal(closedStranger.statusCode, 403, closedStranger.body)
  const points = await app.db.selectFrom('location_updates').select('id').where('sos_request_id', '=', sos.sos_id).execute()
  assert.equal(points.length, 1)
})

test('update-location: refused and accepted updates in one group commit each get their own answer', async (t) => {
  const { app } = await buildTestApp(t)
  const a = await createSos(app)
  const b = await createSos(app)
  const answers = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      app.inject({ method: 'POST', url: '/api/update-location/', headers: { 'x-sos-token': i % 2 === 0 ? a.sos_token : b.sos_token }, payload: location(a.sos_id, { latitude: 10 + i / 100 }) }),
    ),
  )
  assert.deepEqual(answers.map((r) => r.statusCode), Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? 201 : 403)))
  const rows = await app.db.selectFrom('location_updates').select('latitude').where('sos_request_id', '=', a.sos_id).orderBy('id').execute()
  // PostgreSQL runs them as concurrent transactions, so the order they commit in is its own.
  assert.deepEqual(rows.map((r) => r.latitude).sort(), Array.from({ length: 10 }, (_, i) => 10 + (2 * i) / 100).sort())
})

test('create-sos: the SOS starts at last_seq 1 with its created event as seq 1, and the next event is seq 2', async (t) => {
  const { app } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  const sos = await createSos(app)
  const row = await app.db.selectFrom('sos_requests').select(['last_seq', 'escalation_level']).where('id', '=', sos.sos_id).executeTakeFirstOrThrow()
  assert.deepEqual(row, { last_seq: 1, escalation_level: 0 })
  const ack = await app.inject({ method: 'POST', url: `/api/sos/${sos.sos_id}/acknowledge/`, headers: auth(dispatcher) })
  assert.equal(ack.statusCode, 200, ack.body)
  const events = await app.db.selectFrom('sos_events').select(['seq', 'kind']).where('sos_request_id', '=', sos.sos_id).orderBy('seq').execute()
  assert.deepEqual(events, [{ seq: 1, kind: 'created' }, { seq: 2, kind: 'acknowledged' }])
})

test('a prepared statement inside the writer\'s transaction (with a failing batch-mate) and outside it gives the same rows', async (t) => {
  const { app } = await buildTestApp(t)
  const writer = createWriter(app.db, app.dbDialect)
  const insert = prepared((db, key: string, value: string) => db.insertInto('app_settings').values({ key, value }).returningAll())
  const read = prepared((db, key: string) => db.selectFrom('app_settings').selectAll().where('key', '=', key))
  // Outside any transaction first, so the template is compiled on the database, then used in the batch.
  assert.deepEqual(await insert(app.db, 'p0', 'outside'), [{ key: 'p0', value: 'outside' }])
  const jobs = await Promise.allSettled([
    writer.run(async (trx) => (await insert(trx, 'p1', 'in'))[0]),
    writer.run(async (trx) => {
      await insert(trx, 'p2', 'rolled back')
      throw new Error('batch-mate failed')
    }),
    writer.run(async (trx) => {
      const [row] = await insert(trx, 'p3', 'in')
      // Its own uncommitted row is visible to it through the same prepared read.
      assert.deepEqual(await read(trx, 'p3'), [row])
      return row
    }),
  ])
  assert.deepEqual(jobs.map((j) => j.status), ['fulfilled', 'rejected', 'fulfilled'])
  for (const [key, expected] of [['p0', 'outside'], ['p1', 'in'], ['p3', 'in']] as const) assert.deepEqual(await read(app.db, key), [{ key, value: expected }])
  assert.deepEqual(await read(app.db, 'p2'), [], 'the failed job\'s prepared insert rolled back alone')
})
