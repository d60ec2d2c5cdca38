// Signed webhooks: every incident-log event reaches each configured URL, signed per Standard Webhooks. The
// check below is written from the specification (https://www.standardwebhooks.com), not with our signer.
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { test } from 'node:test'
import { buildTestApp } from '../helpers/app.ts'
import { auth, createUser } from '../helpers/factories.ts'
import { eventually, startWebhookReceiver, type WebhookDelivery } from '../helpers/providers.ts'

const SECRET = `whsec_${crypto.randomBytes(32).toString('base64')}`

/**
 * The Standard Webhooks verification, from the spec: the key is the base64 after "whsec_"; the signed content
 * is `${webhook-id}.${webhook-timestamp}.${body}`; webhook-signature is a space-separated list of
 * `v1,<base64 HMAC-SHA256>` entries, any of which may match; the timestamp must be within 5 minutes.
 */
function verifyStandardWebhook(secret: string, headers: Record<string, string | string[] | undefined>, body: string, nowSeconds = Math.floor(Date.now() / 1000)): boolean {
  const id = headers['webhook-id']
  const timestamp = headers['webhook-timestamp']
  const signatures = headers['webhook-signature']
  if (typeof id !== 'string' || typeof timestamp !== 'string' || typeof signatures !== 'string') return false
  if (!/^\d+$/.test(timestamp) || Math.abs(nowSeconds - Number(timestamp)) > 5 * 60) return false
  const key = Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64')
  const expected = crypto.createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest()
  return signatures.split(' ').some((entry) => {
    const [version, signature] = entry.split(',')
    if (version !== 'v1' || !signature) return false
    const given = Buffer.from(signature, 'base64')
    return given.length === expected.length && crypto.timingSafeEqual(given, expected)
  })
}

const events = (deliveries: WebhookDelivery[]) => deliveries.map((d) => JSON.parse(d.body) as { type: string; timestamp: string; data: { kind: string; sos_id: number; cursor: number; seq: number } })

test('every event of the incident log goes to every URL, signed per Standard Webhooks, in order', async (t) => {
  const first = await startWebhookReceiver(t)
  const second = await startWebhookReceiver(t)
  const { app } = await buildTestApp(t, { webhookUrls: [first.url, second.url], webhookSecret: SECRET, outboxCheckMs: 25 })
  const dispatcher = await createUser(app, 'dispatcher')
  const created = await app.inject({ method: 'POST', url: '/api/create-sos/', payload: { name: 'Asha', initial_latitude: 12.97, initial_longitude: 77.59 } })
  const { sos_id: sosId } = created.json() as { sos_id: number }
  assert.equal((await app.inject({ method: 'POST', url: `/api/sos/${sosId}/acknowledge/`, headers: auth(dispatcher) })).statusCode, 200)
  assert.equal((await app.inject({ method: 'POST', url: `/api/resolve-sos/${sosId}/`, headers: auth(dispatcher), payload: { outcome: 'assisted' } })).statusCode, 200)

  for (const receiver of [first, second]) {
    await receiver.waitFor((d) => d.length >= 3)
    assert.deepEqual(events(receiver.deliveries).map((e) => e.type), ['sos.created', 'sos.acknowledged', 'sos.resolved'])
    for (const delivery of receiver.deliveries) {
      assert.equal(delivery.headers['content-type'], 'application/json')
      assert.ok(verifyStandardWebhook(SECRET, delivery.headers, delivery.body), 'the signature verifies')
      assert.equal(verifyStandardWebhook(`whsec_${crypto.randomBytes(32).toString('base64')}`, delivery.headers, delivery.body), false, 'not with another secret')
      assert.equal(verifyStandardWebhook(SECRET, delivery.headers, `${delivery.body} `), false, 'not for another body')
    }
    const [createdEvent] = events(receiver.deliveries)
    assert.equal(createdEvent.data.sos_id, sosId)
    assert.equal(createdEvent.data.seq, 1)
  }
  // One id per event and receiver, different across events.
  const ids = first.deliveries.map((d) => d.headers['webhook-id'])
  assert.equal(new Set(ids).size, 3)

  // Staff see the deliveries' states; they are not phone messages, so the victim does not.
  const notes = await app.inject({ method: 'GET', url: `/api/sos/${sosId}/notifications/`, headers: auth(dispatcher) })
  const rows = (notes.json() as { results: Array<{ channel: string; status: string }> }).results.filter((r) => r.channel === 'webhook')
  await eventually(async () => {
    const again = await app.inject({ method: 'GET', url: `/api/sos/${sosId}/notifications/`, headers: auth(dispatcher) })
    return (again.json() as { results: Array<{ channel: string; status: string }> }).results.filter((r) => r.channel === 'webhook' && r.status === 'sent').length === 6
  }, 5000, 'six webhook deliveries sent')
  assert.ok(rows.length >= 3)
})

test('a failing receiver gets the same message again after a backoff, with the same webhook-id and a valid signature', async (t) => {
  const receiver = await startWebhookReceiver(t, [500, 503])
  const { app } = await buildTestApp(t, { webhookUrls: [receiver.url], webhookSecret: SECRET, outboxCheckMs: 25, outboxBackoffBaseMs: 100 })
  await app.inject({ method: 'POST', url: '/api/create-sos/', payload: { name: 'Asha', initial_latitude: 12.97, initial_longitude: 77.59 } })
  await receiver.waitFor((d) => d.length >= 3)
  const [a, b, c] = receiver.deliveries
  assert.equal(a.headers['webhook-id'], b.headers['webhook-id'])
  assert.equal(b.headers['webhook-id'], c.headers['webhook-id'])
  assert.equal(a.body, c.body)
  assert.ok(c.at - b.at >= 100, 'the second retry waited longer (exponential)')
  for (const delivery of receiver.deliveries) assert.ok(verifyStandardWebhook(SECRET, delivery.headers, delivery.body))
})

test('two nodes with webhooks: each event is delivered once per URL', async (t) => {
  const receiver = await startWebhookReceiver(t)
  const overrides = { webhookUrls: [receiver.url], webhookSecret: SECRET, outboxCheckMs: 20 }
  const nodeA = await buildTestApp(t, overrides)
  const nodeB = await buildTestApp(t, { ...overrides, databaseUrl: nodeA.config.databaseUrl }, { reuse: { databaseUrl: nodeA.config.databaseUrl, dir: nodeA.dir } })
  for (let i = 0; i < 6; i++) {
    const node = i % 2 === 0 ? nodeA : nodeB
    await node.app.inject({ method: 'POST', url: '/api/create-sos/', payload: { name: `Victim ${i}`, initial_latitude: 12.97, initial_longitude: 77.59 } })
  }
  await receiver.waitFor((d) => d.length >= 6)
  await new Promise((r) => setTimeout(r, 300))
  const cursors = events(receiver.deliveries).map((e) => e.data.cursor)
  assert.equal(cursors.length, 6)
  assert.equal(new Set(cursors).size, 6)
})

test("the specification's own example: the check accepts it, and our signer produces exactly it", async () => {
  // From the Standard Webhooks specification's worked example.
  const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'
  const headers = { 'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek', 'webhook-timestamp': '1614265330', 'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=' }
  const body = '{"test": 2432232314}'
  assert.ok(verifyStandardWebhook(secret, headers, body, 1614265330))
  assert.equal(verifyStandardWebhook(secret, headers, body, 1614265330 + 3600), false, 'too old: a replay')
  const { signWebhook, webhookKey } = await import('../../src/notify/webhooks.ts')
  assert.equal(signWebhook(webhookKey(secret), headers['webhook-id'], 1614265330, body), headers['webhook-signature'])
})
