// Attacks from the secure-mode review (issue 14), each performed for real: an officer taking over another
// unit's SOS, deeply nested input, unusable Host headers, forged far-future media links, probing SOS ids
// without credentials, and floods of refused socket events. Each test fails without its fix.
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import net from 'node:net'
import { test } from 'node:test'
import { buildTestApp } from '../helpers/app.ts'
import { auth, createSos, createUser, IMAGES, multipart } from '../helpers/factories.ts'
import { collect, connect, emitAck, next } from '../helpers/sockets.ts'

const FORBIDDEN = { detail: 'You do not have permission to perform this action.' }
const NOT_PROVIDED = { detail: 'Authentication credentials were not provided.' }

test('takeover refused: an officer cannot re-dispatch another unit’s SOS to their own unit, and so cannot close it', async (t) => {
  const { app, socketUrl } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  const chosen = await createUser(app, 'officer', 'UNIT001')
  const intruder = await createUser(app, 'officer', 'UNIT666')
  const victim = await createSos(app)

  const dispatch = await app.inject({ method: 'POST', url: '/api/assign-officer/', headers: auth(dispatcher), payload: { sos_request: victim.sos_id, officer_name: 'Ravi', unit_number: 'UNIT001' } })
  assert.equal(dispatch.statusCode, 201)
  assert.equal(dispatch.json().officer.assigned_by, dispatcher.id, 'who assigned is recorded')

  // The chosen unit follows the victim live; it must keep doing so.
  const unitRoom = await connect(t, socketUrl, chosen.token)
  assert.equal((await emitAck(unitRoom, 'join_officer_room', 'UNIT001')).ok, true)

  // The attack: the intruder names their own unit on the SOS already given to UNIT001.
  const takeover = await app.inject({ method: 'POST', url: '/api/assign-officer/', headers: auth(intruder), payload: { sos_request: victim.sos_id, officer_name: 'Not Ravi', unit_number: 'UNIT666' } })
  assert.equal(takeover.statusCode, 403)
  assert.deepEqual(takeover.json(), FORBIDDEN)
  // …and so they may not resolve it either.
  const close = await app.inject({ method: 'POST', url: `/api/resolve-sos/${victim.sos_id}/`, headers: auth(intruder) })
  assert.equal(close.statusCode, 403)

  const sos = (await app.inject({ method: 'GET', url: `/api/sos/${victim.sos_id}/`, headers: auth(dispatcher) })).json()
  assert.equal(sos.unit_number_dispatched, 'UNIT001')
  assert.equal(sos.status, 'dispatched')
  assert.deepEqual(sos.officer_assignments.map((a: { unit_number: string; assigned_by: number }) => [a.unit_number, a.assigned_by]), [['UNIT001', dispatcher.id]])

  // The victim's phone keeps streaming, and the chosen unit keeps receiving it.
  const heard = next<{ sos_id: number }>(unitRoom, 'unit_location_update')
  const moved = await app.inject({ method: 'POST', url: '/api/update-location/', headers: { 'x-sos-token': victim.sos_token }, payload: { sos_request: victim.sos_id, latitude: 12.98, longitude: 77.6 } })
  assert.equal(moved.statusCode, 201)
  assert.equal((await heard).sos_id, victim.sos_id)
})

test('dispatch rules: an officer may volunteer their own unit for a free SOS (or re-confirm it); re-dispatching is for dispatchers and admins', async (t) => {
  const { app } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  const admin = await createUser(app, 'admin')
  const officer = await createUser(app, 'officer', 'UNIT001')
  const assign = (user: { token: string }, sosId: number, unit: string) =>
    app.inject({ method: 'POST', url: '/api/assign-officer/', headers: auth(user), payload: { sos_request: sosId, officer_name: 'Ravi', unit_number: unit } })

  const free = await createSos(app)
  assert.equal((await assign(officer, free.sos_id, 'UNIT002')).statusCode, 403, 'never another unit')
  const volunteered = await assign(officer, free.sos_id, 'UNIT001')
  assert.equal(volunteered.statusCode, 201, 'own unit, SOS free')
  assert.equal(volunteered.json().officer.assigned_by, officer.id)
  assert.equal((await assign(officer, free.sos_id, 'UNIT001')).statusCode, 201, 'own unit again (same dispatch)')
  // Dispatchers and admins move an SOS between units.
  assert.equal((await assign(dispatcher, free.sos_id, 'UNIT002')).statusCode, 201)
  assert.equal((await assign(officer, free.sos_id, 'UNIT001')).statusCode, 403, 'not back from UNIT002 by an officer')
  assert.equal((await assign(admin, free.sos_id, 'UNIT001')).statusCode, 201)
})

test('takeover race: an officer volunteering while a dispatcher picks another unit never overrides the dispatcher', async (t) => {
  const { app } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  const officer = await createUser(app, 'officer', 'UNIT777')
  for (let round = 0; round < 10; round++) {
    const sos = await createSos(app)
    const [byDispatcher, byOfficer] = await Promise.all([
      app.inject({ method: 'POST', url: '/api/assign-officer/', headers: auth(dispatcher), payload: { sos_request: sos.sos_id, officer_name: 'A', unit_number: 'UNIT001' } }),
      app.inject({ method: 'POST', url: '/api/assign-officer/', headers: auth(officer), payload: { sos_request: sos.sos_id, officer_name: 'B', unit_number: 'UNIT777' } }),
    ])
    assert.equal(byDispatcher.statusCode, 201)
    assert.ok([201, 403].includes(byOfficer.statusCode), `officer: ${byOfficer.statusCode} ${byOfficer.body}`)
    const final = (await app.inject({ method: 'GET', url: `/api/sos/${sos.sos_id}/`, headers: auth(dispatcher) })).json()
    // Whatever the order, the dispatcher's unit stands (the officer only wins an SOS that was free, and the dispatcher then re-dispatches it).
    assert.equal(final.unit_number_dispatched, 'UNIT001', `round ${round}`)
  }
})

/** `[[[…0…]]]` nested `depth` levels deep. */
const nested = (depth: number) => '['.repeat(depth) + '0' + ']'.repeat(depth)

test('deeply nested input (depth 5000) is a 400 on every endpoint and socket event, never a 500', async (t) => {
  const { app, socketUrl } = await buildTestApp(t)
  const admin = await createUser(app, 'admin')
  const sos = await createSos(app)
  const body = `{"name": "Asha", "sos_type": ${nested(5000)}, "initial_latitude": 1, "initial_longitude": 2}`
  for (const [method, url] of [['POST', '/api/create-sos/'], ['POST', '/api/sos/'], ['PATCH', `/api/sos/${sos.sos_id}/`], ['PUT', `/api/sos/${sos.sos_id}/`], ['POST', '/api/update-location/'], ['POST', '/auth/users/']] as const) {
    const res = await app.inject({ method, url, headers: { 'content-type': 'application/json', ...auth(admin) }, payload: body })
    assert.equal(res.statusCode, 400, `${method} ${url}: ${res.body.slice(0, 200)}`)
    assert.match(res.json().detail, /^JSON parse error - .*[Nn]ested/)
  }
  // Shallow but still wrong nesting is an ordinary, short field error (the value is never echoed whole).
  const shallow = await app.inject({ method: 'POST', url: '/api/create-sos/', payload: { name: 'Asha', sos_type: [[[1]]], initial_latitude: 1, initial_longitude: 2 } })
  assert.equal(shallow.statusCode, 400)
  assert.deepEqual(shallow.json(), { sos_type: ['"[…]" is not a valid choice.'] })

  // socket.io-client cannot even encode such a payload (its JSON.stringify overflows), so the frames are
  // written raw, as an attacker would: a Socket.IO EVENT packet ("2" + JSON array) on the Engine.IO transport.
  const socket = await connect(t, socketUrl, admin.token)
  const engine = (socket.io as unknown as { engine: { send(data: string): void } }).engine
  const created = next<{ success: boolean; code: string; error: string }>(socket, 'create_sos_response')
  engine.send(`2["create_sos",{"name":"Asha","sos_type":${nested(5000)},"initial_latitude":1,"initial_longitude":2}]`)
  const create = await created
  assert.equal(create.success, false)
  assert.equal(create.code, 'validation_error')
  assert.match(create.error, /Nested more than/)
  const updated = next<{ success: boolean; code: string }>(socket, 'update_location_response')
  engine.send(`2["update_location",{"sos_request":${sos.sos_id},"latitude":${nested(5000)},"longitude":2}]`)
  assert.equal((await updated).code, 'validation_error')
  const joinError = next<{ code: string; event: string }>(socket, 'error')
  engine.send(`2["join_sos_room",${nested(5000)}]`)
  assert.deepEqual(await joinError.then((e) => [e.code, e.event]), ['validation_error', 'join_sos_room'])
  // The socket is still up and answers normally.
  assert.equal((await emitAck(socket, 'join_sos_channel', {})).ok, true)
  const count = await app.db.selectFrom('sos_requests').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()
  assert.equal(Number(count.n), 1, 'nothing was written')
})

/** One raw HTTP/1.1 request with an exact Host header (fetch and inject would normalise it). */
function rawGet(port: number, path: string, hostLine: string, headers: string[] = []): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(`GET ${path} HTTP/1.1\r\n${hostLine}\r\n${headers.map((h) => `${h}\r\n`).join('')}Connection: close\r\n\r\n`)
    })
    let data = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk) => (data += chunk))
    socket.on('error', reject)
    socket.on('end', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1])
      resolve({ status, body: data.slice(data.indexOf('\r\n\r\n') + 4) })
    })
  })
}

test('an unusable Host header is a 400 {detail} on paged lists and image links, never a 500; a good one builds the links', async (t) => {
  const { app, apiUrl } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  await createSos(app)
  await createSos(app)
  const port = Number(new URL(apiUrl).port)
  const token = `Authorization: Token ${dispatcher.token}`
  for (const host of ['Host: x:99999', 'Host: a b', 'Host:', 'Host: exa_mple.org', 'Host: [zz]']) {
    for (const path of ['/api/sos/?limit=1', '/api/get-all-sos/?limit=1', '/api/sos/']) {
      const res = await rawGet(port, path, host, [token])
      assert.equal(res.status, 400, `${host} ${path}: ${res.body.slice(0, 200)}`)
      assert.deepEqual(JSON.parse(res.body), { detail: 'Invalid Host header.' })
    }
  }
  // A normal Host still builds absolute links from itself, and the request target never injects a host.
  const good = await rawGet(port, '/api/sos/?limit=1', 'Host: sos.example.org:8000', [token])
  assert.equal(good.status, 200)
  assert.equal(JSON.parse(good.body).next, 'http://sos.example.org:8000/api/sos/?limit=1&offset=1')
})

test('signed media links: a far-future expires is refused even when correctly signed; the previous key verifies during a rotation', async (t) => {
  const oldKey = crypto.randomBytes(32).toString('hex')
  const newKey = crypto.randomBytes(32).toString('hex')
  const ttl = 600
  const first = await buildTestApp(t, { mediaSigningKey: oldKey, mediaUrlTtlSeconds: ttl })
  const sos = await createSos(first.app)
  const form = multipart({ sos_id: String(sos.sos_id) }, [{ filename: 'a.png', data: IMAGES.png }])
  const uploaded = await first.app.inject({ method: 'POST', url: '/api/upload-sos-images/', headers: { ...form.headers, 'x-sos-token': sos.sos_token }, payload: form.payload })
  assert.equal(uploaded.statusCode, 201, uploaded.body)
  const image = uploaded.json().uploaded_images[0] as { image: string; image_url: string }
  const relative = image.image.replace(/^\/media\//, '')
  const sign = (key: string, expires: number) => crypto.createHmac('sha256', key).update(`${relative}:${expires}`).digest('hex')
  const fetchLink = (apiUrl: string, key: string, expires: number) => fetch(`${apiUrl}${image.image}?expires=${expires}&signature=${sign(key, expires)}`)
  const now = Math.floor(Date.now() / 1000)

  // The attack: anyone who learnt the key (a database backup) mints a link valid until the year 33658.
  const forever = await fetchLink(first.apiUrl, oldKey, 999_999_999_999)
  assert.equal(forever.status, 401)
  assert.deepEqual(await forever.json(), NOT_PROVIDED)
  assert.equal((await fetchLink(first.apiUrl, oldKey, now + ttl + 3600)).status, 401, 'beyond TTL + skew')
  assert.equal((await fetchLink(first.apiUrl, oldKey, now + ttl)).status, 200, 'within the TTL')
  await first.close()

  // Rotation: the new key signs; links signed with the previous one keep working until they expire.
  const second = await buildTestApp(t, { databaseUrl: first.config.databaseUrl, mediaRoot: first.config.mediaRoot, mediaSigningKey: newKey, mediaSigningKeyPrevious: oldKey, mediaUrlTtlSeconds: ttl })
  assert.equal((await fetchLink(second.apiUrl, oldKey, now + ttl)).status, 200, 'previous key, during the rotation')
  assert.equal((await fetchLink(second.apiUrl, newKey, now + ttl)).status, 200, 'new key')
  const listed = await second.app.inject({ method: 'GET', url: `/api/get-sos-images/${sos.sos_id}/`, headers: { 'x-sos-token': sos.sos_token } })
  const issued = new URL(listed.json().images[0].image_url)
  assert.equal(issued.searchParams.get('signature'), sign(newKey, Number(issued.searchParams.get('expires'))), 'new links are signed with the new key')
  await second.close()

  // After the rotation: the old key opens nothing.
  const third = await buildTestApp(t, { databaseUrl: first.config.databaseUrl, mediaRoot: first.config.mediaRoot, mediaSigningKey: newKey, mediaUrlTtlSeconds: ttl })
  assert.equal((await fetchLink(third.apiUrl, oldKey, now + ttl)).status, 401)
})

test('probing SOS ids without credentials: 401 for existing and missing ids alike', async (t) => {
  const { app } = await buildTestApp(t)
  const sos = await createSos(app)
  const missing = sos.sos_id + 1000
  const probes: Array<[string, (id: number) => string, Record<string, unknown> | undefined]> = [
    ['GET', (id) => `/api/sos/${id}/`, undefined],
    ['GET', (id) => `/api/sos/${id}/locations/`, undefined],
    ['GET', (id) => `/api/get-sos-images/${id}/`, undefined],
    ['POST', (id) => `/api/sos/${id}/cancel/`, {}],
    ['POST', (id) => `/api/sos/${id}/acknowledge/`, {}],
    ['POST', (id) => `/api/resolve-sos/${id}/`, {}],
    ['POST', () => '/api/update-location/', undefined],
  ]
  for (const [method, url, payload] of probes) {
    const answers = []
    for (const id of [sos.sos_id, missing]) {
      const body = url(id) === '/api/update-location/' ? { sos_request: id, latitude: 1, longitude: 2 } : payload
      const res = await app.inject({ method: method as 'GET' | 'POST', url: url(id), ...(body && { payload: body }) })
      answers.push([res.statusCode, res.json()])
    }
    assert.deepEqual(answers[0], [401, NOT_PROVIDED], `${method} ${url(sos.sos_id)}`)
    assert.deepEqual(answers[1], answers[0], `${method} ${url(missing)}: an unknown id looks the same`)
  }
  // With a credential the ordinary answers come back (a token holder of another SOS learns nothing either).
  const other = await createSos(app)
  const foreign = await app.inject({ method: 'GET', url: `/api/sos/${sos.sos_id}/`, headers: { 'x-sos-token': other.sos_token } })
  assert.equal(foreign.statusCode, 403)
})

test('a flood of refused socket events is counted and the socket disconnected; replies stay bounded', async (t) => {
  const { app, socketUrl } = await buildTestApp(t, { socketMaxRefusedEventsPerMinute: 20 })
  const officer = await createUser(app, 'officer', 'UNIT001')
  const socket = await connect(t, socketUrl, officer.token)
  const errors = collect<{ code: string }>(socket, 'error')
  let acks = 0
  const gone = new Promise<string>((resolve) => socket.once('disconnect', (reason) => resolve(reason)))
  for (let i = 0; i < 2000; i++) socket.emit(i % 2 ? 'sos_created' : `probe_${i}`, { i }, () => (acks += 1))
  assert.equal(await gone, 'io server disconnect')
  assert.ok(errors.length + acks <= 2 * 25, `replies: ${errors.length} errors + ${acks} acks`)
  assert.equal(errors.at(-1)?.code, 'too_many_refused_events')

  // A well-behaved socket is unaffected by a few mistakes.
  const polite = await connect(t, socketUrl, officer.token)
  for (let i = 0; i < 5; i++) assert.equal((await emitAck(polite, 'no_such_event', {})).error?.code, 'unknown_event')
  assert.equal((await emitAck(polite, 'join_officer_room', 'UNIT001')).ok, true)
  assert.equal(polite.connected, true)
})
