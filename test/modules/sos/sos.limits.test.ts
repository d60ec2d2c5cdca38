// Attacks on SOS creation over real HTTP and sockets: self-registered accounts and the socket path no
// longer bypass the budget. Anonymous callers share one per-IP budget across both create paths and the
// socket; each citizen account has its own; staff are exempt; with Redis the budget spans the nodes.
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { test } from 'node:test'
import { buildTestApp } from '../../helpers/app.ts'
import { call, type Answer } from '../../helpers/http.ts'
import { createUser, type TestUser } from '../../helpers/factories.ts'
import { connect, emitAck, next, type AckResponse, type ClientSocket } from '../../helpers/sockets.ts'

const BODY = { name: 'Asha', sos_type: 0, initial_latitude: 12.9716, initial_longitude: 77.5946 }

const restCreate = (apiUrl: string, user?: TestUser, path = '/api/create-sos/') => call(apiUrl, 'POST', path, { json: BODY, user })

function assertRestThrottled(res: Answer, label: string) {
  assert.equal(res.status, 429, `${label}: ${res.text}`)
  assert.deepEqual(Object.keys(res.body), ['detail'])
  assert.match(res.body.detail, /^Request was throttled\. Expected available in \d+ seconds?\.$/)
  const retryAfter = Number(res.headers.get('retry-after'))
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 3600, `${label}: Retry-After ${res.headers.get('retry-after')}`)
}

/** A socket create that must be refused: negative ack, `create_sos_response {success: false}` and `error`, all `throttled`. */
async function assertSocketThrottled(socket: ClientSocket, label: string) {
  const response = next<{ success: boolean; code?: string; retry_after?: number }>(socket, 'create_sos_response')
  const error = next<{ code: string; event?: string }>(socket, 'error')
  const ack: AckResponse = await emitAck(socket, 'create_sos', BODY)
  assert.equal(ack.ok, false, `${label}: ${JSON.stringify(ack)}`)
  assert.equal(ack.error?.code, 'throttled', label)
  const answered = await response
  assert.equal(answered.success, false, label)
  assert.equal(answered.code, 'throttled', label)
  assert.ok(Number(answered.retry_after) >= 1, `${label}: retry_after ${answered.retry_after}`)
  assert.deepEqual([(await error).code, (await error).event], ['throttled', 'create_sos'])
  assert.equal(socket.connected, true, 'a throttled socket stays connected')
}

async function socketCreate(socket: ClientSocket) {
  const ack = await emitAck(socket, 'create_sos', BODY)
  assert.equal(ack.ok, true, JSON.stringify(ack))
}

const countSos = async (app: Awaited<ReturnType<typeof buildTestApp>>['app']) =>
  Number((await app.db.selectFrom('sos_requests').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n)

test('the anonymous per-IP budget spent over REST refuses the socket create, and both REST paths share it', async (t) => {
  const { app, apiUrl, socketUrl } = await buildTestApp(t, { sosCreateRateLimitPerMinute: 3 })
  assert.equal((await restCreate(apiUrl)).status, 201)
  assert.equal((await restCreate(apiUrl, undefined, '/api/sos/')).status, 201)
  assert.equal((await restCreate(apiUrl)).status, 201)
  assertRestThrottled(await restCreate(apiUrl, undefined, '/api/sos/'), 'the other create path')
  const stored = await countSos(app)

  const phone = await connect(t, socketUrl)
  await assertSocketThrottled(phone, 'socket after the REST budget was spent')
  const another = await connect(t, socketUrl)
  await assertSocketThrottled(another, 'a fresh connection from the same address')
  assert.equal(await countSos(app), stored, 'a refused create stores nothing')
})

test('the anonymous per-IP budget spent over the socket refuses the REST create', async (t) => {
  const { app, apiUrl, socketUrl } = await buildTestApp(t, { sosCreateRateLimitPerMinute: 3 })
  const phone = await connect(t, socketUrl)
  for (let i = 0; i < 3; i++) await socketCreate(phone)
  const stored = await countSos(app)
  assertRestThrottled(await restCreate(apiUrl), 'REST after the socket budget was spent')
  assertRestThrottled(await restCreate(apiUrl, undefined, '/api/sos/'), 'the other REST path')
  await assertSocketThrottled(phone, 'the socket itself')
  assert.equal(await countSos(app), stored)
})

test('a self-registered citizen cannot flood: she hits her own budget (REST and socket together); staff are exempt', async (t) => {
  const { app, apiUrl, socketUrl } = await buildTestApp(t, { sosCreateRateLimitPerMinute: 2, sosCreateAccountLimitPerMinute: 4, sosCreateAccountLimitPerHour: 100 })
  // The attacker of the review: the anonymous path from this address is already throttled …
  assert.equal((await restCreate(apiUrl)).status, 201)
  assert.equal((await restCreate(apiUrl)).status, 201)
  assertRestThrottled(await restCreate(apiUrl), 'anonymous')
  // … so she registers an account and signs in.
  const register = await call(apiUrl, 'POST', '/auth/users/', { json: { username: 'flooder', password: 'Kavach-Lantern-2025', re_password: 'Kavach-Lantern-2025' } })
  assert.equal(register.status, 201, register.text)
  const login = await call(apiUrl, 'POST', '/auth/token/login/', { json: { username: 'flooder', password: 'Kavach-Lantern-2025' } })
  const flooder = { token: login.body.auth_token as string } as TestUser
  const signedIn = await connect(t, socketUrl, flooder.token)

  // Her own budget is 4 a minute, counted over REST and the socket together …
  assert.equal((await restCreate(apiUrl, flooder)).status, 201)
  await socketCreate(signedIn)
  assert.equal((await restCreate(apiUrl, flooder, '/api/sos/')).status, 201)
  await socketCreate(signedIn)
  const stored = await countSos(app)
  // … and past it she has only what her address has left (nothing): the flood of 300 is now 4.
  const flood = await Promise.all(Array.from({ length: 20 }, () => restCreate(apiUrl, flooder)))
  for (const res of flood) assertRestThrottled(res, 'signed-in flood')
  await assertSocketThrottled(signedIn, 'signed-in socket')
  assert.equal(await countSos(app), stored, 'nothing of the flood was stored')

  // Another citizen on the same address (carrier-grade NAT) still has her own budget.
  const neighbour = await createUser(app, 'citizen')
  for (let i = 0; i < 4; i++) assert.equal((await restCreate(apiUrl, neighbour)).status, 201)

  // Staff are never limited, from the same address, over REST and the socket.
  const dispatcher = await createUser(app, 'dispatcher')
  const officer = await createUser(app, 'officer', 'UNIT007')
  for (let i = 0; i < 8; i++) {
    assert.equal((await restCreate(apiUrl, dispatcher)).status, 201)
    assert.equal((await restCreate(apiUrl, officer, '/api/sos/')).status, 201)
  }
  const control = await connect(t, socketUrl, dispatcher.token)
  for (let i = 0; i < 8; i++) await socketCreate(control)
})

test('a citizen past her own budget falls back to her address\'s anonymous budget; the hourly cap holds below the burst', async (t) => {
  const { app, apiUrl } = await buildTestApp(t, { sosCreateRateLimitPerMinute: 2, sosCreateAccountLimitPerMinute: 10, sosCreateAccountLimitPerHour: 3 })
  const citizen = await createUser(app, 'citizen')
  // 3 from her own budget (the hourly cap, below the burst of 10), then the 2 her address has.
  const statuses: number[] = []
  for (let i = 0; i < 7; i++) {
    const res = await restCreate(apiUrl, citizen)
    statuses.push(res.status)
    if (res.status !== 201) assertRestThrottled(res, `create ${i + 1}`)
  }
  assert.deepEqual(statuses, [201, 201, 201, 201, 201, 429, 429])
  // The address's budget is what she drew on, so an anonymous phone there is now refused too.
  assertRestThrottled(await restCreate(apiUrl), 'anonymous on the same address')
})

test('with Redis, one budget for the whole cluster: spent over REST on one node, refused on the other node\'s socket', { skip: !process.env.TEST_REDIS_URL && 'needs TEST_REDIS_URL (npm run test:scale)' }, async (t) => {
  const shared = { redisPrefix: `nk_test_${crypto.randomBytes(6).toString('hex')}`, sosCreateRateLimitPerMinute: 3, sosCreateAccountLimitPerMinute: 2, sosCreateAccountLimitPerHour: 100 }
  const nodeA = await buildTestApp(t, shared)
  const nodeB = await buildTestApp(t, { ...shared, databaseUrl: nodeA.config.databaseUrl })

  // Anonymous: 2 over REST on A, 1 over the socket on B, then both refuse, over either transport.
  assert.equal((await restCreate(nodeA.apiUrl)).status, 201)
  assert.equal((await restCreate(nodeA.apiUrl, undefined, '/api/sos/')).status, 201)
  const phoneB = await connect(t, nodeB.socketUrl)
  await socketCreate(phoneB)
  await assertSocketThrottled(phoneB, 'node B socket')
  const phoneA = await connect(t, nodeA.socketUrl)
  await assertSocketThrottled(phoneA, 'node A socket')
  assertRestThrottled(await restCreate(nodeB.apiUrl), 'node B REST')

  // An account's budget likewise: 1 on A's socket, 1 on B's REST, then refused on both.
  const citizen = await createUser(nodeA.app, 'citizen')
  const citizenA = await connect(t, nodeA.socketUrl, citizen.token)
  await socketCreate(citizenA)
  assert.equal((await restCreate(nodeB.apiUrl, citizen)).status, 201)
  assertRestThrottled(await restCreate(nodeA.apiUrl, citizen), 'account on node A REST')
  const citizenB = await connect(t, nodeB.socketUrl, citizen.token)
  await assertSocketThrottled(citizenB, 'account on node B socket')
})
