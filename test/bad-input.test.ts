// Bad input everywhere: every malformed REST request and socket payload is a 4xx (or an `error` event)
// in the contract's shapes, never a 5xx, never a dropped socket, and never a written row.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import type { Database } from '../src/db/schema.ts'
import { CLIENT_EVENTS, type ClientEventName } from '../src/realtime/contract.ts'
import { buildTestApp } from './helpers/app.ts'
import { createSos, createUser, IMAGES, multipart, type TestUser } from './helpers/factories.ts'
import { collect, connect, emitAck, next, settle, type ClientSocket } from './helpers/sockets.ts'

/** `Authorization: Token <key>` as a plain header record. */
const auth = (user: { token: string }): Record<string, string> => ({ authorization: `Token ${user.token}` })

const TABLES: (keyof Database)[] = ['users', 'api_tokens', 'sos_requests', 'location_updates', 'officer_assignments', 'sos_images', 'unit_locations', 'idempotency_keys']

/** How many rows every table holds: a refused write must leave all of them unchanged. */
async function rowCounts(app: FastifyInstance): Promise<Record<string, number>> {
  const counts: Record<string, number> = {}
  for (const table of TABLES) {
    const row = await app.db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()
    counts[table] = Number(row.n)
  }
  return counts
}

/** The error bodies the contract allows: DRF field errors, `{detail}`, `{status: 'error', message}`, `{error}`. */
function isContractErrorBody(body: unknown): boolean {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return false
  const record = body as Record<string, unknown>
  const keys = Object.keys(record)
  if (keys.length === 1 && typeof record.detail === 'string') return true
  if (keys.length === 1 && typeof record.error === 'string') return true
  if (record.status === 'error' && typeof record.message === 'string') return true
  return keys.length > 0 && Object.values(record).every((v) => Array.isArray(v) && v.length > 0 && v.every((m) => typeof m === 'string'))
}

const LEAKS = [/\n\s+at /, /\bat [\w.$<>]+ \(/, /node_modules/i, /\bselect\b.*\bfrom\b/i, /insert into/i, /sqlite/i, /kysely/i, /stack/i]

/** A refusal: a 4xx (optionally exactly `status`), JSON, in a contract shape, with nothing internal in it. */
function refused(res: LightMyRequestResponse, status?: number | number[], what = ''): Record<string, unknown> {
  const label = `${what} → ${res.statusCode} ${res.body.slice(0, 300)}`
  assert.ok(res.statusCode >= 400 && res.statusCode < 500, `expected a 4xx: ${label}`)
  if (status !== undefined) assert.ok([status].flat().includes(res.statusCode), `expected ${String(status)}: ${label}`)
  assert.match(String(res.headers['content-type']), /^application\/json/, label)
  const body = JSON.parse(res.body) as Record<string, unknown>
  assert.ok(isContractErrorBody(body), `not a contract error shape: ${label}`)
  for (const leak of LEAKS) assert.doesNotMatch(res.body, leak, label)
  return body
}

function post(app: FastifyInstance, url: string, payload: string | Buffer | object, headers: Record<string, string> = {}) {
  const contentType = typeof payload === 'object' && !Buffer.isBuffer(payload) ? { 'content-type': 'application/json' } : {}
  return app.inject({ method: 'POST', url, headers: { ...contentType, ...headers }, payload: payload as string })
}

const VALID_SOS = { name: 'Asha', sos_type: 0, initial_latitude: 12.9716, initial_longitude: 77.5946 }

async function allSosCount(app: FastifyInstance, staff: TestUser): Promise<number> {
  const res = await app.inject({ method: 'GET', url: '/api/get-all-sos/', headers: auth(staff) })
  assert.equal(res.statusCode, 200)
  return res.json().count
}

test('malformed, empty and non-object bodies are DRF 400s on every write endpoint, and write nothing', async (t) => {
  const { app } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  const before = await rowCounts(app)
  const shownBefore = await allSosCount(app, dispatcher)

  const endpoints = ['/api/create-sos/', '/api/sos/', '/api/update-location/', '/api/assign-officer/', '/auth/users/', '/auth/token/login/']
  const raw: Array<[string, string, RegExp | string]> = [
    ['{bad json', 'detail', /^JSON parse error/],
    ['{"name": "Asha",}', 'detail', /^JSON parse error/],
    ['   ', 'detail', /^JSON parse error/],
    ['[]', 'non_field_errors', 'Invalid data. Expected a dictionary, but got list.'],
    ['[{"name": "Asha"}]', 'non_field_errors', 'Invalid data. Expected a dictionary, but got list.'],
    ['"Asha"', 'non_field_errors', 'Invalid data. Expected a dictionary, but got str.'],
    ['42', 'non_field_errors', 'Invalid data. Expected a dictionary, but got int.'],
    ['4.5', 'non_field_errors', 'Invalid data. Expected a dictionary, but got float.'],
    ['true', 'non_field_errors', 'Invalid data. Expected a dictionary, but got bool.'],
  ]
  for (const url of endpoints) {
    for (const [text, key, expected] of raw) {
      const res = await post(app, url, text, { 'content-type': 'application/json', ...auth(dispatcher) })
      const body = refused(res, 400, `${url} ${JSON.stringify(text)}`)
      const message = key === 'detail' ? body.detail : (body[key] as string[])[0]
      if (typeof expected === 'string') assert.equal(message, expected, url)
      else assert.match(String(message), expected, url)
    }
    // `null`, `{}` and no body at all (the original clients send `Content-Type: application/json` on
    // every request, as DRF allows) are an empty form: every required field is reported.
    for (const text of ['null', '{}', '']) {
      const body = refused(await post(app, url, text, { 'content-type': 'application/json', ...auth(dispatcher) }), 400, `${url} ${text}`)
      assert.ok(Object.values(body).flat().includes('This field is required.'), `${url} ${text}: ${JSON.stringify(body)}`)
    }
  }
  assert.deepEqual(await rowCounts(app), before)
  assert.equal(await allSosCount(app, dispatcher), shownBefore)
})

test('create-sos: wrong types, missing fields and non-finite numbers are field errors; numeric strings are accepted', async (t) => {
  const { app } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  const before = await rowCounts(app)

  const wrong: Array<[string, unknown, string]> = [
    ['name', {}, 'Not a valid string.'],
    ['name', { first: 'Asha' }, 'Not a valid string.'],
    ['name', ['Asha'], 'Not a valid string.'],
    ['name', true, 'Not a valid string.'],
    ['name', null, 'This field may not be null.'],
    ['name', '', 'This field may not be blank.'],
    ['name', '   \t ', 'This field may not be blank.'],
    ['name', 'x'.repeat(256), 'Ensure this field has no more than 255 characters.'],
    ['name', 'A\u0000sha', 'Null characters are not allowed.'],
    ['initial_latitude', {}, 'A valid number is required.'],
    ['initial_latitude', [12.5], 'A valid number is required.'],
    ['initial_latitude', true, 'A valid number is required.'],
    ['initial_latitude', null, 'This field may not be null.'],
    ['initial_latitude', '', 'A valid number is required.'],
    ['initial_latitude', 'twelve', 'A valid number is required.'],
    ['initial_latitude', '0x10', 'A valid number is required.'],
    ['initial_latitude', 'NaN', 'A valid number is required.'],
    ['initial_latitude', 'Infinity', 'A valid number is required.'],
    ['initial_latitude', '-Infinity', 'A valid number is required.'],
    ['initial_latitude', '1e309', 'A valid number is required.'],
    ['initial_latitude', 90.0001, 'Ensure this value is less than or equal to 90.'],
    ['initial_latitude', -90.0001, 'Ensure this value is greater than or equal to -90.'],
    ['initial_latitude', '91', 'Ensure this value is less than or equal to 90.'],
    ['initial_latitude', 1e308, 'Ensure this value is less than or equal to 90.'],
    ['initial_longitude', { lng: 1 }, 'A valid number is required.'],
    ['initial_longitude', false, 'A valid number is required.'],
    ['initial_longitude', -180.5, 'Ensure this value is greater than or equal to -180.'],
    ['initial_longitude', 180.0001, 'Ensure this value is less than or equal to 180.'],
    ['sos_type', 2, '"2" is not a valid choice.'],
    ['sos_type', -1, '"-1" is not a valid choice.'],
    ['sos_type', 'x', '"x" is not a valid choice.'],
    ['sos_type', 1.5, '"1.5" is not a valid choice.'],
    ['sos_type', null, 'This field may not be null.'],
  ]
  for (const [field, value, message] of wrong) {
    const res = await post(app, '/api/create-sos/', { ...VALID_SOS, [field]: value })
    const body = refused(res, 400, `${field}=${JSON.stringify(value)}`)
    assert.deepEqual(body, { [field]: [message] }, `${field}=${JSON.stringify(value)}`)
  }
  // Objects, lists and booleans as sos_type: refused, whatever DRF would print for them.
  for (const value of [{ a: 1 }, [0], true]) {
    const body = refused(await post(app, '/api/create-sos/', { ...VALID_SOS, sos_type: value }), 400, `sos_type=${JSON.stringify(value)}`)
    assert.deepEqual(Object.keys(body), ['sos_type'])
  }
  for (const field of ['name', 'initial_latitude', 'initial_longitude']) {
    const { [field]: _omitted, ...rest } = VALID_SOS as Record<string, unknown>
    const body = refused(await post(app, '/api/create-sos/', rest), 400, `without ${field}`)
    assert.deepEqual(body, { [field]: ['This field is required.'] })
  }
  // Several bad fields are all reported at once.
  const many = refused(await post(app, '/api/create-sos/', { name: '', initial_latitude: 'NaN', initial_longitude: -180.5, sos_type: 'x' }), 400)
  assert.deepEqual(Object.keys(many).sort(), ['initial_latitude', 'initial_longitude', 'name', 'sos_type'])

  // 1e309, -1e309 and NaN cannot be written in JSON.stringify; send the raw text a client could send.
  for (const text of [
    '{"name": "Asha", "initial_latitude": 1e309, "initial_longitude": 77.5}',
    '{"name": "Asha", "initial_latitude": 12.5, "initial_longitude": -1e309}',
    '{"name": "Asha", "initial_latitude": NaN, "initial_longitude": 77.5}',
    '{"name": "Asha", "initial_latitude": Infinity, "initial_longitude": 77.5}',
  ]) {
    const body = refused(await post(app, '/api/create-sos/', text, { 'content-type': 'application/json' }), 400, text)
    const messages = Object.values(body).flat()
    assert.ok(messages.includes('A valid number is required.') || /^JSON parse error/.test(String(body.detail)), `${text}: ${JSON.stringify(body)}`)
  }
  assert.deepEqual(await rowCounts(app), before)

  // DRF accepts numeric strings (with surrounding spaces) and numbers for a name; the edges of the ranges are valid.
  const accepted: Array<[Record<string, unknown>, { lat: number; lng: number; name: string; type: number }]> = [
    [{ name: 'Asha', initial_latitude: '12.5', initial_longitude: ' 77.25 ', sos_type: '1' }, { lat: 12.5, lng: 77.25, name: 'Asha', type: 1 }],
    [{ name: 12345, initial_latitude: 90, initial_longitude: -180 }, { lat: 90, lng: -180, name: '12345', type: 0 }],
    [{ name: '  Meera  ', initial_latitude: '-90', initial_longitude: '180.0' }, { lat: -90, lng: 180, name: 'Meera', type: 0 }],
    [{ name: 'x'.repeat(255), initial_latitude: '1e1', initial_longitude: 0 }, { lat: 10, lng: 0, name: 'x'.repeat(255), type: 0 }],
  ]
  for (const [payload, expected] of accepted) {
    const res = await post(app, '/api/create-sos/', payload)
    assert.equal(res.statusCode, 201, res.body)
    const read = await app.inject({ method: 'GET', url: `/api/sos/${res.json().sos_id}/`, headers: auth(dispatcher) })
    const sos = read.json()
    assert.deepEqual(
      { lat: sos.initial_latitude, lng: sos.initial_longitude, name: sos.name, type: sos.sos_type },
      expected,
    )
  }
})

test('bodies too large, in unsupported types, or carrying prototype keys are refused; forms are accepted', async (t) => {
  const { app } = await buildTestApp(t)
  const citizen = await createUser(app, 'citizen')
  const dispatcher = await createUser(app, 'dispatcher')
  const before = await rowCounts(app)

  // A 1 MB JSON body (a megabyte-long name) and a large form: 413, nothing stored.
  const huge = JSON.stringify({ ...VALID_SOS, name: 'x'.repeat(1024 * 1024) })
  const big = refused(await post(app, '/api/create-sos/', huge, { 'content-type': 'application/json' }), 413)
  assert.equal(typeof big.detail, 'string')
  refused(await post(app, '/api/create-sos/', `name=${'x'.repeat(200 * 1024)}&initial_latitude=1&initial_longitude=1`, { 'content-type': 'application/x-www-form-urlencoded' }), 413)

  // Types DRF has no parser for are 415 "Unsupported media type".
  for (const [type, text] of [
    ['application/xml', '<sos><name>Asha</name></sos>'],
    ['text/plain', 'name=Asha'],
    ['text/csv', 'name,initial_latitude\nAsha,1'],
    ['application/octet-stream', 'AAAA'],
  ]) {
    const body = refused(await post(app, '/api/create-sos/', text, { 'content-type': type }), 415, type)
    assert.equal(typeof body.detail, 'string')
  }

  // Prototype-pollution keys: refused as JSON, and nothing anywhere gains the polluted property.
  for (const text of [
    `{"__proto__": {"role": "admin", "user_id": 1}, "name": "Asha", "initial_latitude": 1, "initial_longitude": 1}`,
    `{"constructor": {"prototype": {"role": "admin"}}, "name": "Asha", "initial_latitude": 1, "initial_longitude": 1}`,
    `{"name": "Asha", "initial_latitude": 1, "initial_longitude": 1, "nested": {"__proto__": {"polluted": true}}}`,
  ]) {
    refused(await post(app, '/api/create-sos/', text, { 'content-type': 'application/json' }), 400, text)
  }
  const register = `{"username": "mallory", "password": "Xq9!long-enough", "re_password": "Xq9!long-enough", "__proto__": {"role": "admin"}}`
  refused(await post(app, '/auth/users/', register, { 'content-type': 'application/json' }), 400)
  assert.equal(({} as Record<string, unknown>).role, undefined)
  assert.equal(({} as Record<string, unknown>).polluted, undefined)
  assert.deepEqual(await rowCounts(app), before)

  // A form with the same keys is plain data: the SOS is created and belongs to nobody special.
  const form = await post(app, '/api/create-sos/', '__proto__=admin&__proto__[role]=admin&constructor[prototype][x]=1&name=Asha&initial_latitude=12.5&initial_longitude=77.25', {
    'content-type': 'application/x-www-form-urlencoded',
  })
  assert.equal(form.statusCode, 201, form.body)
  const sos = (await app.inject({ method: 'GET', url: `/api/sos/${form.json().sos_id}/`, headers: auth(dispatcher) })).json()
  assert.equal(sos.initial_latitude, 12.5)
  assert.equal(sos.initial_longitude, 77.25)
  assert.equal(sos.user, null)

  // A citizen cannot become staff by sending a role, as JSON or as a form.
  for (const [type, text] of [
    ['application/json', JSON.stringify({ username: 'eve_json', password: 'Xq9!long-enough', re_password: 'Xq9!long-enough', role: 'admin' })],
    ['application/x-www-form-urlencoded', 'username=eve_form&password=Xq9!long-enough&re_password=Xq9!long-enough&role=admin'],
  ]) {
    refused(await post(app, '/auth/users/', text, { 'content-type': type, ...auth(citizen) }), 403, type)
  }
  const me = await app.inject({ method: 'GET', url: '/auth/users/me/', headers: auth(citizen) })
  assert.equal(me.json().role, 'citizen')
  const after = await rowCounts(app)
  assert.equal(after.users, before.users)
  assert.equal(after.sos_requests, before.sos_requests + 1)
})

test('unknown and non-integer ids answer 404 (or 400 for a body reference) in the contract shape of each endpoint', async (t) => {
  const { app } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  const admin = await createUser(app, 'admin')
  const created = await createSos(app)
  const before = await rowCounts(app)

  const badIds = ['999999', 'abc', '1.5', '-1', '0', '1e3', '99999999999999999999', '%00', '%20', '1%20', created.room_id]
  for (const id of badIds) {
    const notFound = { detail: 'Not found.' }
    assert.deepEqual(refused(await app.inject({ method: 'GET', url: `/api/sos/${id}/`, headers: auth(dispatcher) }), 404, `GET sos ${id}`), notFound)
    assert.deepEqual(refused(await app.inject({ method: 'GET', url: `/api/sos/${id}`, headers: auth(dispatcher) }), 404, `GET sos ${id} no slash`), notFound)
    assert.deepEqual(refused(await app.inject({ method: 'PATCH', url: `/api/sos/${id}/`, headers: auth(admin), payload: { name: 'x' } }), 404), notFound)
    assert.deepEqual(refused(await app.inject({ method: 'DELETE', url: `/api/sos/${id}/`, headers: auth(admin) }), 404), notFound)
    assert.deepEqual(refused(await app.inject({ method: 'POST', url: `/api/sos/${id}/acknowledge/`, headers: auth(dispatcher) }), 404), notFound)
    assert.deepEqual(refused(await app.inject({ method: 'POST', url: `/api/sos/${id}/cancel/`, headers: auth(dispatcher) }), 404), notFound)
    assert.deepEqual(refused(await app.inject({ method: 'POST', url: `/api/resolve-sos/${id}/`, headers: auth(dispatcher) }), 404), { error: 'SOS not found' })
    assert.deepEqual(refused(await app.inject({ method: 'GET', url: `/api/get-sos-images/${id}/`, headers: auth(dispatcher) }), 404), {
      status: 'error',
      message: 'SOS request not found',
    })
  }
  // A path that is not even valid percent-encoding, and an absurdly long id: still a 4xx {detail}.
  for (const url of ['/api/sos/%E0%A4%A/', '/api/sos/%/', `/api/sos/${'9'.repeat(500)}/`, `/media/sos_images/${'a'.repeat(500)}.png`]) {
    const body = refused(await app.inject({ method: 'GET', url, headers: auth(dispatcher) }), undefined, url)
    assert.equal(typeof body.detail, 'string', url)
  }

  // In a body, an unknown SOS is DRF's PrimaryKeyRelatedField error.
  for (const ref of [999999, '999999', 2147483648, 0, -5]) {
    for (const [url, extra] of [
      ['/api/update-location/', { latitude: 1, longitude: 1 }],
      ['/api/assign-officer/', { officer_name: 'SI Meera', unit_number: 'UNIT001' }],
    ] as const) {
      const body = refused(await post(app, url, { sos_request: ref, ...extra }, auth(dispatcher)), 400, `${url} ${ref}`)
      assert.deepEqual(body, { sos_request: [`Invalid pk "${ref}" - object does not exist.`] })
    }
  }
  for (const ref of [{}, [1], true]) {
    const body = refused(await post(app, '/api/update-location/', { sos_request: ref, latitude: 1, longitude: 1 }, auth(dispatcher)), 400)
    assert.match((body.sos_request as string[])[0], /^Incorrect type. Expected pk value, received \w+\.$/)
  }
  // Unknown routes and methods.
  refused(await app.inject({ method: 'GET', url: '/api/nope/' }), 404)
  refused(await app.inject({ method: 'DELETE', url: '/api/create-sos/' }), [404, 405])
  assert.deepEqual(await rowCounts(app), before)
})

test('update-location and assign-officer: wrong types, missing fields and bad values write no row and send no event', async (t) => {
  const { app, socketUrl } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  const created = await createSos(app)
  const tracking = await connect(t, socketUrl, dispatcher.token)
  assert.equal((await emitAck(tracking, 'join_location_tracking_channel', {})).ok, true)
  const heard = collect(tracking, 'location_tracking_update')
  const before = await rowCounts(app)
  const id = created.sos_id

  const locations: Array<[Record<string, unknown>, Record<string, string[]>]> = [
    [{ latitude: 1, longitude: 1 }, { sos_request: ['This field is required.'] }],
    [{ sos_request: id, longitude: 1 }, { latitude: ['This field is required.'] }],
    [{ sos_request: id, latitude: 1 }, { longitude: ['This field is required.'] }],
    [{ sos_request: null, latitude: 1, longitude: 1 }, { sos_request: ['This field may not be null.'] }],
    [{ sos_request: id, latitude: 'NaN', longitude: 1 }, { latitude: ['A valid number is required.'] }],
    [{ sos_request: id, latitude: '1e309', longitude: '-1e309' }, { latitude: ['A valid number is required.'], longitude: ['A valid number is required.'] }],
    [{ sos_request: id, latitude: { lat: 1 }, longitude: [1] }, { latitude: ['A valid number is required.'], longitude: ['A valid number is required.'] }],
    [{ sos_request: id, latitude: true, longitude: null }, { latitude: ['A valid number is required.'], longitude: ['This field may not be null.'] }],
    [{ sos_request: id, latitude: 90.0001, longitude: -180.5 }, { latitude: ['Ensure this value is less than or equal to 90.'], longitude: ['Ensure this value is greater than or equal to -180.'] }],
    [{ sos_request: 'abc', latitude: 1, longitude: 1 }, { sos_request: ['Invalid pk "abc" - object does not exist.'] }],
  ]
  for (const [payload, expected] of locations) {
    const res = await post(app, '/api/update-location/', payload, { 'x-sos-token': created.sos_token })
    assert.deepEqual(refused(res, 400, JSON.stringify(payload)), expected, JSON.stringify(payload))
  }
  const raw = refused(await post(app, '/api/update-location/', `{"sos_request": ${id}, "latitude": 1e309, "longitude": 1}`, { 'content-type': 'application/json', 'x-sos-token': created.sos_token }), 400)
  assert.deepEqual(raw, { latitude: ['A valid number is required.'] })

  const assignments: Array<[Record<string, unknown>, string]> = [
    [{ officer_name: 'SI Meera', unit_number: 'U1' }, 'sos_request'],
    [{ sos_request: id, unit_number: 'U1' }, 'officer_name'],
    [{ sos_request: id, officer_name: 'SI Meera' }, 'unit_number'],
    [{ sos_request: id, officer_name: '', unit_number: 'U1' }, 'officer_name'],
    [{ sos_request: id, officer_name: 'x'.repeat(256), unit_number: 'U1' }, 'officer_name'],
    [{ sos_request: id, officer_name: { a: 1 }, unit_number: 'U1' }, 'officer_name'],
    [{ sos_request: id, officer_name: 'SI Meera', unit_number: '../U1' }, 'unit_number'],
    [{ sos_request: id, officer_name: 'SI Meera', unit_number: 'U'.repeat(51) }, 'unit_number'],
    [{ sos_request: id, officer_name: 'SI Meera', unit_number: ['U1'] }, 'unit_number'],
    [{ sos_request: id, officer_name: 'SI Meera', unit_number: null }, 'unit_number'],
  ]
  for (const [payload, field] of assignments) {
    const body = refused(await post(app, '/api/assign-officer/', payload, auth(dispatcher)), 400, JSON.stringify(payload))
    assert.ok(Array.isArray(body[field]), `${JSON.stringify(payload)} → ${JSON.stringify(body)}`)
  }

  assert.deepEqual(await rowCounts(app), before)
  const sos = (await app.inject({ method: 'GET', url: `/api/sos/${id}/`, headers: auth(dispatcher) })).json()
  assert.equal(sos.status, 'active')
  assert.equal(sos.unit_number_dispatched, null)
  assert.deepEqual(sos.location_updates, [])
  await settle()
  assert.deepEqual(heard, [])
})

test('image uploads: non-images, oversized files, missing fields, unknown SOS and hostile file names', async (t) => {
  const { app, dir, config } = await buildTestApp(t, { imageMaxBytes: 2048 })
  const created = await createSos(app)
  const dispatcher = await createUser(app, 'dispatcher')
  const token = { 'x-sos-token': created.sos_token }
  const upload = (fields: Record<string, string | string[]>, files: Parameters<typeof multipart>[1], headers: Record<string, string> = token) => {
    const form = multipart(fields, files)
    return app.inject({ method: 'POST', url: '/api/upload-sos-images/', headers: { ...headers, ...form.headers }, payload: form.payload })
  }
  const filesOnDisk = () => (fs.existsSync(config.mediaRoot) ? fs.readdirSync(config.mediaRoot, { recursive: true }).map(String).filter((f) => path.extname(f)) : [])
  const id = String(created.sos_id)
  const before = await rowCounts(app)

  // Bytes decide, not names: a script renamed .jpg is not an image.
  const script = Buffer.from('#!/bin/sh\nrm -rf / --no-preserve-root\n')
  const notImage = refused(await upload({ sos_id: id }, [{ filename: 'holiday.jpg', contentType: 'image/jpeg', data: script }]), 400)
  assert.equal(notImage.status, 'error')
  assert.equal(notImage.message, 'No valid images were uploaded')
  assert.deepEqual((notImage.errors as { file: string }[]).map((e) => e.file), ['holiday.jpg'])
  const html = Buffer.from('<html><script>alert(1)</script></html>')
  refused(await upload({ sos_id: id }, [{ filename: 'x.png', contentType: 'image/png', data: html }, { filename: 'y.gif', data: Buffer.alloc(0) }]), 400)

  // Over the size cap (2048 bytes here): refused even though it starts like a PNG.
  const tooBig = Buffer.concat([IMAGES.png, Buffer.alloc(4096, 1)])
  const big = refused(await upload({ sos_id: id }, [{ filename: 'big.png', data: tooBig }]), [400, 413])
  assert.equal(big.status, 'error')
  assert.deepEqual(await rowCounts(app), before)
  assert.deepEqual(filesOnDisk(), [])

  // A good image beside bad ones is stored; the bad ones come back as partial_errors.
  const mixed = await upload({ sos_id: id, descriptions: ['fake', 'real', 'huge'] }, [
    { filename: 'fake.jpg', data: script },
    { filename: 'real.png', data: IMAGES.png },
    { filename: 'huge.png', data: tooBig },
  ])
  assert.equal(mixed.statusCode, 201, mixed.body)
  assert.equal(mixed.json().message, 'Successfully uploaded 1 image(s)')
  assert.deepEqual(mixed.json().partial_errors.map((e: { file: string }) => e.file), ['fake.jpg', 'huge.png'])
  assert.equal(mixed.json().uploaded_images[0].description, 'real')
  assert.equal(filesOnDisk().length, 1)
  const afterMixed = await rowCounts(app)
  assert.equal(afterMixed.sos_images, before.sos_images + 1)

  // Missing or wrong fields, in the upload endpoint's own error shape.
  assert.deepEqual(refused(await upload({}, [{ filename: 'a.png', data: IMAGES.png }]), 400), { status: 'error', message: 'SOS ID is required' })
  assert.deepEqual(refused(await upload({ sos_id: '' }, [{ filename: 'a.png', data: IMAGES.png }]), 400), { status: 'error', message: 'SOS ID is required' })
  assert.deepEqual(refused(await upload({ sos_id: id }, []), 400), { status: 'error', message: 'At least one image is required' })
  assert.deepEqual(refused(await upload({ sos_id: id }, [{ field: 'attachment', filename: 'a.png', data: IMAGES.png }]), 400), {
    status: 'error',
    message: 'At least one image is required',
  })
  assert.deepEqual(refused(await upload({ sos_id: '999999' }, [{ filename: 'a.png', data: IMAGES.png }], auth(dispatcher)), 404), {
    status: 'error',
    message: 'SOS request not found',
  })
  for (const bad of ['abc', '-1', '1.5', '0']) {
    const body = refused(await upload({ sos_id: bad }, [{ filename: 'a.png', data: IMAGES.png }], auth(dispatcher)), [400, 404], bad)
    assert.equal(body.status, 'error')
  }
  // Not multipart at all, or multipart that is cut short or has no boundary.
  assert.equal(refused(await post(app, '/api/upload-sos-images/', { sos_id: created.sos_id }, token), 415).status, 'error')
  const malformed: Array<[string, string]> = [
    ['multipart/form-data', 'garbage'],
    ['multipart/form-data; boundary=xx', 'garbage'],
    ['multipart/form-data; boundary=xx', `--xx\r\nContent-Disposition: form-data; name="sos_id"\r\n\r\n${id}\r\n`],
    ['multipart/form-data; boundary=xx', `--xx\r\nContent-Disposition: form-data; name="sos_id"\r\n\r\n${id}\r\n--xx\r\nContent-Disposition: form-data; name="images"; filename="a.png"\r\n\r\n\u0089PNG`],
  ]
  for (const [type, text] of malformed) {
    const body = refused(await post(app, '/api/upload-sos-images/', text, { ...token, 'content-type': type }), 400, `${type} ${JSON.stringify(text.slice(0, 40))}`)
    assert.equal(body.status, 'error')
  }
  assert.deepEqual(await rowCounts(app), afterMixed)

  // Hostile file names never choose where the file lands: stored names are generated UUIDs under MEDIA_ROOT.
  const hostile = ['../../etc/passwd.png', '..\\..\\windows\\evil.png', '/tmp/absolute.png', 'a/../../../../escape.png', '%2e%2e%2fencoded.png', 'null\u0000byte.png']
  const res = await upload(
    { sos_id: id },
    hostile.map((filename) => ({ filename, data: IMAGES.png })),
  )
  assert.equal(res.statusCode, 201, res.body)
  const uuidPath = /^\/media\/sos_images\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.png$/
  for (const image of res.json().uploaded_images) assert.match(image.image, uuidPath)
  const everything = fs.readdirSync(dir, { recursive: true }).map(String)
  for (const name of ['passwd.png', 'evil.png', 'absolute.png', 'escape.png', 'encoded.png']) {
    assert.equal(everything.some((f) => f.endsWith(name)), false, `${name} must not be written anywhere`)
  }
  assert.equal(fs.existsSync(path.join(dir, 'etc')), false)
  assert.equal(fs.existsSync('/tmp/absolute.png'), false)
  for (const file of filesOnDisk()) assert.match(file, /^sos_images\/[0-9a-f-]{36}\.png$/)
  // A refused file's name is echoed back without any path.
  const echoed = refused(await upload({ sos_id: id }, [{ filename: '../../etc/shadow.jpg', data: script }]), 400)
  for (const e of echoed.errors as { file: string }[]) assert.doesNotMatch(e.file, /[/\\]/)

  // Path tricks on the media route find nothing.
  for (const url of [
    '/media/sos_images/..%2f..%2fetc%2fpasswd',
    '/media/sos_images/..%2F..%2Fetc%2Fpasswd',
    '/media/sos_images/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    '/media/sos_images/..%5c..%5cetc%5cpasswd',
    '/media/sos_images/../../etc/passwd',
    '/media/sos_images/test.sqlite3',
    '/media/sos_images/..%2ftest.sqlite3',
    '/media/../test.sqlite3',
    '/media/sos_images/.',
  ]) {
    for (const headers of [{}, auth(dispatcher)]) {
      const got = await app.inject({ method: 'GET', url, headers })
      assert.equal(got.statusCode, 404, `${url} → ${got.statusCode}`)
      assert.deepEqual(refused(got), { detail: 'Not found.' })
    }
  }
})

/** Payloads that are wrong for each event, whoever sends them. */
function junkFor(event: ClientEventName, sos: { sos_id: number; room_id: string }): Array<[string, unknown]> {
  let deep: unknown = { leaf: true }
  for (let i = 0; i < 2000; i++) deep = { a: deep }
  const shared: Array<[string, unknown]> = [
    ['number', 42],
    ['negative float', -1.5],
    ['array', [1, 'two', { three: 3 }]],
    ['empty array', []],
    ['boolean', true],
    ['huge string', 'x'.repeat(60_000)],
  ]
  // A bare string is a unit number for join_officer_room ("NaN" is a valid one); for every other event it is junk.
  if (event !== 'join_officer_room') shared.push(['NaN string', 'NaN'])
  const objects: Record<ClientEventName, Array<[string, unknown]>> = {
    join_sos_channel: [],
    join_location_tracking_channel: [],
    join_officer_update: [],
    join_sos_room: [
      ['missing room_id', {}],
      ['null', null],
      ['room_id number', { room_id: 5 }],
      ['room_id array', { room_id: [sos.room_id] }],
      ['room_id object', { room_id: { $ne: null } }],
      ['room_id not a uuid', { room_id: '../../sos_channel' }],
      ['unknown room', { room_id: '00000000-0000-4000-8000-000000000000' }],
      ['room_id huge', { room_id: 'y'.repeat(60_000) }],
      ['deep', deep],
      ['empty string', ''],
    ],
    join_officer_room: [
      ['missing unit_number', {}],
      ['null', null],
      ['unit_number number', { unit_number: 7 }],
      ['unit_number object', { unit_number: { a: 1 } }],
      ['unit_number path', { unit_number: '../sos_channel' }],
      ['unit_number too long', { unit_number: 'U'.repeat(51) }],
      ['bare string with spaces', 'UNIT 001'],
      ['deep', deep],
    ],
    officer_location_update: [
      ['missing fields', {}],
      ['null', null],
      ['NaN latitude', { unit_id: 'UNIT001', latitude: 'NaN', longitude: 77 }],
      ['infinite longitude', { unit_id: 'UNIT001', latitude: 12, longitude: '1e309' }],
      ['out of range', { unit_id: 'UNIT001', latitude: 90.0001, longitude: -180.5 }],
      ['wrong types', { unit_id: ['UNIT001'], latitude: {}, longitude: true }],
      ['bad timestamp', { unit_id: 'UNIT001', latitude: 12, longitude: 77, timestamp: 'yesterday' }],
      ['future timestamp', { unit_id: 'UNIT001', latitude: 12, longitude: 77, timestamp: '2999-01-01T00:00:00.000Z' }],
      ['deep', deep],
    ],
    create_sos: [
      ['missing fields', {}],
      ['null', null],
      ['NaN via string', { name: 'Asha', initial_latitude: 'NaN', initial_longitude: 77 }],
      ['Infinity via string', { name: 'Asha', initial_latitude: 12, initial_longitude: '-Infinity' }],
      ['out of range', { name: 'Asha', initial_latitude: 90.0001, initial_longitude: -180.5 }],
      ['wrong types', { name: { first: 'Asha' }, initial_latitude: [12], initial_longitude: false, sos_type: 'x' }],
      ['blank name', { name: '  ', initial_latitude: 12, initial_longitude: 77 }],
      ['huge name', { name: 'n'.repeat(60_000), initial_latitude: 12, initial_longitude: 77 }],
      ['bad sos_type', { name: 'Asha', initial_latitude: 12, initial_longitude: 77, sos_type: 2 }],
      ['deep', deep],
    ],
    update_location: [
      ['missing fields', {}],
      ['null', null],
      ['NaN via string', { sos_request: sos.sos_id, latitude: 'NaN', longitude: 77 }],
      ['out of range', { sos_request: sos.sos_id, latitude: -90.5, longitude: 181 }],
      ['wrong types', { sos_request: { id: sos.sos_id }, latitude: [1], longitude: null }],
      ['unknown sos', { sos_request: 999999, latitude: 1, longitude: 1 }],
      ['sos_request string', { sos_request: 'abc', latitude: 1, longitude: 1 }],
      ['deep', deep],
    ],
  }
  return [...shared, ...objects[event]]
}

async function expectRefusal(socket: ClientSocket, event: ClientEventName, payload: unknown, withAck: boolean, label: string) {
  const errorEvent = next<Record<string, unknown>>(socket, 'error')
  // Observed either way below; this only keeps a failed assertion from also leaving a stray rejection.
  errorEvent.catch(() => undefined)
  if (withAck) {
    const ack = await emitAck(socket, event, payload)
    assert.equal(ack.ok, false, `${label}: ${JSON.stringify(ack).slice(0, 200)}`)
    assert.equal(typeof ack.error?.code, 'string', label)
    assert.equal(typeof ack.error?.message, 'string', label)
    const err = await errorEvent
    assert.deepEqual({ ...err, event: undefined }, { ...ack.error, event: undefined }, label)
  } else socket.emit(event, payload)
  const err = await errorEvent
  assert.equal(err.event, event, label)
  assert.equal(typeof err.message, 'string', label)
  assert.ok(!['internal_error', 'throttled'].includes(String(err.code)), `${label}: ${JSON.stringify(err)}`)
  for (const leak of LEAKS) assert.doesNotMatch(JSON.stringify(err), leak, label)
}

test('every client event answers junk with an error event (and a negative ack); the socket stays up and keeps working', async (t) => {
  const { app, socketUrl } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  const officer = await createUser(app, 'officer', 'UNIT001')
  const created = await createSos(app)
  const before = await rowCounts(app)

  for (const [who, token] of [['anonymous', undefined], ['dispatcher', dispatcher.token], ['officer', officer.token]] as const) {
    for (const event of CLIENT_EVENTS) {
      // A fresh socket per event keeps each well inside the per-socket event rate.
      const socket = await connect(t, socketUrl, token)
      const responses = collect<{ success: boolean }>(socket, event === 'create_sos' ? 'create_sos_response' : 'update_location_response')
      const junk = junkFor(event, created)
      for (const [label, payload] of junk) {
        await expectRefusal(socket, event, payload, true, `${who} ${event} ${label} (ack)`)
        await expectRefusal(socket, event, payload, false, `${who} ${event} ${label} (no ack)`)
      }
      // No payload at all, with only an ack callback: still answered.
      if (!['join_sos_channel', 'join_location_tracking_channel', 'join_officer_update'].includes(event) || who === 'anonymous') {
        const ack = (await socket.timeout(5000).emitWithAck(event)) as { ok: boolean }
        assert.equal(ack.ok, false, `${who} ${event} without payload`)
      }
      if (event === 'create_sos' || event === 'update_location') {
        await settle(50)
        assert.ok(responses.length >= junk.length * 2, `${event} answers on its _response event too`)
        assert.ok(responses.every((r) => r.success === false))
      }
      assert.equal(socket.connected, true, `${who} ${event}: the socket stays connected`)
      socket.disconnect()
    }
  }
  assert.deepEqual(await rowCounts(app), before, 'no junk payload wrote a row')

  // After all that, the same kinds of sockets still work.
  const control = await connect(t, socketUrl, dispatcher.token)
  await expectRefusal(control, 'join_sos_channel', 42, true, 'warm-up junk')
  assert.deepEqual(await emitAck(control, 'join_sos_channel', {}), { ok: true, data: { channel: 'sos_channel', message: 'Joined sos_channel', snapshot_count: 1, truncated: false } })
  const phone = await connect(t, socketUrl)
  await expectRefusal(phone, 'create_sos', { name: 'Asha', initial_latitude: 'NaN', initial_longitude: 1 }, true, 'phone junk')
  const announced = next<{ sos_id: number }>(control, 'new_sos')
  const ok = await emitAck(phone, 'create_sos', { name: 'Asha', initial_latitude: 12.5, initial_longitude: 77.5 })
  assert.equal(ok.ok, true)
  assert.equal((await announced).sos_id, ok.data?.sos_id)
  const unit = await connect(t, socketUrl, officer.token)
  await expectRefusal(unit, 'officer_location_update', { unit_id: 'UNIT001', latitude: 'NaN', longitude: 1 }, false, 'officer junk')
  assert.equal((await emitAck(unit, 'officer_location_update', { unit_id: 'UNIT001', latitude: 12.5, longitude: 77.5 })).ok, true)
})

test('an oversized socket frame closes only that socket; other sockets and the server carry on', async (t) => {
  const { app, socketUrl } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  const before = await rowCounts(app)
  const bystander = await connect(t, socketUrl, dispatcher.token)
  assert.equal((await emitAck(bystander, 'join_sos_channel', {})).ok, true)

  const offender = await connect(t, socketUrl)
  const closed = next<string>(offender, 'disconnect')
  offender.emit('create_sos', { name: 'x'.repeat(70 * 1024), initial_latitude: 12.5, initial_longitude: 77.5 })
  const reason = await closed
  assert.equal(offender.connected, false)
  assert.match(reason, /transport (close|error)/)
  assert.deepEqual(await rowCounts(app), before, 'the oversized create wrote nothing')

  assert.equal(bystander.connected, true)
  const announced = next<{ sos_id: number }>(bystander, 'new_sos')
  const created = await createSos(app)
  assert.equal((await announced).sos_id, created.sos_id)
  const again = await connect(t, socketUrl)
  const ack = await emitAck(again, 'create_sos', { name: 'Asha', initial_latitude: 12.5, initial_longitude: 77.5 })
  assert.equal(ack.ok, true)
  const health = await app.inject({ method: 'GET', url: '/api/get-all-sos/', headers: auth(dispatcher) })
  assert.equal(health.json().count, 2)
})
