// Retry-safe creates: Idempotency-Key on POST /api/create-sos/ and /api/sos/, client_request_id on the socket
// create_sos. A repeat answers as the first time with a working token; never a second SOS, also when racing.
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { test } from 'node:test'
import type { FastifyInstance } from 'fastify'
import { buildTestApp } from '../../helpers/app.ts'
import { auth, createUser, type TestUser } from '../../helpers/factories.ts'
import { call } from '../../helpers/http.ts'
import { collect, connect, emitAck, next, settle } from '../../helpers/sockets.ts'

const BODY = { name: 'Asha', sos_type: 0, initial_latitude: 12.9716, initial_longitude: 77.5946 }

function create(app: FastifyInstance, key: string | undefined, body: Record<string, unknown> = BODY, user?: TestUser, url = '/api/create-sos/') {
  return app.inject({ method: 'POST', url, headers: { ...auth(user), ...(key === undefined ? {} : { 'idempotency-key': key }) }, payload: body })
}

async function sosCount(app: FastifyInstance): Promise<number> {
  const row = await app.db.selectFrom('sos_requests').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()
  return Number(row.n)
}

/** The token is proved by using it: a location update for that SOS. */
async function tokenWorks(app: FastifyInstance, sosId: number, token: string): Promise<boolean> {
  const res = await app.inject({ method: 'POST', url: '/api/update-location/', headers: { 'x-sos-token': token }, payload: { sos_request: sosId, latitude: 12.98, longitude: 77.6 } })
  return res.statusCode === 201
}

test('a repeated create with the same Idempotency-Key returns the first answer and a working token; no second SOS, no second new_sos', async (t) => {
  const { app, socketUrl } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  const control = await connect(t, socketUrl, dispatcher.token)
  assert.equal((await emitAck(control, 'join_sos_channel', {})).ok, true)
  const alerts = collect<{ sos_id: number }>(control, 'new_sos')
  const key = crypto.randomUUID()

  const first = await create(app, key)
  assert.equal(first.statusCode, 201)
  assert.equal(first.headers['idempotent-replayed'], undefined)
  const answer = first.json()
  assert.equal(answer.status, 'success')

  const again = await create(app, key)
  assert.equal(again.statusCode, 201)
  assert.equal(again.headers['idempotent-replayed'], 'true')
  assert.deepEqual(again.json(), answer, 'the same sos_id, room_id and sos_token')
  // The router's second create path shares the keys.
  const viaRouter = await create(app, key, BODY, undefined, '/api/sos/')
  assert.equal(viaRouter.statusCode, 201)
  assert.deepEqual(viaRouter.json(), answer)

  assert.equal(await sosCount(app), 1)
  assert.equal(await tokenWorks(app, answer.sos_id, again.json().sos_token), true, 'the replayed token works')
  await settle()
  assert.deepEqual(alerts.map((a) => a.sos_id), [answer.sos_id], 'new_sos only once')

  // Without a key every create is new, as before.
  const plain = [await create(app, undefined), await create(app, undefined)]
  assert.notEqual(plain[0].json().sos_id, plain[1].json().sos_id)
  assert.equal(await sosCount(app), 3)
})

test('the same key with another request is 422; an equivalent request (same values, other spelling) is a repeat', async (t) => {
  const { app } = await buildTestApp(t)
  const key = crypto.randomUUID()
  const first = (await create(app, key)).json()

  const other = await create(app, key, { ...BODY, initial_latitude: 13 })
  assert.equal(other.statusCode, 422)
  assert.deepEqual(other.json(), { detail: 'This idempotency key was already used with a different request; use a new key for a new request.' })
  assert.equal((await create(app, key, { ...BODY, name: 'Someone else' })).statusCode, 422)

  // Numbers as strings, surrounding spaces, the default sos_type left out: the same request once validated.
  const same = await create(app, key, { name: '  Asha ', initial_latitude: '12.9716', initial_longitude: 77.5946 })
  assert.equal(same.statusCode, 201)
  assert.deepEqual(same.json(), first)
  assert.equal(await sosCount(app), 1)

  // A malformed body is a 400 whatever the key.
  const bad = await create(app, key, { ...BODY, initial_latitude: 500 })
  assert.equal(bad.statusCode, 400)
})

test('keys are checked (8–255 visible ASCII) and scoped by caller: an account\'s keys are its own', async (t) => {
  const { app } = await buildTestApp(t)
  const message = ['Use 8 to 255 visible ASCII characters (no spaces); a random UUID v4 is recommended.']
  for (const key of ['short', 'x'.repeat(256), 'has a space in it', 'ключ-ключ-ключ']) {
    const res = await app.inject({ method: 'POST', url: '/api/create-sos/', headers: { 'idempotency-key': encodeURIComponent(key) === key ? key : Buffer.from(key).toString('latin1') }, payload: BODY })
    assert.equal(res.statusCode, 400, key)
    assert.deepEqual(res.json(), { 'Idempotency-Key': message })
  }
  // Field errors of the body and of the key come in one answer.
  const both = await create(app, 'short', { ...BODY, name: '' })
  assert.deepEqual(both.json(), { name: ['This field may not be blank.'], 'Idempotency-Key': message })
  assert.equal(await sosCount(app), 0)

  const asha = await createUser(app, 'citizen')
  const meera = await createUser(app, 'citizen')
  const key = crypto.randomUUID()
  const ids = [
    (await create(app, key, BODY, asha)).json().sos_id,
    (await create(app, key, BODY, meera)).json().sos_id,
    (await create(app, key, BODY)).json().sos_id,
    (await create(app, key, BODY, asha)).json().sos_id,
  ]
  assert.equal(new Set(ids.slice(0, 3)).size, 3, 'two accounts and the anonymous scope: three SOS')
  assert.equal(ids[3], ids[0], 'Asha\'s repeat is hers')
  const read = await app.inject({ method: 'GET', url: `/api/sos/${ids[0]}/`, headers: auth(asha) })
  assert.equal(read.json().user, asha.id)
})

test('10 parallel repeats over real HTTP make one SOS; every answer is the same and its token works', async (t) => {
  const { app, apiUrl } = await buildTestApp(t)
  const key = crypto.randomUUID()
  const answers = await Promise.all(Array.from({ length: 10 }, () => call(apiUrl, 'POST', '/api/create-sos/', { json: BODY, headers: { 'idempotency-key': key } })))
  assert.deepEqual(answers.map((a) => a.status), Array(10).fill(201))
  for (const answer of answers) assert.deepEqual(answer.body, answers[0].body)
  assert.equal(answers.filter((a) => a.headers.get('idempotent-replayed') === 'true').length, 9, 'one first answer, nine replays')
  assert.equal(await sosCount(app), 1)
  assert.equal(await tokenWorks(app, answers[0].body.sos_id, answers[0].body.sos_token), true)
  const events = await app.db.selectFrom('sos_events').select('kind').execute()
  assert.deepEqual(events.map((e) => e.kind), ['created'], 'one created event: the losers\' transactions left nothing')

  // Injected in one turn of the event loop, the ten reach the writer together (on SQLite: one group commit,
  // where the first job's key is seen, uncommitted, by the nine after it).
  const other = crypto.randomUUID()
  const burst = await Promise.all(Array.from({ length: 10 }, () => create(app, other, { ...BODY, name: 'Meera' })))
  assert.deepEqual(burst.map((r) => r.statusCode), Array(10).fill(201))
  assert.equal(new Set(burst.map((r) => r.body)).size, 1)
  assert.equal(await sosCount(app), 2)
})

test('a replay spends no create budget: a throttled phone still gets its first answer back', async (t) => {
  const { app } = await buildTestApp(t, { sosCreateRateLimitPerMinute: 2 })
  const key = crypto.randomUUID()
  const first = await create(app, key)
  assert.equal(first.statusCode, 201)
  for (let i = 0; i < 5; i++) assert.equal((await create(app, key)).statusCode, 201)
  assert.equal((await create(app, undefined)).statusCode, 201, 'the second unit of the budget is still there')
  assert.equal((await create(app, undefined)).statusCode, 429)
  assert.equal((await create(app, crypto.randomUUID())).statusCode, 429, 'a new key is a new create')
  const replay = await create(app, key)
  assert.equal(replay.statusCode, 201, 'the repeat is answered even though the budget is spent')
  assert.deepEqual(replay.json(), first.json())
})

test('socket create_sos with client_request_id: the same answer on repeat (also over REST with that key); another body is idempotency_conflict', async (t) => {
  const { app, socketUrl } = await buildTestApp(t)
  const phone = await connect(t, socketUrl)
  const key = crypto.randomUUID()
  const payload = { ...BODY, client_request_id: key }

  const first = await emitAck(phone, 'create_sos', payload)
  assert.equal(first.ok, true, JSON.stringify(first))
  const response = next<{ success: boolean; data: unknown }>(phone, 'create_sos_response')
  const again = await emitAck(phone, 'create_sos', payload)
  assert.deepEqual(again, first)
  assert.deepEqual(await response, { success: true, data: first.data })

  // A phone that fell back from the socket to REST: the key is the same key.
  const rest = await create(app, key)
  assert.equal(rest.statusCode, 201)
  assert.deepEqual(rest.json(), first.data)
  assert.equal(await sosCount(app), 1)
  const data = first.data as { sos_id: number; sos_token: string }
  assert.equal(await tokenWorks(app, data.sos_id, data.sos_token), true)

  const conflictResponse = next<Record<string, unknown>>(phone, 'create_sos_response')
  const conflict = await emitAck(phone, 'create_sos', { ...payload, name: 'Other' })
  assert.equal(conflict.ok, false)
  assert.equal(conflict.error?.code, 'idempotency_conflict')
  assert.deepEqual(await conflictResponse, { success: false, error: conflict.error?.message, code: 'idempotency_conflict' })
  const invalid = await emitAck(phone, 'create_sos', { ...BODY, client_request_id: 42 })
  assert.equal(invalid.ok, false)
  assert.deepEqual(invalid.error?.fields, { client_request_id: ['Not a valid string.'] })
  assert.equal(phone.connected, true)
  assert.equal(await sosCount(app), 1)
})

test('a key is remembered for IDEMPOTENCY_TTL_SECONDS: after that the same key makes a new SOS', async (t) => {
  const { app } = await buildTestApp(t, { idempotencyTtlSeconds: 1 })
  const key = crypto.randomUUID()
  const first = (await create(app, key)).json()
  assert.deepEqual((await create(app, key)).json(), first, 'within the TTL: a repeat')
  await new Promise((resolve) => setTimeout(resolve, 1100))
  const later = await create(app, key)
  assert.equal(later.statusCode, 201)
  assert.equal(later.headers['idempotent-replayed'], undefined)
  assert.notEqual(later.json().sos_id, first.sos_id, 'expired: a new SOS')
  assert.deepEqual((await create(app, key)).json(), later.json(), 'and the key now stands for the new one')
  assert.equal(await tokenWorks(app, later.json().sos_id, later.json().sos_token), true)
  assert.equal(await tokenWorks(app, first.sos_id, first.sos_token), true, 'the first SOS keeps its token')
  const rows = await app.db.selectFrom('idempotency_keys').selectAll().execute()
  assert.equal(rows.length, 1, 'the expired row was replaced')

  // Keys nobody repeats are purged in passing by a later keyed create.
  await create(app, crypto.randomUUID())
  assert.equal((await app.db.selectFrom('idempotency_keys').selectAll().execute()).length, 2)
  await new Promise((resolve) => setTimeout(resolve, 1100))
  await create(app, crypto.randomUUID())
  for (let i = 0; i < 50 && (await app.db.selectFrom('idempotency_keys').selectAll().execute()).length > 1; i++) await settle(20)
  assert.equal((await app.db.selectFrom('idempotency_keys').selectAll().execute()).length, 1, 'only the fresh key is left')
})

test('neither the key nor the token is stored or logged: only hashes and a random salt', async (t) => {
  const { app, logs } = await buildTestApp(t, {}, { captureLogs: true })
  const key = crypto.randomUUID()
  const answer = (await create(app, key)).json()
  const [row] = await app.db.selectFrom('idempotency_keys').selectAll().execute()
  const sos = await app.db.selectFrom('sos_requests').selectAll().where('id', '=', answer.sos_id).executeTakeFirstOrThrow()
  const stored = JSON.stringify({ row, sos })
  assert.equal(stored.includes(key), false)
  assert.equal(stored.includes(answer.sos_token), false)
  assert.match(row.key_hash, /^[0-9a-f]{64}$/)
  assert.match(row.request_hash, /^[0-9a-f]{64}$/)
  assert.notEqual(row.key_hash, crypto.createHash('sha256').update(key).digest('hex'), 'the key is hashed with its scope')
  assert.equal(sos.sos_token_hash, crypto.createHash('sha256').update(answer.sos_token).digest('hex'))
  assert.equal(logs.join('\n').includes(key), false, 'the Idempotency-Key header is redacted from logs')
})
