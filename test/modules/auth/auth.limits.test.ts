// Attacks on password hashing over real HTTP: a registration flood from one IP, one spread over many
// IPs, and a full hashing queue. Each is refused with 429 + Retry-After while a real login gets through.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { buildTestApp } from '../../helpers/app.ts'
import { call, type Answer } from '../../helpers/http.ts'
import { createUser } from '../../helpers/factories.ts'

const PASSWORD = 'Kavach-Lantern-2025'
/** A generous bound for "the login was not starved", far above a normal login; a failure, not a benchmark. */
const LOGIN_BOUND_MS = 10_000

const registration = (i: string | number) => ({ username: `flood_${i}`, password: PASSWORD, re_password: PASSWORD })

function assertThrottled(res: Answer, label: string) {
  assert.equal(res.status, 429, `${label}: ${res.text}`)
  assert.match(String(res.body.detail), /^Request was throttled\./, label)
  const retryAfter = Number(res.headers.get('retry-after'))
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1, `${label}: Retry-After is whole seconds, got ${res.headers.get('retry-after')}`)
}

async function timedLogin(apiUrl: string, username: string, headers: Record<string, string> = {}) {
  const started = Date.now()
  const res = await call(apiUrl, 'POST', '/auth/token/login/', { json: { username, password: 'Correct-Horse-Battery-9' }, headers })
  return { res, ms: Date.now() - started }
}

test('a registration flood from one IP is throttled (429 + Retry-After) while a concurrent login succeeds', async (t) => {
  const { app, apiUrl } = await buildTestApp(t, { registrationRateLimitPerMinute: 5 })
  const victim = await createUser(app, 'citizen')

  const flood = Promise.all(Array.from({ length: 30 }, (_, i) => call(apiUrl, 'POST', '/auth/users/', { json: registration(i) })))
  const login = timedLogin(apiUrl, victim.username)
  const answers = await flood
  const { res, ms } = await login

  assert.equal(res.status, 200, res.text)
  assert.match(res.body.auth_token, /^[0-9a-f]{40}$/)
  assert.ok(ms < LOGIN_BOUND_MS, `the login answered within ${LOGIN_BOUND_MS} ms (took ${ms} ms)`)
  const created = answers.filter((a) => a.status === 201)
  const refused = answers.filter((a) => a.status !== 201)
  assert.equal(created.length, 5, 'exactly the per-IP allowance was registered')
  for (const r of refused) assertThrottled(r, 'flooded registration')
  const users = await app.db.selectFrom('users').select('id').where('username', 'like', 'flood_%').execute()
  assert.equal(users.length, 5, 'a refused registration creates no account')

  // The limit is the anonymous self-registration's: an admin creating staff accounts from the same
  // address is not held up by the flood.
  const admin = await createUser(app, 'admin')
  for (let i = 0; i < 3; i++) {
    const staff = await call(apiUrl, 'POST', '/auth/users/', { token: admin.token, json: { ...registration(`staff_${i}`), role: 'dispatcher' } })
    assert.equal(staff.status, 201, staff.text)
  }
})

test('registrations from many addresses cannot starve logins: logins have a hashing slot of their own', async (t) => {
  // A real (if lower than production) scrypt cost, so that hashes take long enough to queue; the
  // per-IP limit is bypassed by using a new X-Forwarded-For address for every registration.
  const { app, apiUrl } = await buildTestApp(t, { trustProxy: true, passwordHashCost: 15, passwordHashConcurrency: 2, passwordHashQueueLimit: 100 })
  const victim = await createUser(app, 'citizen')

  const answeredAt: number[] = []
  const flood = Promise.all(
    Array.from({ length: 16 }, async (_, i) => {
      const res = await call(apiUrl, 'POST', '/auth/users/', { json: registration(i), headers: { 'x-forwarded-for': `198.51.100.${i + 1}` } })
      answeredAt.push(Date.now())
      return res
    }),
  )
  // Let the flood arrive and start hashing first (not a timing assertion: the order below is).
  await new Promise((resolve) => setTimeout(resolve, 100))
  const { res, ms } = await timedLogin(apiUrl, victim.username, { 'x-forwarded-for': '203.0.113.7' })
  const loginAt = Date.now()
  const answers = await flood

  assert.equal(res.status, 200, res.text)
  assert.ok(ms < LOGIN_BOUND_MS, `the login answered within ${LOGIN_BOUND_MS} ms (took ${ms} ms)`)
  for (const a of answers) assert.equal(a.status, 201, a.text)
  // Without lanes the login's hash queues behind every registration already submitted to the thread
  // pool; with them it runs beside one registration at a time.
  const before = answeredAt.filter((at) => at <= loginAt).length
  t.diagnostic(`login took ${ms} ms; ${before} of 16 registrations were answered before it`)
  assert.ok(before <= 8, `the login was answered before most of the flood (${before} of 16 registrations were done first)`)
})

test('the hashing queue answers 429 with Retry-After when full, and never hangs', async (t) => {
  const { app, apiUrl } = await buildTestApp(t, { trustProxy: true, passwordHashCost: 15, passwordHashConcurrency: 2, passwordHashQueueLimit: 2 })
  const victim = await createUser(app, 'citizen')

  // One registration hashes, two wait, the rest are refused at once.
  const answers = await Promise.all(
    Array.from({ length: 12 }, (_, i) => call(apiUrl, 'POST', '/auth/users/', { json: registration(i), headers: { 'x-forwarded-for': `198.51.100.${i + 1}` } })),
  )
  const created = answers.filter((a) => a.status === 201)
  const refused = answers.filter((a) => a.status !== 201)
  assert.ok(created.length >= 3, `the running and queued registrations completed (${created.length})`)
  assert.ok(refused.length >= 1, 'the registrations past the queue were refused')
  for (const r of refused) assertThrottled(r, 'registration past the hashing queue')
  assert.equal((await app.db.selectFrom('users').select('id').where('username', 'like', 'flood_%').execute()).length, created.length)

  // The login lane has its own queue: a burst of logins (each from its own address, so the login rate
  // limit is not what answers) fills it and the excess is refused the same way, not left hanging.
  const logins = await Promise.all(
    Array.from({ length: 12 }, (_, i) => timedLogin(apiUrl, victim.username, { 'x-forwarded-for': `192.0.2.${i + 1}` })),
  )
  const ok = logins.filter((l) => l.res.status === 200)
  const throttled = logins.filter((l) => l.res.status !== 200)
  assert.ok(ok.length >= 4, `the running and queued logins succeeded (${ok.length})`)
  assert.ok(throttled.length >= 1, 'the logins past the queue were refused')
  for (const l of throttled) assertThrottled(l.res, 'login past the hashing queue')
  // Once the burst is over, a login works again.
  assert.equal((await timedLogin(apiUrl, victim.username)).res.status, 200)
})
