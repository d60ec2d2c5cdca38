// The Djoser-compatible auth rows of CONTRACT §2 over real HTTP: registration (every validation
// message), token login/logout, the signed-in account, both auth schemes, paths without a slash.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { buildTestApp } from '../../helpers/app.ts'
import { call } from '../../helpers/http.ts'
import { createUser } from '../../helpers/factories.ts'

const GOOD_PASSWORD = 'Kavach-Lantern-2025'
const NOT_PROVIDED = { detail: 'Authentication credentials were not provided.' }
const INVALID_TOKEN = { detail: 'Invalid token.' }
const FORBIDDEN = { detail: 'You do not have permission to perform this action.' }
const BAD_LOGIN = { non_field_errors: ['Unable to log in with provided credentials.'] }

test('POST /auth/users/ registers a citizen: 201 {id, username, email}, no secret echoed back', async (t) => {
  const { apiUrl } = await buildTestApp(t)
  const res = await call(apiUrl, 'POST', '/auth/users/', {
    json: { username: 'asha.rao', password: GOOD_PASSWORD, re_password: GOOD_PASSWORD, email: 'asha@example.org' },
  })
  assert.equal(res.status, 201, res.text)
  assert.ok(Number.isInteger(res.body.id) && res.body.id > 0)
  assert.equal(res.body.username, 'asha.rao')
  assert.equal(res.body.email, 'asha@example.org')
  assert.equal(res.body.role, 'citizen', 'self-registration makes a citizen')
  for (const secret of ['password', 're_password', 'password_hash']) assert.equal(secret in res.body, false, `${secret} is never returned`)
  assert.ok(!res.text.includes(GOOD_PASSWORD))

  // email is optional; it comes back as an empty string, as Django's does.
  const noEmail = await call(apiUrl, 'POST', '/auth/users/', { json: { username: 'meera', password: GOOD_PASSWORD, re_password: GOOD_PASSWORD } })
  assert.equal(noEmail.status, 201, noEmail.text)
  assert.equal(noEmail.body.email, '')
  assert.notEqual(noEmail.body.id, res.body.id)

  // The new account can log in at once.
  const login = await call(apiUrl, 'POST', '/auth/token/login/', { json: { username: 'asha.rao', password: GOOD_PASSWORD } })
  assert.equal(login.status, 200, login.text)
})

test('POST /auth/users/ refuses mismatched passwords, missing fields and every Django password rule with its message', async (t) => {
  const { apiUrl } = await buildTestApp(t)
  const register = (body: Record<string, unknown>) => call(apiUrl, 'POST', '/auth/users/', { json: body })

  const mismatch = await register({ username: 'priya', password: GOOD_PASSWORD, re_password: `${GOOD_PASSWORD}x` })
  assert.equal(mismatch.status, 400)
  assert.deepEqual(mismatch.body, { non_field_errors: ["The two password fields didn't match."] })

  const empty = await register({})
  assert.equal(empty.status, 400)
  assert.deepEqual(empty.body, {
    username: ['This field is required.'],
    password: ['This field is required.'],
    re_password: ['This field is required.'],
  })

  const cases: Array<[string, string, string[]]> = [
    ['too short', 'Zq7#vb', ['This password is too short. It must contain at least 8 characters.']],
    ['entirely numeric', '83749261057', ['This password is entirely numeric.']],
    ['too common', 'password123', ['This password is too common.']],
    ['too similar to the username', 'priyanka_sharma1', ['The password is too similar to the username.']],
    [
      'short, common and numeric at once (Django reports all of them)',
      '12345',
      ['This password is too short. It must contain at least 8 characters.', 'This password is too common.', 'This password is entirely numeric.'],
    ],
  ]
  for (const [label, password, messages] of cases) {
    const res = await register({ username: 'priyanka_sharma', password, re_password: password })
    assert.equal(res.status, 400, `${label}: ${res.text}`)
    assert.deepEqual(res.body, { password: messages }, label)
  }

  // Django names the attribute the password resembles: the email address is not the username.
  const likeEmail = await register({ username: 'asha_r', email: 'kamala.devi.rao@example.org', password: 'kamala.devi.rao', re_password: 'kamala.devi.rao' })
  assert.equal(likeEmail.status, 400)
  assert.deepEqual(likeEmail.body, { password: ['The password is too similar to the email address.'] })

  // None of the refused attempts created the account.
  const created = await register({ username: 'priyanka_sharma', password: GOOD_PASSWORD, re_password: GOOD_PASSWORD })
  assert.equal(created.status, 201, created.text)
})

test('POST /auth/users/ refuses a duplicate username, an invalid username and an invalid email with DRF messages', async (t) => {
  const { apiUrl } = await buildTestApp(t)
  const register = (body: Record<string, unknown>) => call(apiUrl, 'POST', '/auth/users/', { json: { password: GOOD_PASSWORD, re_password: GOOD_PASSWORD, ...body } })

  assert.equal((await register({ username: 'kavya' })).status, 201)
  const duplicate = await register({ username: 'kavya', email: 'other@example.org' })
  assert.equal(duplicate.status, 400)
  assert.deepEqual(duplicate.body, { username: ['A user with that username already exists.'] })

  const badName = await register({ username: 'kavya sharma!' })
  assert.equal(badName.status, 400)
  assert.deepEqual(badName.body, {
    username: ['Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.'],
  })

  const badEmail = await register({ username: 'kavya2', email: 'not-an-email' })
  assert.equal(badEmail.status, 400)
  assert.deepEqual(badEmail.body, { email: ['Enter a valid email address.'] })
})

test('POST /auth/users/: staff accounts come only from an admin; an officer needs a unit', async (t) => {
  const { app, apiUrl } = await buildTestApp(t)
  const officerBody = { username: 'si_meera', password: GOOD_PASSWORD, re_password: GOOD_PASSWORD, role: 'officer', unit_number: 'UNIT042' }

  // Self-registration asking for a staff role: anonymous, and as a signed-in citizen.
  const anonymous = await call(apiUrl, 'POST', '/auth/users/', { json: officerBody })
  assert.equal(anonymous.status, 403)
  assert.deepEqual(anonymous.body, FORBIDDEN)
  const citizen = await createUser(app, 'citizen')
  const asCitizen = await call(apiUrl, 'POST', '/auth/users/', { json: { ...officerBody, role: 'admin' }, token: citizen.token })
  assert.equal(asCitizen.status, 403)
  assert.deepEqual(asCitizen.body, FORBIDDEN)

  const admin = await createUser(app, 'admin')
  const noUnit = await call(apiUrl, 'POST', '/auth/users/', { json: { ...officerBody, unit_number: undefined }, token: admin.token })
  assert.equal(noUnit.status, 400)
  assert.deepEqual(noUnit.body, { unit_number: ['Officers must belong to a unit.'] })

  const created = await call(apiUrl, 'POST', '/auth/users/', { json: officerBody, token: admin.token })
  assert.equal(created.status, 201, created.text)
  assert.equal(created.body.username, 'si_meera')
  assert.equal(created.body.role, 'officer')
  assert.equal(created.body.unit_number, 'UNIT042')

  // The officer signs in and sees their role and unit.
  const login = await call(apiUrl, 'POST', '/auth/token/login/', { json: { username: 'si_meera', password: GOOD_PASSWORD } })
  assert.equal(login.status, 200)
  const me = await call(apiUrl, 'GET', '/auth/users/me/', { token: login.body.auth_token })
  assert.deepEqual(me.body, { id: created.body.id, username: 'si_meera', email: '', role: 'officer', unit_number: 'UNIT042' })
})

test('POST /auth/token/login/: 200 {auth_token} of 40 hex chars, a new token per login, both valid', async (t) => {
  const { apiUrl } = await buildTestApp(t)
  await call(apiUrl, 'POST', '/auth/users/', { json: { username: 'nisha', password: GOOD_PASSWORD, re_password: GOOD_PASSWORD } })

  const first = await call(apiUrl, 'POST', '/auth/token/login/', { json: { username: 'nisha', password: GOOD_PASSWORD } })
  assert.equal(first.status, 200, first.text)
  assert.deepEqual(Object.keys(first.body), ['auth_token'])
  assert.match(first.body.auth_token, /^[0-9a-f]{40}$/)

  const second = await call(apiUrl, 'POST', '/auth/token/login/', { json: { username: 'nisha', password: GOOD_PASSWORD } })
  assert.equal(second.status, 200)
  assert.match(second.body.auth_token, /^[0-9a-f]{40}$/)
  assert.notEqual(second.body.auth_token, first.body.auth_token, 'each login issues a new token')

  for (const token of [first.body.auth_token, second.body.auth_token]) {
    const me = await call(apiUrl, 'GET', '/auth/users/me/', { token })
    assert.equal(me.status, 200, me.text)
    assert.equal(me.body.username, 'nisha')
  }
})

test('POST /auth/token/login/: a wrong password and an unknown user get the same 400 answer', async (t) => {
  const { apiUrl } = await buildTestApp(t)
  await call(apiUrl, 'POST', '/auth/users/', { json: { username: 'nisha', password: GOOD_PASSWORD, re_password: GOOD_PASSWORD } })

  const wrongPassword = await call(apiUrl, 'POST', '/auth/token/login/', { json: { username: 'nisha', password: 'Kavach-Lantern-2024' } })
  assert.equal(wrongPassword.status, 400)
  assert.deepEqual(wrongPassword.body, BAD_LOGIN)

  const unknownUser = await call(apiUrl, 'POST', '/auth/token/login/', { json: { username: 'nobody_here', password: GOOD_PASSWORD } })
  assert.equal(unknownUser.status, 400)
  assert.deepEqual(unknownUser.body, BAD_LOGIN)
  assert.equal(unknownUser.text, wrongPassword.text, 'the answer does not reveal which usernames exist')

  const missing = await call(apiUrl, 'POST', '/auth/token/login/', { json: {} })
  assert.equal(missing.status, 400)
  assert.deepEqual(missing.body, { username: ['This field is required.'], password: ['This field is required.'] })
})

test('POST /auth/token/logout/: 204, that token then gets 401 "Invalid token.", the other tokens still work', async (t) => {
  const { apiUrl } = await buildTestApp(t)
  await call(apiUrl, 'POST', '/auth/users/', { json: { username: 'lata', password: GOOD_PASSWORD, re_password: GOOD_PASSWORD } })
  const login = () => call(apiUrl, 'POST', '/auth/token/login/', { json: { username: 'lata', password: GOOD_PASSWORD } })
  const phoneToken = (await login()).body.auth_token as string
  const laptopToken = (await login()).body.auth_token as string

  const logout = await call(apiUrl, 'POST', '/auth/token/logout/', { token: phoneToken })
  assert.equal(logout.status, 204)
  assert.equal(logout.text, '')

  const revoked = await call(apiUrl, 'GET', '/auth/users/me/', { token: phoneToken })
  assert.equal(revoked.status, 401)
  assert.deepEqual(revoked.body, INVALID_TOKEN)
  const again = await call(apiUrl, 'POST', '/auth/token/logout/', { token: phoneToken })
  assert.equal(again.status, 401)
  assert.deepEqual(again.body, INVALID_TOKEN)

  const other = await call(apiUrl, 'GET', '/auth/users/me/', { token: laptopToken })
  assert.equal(other.status, 200)
  assert.equal(other.body.username, 'lata')

  const anonymous = await call(apiUrl, 'POST', '/auth/token/logout/')
  assert.equal(anonymous.status, 401)
  assert.deepEqual(anonymous.body, NOT_PROVIDED)
})

test('GET /auth/users/me/: {id, username, email, role, unit_number}; Token and Bearer schemes; 401 without or with a bad token', async (t) => {
  const { apiUrl } = await buildTestApp(t)
  const registered = await call(apiUrl, 'POST', '/auth/users/', {
    json: { username: 'radha', password: GOOD_PASSWORD, re_password: GOOD_PASSWORD, email: 'radha@example.org' },
  })
  const token = (await call(apiUrl, 'POST', '/auth/token/login/', { json: { username: 'radha', password: GOOD_PASSWORD } })).body.auth_token as string
  const expected = { id: registered.body.id, username: 'radha', email: 'radha@example.org', role: 'citizen', unit_number: null }

  const me = await call(apiUrl, 'GET', '/auth/users/me/', { token })
  assert.equal(me.status, 200)
  assert.deepEqual(me.body, expected)

  const bearer = await call(apiUrl, 'GET', '/auth/users/me/', { token, scheme: 'Bearer' })
  assert.equal(bearer.status, 200)
  assert.deepEqual(bearer.body, expected)

  const none = await call(apiUrl, 'GET', '/auth/users/me/')
  assert.equal(none.status, 401)
  assert.deepEqual(none.body, NOT_PROVIDED)

  const wrong = await call(apiUrl, 'GET', '/auth/users/me/', { token: 'f'.repeat(40) })
  assert.equal(wrong.status, 401)
  assert.deepEqual(wrong.body, INVALID_TOKEN)
})

test('every auth path also works without its trailing slash', async (t) => {
  const { apiUrl } = await buildTestApp(t)
  const registered = await call(apiUrl, 'POST', '/auth/users', { json: { username: 'uma', password: GOOD_PASSWORD, re_password: GOOD_PASSWORD } })
  assert.equal(registered.status, 201, registered.text)

  const login = await call(apiUrl, 'POST', '/auth/token/login', { json: { username: 'uma', password: GOOD_PASSWORD } })
  assert.equal(login.status, 200, login.text)
  const token = login.body.auth_token as string

  const me = await call(apiUrl, 'GET', '/auth/users/me', { token })
  assert.equal(me.status, 200)
  assert.equal(me.body.id, registered.body.id)

  const logout = await call(apiUrl, 'POST', '/auth/token/logout', { token })
  assert.equal(logout.status, 204)
  assert.equal((await call(apiUrl, 'GET', '/auth/users/me', { token })).status, 401)
})
