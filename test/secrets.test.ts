// Secrets stay secret: no password, API token, SOS token or media signature in any log line or database
// column; error answers carry no stack trace or SQL; guessing and flooding are rate limited.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import { test } from 'node:test'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { io } from 'socket.io-client'
import { sqliteFileFromUrl } from '../src/db/dialect.ts'
import { buildTestApp, dialect } from './helpers/app.ts'
import { createSos, createUser, IMAGES, multipart } from './helpers/factories.ts'
import { collect, connect, emitAck, next } from './helpers/sockets.ts'

/** `Authorization: Token <key>` as a plain header record. */
const auth = (user: { token: string }): Record<string, string> => ({ authorization: `Token ${user.token}` })

const FACTORY_PASSWORD = 'Correct-Horse-Battery-9'

/** Every string value in every row of every table (found by introspection, so new tables are covered too). */
async function everyStoredString(app: FastifyInstance): Promise<Array<{ where: string; value: string }>> {
  const found: Array<{ where: string; value: string }> = []
  const tables = await app.db.introspection.getTables()
  assert.ok(tables.length >= 8, 'introspection found the tables')
  for (const table of tables) {
    // Introspected names are not in the typed schema; the cast is confined to this read.
    const rows = (await app.db.selectFrom(table.name as 'users').selectAll().execute()) as unknown as Record<string, unknown>[]
    for (const row of rows) {
      for (const [column, value] of Object.entries(row)) {
        if (typeof value === 'string') found.push({ where: `${table.name}.${column}`, value })
        else if (Buffer.isBuffer(value)) found.push({ where: `${table.name}.${column}`, value: value.toString('latin1') })
      }
    }
  }
  return found
}

const LEAKS: Array<[string, RegExp]> = [
  ['a stack frame', /\n\s+at |\bat [\w.$<>]+ \(|\.ts:\d+|\.js:\d+/],
  ['SQL', /\b(select|insert|update|delete)\b[\s\S]*\b(from|into|set|where)\b/i],
  ['the database engine', /sqlite|postgres|kysely|SQLITE_/i],
  ['a dependency path', /node_modules/],
  ['an internal error name', /TypeError|RangeError|ReferenceError|stack/],
]

function assertNoInternals(what: string, text: string) {
  for (const [name, pattern] of LEAKS) assert.doesNotMatch(text, pattern, `${what} reveals ${name}: ${text.slice(0, 300)}`)
}

test('a whole session leaves no password, token or signature in the logs or in the database', async (t) => {
  const { app, logs, config, socketUrl } = await buildTestApp(t, {}, { captureLogs: true })
  const admin = await createUser(app, 'admin')
  const password = 'Saffron-Kite-Harbour-71'
  const wrongPassword = 'Saffron-Kite-Harbour-72'
  const staffPassword = 'Indigo-Ferry-Lantern-38'

  // Register, fail once, sign in.
  const register = await app.inject({ method: 'POST', url: '/auth/users/', payload: { username: 'anjali', password, re_password: password, email: 'anjali@example.org' } })
  assert.equal(register.statusCode, 201)
  assert.equal((await app.inject({ method: 'POST', url: '/auth/token/login/', payload: { username: 'anjali', password: wrongPassword } })).statusCode, 400)
  const citizenToken: string = (await app.inject({ method: 'POST', url: '/auth/token/login/', payload: { username: 'anjali', password } })).json().auth_token
  // A form login and a login with a mismatched re_password registration also pass through the logs.
  assert.equal((await app.inject({ method: 'POST', url: '/auth/token/login/', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `username=anjali&password=${wrongPassword}` })).statusCode, 400)
  assert.equal((await app.inject({ method: 'POST', url: '/auth/users/', payload: { username: 'anjali2', password, re_password: wrongPassword } })).statusCode, 400)

  // An admin creates a dispatcher, who signs in.
  const staff = await app.inject({ method: 'POST', url: '/auth/users/', headers: auth(admin), payload: { username: 'dispatch_1', password: staffPassword, re_password: staffPassword, role: 'dispatcher' } })
  assert.equal(staff.statusCode, 201, staff.body)
  const dispatcherToken: string = (await app.inject({ method: 'POST', url: '/auth/token/login/', payload: { username: 'dispatch_1', password: staffPassword } })).json().auth_token

  // SOS: the citizen's and an anonymous one; positions with the token in the header, in the body, and bad ones.
  const mine = (await app.inject({ method: 'POST', url: '/api/create-sos/', headers: { authorization: `Token ${citizenToken}` }, payload: { name: 'Anjali', initial_latitude: 19.07, initial_longitude: 72.87 } })).json()
  const anon = await createSos(app, { name: 'Anon' })
  const point = (sosId: number, lat: unknown) => ({ sos_request: sosId, latitude: lat, longitude: 72.88 })
  assert.equal((await app.inject({ method: 'POST', url: '/api/update-location/', headers: { 'x-sos-token': mine.sos_token }, payload: point(mine.sos_id, 19.08) })).statusCode, 201)
  assert.equal((await app.inject({ method: 'POST', url: '/api/update-location/', payload: { ...point(anon.sos_id, 19.09), sos_token: anon.sos_token } })).statusCode, 201)
  assert.equal((await app.inject({ method: 'POST', url: '/api/update-location/', payload: { ...point(anon.sos_id, 'NaN'), sos_token: anon.sos_token } })).statusCode, 400)
  assert.equal((await app.inject({ method: 'POST', url: '/api/update-location/', headers: { 'x-sos-token': anon.sos_token }, payload: point(mine.sos_id, 19.1) })).statusCode, 403)
  assert.equal((await app.inject({ method: 'GET', url: `/api/sos/${mine.sos_id}/`, headers: { authorization: `Bearer ${citizenToken}` } })).statusCode, 200)

  // Sockets: identity from the handshake (auth.token, "Bearer …", an Authorization header), SOS token in payloads.
  const control = await connect(t, socketUrl, dispatcherToken)
  assert.equal((await emitAck(control, 'join_sos_channel', {})).ok, true)
  const citizenSocket = await connect(t, socketUrl, `Bearer ${citizenToken}`)
  const replay = next(citizenSocket, 'location_history')
  assert.equal((await emitAck(citizenSocket, 'join_sos_room', { room_id: mine.room_id, sos_token: mine.sos_token })).ok, true)
  await replay
  const phone = await connect(t, socketUrl)
  assert.equal((await emitAck(phone, 'update_location', { ...point(mine.sos_id, 19.11), sos_token: mine.sos_token })).ok, true)
  assert.equal((await emitAck(phone, 'update_location', { ...point(mine.sos_id, 'NaN'), sos_token: mine.sos_token })).ok, false)
  assert.equal((await emitAck(phone, 'join_sos_room', { room_id: mine.room_id, sos_token: anon.sos_token })).ok, false)
  const viaHeader = io(socketUrl, { transports: ['websocket'], forceNew: true, reconnection: false, extraHeaders: { authorization: `Token ${dispatcherToken}` } })
  t.after(() => void viaHeader.disconnect())
  const established = await next<{ user: { username: string } | null }>(viaHeader, 'connection_established')
  assert.equal(established.user?.username, 'dispatch_1')
  const badHandshake = io(socketUrl, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { token: `${citizenToken}x` } })
  t.after(() => void badHandshake.disconnect())
  await next(badHandshake, 'connect_error')

  // Images: uploaded with the token in the header and in the form; read through the signed link.
  const formA = multipart({ sos_id: String(mine.sos_id) }, [{ filename: 'a.png', data: IMAGES.png }])
  const uploadA = await app.inject({ method: 'POST', url: '/api/upload-sos-images/', headers: { 'x-sos-token': mine.sos_token, ...formA.headers }, payload: formA.payload })
  assert.equal(uploadA.statusCode, 201)
  const formB = multipart({ sos_id: String(anon.sos_id), sos_token: anon.sos_token }, [{ filename: 'b.jpg', data: IMAGES.jpg }])
  const uploadB = await app.inject({ method: 'POST', url: '/api/upload-sos-images/', headers: formB.headers, payload: formB.payload })
  assert.equal(uploadB.statusCode, 201)
  const listed = await app.inject({ method: 'GET', url: `/api/get-sos-images/${mine.sos_id}/`, headers: { authorization: `Token ${citizenToken}` } })
  const signedUrl = new URL(listed.json().images[0].image_url)
  const signature = signedUrl.searchParams.get('signature')
  assert.match(String(signature), /^[0-9a-f]{64}$/)
  assert.equal((await app.inject({ method: 'GET', url: signedUrl.pathname + signedUrl.search })).statusCode, 200)
  const forged = `${signedUrl.pathname}?expires=${signedUrl.searchParams.get('expires')}&signature=${'0'.repeat(64)}`
  assert.ok([401, 403].includes((await app.inject({ method: 'GET', url: forged })).statusCode))
  const uploadSignature = new URL(uploadB.json().uploaded_images[0].image_url).searchParams.get('signature')

  // Sign out; the token is dead.
  assert.equal((await app.inject({ method: 'POST', url: '/auth/token/logout/', headers: { authorization: `Token ${citizenToken}` } })).statusCode, 204)
  assert.equal((await app.inject({ method: 'GET', url: '/auth/users/me/', headers: { authorization: `Token ${citizenToken}` } })).statusCode, 401)

  const secrets: Record<string, string> = {
    password,
    wrongPassword,
    staffPassword,
    factoryPassword: FACTORY_PASSWORD,
    citizenToken,
    dispatcherToken,
    adminToken: admin.token,
    sosToken: mine.sos_token,
    anonSosToken: anon.sos_token,
    signature: String(signature),
    uploadSignature: String(uploadSignature),
  }

  // The logs were really captured (requests, socket refusals, multipart parsing) ...
  const text = logs.join('')
  assert.ok(logs.length > 50, `captured ${logs.length} log lines`)
  for (const expected of ['/api/upload-sos-images/', '/media/sos_images/', '/auth/token/login/', 'socket event refused']) {
    assert.ok(text.includes(expected), `the logs mention ${expected}`)
  }
  // ... and none of them holds a secret.
  for (const [name, secret] of Object.entries(secrets)) {
    const line = logs.find((l) => l.includes(secret))
    assert.equal(line, undefined, `the ${name} appears in a log line: ${line?.slice(0, 400)}`)
  }

  // The database holds only digests: no secret in any text column of any table.
  const stored = await everyStoredString(app)
  assert.ok(stored.some((s) => s.where === 'users.password_hash'))
  for (const [name, secret] of Object.entries(secrets)) {
    const hit = stored.find((s) => s.value.includes(secret))
    assert.equal(hit, undefined, `the ${name} is stored in clear in ${hit?.where}`)
  }
  for (const row of await app.db.selectFrom('users').select(['username', 'password_hash']).execute()) {
    assert.match(row.password_hash, /^scrypt\$/, `${row.username}'s password is hashed`)
  }
  // Not even in the database files' bytes (old page versions, the write-ahead log).
  if (dialect === 'sqlite') {
    const file = sqliteFileFromUrl(config.databaseUrl)!
    for (const path of [file, `${file}-wal`].filter((p) => fs.existsSync(p))) {
      const bytes = fs.readFileSync(path)
      for (const [name, secret] of Object.entries(secrets)) {
        assert.equal(bytes.includes(Buffer.from(secret)), false, `the ${name} is in ${path}`)
      }
    }
  }
})

test('error answers never show a stack trace, SQL or internals, over REST or over the socket', async (t) => {
  const { app, socketUrl } = await buildTestApp(t, { imageMaxBytes: 2048 })
  const dispatcher = await createUser(app, 'dispatcher')
  const sos = await createSos(app)
  const answers: Array<[string, LightMyRequestResponse]> = []
  const call = async (what: string, opts: InjectOptions) => {
    const res = await app.inject(opts)
    answers.push([what, res])
    return res
  }
  const json = { 'content-type': 'application/json' }
  await call('bad JSON', { method: 'POST', url: '/api/create-sos/', headers: json, payload: '{"name": "x", "initial_latitude": }' })
  await call('truncated JSON', { method: 'POST', url: '/api/update-location/', headers: json, payload: '{"sos_request": 1' })
  await call('prototype key', { method: 'POST', url: '/api/create-sos/', headers: json, payload: '{"__proto__": {"x": 1}}' })
  await call('huge number', { method: 'POST', url: '/api/update-location/', headers: { ...json, ...auth(dispatcher) }, payload: `{"sos_request": ${'9'.repeat(400)}, "latitude": 1e400, "longitude": -1e400}` })
  await call('int64 overflow', { method: 'POST', url: '/api/assign-officer/', headers: { ...json, ...auth(dispatcher) }, payload: '{"sos_request": 9223372036854775808, "officer_name": "x", "unit_number": "U1"}' })
  await call('SQL-looking input', { method: 'POST', url: '/api/assign-officer/', headers: auth(dispatcher), payload: { sos_request: "1; DROP TABLE users; --", officer_name: "' OR 1=1 --", unit_number: "U1' --" } })
  await call('SQL-looking id', { method: 'GET', url: `/api/sos/1%20OR%201=1/`, headers: auth(dispatcher) })
  await call('SQL-looking login', { method: 'POST', url: '/auth/token/login/', payload: { username: "admin' --", password: "' OR '1'='1" } })
  await call('duplicate username', { method: 'POST', url: '/auth/users/', payload: { username: dispatcher.username, password: 'Plenty-Long-Pass-1', re_password: 'Plenty-Long-Pass-1' } })
  await call('null byte', { method: 'POST', url: '/api/create-sos/', payload: { name: 'a\u0000b', initial_latitude: 1, initial_longitude: 1 } })
  await call('bad URL encoding', { method: 'GET', url: '/api/sos/%E0%A4%A/' })
  await call('long path', { method: 'GET', url: `/api/get-sos-images/${'1'.repeat(300)}/` })
  await call('too large', { method: 'POST', url: '/api/create-sos/', headers: json, payload: JSON.stringify({ name: 'x'.repeat(400 * 1024) }) })
  await call('unsupported type', { method: 'POST', url: '/api/create-sos/', headers: { 'content-type': 'application/xml' }, payload: '<x/>' })
  await call('bad multipart', { method: 'POST', url: '/api/upload-sos-images/', headers: { 'content-type': 'multipart/form-data; boundary=zz', ...auth(dispatcher) }, payload: '--zz\r\nContent-Disposition: form-data; name="sos_id"\r\n\r\n1' })
  const big = multipart({ sos_id: String(sos.sos_id) }, [{ filename: 'big.png', data: Buffer.concat([IMAGES.png, Buffer.alloc(4096)]) }])
  await call('file too large', { method: 'POST', url: '/api/upload-sos-images/', headers: { ...auth(dispatcher), ...big.headers }, payload: big.payload })
  await call('overlong token', { method: 'GET', url: '/auth/users/me/', headers: { authorization: `Token ${'a'.repeat(5000)}` } })
  await call('overlong SOS token', { method: 'GET', url: `/api/sos/${sos.sos_id}/`, headers: { 'x-sos-token': 'b'.repeat(5000) } })
  await call('unknown route', { method: 'GET', url: '/api/../../etc/passwd' })
  await call('forbidden', { method: 'GET', url: '/api/get-all-sos/', headers: { 'x-sos-token': sos.sos_token } })
  await call('media traversal', { method: 'GET', url: '/media/sos_images/..%2f..%2fpackage.json' })

  for (const [what, res] of answers) {
    assert.ok(res.statusCode >= 400 && res.statusCode < 500, `${what} → ${res.statusCode} ${res.body.slice(0, 200)}`)
    assertNoInternals(what, res.body)
    assert.equal(res.headers['x-powered-by'], undefined)
  }

  // Socket refusals: the error event and the ack carry a code and a message, nothing more revealing.
  const socket = await connect(t, socketUrl)
  const errors = collect<Record<string, unknown>>(socket, 'error')
  const acks = [
    await emitAck(socket, 'update_location', { sos_request: "1 OR 1=1", latitude: '1e999', longitude: [] }),
    await emitAck(socket, 'update_location', { sos_request: Number.MAX_SAFE_INTEGER * 1024, latitude: 1, longitude: 1 }),
    await emitAck(socket, 'join_sos_room', "'; DROP TABLE sos_requests; --"),
    await emitAck(socket, 'create_sos', { name: { toString: 'x' }, initial_latitude: {}, initial_longitude: null }),
  ]
  socket.emit('sos_created', { sos_id: 1, room_id: sos.room_id })
  await next(socket, 'error')
  for (const ack of acks) {
    assert.equal(ack.ok, false)
    assertNoInternals('socket ack', JSON.stringify(ack))
  }
  for (const error of errors) assertNoInternals('socket error event', JSON.stringify(error))
  assert.ok(errors.length >= 4)
})

test('login guessing is rate limited per client, even for the right password once the limit is hit', async (t) => {
  const { app } = await buildTestApp(t, { loginRateLimitPerMinute: 3 })
  const user = await createUser(app, 'citizen')
  const tokensBefore = (await app.db.selectFrom('api_tokens').select('id').execute()).length
  const attempt = (username: string, password: string) => app.inject({ method: 'POST', url: '/auth/token/login/', payload: { username, password } })

  for (const guess of ['password1', 'letmein-now', 'Correct-Horse-Battery-8']) {
    const res = await attempt(user.username, guess)
    assert.equal(res.statusCode, 400)
    assert.deepEqual(res.json(), { non_field_errors: ['Unable to log in with provided credentials.'] })
  }
  for (const [username, password] of [[user.username, FACTORY_PASSWORD], ['someone_else', 'whatever-123'], [user.username, 'guess-4']]) {
    const res = await attempt(username, password)
    assert.equal(res.statusCode, 429, res.body)
    assert.match(String(res.json().detail), /throttled/i)
    assert.deepEqual(Object.keys(res.json()), ['detail'])
    assert.equal(res.body.includes('auth_token'), false)
  }
  assert.equal((await app.db.selectFrom('api_tokens').select('id').execute()).length, tokensBefore, 'no token was issued past the limit')

  // The limit is on login only: an SOS and a signed-in read still go through.
  assert.equal((await app.inject({ method: 'POST', url: '/api/create-sos/', payload: { name: 'Asha', initial_latitude: 1, initial_longitude: 1 } })).statusCode, 201)
  assert.equal((await app.inject({ method: 'GET', url: '/auth/users/me/', headers: auth(user) })).statusCode, 200)
})

test('anonymous SOS creation is rate limited per IP over REST and the socket together; signed-in citizens have their own budget', async (t) => {
  const { app, socketUrl } = await buildTestApp(t, { sosCreateRateLimitPerMinute: 3, sosCreateAccountLimitPerMinute: 20 })
  const citizen = await createUser(app, 'citizen')
  const dispatcher = await createUser(app, 'dispatcher')
  const body = { name: 'Asha', initial_latitude: 12.9, initial_longitude: 77.6 }
  const countSos = async () => (await app.inject({ method: 'GET', url: '/api/get-all-sos/', headers: auth(dispatcher) })).json().count as number

  for (let i = 0; i < 3; i++) {
    assert.equal((await app.inject({ method: 'POST', url: '/api/create-sos/', payload: body })).statusCode, 201)
  }
  const shown = await countSos()
  for (let i = 0; i < 2; i++) {
    const res = await app.inject({ method: 'POST', url: '/api/create-sos/', payload: body })
    assert.equal(res.statusCode, 429, res.body)
    assert.match(String(res.json().detail), /throttled/i)
    assert.ok(Number(res.headers['retry-after']) >= 1, 'Retry-After says when to come back')
  }
  assert.equal(await countSos(), shown, 'a throttled create stores nothing')
  // A signed-in citizen counts against her own account's budget, not her address's.
  for (let i = 0; i < 6; i++) {
    const res = await app.inject({ method: 'POST', url: '/api/create-sos/', headers: auth(citizen), payload: body })
    assert.equal(res.statusCode, 201, res.body)
  }
  assert.equal(await countSos(), shown + 6)

  // Over the socket, anonymous creates draw on the same per-IP budget, already spent over REST
  // (answered on the ack, the error event and create_sos_response).
  const phone = await connect(t, socketUrl)
  const beforeSocketLimit = await countSos()
  const response = next<{ success: boolean; code?: string }>(phone, 'create_sos_response')
  const error = next<{ code: string }>(phone, 'error')
  const limited = await emitAck(phone, 'create_sos', body)
  assert.equal(limited.ok, false)
  assert.equal(limited.error?.code, 'throttled')
  assert.deepEqual([(await response).success, (await response).code], [false, 'throttled'])
  assert.equal((await error).code, 'throttled')
  // A new connection from the same place does not reset the count.
  const another = await connect(t, socketUrl)
  assert.equal((await emitAck(another, 'create_sos', body)).error?.code, 'throttled')
  assert.equal(await countSos(), beforeSocketLimit)
  assert.equal(phone.connected, true)

  const signedIn = await connect(t, socketUrl, citizen.token)
  for (let i = 0; i < 5; i++) assert.equal((await emitAck(signedIn, 'create_sos', body)).ok, true)
  assert.equal(await countSos(), beforeSocketLimit + 5)
})
