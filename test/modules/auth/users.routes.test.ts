// Account management in Djoser's shape over real HTTP: admins list (filters, pages), read, change role,
// unit and is_active, and deactivate; everyone else sees and edits only their own account; set_password
// with Djoser's messages. Revocation on one node: a disabled account's sockets are dropped at once, a
// logout drops only that token's sockets, a demoted officer loses the unit room, and the periodic
// revalidation catches a change made behind the server's back (the CLI on a node without Redis).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { buildTestApp } from '../../helpers/app.ts'
import { createSos, createUser } from '../../helpers/factories.ts'
import { until } from '../../helpers/faults.ts'
import { call } from '../../helpers/http.ts'
import { collect, connect, emitAck, next, settle } from '../../helpers/sockets.ts'

const PASSWORD = 'Correct-Horse-Battery-9'
const NEW_PASSWORD = 'Night-Patrol-Lantern-42'
const NOT_PROVIDED = { detail: 'Authentication credentials were not provided.' }
const INVALID_TOKEN = { detail: 'Invalid token.' }
const NOT_FOUND = { detail: 'Not found.' }

test('GET /auth/users/: admins list every account with filters and pages; others get only themselves', async (t) => {
  const { apiUrl, app } = await buildTestApp(t)
  const admin = await createUser(app, 'admin')
  const o1 = await createUser(app, 'officer', 'UNIT001')
  const o2 = await createUser(app, 'officer', 'UNIT002')
  const citizen = await createUser(app, 'citizen')

  const all = await call(apiUrl, 'GET', '/auth/users/', { user: admin })
  assert.equal(all.status, 200, all.text)
  assert.deepEqual(all.body.map((u: { id: number }) => u.id), [admin.id, o1.id, o2.id, citizen.id])
  const first = all.body[1]
  assert.deepEqual(Object.keys(first).sort(), ['date_joined', 'email', 'id', 'is_active', 'role', 'unit_number', 'username'])
  assert.equal(first.is_active, true)
  assert.match(first.date_joined, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)

  const officers = await call(apiUrl, 'GET', '/auth/users/?role=officer', { user: admin })
  assert.deepEqual(officers.body.map((u: { id: number }) => u.id), [o1.id, o2.id])
  const unit2 = await call(apiUrl, 'GET', '/auth/users/?unit_number=UNIT002', { user: admin })
  assert.deepEqual(unit2.body.map((u: { id: number }) => u.id), [o2.id])
  const page = await call(apiUrl, 'GET', '/auth/users/?limit=2&offset=1', { user: admin })
  assert.equal(page.body.count, 4)
  assert.deepEqual(page.body.results.map((u: { id: number }) => u.id), [o1.id, o2.id])
  assert.match(page.body.next, /offset=3/)
  assert.match(page.body.previous, /offset=0/)
  const badRole = await call(apiUrl, 'GET', '/auth/users/?role=superuser', { user: admin })
  assert.equal(badRole.status, 400)
  assert.ok(badRole.body.role)

  // Deactivated accounts are filterable.
  assert.equal((await call(apiUrl, 'DELETE', `/auth/users/${o2.id}/`, { user: admin })).status, 204)
  const inactive = await call(apiUrl, 'GET', '/auth/users/?is_active=false', { user: admin })
  assert.deepEqual(inactive.body.map((u: { id: number; is_active: boolean }) => [u.id, u.is_active]), [[o2.id, false]])

  // Djoser's HIDE_USERS: a non-admin's list holds only themselves, without the admin fields.
  const mine = await call(apiUrl, 'GET', '/auth/users/', { user: o1 })
  assert.equal(mine.status, 200)
  assert.deepEqual(mine.body, [{ id: o1.id, username: o1.username, email: '', role: 'officer', unit_number: 'UNIT001' }])
  const anonymous = await call(apiUrl, 'GET', '/auth/users/')
  assert.equal(anonymous.status, 401)
  assert.deepEqual(anonymous.body, NOT_PROVIDED)

  // Registration is unchanged (POST on the same path).
  const registered = await call(apiUrl, 'POST', '/auth/users/', { json: { username: 'new.citizen', password: PASSWORD, re_password: PASSWORD } })
  assert.equal(registered.status, 201, registered.text)
})

test('GET/PATCH/DELETE /auth/users/{id}/: admins manage any account; a user reads and edits only their own email', async (t) => {
  const { apiUrl, app } = await buildTestApp(t)
  const admin = await createUser(app, 'admin')
  const officer = await createUser(app, 'officer', 'UNIT001')
  const other = await createUser(app, 'citizen')

  const read = await call(apiUrl, 'GET', `/auth/users/${officer.id}/`, { user: admin })
  assert.equal(read.status, 200)
  assert.equal(read.body.is_active, true)
  const self = await call(apiUrl, 'GET', `/auth/users/${officer.id}/`, { user: officer })
  assert.deepEqual(self.body, { id: officer.id, username: officer.username, email: '', role: 'officer', unit_number: 'UNIT001' })
  assert.deepEqual((await call(apiUrl, 'GET', `/auth/users/${other.id}/`, { user: officer })).body, NOT_FOUND, 'another account is "Not found." (Djoser)')
  assert.equal((await call(apiUrl, 'GET', '/auth/users/999999/', { user: admin })).status, 404)
  assert.equal((await call(apiUrl, 'GET', '/auth/users/abc/', { user: admin })).status, 404)

  // A user changes their email; role, unit and is_active are read-only for them (ignored, as DRF does).
  const mine = await call(apiUrl, 'PATCH', `/auth/users/${officer.id}/`, { user: officer, json: { email: 'si.rao@example.org', role: 'admin', is_active: false } })
  assert.equal(mine.status, 200, mine.text)
  assert.deepEqual(mine.body, { id: officer.id, username: officer.username, email: 'si.rao@example.org', role: 'officer', unit_number: 'UNIT001' })
  const viaMe = await call(apiUrl, 'PATCH', '/auth/users/me/', { user: other, json: { email: 'not-an-email' } })
  assert.equal(viaMe.status, 400)
  assert.deepEqual(viaMe.body, { email: ['Enter a valid email address.'] })
  assert.equal((await call(apiUrl, 'PATCH', `/auth/users/${other.id}/`, { user: officer, json: { email: 'x@example.org' } })).status, 404)

  // Admins move an officer to another unit, promote, demote.
  const moved = await call(apiUrl, 'PATCH', `/auth/users/${officer.id}/`, { user: admin, json: { unit_number: 'UNIT009' } })
  assert.equal(moved.status, 200, moved.text)
  assert.equal(moved.body.unit_number, 'UNIT009')
  const noUnit = await call(apiUrl, 'PATCH', `/auth/users/${other.id}/`, { user: admin, json: { role: 'officer' } })
  assert.equal(noUnit.status, 400)
  assert.deepEqual(noUnit.body, { unit_number: ['Officers must belong to a unit.'] })
  const badRole = await call(apiUrl, 'PATCH', `/auth/users/${other.id}/`, { user: admin, json: { role: 'superuser' } })
  assert.deepEqual(badRole.body, { role: ['"superuser" is not a valid choice.'] })
  const demoted = await call(apiUrl, 'PATCH', `/auth/users/${officer.id}/`, { user: admin, json: { role: 'citizen' } })
  assert.equal(demoted.body.role, 'citizen')
  assert.equal(demoted.body.unit_number, null, 'citizens belong to no unit')
  const selfDemote = await call(apiUrl, 'PATCH', `/auth/users/${admin.id}/`, { user: admin, json: { role: 'dispatcher' } })
  assert.equal(selfDemote.status, 400)
  assert.deepEqual(selfDemote.body, { non_field_errors: ['You cannot demote or deactivate your own account.'] })

  // DELETE deactivates (the records stay): the token is refused, the password no longer logs in.
  assert.equal((await call(apiUrl, 'DELETE', `/auth/users/${other.id}/`, { user: officer })).status, 403)
  assert.equal((await call(apiUrl, 'DELETE', `/auth/users/${other.id}/`, { user: admin })).status, 204)
  assert.deepEqual((await call(apiUrl, 'GET', '/auth/users/me/', { user: other })).body, INVALID_TOKEN)
  assert.equal((await call(apiUrl, 'POST', '/auth/token/login/', { json: { username: other.username, password: PASSWORD } })).status, 400)
  assert.equal((await call(apiUrl, 'GET', `/auth/users/${other.id}/`, { user: admin })).body.is_active, false)
  assert.equal((await call(apiUrl, 'DELETE', `/auth/users/${admin.id}/`, { user: admin })).status, 400)
  // Reactivated, it signs in again with its password (its old tokens stay revoked).
  assert.equal((await call(apiUrl, 'PATCH', `/auth/users/${other.id}/`, { user: admin, json: { is_active: true } })).status, 200)
  assert.deepEqual((await call(apiUrl, 'GET', '/auth/users/me/', { user: other })).body, INVALID_TOKEN)
  assert.equal((await call(apiUrl, 'POST', '/auth/token/login/', { json: { username: other.username, password: PASSWORD } })).status, 200)
})

test('POST /auth/users/set_password/: Djoser messages; the other tokens are revoked, this one stays', async (t) => {
  const { apiUrl, app, socketUrl } = await buildTestApp(t)
  const user = await createUser(app, 'dispatcher')
  const otherToken = await app.services.auth.issueToken(user.id)
  const set = (body: Record<string, unknown>, token = user.token) => call(apiUrl, 'POST', '/auth/users/set_password/', { token, json: body })

  assert.deepEqual((await set({})).body, { current_password: ['This field is required.'], new_password: ['This field is required.'], re_new_password: ['This field is required.'] })
  assert.deepEqual((await set({ current_password: 'wrong-password-1', new_password: NEW_PASSWORD, re_new_password: NEW_PASSWORD })).body, { current_password: ['Invalid password.'] })
  assert.deepEqual((await set({ current_password: PASSWORD, new_password: NEW_PASSWORD, re_new_password: `${NEW_PASSWORD}x` })).body, { non_field_errors: ["The two password fields didn't match."] })
  assert.deepEqual((await set({ current_password: PASSWORD, new_password: '12345678', re_new_password: '12345678' })).body, { new_password: ['This password is too common.', 'This password is entirely numeric.'] })
  assert.equal((await call(apiUrl, 'POST', '/auth/users/set_password/', { json: { current_password: PASSWORD } })).status, 401)

  const here = await connect(t, socketUrl, user.token)
  const there = await connect(t, socketUrl, otherToken)
  const dropped = next(there, 'disconnect')
  const told = next<{ code: string }>(there, 'error')
  const ok = await set({ current_password: PASSWORD, new_password: NEW_PASSWORD, re_new_password: NEW_PASSWORD })
  assert.equal(ok.status, 204, ok.text)
  assert.equal((await told).code, 'session_revoked')
  await dropped
  await settle(200)
  assert.equal(here.connected, true, 'the socket of the token that made the change stays')
  assert.equal((await call(apiUrl, 'GET', '/auth/users/me/', { token: user.token })).status, 200, 'this token stays signed in')
  assert.deepEqual((await call(apiUrl, 'GET', '/auth/users/me/', { token: otherToken })).body, INVALID_TOKEN)
  assert.equal((await call(apiUrl, 'POST', '/auth/token/login/', { json: { username: user.username, password: PASSWORD } })).status, 400)
  assert.equal((await call(apiUrl, 'POST', '/auth/token/login/', { json: { username: user.username, password: NEW_PASSWORD } })).status, 200)
})

test('revocation on one node: deactivation drops every socket of the account, logout only that token\'s, a demotion the unit room', async (t) => {
  const { apiUrl, app, socketUrl } = await buildTestApp(t)
  const admin = await createUser(app, 'admin')
  const officer = await createUser(app, 'officer', 'UNIT007')
  const second = await app.services.auth.issueToken(officer.id)

  // Logout: the sockets of that token go; the officer's other session stays.
  const a = await connect(t, socketUrl, officer.token)
  const b = await connect(t, socketUrl, second)
  const aGone = next(a, 'disconnect')
  assert.equal((await call(apiUrl, 'POST', '/auth/token/logout/', { token: officer.token })).status, 204)
  await aGone
  await settle(200)
  assert.equal(b.connected, true)
  await assert.rejects(connect(t, socketUrl, officer.token), /Invalid token/)

  // Demotion: the unit room was granted to an officer; the socket is dropped, and reconnecting (the
  // token still works) the citizen is refused the room and hears nothing of the unit.
  assert.equal((await emitAck(b, 'join_officer_room', 'UNIT007')).ok, true)
  const bGone = next(b, 'disconnect')
  assert.equal((await call(apiUrl, 'PATCH', `/auth/users/${officer.id}/`, { user: admin, json: { role: 'citizen' } })).status, 200)
  await bGone
  const again = await connect(t, socketUrl, second)
  const refused = await emitAck(again, 'join_officer_room', 'UNIT007')
  assert.equal(refused.ok, false)
  assert.equal(refused.error?.code, 'permission_denied')
  const heard = collect(again, 'unit_location_update')
  const sos = await createSos(app)
  assert.equal((await call(apiUrl, 'POST', '/api/assign-officer/', { user: admin, json: { sos_request: sos.sos_id, officer_name: 'SI Rao', unit_number: 'UNIT007' } })).status, 201)
  assert.equal((await call(apiUrl, 'POST', '/api/update-location/', { headers: { 'x-sos-token': sos.sos_token }, json: { sos_request: sos.sos_id, latitude: 12.9, longitude: 77.6 } })).status, 201)
  await settle(300)
  assert.deepEqual(heard, [])

  // Deactivation: every socket of the account goes, and the token is refused from then on.
  const gone = next(again, 'disconnect')
  assert.equal((await call(apiUrl, 'DELETE', `/auth/users/${officer.id}/`, { user: admin })).status, 204)
  await gone
  await assert.rejects(connect(t, socketUrl, second), /Invalid token/)
  const metrics = await (await fetch(`${apiUrl}/metrics`)).text()
  for (const reason of ['logout', 'role_changed', 'deactivated']) assert.match(metrics, new RegExp(`naarikavach_socket_revocations_total\\{reason="${reason}"\\} 1`))
})

test('revalidation: a change made behind the server\'s back (another process, no Redis) still drops the sockets', async (t) => {
  const { app, socketUrl } = await buildTestApp(t, { socketRevalidateSeconds: 1 })
  const officer = await createUser(app, 'officer', 'UNIT003')
  const keeper = await createUser(app, 'officer', 'UNIT003')
  const socket = await connect(t, socketUrl, officer.token)
  const stays = await connect(t, socketUrl, keeper.token)
  const anonymous = await connect(t, socketUrl)
  // As the CLI does on a node without Redis: straight in the database, no publisher told.
  await app.db.updateTable('users').set({ unit_number: 'UNIT004' }).where('id', '=', officer.id).execute()
  await until('the socket of the moved officer to be dropped', () => !socket.connected, 5000)
  assert.equal(stays.connected, true)
  assert.equal(anonymous.connected, true)
})
