// Durability: what was answered 2xx is on disk for any other reader, survives a restart, and a refused
// write leaves no row and publishes no event.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import Database from 'better-sqlite3'
import type { FastifyInstance } from 'fastify'
import pg from 'pg'
import type { Config } from '../src/config.ts'
import { sqliteFileFromUrl } from '../src/db/dialect.ts'
import { sha256Hex } from '../src/lib/secrets.ts'
import { buildTestApp, dialect } from './helpers/app.ts'
import { createSos, createUser, IMAGES, multipart } from './helpers/factories.ts'
import { collect, connect, emitAck, next, settle } from './helpers/sockets.ts'

/** `Authorization: Token <key>` as a plain header record. */
const auth = (user: { token: string }): Record<string, string> => ({ authorization: `Token ${user.token}` })

type Row = Record<string, unknown>

/**
 * Reads through a brand-new connection to the same database (a read-only SQLite handle on the file,
 * or a new PostgreSQL client), so only what was committed is visible. `?` placeholders.
 */
async function readFresh(config: Config, sql: string, params: unknown[] = []): Promise<Row[]> {
  if (dialect === 'sqlite') {
    const file = sqliteFileFromUrl(config.databaseUrl)
    assert.ok(file && file !== ':memory:')
    const db = new Database(file, { readonly: true, fileMustExist: true })
    try {
      return db.prepare(sql).all(...params) as Row[]
    } finally {
      db.close()
    }
  }
  const client = new pg.Client({ connectionString: config.databaseUrl })
  await client.connect()
  try {
    let n = 0
    return (await client.query(sql.replace(/\?/g, () => `$${++n}`), params)).rows as Row[]
  } finally {
    await client.end()
  }
}

async function count(app: FastifyInstance, table: 'location_updates' | 'officer_assignments' | 'sos_requests' | 'sos_images' | 'unit_locations'): Promise<number> {
  const row = await app.db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()
  return Number(row.n)
}

const PASSWORD = 'Monsoon-Lantern-42'

test('accounts, tokens, SOS, location history and images survive a restart', async (t) => {
  const first = await buildTestApp(t)
  let app = first.app

  // A citizen registers and signs in over REST; a second session is logged out before the restart.
  const register = await app.inject({ method: 'POST', url: '/auth/users/', payload: { username: 'priya', password: PASSWORD, re_password: PASSWORD, email: 'priya@example.org' } })
  assert.equal(register.statusCode, 201, register.body)
  const login = async () => app.inject({ method: 'POST', url: '/auth/token/login/', payload: { username: 'priya', password: PASSWORD } })
  const citizenToken: string = (await login()).json().auth_token
  const revokedToken: string = (await login()).json().auth_token
  assert.equal((await app.inject({ method: 'POST', url: '/auth/token/logout/', headers: { authorization: `Token ${revokedToken}` } })).statusCode, 204)
  const dispatcher = await createUser(app, 'dispatcher')
  const officer = await createUser(app, 'officer', 'UNIT007')

  // The citizen's SOS with history from REST and from the socket, a dispatched unit and a photo.
  const mineRes = await app.inject({ method: 'POST', url: '/api/create-sos/', headers: { authorization: `Token ${citizenToken}` }, payload: { name: 'Priya', sos_type: 1, initial_latitude: 12.9, initial_longitude: 77.5 } })
  assert.equal(mineRes.statusCode, 201)
  const mine: { sos_id: number; room_id: string; sos_token: string } = mineRes.json()
  for (const lat of [12.91, 12.92, 12.93]) {
    const res = await app.inject({ method: 'POST', url: '/api/update-location/', headers: { 'x-sos-token': mine.sos_token }, payload: { sos_request: mine.sos_id, latitude: lat, longitude: 77.5 } })
    assert.equal(res.statusCode, 201)
  }
  const phone = await connect(t, first.socketUrl)
  assert.equal((await emitAck(phone, 'update_location', { sos_request: mine.sos_id, latitude: 12.94, longitude: 77.51, sos_token: mine.sos_token })).ok, true)
  const assign = await app.inject({ method: 'POST', url: '/api/assign-officer/', headers: auth(dispatcher), payload: { sos_request: mine.sos_id, officer_name: 'SI Meera', unit_number: 'UNIT007' } })
  assert.equal(assign.statusCode, 201)
  const form = multipart({ sos_id: String(mine.sos_id), descriptions: 'the car' }, [{ filename: 'car.png', data: IMAGES.png }])
  const upload = await app.inject({ method: 'POST', url: '/api/upload-sos-images/', headers: { 'x-sos-token': mine.sos_token, ...form.headers }, payload: form.payload })
  assert.equal(upload.statusCode, 201, upload.body)
  const image: { image: string; image_url: string } = upload.json().uploaded_images[0]
  const unit = await connect(t, first.socketUrl, officer.token)
  assert.equal((await emitAck(unit, 'officer_location_update', { unit_id: 'UNIT007', latitude: 12.95, longitude: 77.55 })).ok, true)

  // An anonymous SOS the victim called off.
  const other = await createSos(app, { name: 'Anon' })
  assert.equal((await app.inject({ method: 'POST', url: `/api/sos/${other.sos_id}/cancel/`, headers: { 'x-sos-token': other.sos_token } })).statusCode, 200)

  const beforeRestart = (await app.inject({ method: 'GET', url: `/api/sos/${mine.sos_id}/`, headers: auth(dispatcher) })).json()
  assert.equal(beforeRestart.location_updates.length, 4)
  phone.disconnect()
  unit.disconnect()
  await first.close()

  // Same database, same media directory, a new process-worth of app.
  const second = await buildTestApp(t, {}, { reuse: { databaseUrl: first.config.databaseUrl, dir: first.dir } })
  app = second.app

  // Tokens: the API token still authenticates, the logged-out one stays dead, the password still works.
  const me = await app.inject({ method: 'GET', url: '/auth/users/me/', headers: { authorization: `Token ${citizenToken}` } })
  assert.equal(me.statusCode, 200)
  assert.deepEqual({ username: me.json().username, email: me.json().email, role: me.json().role }, { username: 'priya', email: 'priya@example.org', role: 'citizen' })
  const dead = await app.inject({ method: 'GET', url: '/auth/users/me/', headers: { authorization: `Token ${revokedToken}` } })
  assert.equal(dead.statusCode, 401)
  assert.deepEqual(dead.json(), { detail: 'Invalid token.' })
  assert.equal((await login()).statusCode, 200)
  assert.equal((await app.inject({ method: 'GET', url: '/auth/users/me/', headers: auth(dispatcher) })).json().role, 'dispatcher')

  // The SOS as the control room reads it is exactly what it was.
  const afterRestart = (await app.inject({ method: 'GET', url: `/api/sos/${mine.sos_id}/`, headers: auth(dispatcher) })).json()
  assert.deepEqual({ ...afterRestart, images: undefined }, { ...beforeRestart, images: undefined })
  assert.deepEqual(afterRestart.images.map((i: { id: number; image: string }) => [i.id, i.image]), beforeRestart.images.map((i: { id: number; image: string }) => [i.id, i.image]))
  assert.equal(afterRestart.status, 'dispatched')
  assert.equal(afterRestart.unit_number_dispatched, 'UNIT007')
  assert.deepEqual(afterRestart.location_updates.map((u: { latitude: number }) => u.latitude), [12.91, 12.92, 12.93, 12.94])
  // The citizen still owns it; the SOS token still opens it.
  const own = await app.inject({ method: 'GET', url: '/api/sos/', headers: { authorization: `Token ${citizenToken}` } })
  assert.deepEqual(own.json().map((s: { id: number }) => s.id), [mine.sos_id])
  assert.equal((await app.inject({ method: 'GET', url: `/api/sos/${mine.sos_id}/`, headers: { 'x-sos-token': mine.sos_token } })).statusCode, 200)
  assert.equal((await app.inject({ method: 'GET', url: `/api/sos/${mine.sos_id}/`, headers: { 'x-sos-token': other.sos_token } })).statusCode, 403)

  // A late joiner of the room gets the stored history from the database (the process that saw it live is gone).
  const victim = await connect(t, second.socketUrl)
  const replay = next<{ sos_id: number; updates: { latitude: number; timestamp: string }[] }>(victim, 'location_history')
  assert.equal((await emitAck(victim, 'join_sos_room', { room_id: mine.room_id, sos_token: mine.sos_token })).ok, true)
  const history = await replay
  // The replay has no top-level sos_id (the original dashboard would take it for one live point).
  assert.equal('sos_id' in history, false)
  assert.deepEqual(history.updates.map((u) => [u.latitude, u.timestamp]), beforeRestart.location_updates.map((u: { latitude: number; timestamp: string }) => [u.latitude, u.timestamp]))
  const control = await connect(t, second.socketUrl, dispatcher.token)
  const staffReplay = next<{ updates: unknown[] }>(control, 'location_history')
  assert.equal((await emitAck(control, 'join_sos_room', mine.room_id)).ok, true)
  assert.equal((await staffReplay).updates.length, 4)

  // The dispatch survived too: the unit's room hears the next position, sent with the same SOS token.
  const unitAgain = await connect(t, second.socketUrl, officer.token)
  assert.equal((await emitAck(unitAgain, 'join_officer_room', 'UNIT007')).ok, true)
  const live = next<{ latitude: number }>(victim, 'location_history')
  const toUnit = next<{ sos_id: number; latitude: number }>(unitAgain, 'unit_location_update')
  const update = await app.inject({ method: 'POST', url: '/api/update-location/', headers: { 'x-sos-token': mine.sos_token }, payload: { sos_request: mine.sos_id, latitude: 12.96, longitude: 77.56 } })
  assert.equal(update.statusCode, 201)
  assert.equal((await live).latitude, 12.96)
  const unitPoint = await toUnit
  assert.deepEqual([unitPoint.sos_id, unitPoint.latitude], [mine.sos_id, 12.96])

  // The cancelled SOS is still closed.
  const late = await app.inject({ method: 'POST', url: '/api/update-location/', headers: { 'x-sos-token': other.sos_token }, payload: { sos_request: other.sos_id, latitude: 1, longitude: 1 } })
  assert.equal(late.statusCode, 409)

  // The image: listed, and the signed link handed out before the restart still serves the same bytes.
  const listed = await app.inject({ method: 'GET', url: `/api/get-sos-images/${mine.sos_id}/`, headers: { 'x-sos-token': mine.sos_token } })
  assert.equal(listed.json().count, 1)
  assert.equal(listed.json().images[0].image, image.image)
  assert.equal(listed.json().images[0].description, 'the car')
  const url = new URL(image.image_url)
  const bytes = await app.inject({ method: 'GET', url: url.pathname + url.search })
  assert.equal(bytes.statusCode, 200)
  assert.equal(bytes.headers['content-type'], 'image/png')
  assert.deepEqual(bytes.rawPayload, IMAGES.png)

  // The officer's last known position was stored.
  const position = await app.db.selectFrom('unit_locations').selectAll().where('unit_number', '=', 'UNIT007').executeTakeFirstOrThrow()
  assert.deepEqual([position.latitude, position.longitude], [12.95, 77.55])

  // New rows continue after the old ones; nothing is overwritten.
  const newer = await createSos(app)
  assert.ok(newer.sos_id > other.sos_id)
  assert.equal((await app.inject({ method: 'GET', url: '/api/get-all-sos/', headers: auth(dispatcher) })).json().count, 3)
})

test('a refused create, location update, dispatch or close publishes nothing', async (t) => {
  const { app, socketUrl } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  const citizen = await createUser(app, 'citizen')
  const officer = await createUser(app, 'officer', 'UNIT001')
  const otherOfficer = await createUser(app, 'officer', 'UNIT002')
  const open = await createSos(app, { name: 'Open' })
  const closed = await createSos(app, { name: 'Closed' })
  const stranger = await createSos(app, { name: 'Stranger' })

  // Every kind of subscriber, listening before anything is refused.
  const control = await connect(t, socketUrl, dispatcher.token)
  assert.equal((await emitAck(control, 'join_sos_channel', {})).ok, true)
  const tracking = await connect(t, socketUrl, dispatcher.token)
  assert.equal((await emitAck(tracking, 'join_location_tracking_channel', {})).ok, true)
  const officers = await connect(t, socketUrl, dispatcher.token)
  assert.equal((await emitAck(officers, 'join_officer_update', {})).ok, true)
  const unitRoom = await connect(t, socketUrl, officer.token)
  assert.equal((await emitAck(unitRoom, 'join_officer_room', 'UNIT001')).ok, true)
  const room = await connect(t, socketUrl, dispatcher.token)
  for (const sos of [open, closed]) {
    // No stored history yet, so no replay event (as the original): the ack says so.
    const join = await emitAck(room, 'join_sos_room', sos.room_id)
    assert.equal(join.ok, true)
    assert.equal((join.data as { history_count: number }).history_count, 0)
  }

  // Close one SOS first (its own sos_resolved is expected and not counted).
  const closing = next(control, 'sos_resolved')
  assert.equal((await app.inject({ method: 'POST', url: `/api/sos/${closed.sos_id}/cancel/`, headers: { 'x-sos-token': closed.sos_token } })).statusCode, 200)
  await closing
  await settle()

  const heard = {
    new_sos: collect(control, 'new_sos'),
    sos_resolved_on_channel: collect(control, 'sos_resolved'),
    sos_resolved_in_room: collect(room, 'sos_resolved'),
    sos_resolved_to_unit: collect(unitRoom, 'sos_resolved'),
    location_history: collect(room, 'location_history'),
    location_tracking_update: collect(tracking, 'location_tracking_update'),
    unit_location_update: collect(unitRoom, 'unit_location_update'),
    unit_loc: collect(officers, 'unit_loc'),
  }
  const rowsBefore = {
    sos: await count(app, 'sos_requests'),
    locations: await count(app, 'location_updates'),
    assignments: await count(app, 'officer_assignments'),
    units: await count(app, 'unit_locations'),
  }
  const inject = (url: string, payload: unknown, headers: Record<string, string> = {}) => app.inject({ method: 'POST', url, headers, payload: payload as string })

  // Refused creates: validation over REST and over the socket.
  assert.equal((await inject('/api/create-sos/', { name: 'A', initial_latitude: 91, initial_longitude: 1 })).statusCode, 400)
  assert.equal((await inject('/api/create-sos/', '{"name": "A",', { 'content-type': 'application/json' })).statusCode, 400)
  const phone = await connect(t, socketUrl)
  assert.equal((await emitAck(phone, 'create_sos', { name: '', initial_latitude: 1, initial_longitude: 1 })).ok, false)

  // Refused location updates on an open SOS: validation, no credentials, wrong or foreign token, a stranger's account.
  const point = { sos_request: open.sos_id, latitude: 12.5, longitude: 77.5 }
  const refusedUpdates: Array<[unknown, Record<string, string>, number]> = [
    [{ ...point, latitude: 'NaN' }, { 'x-sos-token': open.sos_token }, 400],
    [{ ...point, longitude: -180.5 }, { 'x-sos-token': open.sos_token }, 400],
    [point, {}, 401],
    [point, { 'x-sos-token': 'not-the-token' }, 403],
    [point, { 'x-sos-token': stranger.sos_token }, 403],
    [{ ...point, sos_token: stranger.sos_token }, {}, 403],
    [point, auth(citizen), 403],
  ]
  for (const [payload, headers, status] of refusedUpdates) {
    const res = await inject('/api/update-location/', payload, headers)
    assert.equal(res.statusCode, status, `${JSON.stringify(payload)} ${JSON.stringify(headers)} → ${res.body}`)
  }
  assert.equal((await emitAck(phone, 'update_location', { ...point, sos_token: stranger.sos_token })).ok, false)
  assert.equal((await emitAck(phone, 'update_location', { ...point, latitude: 'NaN', sos_token: open.sos_token })).ok, false)

  // Refused dispatches: a citizen, an officer for another unit, a bad unit number, an unknown SOS.
  const dispatch = { sos_request: open.sos_id, officer_name: 'SI Meera', unit_number: 'UNIT001' }
  assert.equal((await inject('/api/assign-officer/', dispatch, auth(citizen))).statusCode, 403)
  assert.equal((await inject('/api/assign-officer/', dispatch, auth(otherOfficer))).statusCode, 403)
  assert.equal((await inject('/api/assign-officer/', dispatch, { 'x-sos-token': open.sos_token })).statusCode, 401)
  assert.equal((await inject('/api/assign-officer/', { ...dispatch, unit_number: 'UNIT 001' }, auth(dispatcher))).statusCode, 400)
  assert.equal((await inject('/api/assign-officer/', { ...dispatch, sos_request: 999999 }, auth(dispatcher))).statusCode, 400)

  // Refused closes of the open SOS.
  assert.equal((await inject(`/api/resolve-sos/${open.sos_id}/`, {}, auth(citizen))).statusCode, 403)
  assert.equal((await inject(`/api/resolve-sos/${open.sos_id}/`, {}, auth(officer))).statusCode, 403, 'UNIT001 is not dispatched to it')
  assert.equal((await inject(`/api/sos/${open.sos_id}/cancel/`, {}, { 'x-sos-token': stranger.sos_token })).statusCode, 403)

  // Everything on the closed SOS is 409 (or refused earlier), and says nothing.
  const onClosed = { sos_request: closed.sos_id, latitude: 12.5, longitude: 77.5 }
  assert.equal((await inject('/api/update-location/', onClosed, { 'x-sos-token': closed.sos_token })).statusCode, 409)
  assert.equal((await inject('/api/update-location/', onClosed, auth(dispatcher))).statusCode, 409)
  const socketClosed = await emitAck(phone, 'update_location', { ...onClosed, sos_token: closed.sos_token })
  assert.equal(socketClosed.ok, false)
  assert.equal(socketClosed.error?.code, 'conflict')
  assert.equal((await inject('/api/assign-officer/', { ...dispatch, sos_request: closed.sos_id }, auth(dispatcher))).statusCode, 409)
  assert.equal((await inject(`/api/resolve-sos/${closed.sos_id}/`, {}, auth(dispatcher))).statusCode, 409)
  assert.equal((await inject(`/api/sos/${closed.sos_id}/cancel/`, {}, { 'x-sos-token': closed.sos_token })).statusCode, 409)
  assert.equal((await inject(`/api/sos/${closed.sos_id}/acknowledge/`, {}, auth(dispatcher))).statusCode, 409)

  // Refused officer positions: another unit's, a citizen's, nonsense.
  const unitSocket = await connect(t, socketUrl, officer.token)
  assert.equal((await emitAck(unitSocket, 'officer_location_update', { unit_id: 'UNIT002', latitude: 1, longitude: 1 })).ok, false)
  assert.equal((await emitAck(unitSocket, 'officer_location_update', { unit_id: 'UNIT001', latitude: 'NaN', longitude: 1 })).ok, false)
  const citizenSocket = await connect(t, socketUrl, citizen.token)
  assert.equal((await emitAck(citizenSocket, 'officer_location_update', { unit_id: 'UNIT001', latitude: 1, longitude: 1 })).ok, false)

  await settle()
  for (const [event, items] of Object.entries(heard)) assert.deepEqual(items, [], `no ${event} after a refused write`)
  assert.deepEqual(
    {
      sos: await count(app, 'sos_requests'),
      locations: await count(app, 'location_updates'),
      assignments: await count(app, 'officer_assignments'),
      units: await count(app, 'unit_locations'),
    },
    rowsBefore,
  )

  // The subscribers were listening all along: an accepted update reaches them, and shows no unit was dispatched.
  const accepted = await inject('/api/update-location/', point, { 'x-sos-token': open.sos_token })
  assert.equal(accepted.statusCode, 201)
  await settle()
  assert.equal(heard.location_history.length, 1)
  assert.deepEqual(heard.location_tracking_update.map((u) => (u as { unit_number: unknown }).unit_number), [null])
  assert.deepEqual(heard.unit_location_update, [], 'the refused dispatches did not send UNIT001 the victim')
  const sos = (await app.inject({ method: 'GET', url: `/api/sos/${open.sos_id}/`, headers: auth(dispatcher) })).json()
  assert.equal(sos.status, 'active')
  assert.deepEqual(sos.officer_assignments, [])
})

test('a 2xx answer means committed: a separate connection to the database sees the row at once', async (t) => {
  const { app, config, socketUrl } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  const sql = (text: string, ...params: unknown[]) => readFresh(config, text, params)

  const register = await app.inject({ method: 'POST', url: '/auth/users/', payload: { username: 'kavya', password: PASSWORD, re_password: PASSWORD } })
  assert.equal(register.statusCode, 201)
  assert.deepEqual(await sql('SELECT username, role FROM users WHERE id = ?', register.json().id), [{ username: 'kavya', role: 'citizen' }])

  const login = await app.inject({ method: 'POST', url: '/auth/token/login/', payload: { username: 'kavya', password: PASSWORD } })
  const token: string = login.json().auth_token
  assert.equal((await sql('SELECT user_id FROM api_tokens WHERE token_hash = ?', sha256Hex(token))).length, 1)

  const created = await app.inject({ method: 'POST', url: '/api/create-sos/', headers: { authorization: `Token ${token}` }, payload: { name: 'Kavya', initial_latitude: 28.6, initial_longitude: 77.2 } })
  assert.equal(created.statusCode, 201)
  const sos: { sos_id: number; room_id: string; sos_token: string } = created.json()
  assert.deepEqual(await sql('SELECT room_id, status, user_id, sos_token_hash FROM sos_requests WHERE id = ?', sos.sos_id), [
    { room_id: sos.room_id, status: 'active', user_id: register.json().id, sos_token_hash: sha256Hex(sos.sos_token) },
  ])

  const located = await app.inject({ method: 'POST', url: '/api/update-location/', headers: { 'x-sos-token': sos.sos_token }, payload: { sos_request: sos.sos_id, latitude: 28.61, longitude: 77.21 } })
  assert.equal(located.statusCode, 201)
  assert.deepEqual(await sql('SELECT sos_request_id, latitude, longitude FROM location_updates WHERE id = ?', located.json().location.id), [
    { sos_request_id: sos.sos_id, latitude: 28.61, longitude: 77.21 },
  ])

  const assigned = await app.inject({ method: 'POST', url: '/api/assign-officer/', headers: auth(dispatcher), payload: { sos_request: sos.sos_id, officer_name: 'SI Meera', unit_number: 'UNIT003' } })
  assert.equal(assigned.statusCode, 201)
  assert.equal((await sql('SELECT unit_number FROM officer_assignments WHERE id = ?', assigned.json().officer.id))[0]?.unit_number, 'UNIT003')
  assert.deepEqual(await sql('SELECT status, unit_number_dispatched, acknowledged_flag FROM sos_requests WHERE id = ?', sos.sos_id), [
    { status: 'dispatched', unit_number_dispatched: 'UNIT003', acknowledged_flag: 1 },
  ])

  const form = multipart({ sos_id: String(sos.sos_id) }, [{ filename: 'a.gif', data: IMAGES.gif }])
  const uploaded = await app.inject({ method: 'POST', url: '/api/upload-sos-images/', headers: { 'x-sos-token': sos.sos_token, ...form.headers }, payload: form.payload })
  assert.equal(uploaded.statusCode, 201)
  const stored = await sql('SELECT image, content_type FROM sos_images WHERE id = ?', uploaded.json().uploaded_images[0].id)
  assert.deepEqual(stored, [{ image: uploaded.json().uploaded_images[0].image.replace(/^\/media\//, ''), content_type: 'image/gif' }])

  // The socket path commits before it answers, too.
  const phone = await connect(t, socketUrl)
  const viaSocket = await emitAck(phone, 'create_sos', { name: 'Socket', initial_latitude: 1, initial_longitude: 2 })
  assert.equal(viaSocket.ok, true)
  assert.equal((await sql('SELECT name FROM sos_requests WHERE id = ?', viaSocket.data?.sos_id))[0]?.name, 'Socket')

  // Many writes answered at once (they may share one commit): every acknowledged one is visible.
  const burst = await Promise.all(
    Array.from({ length: 25 }, (_, i) =>
      app.inject({ method: 'POST', url: '/api/update-location/', headers: { 'x-sos-token': sos.sos_token }, payload: { sos_request: sos.sos_id, latitude: 10 + i / 100, longitude: 70 } }),
    ),
  )
  const ids = burst.map((res) => {
    assert.equal(res.statusCode, 201)
    return res.json().location.id as number
  })
  const seen = await sql(`SELECT id FROM location_updates WHERE sos_request_id = ? AND id IN (${ids.map(() => '?').join(', ')})`, sos.sos_id, ...ids)
  assert.equal(seen.length, ids.length)

  const resolved = await app.inject({ method: 'POST', url: `/api/resolve-sos/${sos.sos_id}/`, headers: auth(dispatcher) })
  assert.equal(resolved.statusCode, 200)
  assert.deepEqual(await sql('SELECT status, status_flag FROM sos_requests WHERE id = ?', sos.sos_id), [{ status: 'resolved', status_flag: 1 }])

  const logout = await app.inject({ method: 'POST', url: '/auth/token/logout/', headers: { authorization: `Token ${token}` } })
  assert.equal(logout.statusCode, 204)
  assert.deepEqual(await sql('SELECT id FROM api_tokens WHERE token_hash = ?', sha256Hex(token)), [])
})
