// The outbox against a local Twilio-speaking server: the exact request Twilio documents, a 503 then 201
// (delivered once, after the backoff), 429 with Retry-After, a refused number (dead with the reason), tries
// running out, no provider (not_configured), a cancel within the grace window (nothing sent), closing
// messages only to contacts already alerted, and two app instances on one database (each message sent once).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { TestContext } from 'node:test'
import type { Config } from '../../src/config.ts'
import { claim } from '../../src/notify/outbox.ts'
import { buildTestApp, type TestApp } from '../helpers/app.ts'
import { auth, createUser } from '../helpers/factories.ts'
import { eventually, INVALID_NUMBER, startFakeTwilio, TWILIO_FROM, TWILIO_SID, TWILIO_TOKEN, type FakeTwilio } from '../helpers/providers.ts'

const RAVI = '+919812345678'
const MEERA = '+919876543210'
const FAST: Partial<Config> = { contactGraceSeconds: 0, outboxCheckMs: 25, outboxBackoffBaseMs: 300, outboxBackoffMaxMs: 5000 }

interface Created {
  sos_id: number
  sos_token: string
  contacts_count: number
}

async function raise(node: TestApp, contacts: Array<{ name: string; phone: string }>, name = 'Asha'): Promise<Created> {
  const res = await node.app.inject({ method: 'POST', url: '/api/create-sos/', payload: { name, initial_latitude: 12.97, initial_longitude: 77.59, contacts } })
  assert.equal(res.statusCode, 201, res.body)
  return res.json()
}

interface Note {
  kind: string
  channel: string
  recipient: string
  status: string
  attempts: number
  reason: string | null
  message_id: string
  provider_message_id: string | null
  next_attempt_at: string | null
}

async function notifications(node: TestApp, sos: Created): Promise<Note[]> {
  const res = await node.app.inject({ method: 'GET', url: `/api/sos/${sos.sos_id}/notifications/`, headers: { 'x-sos-token': sos.sos_token } })
  assert.equal(res.statusCode, 200, res.body)
  return (res.json() as { results: Note[] }).results
}

const settledTo = (node: TestApp, sos: Created, done: (notes: Note[]) => boolean, what: string) =>
  eventually(async () => {
    const notes = await notifications(node, sos)
    return done(notes) && notes
  }, 10_000, what)

async function setup(t: TestContext, overrides: Partial<Config> = {}, script: FakeTwilio['script'] = []) {
  const twilio = await startFakeTwilio(t, script)
  const node = await buildTestApp(t, { sms: twilio.config, ...FAST, ...overrides })
  return { twilio, node }
}

test('an alert is exactly the request Twilio documents, with her name, the time and her link', async (t) => {
  const { twilio, node } = await setup(t)
  const sos = await raise(node, [{ name: 'Ravi', phone: '+91 98123-45678' }])
  assert.equal(sos.contacts_count, 1)
  await twilio.waitFor(1)
  const request = twilio.requests[0]
  assert.equal(request.method, 'POST')
  assert.equal(request.path, `/2010-04-01/Accounts/${TWILIO_SID}/Messages.json`)
  assert.equal(request.basic, `${TWILIO_SID}:${TWILIO_TOKEN}`, 'HTTP basic auth: account SID and auth token')
  assert.equal(request.contentType, 'application/x-www-form-urlencoded')
  assert.equal(request.form.get('To'), RAVI, 'normalized to E.164')
  assert.equal(request.form.get('From'), TWILIO_FROM)
  assert.equal(request.form.get('Attempt'), '1')
  const body = request.form.get('Body')!
  assert.match(body, /^SOS from Asha at \d{1,2} \w{3}, \d{2}:\d{2} IST\./)
  assert.match(body, new RegExp(`${node.apiUrl}/t/[A-Za-z0-9_-]{43} `))
  assert.match(request.idempotencyKey ?? '', /^msg_[0-9a-f]{32}$/)
  const [note] = await settledTo(node, sos, (n) => n[0]?.status === 'sent', 'alert sent')
  assert.equal(note.message_id, request.idempotencyKey, 'the id the provider saw is the one recorded')
  assert.match(note.provider_message_id ?? '', /^SM[0-9a-f]{32}$/, "Twilio's sid is recorded")
})

test('provider answers 503, then 201: delivered once, after the backoff, with the same message id', async (t) => {
  const { twilio, node } = await setup(t, {}, [503])
  const sos = await raise(node, [{ name: 'Ravi', phone: RAVI }])
  const failed = await settledTo(node, sos, (n) => n[0]?.status === 'failed' || n[0]?.status === 'sent', 'first try failed')
  if (failed[0].status === 'failed') {
    assert.match(failed[0].reason ?? '', /503/)
    assert.ok(failed[0].next_attempt_at, 'the next try is scheduled')
  }
  await settledTo(node, sos, (n) => n[0]?.status === 'sent', 'delivered')
  assert.equal(twilio.requests.length, 2, 'one failed try, one delivery')
  const [first, second] = twilio.requests
  assert.equal(first.idempotencyKey, second.idempotencyKey)
  assert.equal(first.form.get('Body'), second.form.get('Body'), 'the same text and the same link')
  assert.equal(second.form.get('Attempt'), '2')
  // Equal jitter: the first retry waits between half and all of OUTBOX_BACKOFF_BASE_MS (300 ms).
  assert.ok(second.at - first.at >= 150, `waited ${second.at - first.at} ms`)
  assert.equal(twilio.delivered.size, 1)
  const [note] = await notifications(node, sos)
  assert.equal(note.attempts, 2)
  assert.equal(note.reason, null)
})

test('429 with Retry-After: the retry waits at least that long', async (t) => {
  const { twilio, node } = await setup(t, { outboxBackoffBaseMs: 20 }, [{ status: 429, retryAfter: '1' }])
  const sos = await raise(node, [{ name: 'Ravi', phone: RAVI }])
  await settledTo(node, sos, (n) => n[0]?.status === 'sent', 'delivered after the 429')
  assert.equal(twilio.requests.length, 2)
  assert.ok(twilio.requests[1].at - twilio.requests[0].at >= 950, 'Retry-After: 1 s was honoured')
})

test('a refused number (400, Twilio error 21211) is dead at once, with the reason; others are unaffected', async (t) => {
  const { twilio, node } = await setup(t)
  const sos = await raise(node, [{ name: 'Ravi', phone: RAVI }, { name: 'Wrong', phone: INVALID_NUMBER }])
  const notes = await settledTo(node, sos, (n) => n.length === 2 && n.every((x) => x.status === 'sent' || x.status === 'dead'), 'both settled')
  const dead = notes.find((n) => n.recipient === INVALID_NUMBER)!
  assert.equal(dead.status, 'dead')
  assert.equal(dead.attempts, 1, 'a 4xx is not retried')
  assert.match(dead.reason ?? '', /400 \(Twilio error 21211\)/)
  assert.equal(notes.find((n) => n.recipient === RAVI)?.status, 'sent')
  assert.equal(twilio.requests.length, 2)
})

test('retries run out: dead after OUTBOX_MAX_ATTEMPTS tries, with the reason', async (t) => {
  const { twilio, node } = await setup(t, { outboxMaxAttempts: 3, outboxBackoffBaseMs: 20 }, [500, 502, 503, 201])
  const sos = await raise(node, [{ name: 'Ravi', phone: RAVI }])
  const [note] = await settledTo(node, sos, (n) => n[0]?.status === 'dead', 'dead letter')
  assert.equal(note.attempts, 3)
  assert.match(note.reason ?? '', /503.*gave up after 3 tries/)
  await new Promise((r) => setTimeout(r, 200))
  assert.equal(twilio.requests.length, 3, 'no fourth try')
})

test('no SMS provider: every message is recorded as not_configured, visibly, never dropped', async (t) => {
  const node = await buildTestApp(t, { ...FAST })
  const sos = await raise(node, [{ name: 'Ravi', phone: RAVI }, { name: 'Meera', phone: MEERA }])
  const notes = await settledTo(node, sos, (n) => n.length === 2 && n.every((x) => x.status === 'not_configured'), 'not_configured')
  assert.ok(notes.every((n) => /SMS_PROVIDER/.test(n.reason ?? '')))
})

test('cancelled within the grace window: nobody is alerted, not even with a closing message', async (t) => {
  const { twilio, node } = await setup(t, { contactGraceSeconds: 1 })
  const sos = await raise(node, [{ name: 'Ravi', phone: RAVI }, { name: 'Meera', phone: MEERA }])
  const queued = await notifications(node, sos)
  assert.deepEqual(queued.map((n) => n.status), ['queued', 'queued'])
  assert.ok(queued.every((n) => n.next_attempt_at && Date.parse(n.next_attempt_at) > Date.now()), 'due when the window ends')
  const cancelled = await node.app.inject({ method: 'POST', url: `/api/sos/${sos.sos_id}/cancel/`, headers: { 'x-sos-token': sos.sos_token }, payload: { reason: 'pocket press' } })
  assert.equal(cancelled.statusCode, 200)
  await new Promise((r) => setTimeout(r, 1500))
  await node.app.services.outbox.drain()
  assert.equal(twilio.requests.length, 0, 'nothing was sent')
  const notes = await notifications(node, sos)
  assert.deepEqual(notes.map((n) => [n.kind, n.status]), [['alert', 'cancelled'], ['alert', 'cancelled']])
  assert.match(notes[0].reason ?? '', /cancelled before this alert was sent/)
})

test('a resolved SOS sends a closing message, only to the contacts already alerted', async (t) => {
  const { twilio, node } = await setup(t)
  const dispatcher = await createUser(node.app, 'dispatcher')
  const sos = await raise(node, [{ name: 'Ravi', phone: RAVI }, { name: 'Wrong', phone: INVALID_NUMBER }])
  await settledTo(node, sos, (n) => n.length === 2 && n.every((x) => x.status === 'sent' || x.status === 'dead'), 'alerts settled')
  const resolved = await node.app.inject({ method: 'POST', url: `/api/resolve-sos/${sos.sos_id}/`, headers: auth(dispatcher) })
  assert.equal(resolved.statusCode, 200)
  const notes = await settledTo(node, sos, (n) => n.some((x) => x.kind === 'closing' && x.status === 'sent'), 'closing sent')
  const closing = notes.filter((n) => n.kind === 'closing')
  assert.deepEqual(closing.map((n) => n.recipient), [RAVI], 'only Ravi had been alerted')
  const last = twilio.requests.at(-1)!
  assert.equal(last.form.get('To'), RAVI)
  assert.match(last.form.get('Body')!, /^Update: the SOS from Asha was resolved at /)
  assert.notEqual(last.idempotencyKey, twilio.requests[0].idempotencyKey, 'a message of its own')
})

test('two app instances on one database: each message is sent exactly once', async (t) => {
  const twilio = await startFakeTwilio(t)
  const nodeA = await buildTestApp(t, { sms: twilio.config, ...FAST, outboxCheckMs: 20 })
  const nodeB = await buildTestApp(t, { sms: twilio.config, ...FAST, outboxCheckMs: 20, databaseUrl: nodeA.config.databaseUrl }, { reuse: { databaseUrl: nodeA.config.databaseUrl, dir: nodeA.dir } })
  const raised: Created[] = []
  for (let i = 0; i < 8; i++) {
    const node = i % 2 === 0 ? nodeA : nodeB
    raised.push(await raise(node, [{ name: 'Ravi', phone: RAVI }, { name: 'Meera', phone: MEERA }, { name: 'Kiran', phone: `+9198000000${10 + i}` }], `Victim ${i}`))
  }
  await eventually(async () => {
    for (const sos of raised) if (!(await notifications(nodeA, sos)).every((n) => n.status === 'sent')) return false
    return true
  }, 15_000, 'every alert sent')
  await new Promise((r) => setTimeout(r, 200))
  const keys = twilio.requests.map((r) => r.idempotencyKey)
  assert.equal(keys.length, raised.length * 3, 'one request per message')
  assert.equal(new Set(keys).size, keys.length, 'no message sent twice')
})

test('a claim is conditional: of two racing claims of one row, exactly one wins', async (t) => {
  const node = await buildTestApp(t, { ...FAST, contactGraceSeconds: 3600 })
  await raise(node, [{ name: 'Ravi', phone: RAVI }])
  const row = await node.app.db.selectFrom('outbox').selectAll().executeTakeFirstOrThrow()
  const lease = new Date(Date.now() + 30_000).toISOString()
  const now = new Date().toISOString()
  const results = await Promise.all([node.app.db, node.app.db].map((db) => claim(db, row, lease, now)))
  assert.equal(results.filter(Boolean).length, 1)
  assert.equal((await claim(node.app.db, row, lease, now)), undefined, 'a stale read claims nothing')
})
