// `Content-Type: application/json` with no body, as the original phone app and dashboard send it on every
// POST: DRF reads it as "no data", so logout revokes, resolve/acknowledge/cancel act, and required fields
// are reported exactly as for `{}`. A body that is present but malformed stays a 400 parse error.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { buildTestApp } from '../helpers/app.ts'
import { createSos, createUser } from '../helpers/factories.ts'
import { call } from '../helpers/http.ts'

const JSON_HEADER = { 'content-type': 'application/json' }

/** A bodyless POST with the JSON content type and an optional token, over real HTTP. */
const bodyless = (apiUrl: string, path: string, headers: Record<string, string> = {}) => call(apiUrl, 'POST', path, { headers: { ...JSON_HEADER, ...headers } })

test('bodyless JSON POSTs: logout revokes the token; resolve, acknowledge and cancel act', async (t) => {
  const { app, apiUrl } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  const token = { authorization: `Token ${dispatcher.token}` }

  const acknowledged = await createSos(app)
  const ack = await bodyless(apiUrl, `/api/sos/${acknowledged.sos_id}/acknowledge/`, token)
  assert.equal(ack.status, 200, ack.text)
  assert.equal(ack.body.sos.status, 'acknowledged')

  const resolved = await createSos(app)
  const resolve = await bodyless(apiUrl, `/api/resolve-sos/${resolved.sos_id}/`, token)
  assert.equal(resolve.status, 200, resolve.text)
  assert.equal(resolve.body.status, 'SOS marked as resolved successfully')
  assert.equal(resolve.body.sos.status_flag, 1)

  const cancelled = await createSos(app)
  const cancel = await bodyless(apiUrl, `/api/sos/${cancelled.sos_id}/cancel/`, { 'x-sos-token': cancelled.sos_token })
  assert.equal(cancel.status, 200, cancel.text)
  assert.equal(cancel.body.sos.status, 'cancelled')

  const logout = await bodyless(apiUrl, '/auth/token/logout/', token)
  assert.equal(logout.status, 204, logout.text)
  const after = await call(apiUrl, 'GET', '/auth/users/me/', { token: dispatcher.token })
  assert.equal(after.status, 401)
  assert.deepEqual(after.body, { detail: 'Invalid token.' })
})

test('bodyless JSON POSTs where fields are required: the same field errors as {}; malformed bodies stay parse errors', async (t) => {
  const { app, apiUrl } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  const token = { authorization: `Token ${dispatcher.token}` }
  for (const path of ['/api/create-sos/', '/api/update-location/', '/api/assign-officer/', '/auth/users/', '/auth/token/login/']) {
    const empty = await bodyless(apiUrl, path, token)
    const braces = await call(apiUrl, 'POST', path, { headers: token, json: {} })
    assert.equal(empty.status, 400, `${path}: ${empty.text}`)
    assert.deepEqual(empty.body, braces.body, path)
    assert.ok(Object.values(empty.body as Record<string, string[]>).flat().includes('This field is required.'), `${path}: ${empty.text}`)

    for (const malformed of [' ', '{', 'nul']) {
      const res = await fetch(`${apiUrl}${path}`, { method: 'POST', headers: { ...JSON_HEADER, ...token }, body: malformed })
      assert.equal(res.status, 400, `${path} ${JSON.stringify(malformed)}`)
      assert.match(String(((await res.json()) as { detail: string }).detail), /^JSON parse error/)
    }
  }
  const count = await app.db.selectFrom('sos_requests').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()
  assert.equal(Number(count.n), 0)
})
