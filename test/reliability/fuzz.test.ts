// Property-based fuzzing of every REST endpoint and every client socket event with hostile inputs.
// Invariant: a 4xx (or 2xx where the input happens to be valid) with a JSON body and no stack trace;
// on sockets an ack for every event, and the socket stays connected. Fixed seed in CI; FUZZ_RUNS and
// FUZZ_SEED (npm run fuzz) for longer runs.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { buildTestApp } from '../helpers/app.ts'
import { auth, createSos, createUser, IMAGES, multipart } from '../helpers/factories.ts'
import { connect, emitAck } from '../helpers/sockets.ts'

const RUNS = Number(process.env.FUZZ_RUNS ?? 60)
const SEED = Number(process.env.FUZZ_SEED ?? 20261123)
const LEAK = /\bat [\w.<>]+ \(|node_modules|SQLITE|sqlite3|SELECT |INSERT |syntax error|TypeError|ReferenceError/

const hostileString = fc.oneof(
  fc.string({ maxLength: 50 }),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.constantFrom('__proto__', 'constructor', 'prototype', '../../etc/passwd', '..\\..\\boot.ini', '%00', '\u0000', '\uD800', '1e309', 'NaN', 'Infinity', '-0', '0x10', ' 12.5 ', '', ' '),
  fc.string({ minLength: 300, maxLength: 3000 }),
)
const hostileValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    hostileString,
    fc.double(),
    fc.integer(),
    fc.constantFrom(null, true, false, 0, -1, 2 ** 31, 2 ** 53, 90.0000001, -180.0000001, 1e308),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(hostileString, tie('value'), { maxKeys: 4 }),
  ),
})).value

/** A body with the endpoint's real field names (so validation is reached) mixed with hostile values and keys. */
const bodyFor = (fields: string[]) =>
  fc.oneof(
    fc.record(Object.fromEntries(fields.map((f) => [f, hostileValue])), { requiredKeys: [] }),
    fc.dictionary(fc.oneof(hostileString, fc.constantFrom(...fields)), hostileValue, { maxKeys: 6 }),
    hostileValue,
  )

function rawJson(value: unknown): string {
  // JSON.stringify cannot write NaN/Infinity; replace them with literals JSON parsers reject or overflow.
  return JSON.stringify(value, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? '__NUM__' : v) ?? null)?.replace(/"__NUM__"/g, '1e309') ?? 'null'
}

test('REST endpoints answer hostile input with a 4xx and a clean JSON body', async (t) => {
  const { app } = await buildTestApp(t, { sosCreateRateLimitPerMinute: 1_000_000, loginRateLimitPerMinute: 1_000_000 })
  const admin = await createUser(app, 'admin')
  const sos = await createSos(app)
  const endpoints: { method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'; url: string; fields: string[] }[] = [
    { method: 'POST', url: '/auth/users/', fields: ['username', 'password', 're_password', 'email', 'role', 'unit_number'] },
    { method: 'POST', url: '/auth/token/login/', fields: ['username', 'password'] },
    { method: 'POST', url: '/api/create-sos/', fields: ['name', 'sos_type', 'initial_latitude', 'initial_longitude'] },
    { method: 'POST', url: '/api/sos/', fields: ['name', 'sos_type', 'initial_latitude', 'initial_longitude'] },
    { method: 'POST', url: '/api/update-location/', fields: ['sos_request', 'latitude', 'longitude', 'sos_token', 'accuracy', 'recorded_at'] },
    { method: 'POST', url: '/api/assign-officer/', fields: ['sos_request', 'officer_name', 'unit_number'] },
    { method: 'PATCH', url: `/api/sos/${sos.sos_id}/`, fields: ['name', 'sos_type', 'initial_latitude', 'initial_longitude', 'unit_number_dispatched'] },
    { method: 'PUT', url: `/api/sos/${sos.sos_id}/`, fields: ['name', 'sos_type', 'initial_latitude', 'initial_longitude'] },
    { method: 'POST', url: `/api/sos/${sos.sos_id}/cancel/`, fields: ['sos_token'] },
  ]
  for (const endpoint of endpoints) {
    await fc.assert(
      fc.asyncProperty(bodyFor(endpoint.fields), fc.boolean(), async (body, asAdmin) => {
        const res = await app.inject({
          method: endpoint.method,
          url: endpoint.url,
          headers: { 'content-type': 'application/json', ...(asAdmin ? auth(admin) : {}) },
          payload: rawJson(body),
        })
        assert.ok(res.statusCode < 500, `${endpoint.method} ${endpoint.url} → ${res.statusCode} ${res.body}`)
        assert.doesNotMatch(res.body, LEAK)
        if (res.statusCode >= 400) assert.equal(typeof res.json(), 'object')
      }),
      { numRuns: RUNS, seed: SEED },
    )
  }

  // Offline batches (a bare array or {locations}) of fixes with hostile values, as the SOS's phone or staff.
  const fixFields = ['latitude', 'longitude', 'accuracy', 'recorded_at']
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(fc.array(bodyFor(fixFields), { maxLength: 6 }), fc.record({ locations: fc.array(bodyFor(fixFields), { maxLength: 6 }), sos_token: hostileValue }, { requiredKeys: [] }), bodyFor(['locations', 'sos_token'])),
      fc.boolean(),
      async (body, asAdmin) => {
        const res = await app.inject({
          method: 'POST',
          url: `/api/sos/${sos.sos_id}/locations/`,
          headers: { 'content-type': 'application/json', ...(asAdmin ? auth(admin) : { 'x-sos-token': sos.sos_token }) },
          payload: rawJson(body),
        })
        assert.ok(res.statusCode < 500, `batch → ${res.statusCode} ${res.body}`)
        assert.doesNotMatch(res.body, LEAK)
        assert.equal(typeof res.json(), 'object')
      },
    ),
    { numRuns: RUNS, seed: SEED },
  )

  // Idempotency-Key: hostile header values (any a client can put in a header) on a valid or hostile create.
  await fc.assert(
    fc.asyncProperty(hostileString.filter((key) => /^[\t\x20-\x7e\x80-\xff]*$/.test(key)), fc.oneof(fc.constant({ name: 'Asha', initial_latitude: 1, initial_longitude: 2 }), bodyFor(['name', 'initial_latitude', 'initial_longitude'])), async (key, body) => {
      const res = await app.inject({ method: 'POST', url: '/api/create-sos/', headers: { 'content-type': 'application/json', 'idempotency-key': key }, payload: rawJson(body) })
      assert.ok(res.statusCode < 500, `create with key ${JSON.stringify(key).slice(0, 80)} → ${res.statusCode} ${res.body}`)
      assert.doesNotMatch(res.body, LEAK)
    }),
    { numRuns: RUNS, seed: SEED },
  )

  // Paths: ids and file names with tricks.
  await fc.assert(
    fc.asyncProperty(hostileString, async (segment) => {
      // A lone surrogate cannot be percent-encoded as UTF-8: send invalid UTF-8 bytes instead.
      let encoded: string
      try {
        encoded = encodeURIComponent(segment)
      } catch {
        encoded = '%ED%A0%80%FF'
      }
      for (const url of [`/api/sos/${encoded}/`, `/api/resolve-sos/${encoded}/`, `/api/get-sos-images/${encoded}/`, `/media/sos_images/${encoded}`]) {
        const res = await app.inject({ method: url.startsWith('/api/resolve') ? 'POST' : 'GET', url, headers: auth(admin) })
        assert.ok(res.statusCode < 500 && res.statusCode >= 200, `${url} → ${res.statusCode}`)
        assert.doesNotMatch(res.body, LEAK)
      }
    }),
    { numRuns: RUNS, seed: SEED },
  )

  // Multipart uploads: hostile field values, file names and bytes.
  await fc.assert(
    fc.asyncProperty(hostileString, hostileString, fc.uint8Array({ maxLength: 64 }), fc.boolean(), async (sosId, filename, bytes, validImage) => {
      const form = multipart(
        { sos_id: [sosId, String(sos.sos_id)][validImage ? 1 : 0], descriptions: filename },
        [{ filename: filename.replace(/["\r\n]/g, ''), data: validImage ? Buffer.concat([IMAGES.png, Buffer.from(bytes)]) : Buffer.from(bytes) }],
      )
      const res = await app.inject({ method: 'POST', url: '/api/upload-sos-images/', headers: { ...form.headers, ...auth(admin) }, payload: form.payload })
      assert.ok(res.statusCode < 500, `upload → ${res.statusCode} ${res.body}`)
      assert.doesNotMatch(res.body, LEAK)
    }),
    { numRuns: RUNS, seed: SEED },
  )
  const health = await app.inject({ method: 'GET', url: '/ready' })
  assert.equal(health.statusCode, 200)
})

test('socket events answer hostile payloads with an ack and keep the connection', async (t) => {
  const { app, socketUrl } = await buildTestApp(t, { sosCreateRateLimitPerMinute: 1_000_000 })
  const officer = await createUser(app, 'officer', 'UNIT001')
  const anonymous = await connect(t, socketUrl)
  const staff = await connect(t, socketUrl, officer.token)
  const events = ['join_sos_channel', 'join_sos_room', 'join_officer_room', 'join_location_tracking_channel', 'join_officer_update', 'officer_location_update', 'create_sos', 'update_location']
  let sent = 0
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...events), hostileValue, fc.boolean(), async (event, payload, asStaff) => {
      const socket = asStaff ? staff : anonymous
      // Stay under the per-socket event limit (50/s): the limiter is tested on its own.
      if (++sent % 40 === 0) await new Promise((r) => setTimeout(r, 1000))
      const ack = await emitAck(socket, event, payload)
      assert.equal(typeof ack.ok, 'boolean')
      if (!ack.ok) {
        assert.equal(typeof ack.error?.message, 'string')
        assert.notEqual(ack.error?.code, 'internal_error', `${event} ${JSON.stringify(payload)?.slice(0, 200)}`)
        assert.doesNotMatch(ack.error?.message ?? '', LEAK)
      }
      assert.ok(socket.connected)
    }),
    { numRuns: RUNS * 2, seed: SEED },
  )
})
