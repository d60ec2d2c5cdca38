// The new settings are validated at start with readable messages that never echo a secret.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ConfigError, createConfig } from '../../src/config.ts'

const SID = `AC${'a'.repeat(32)}`
const twilio = { SMS_PROVIDER: 'twilio', TWILIO_ACCOUNT_SID: SID, TWILIO_AUTH_TOKEN: 'super-secret-token', TWILIO_FROM: '+15005550006' }

test('defaults: no SMS provider, no webhooks, a 20 s grace window, links for 24 h', () => {
  const config = createConfig({})
  assert.equal(config.sms, undefined)
  assert.deepEqual(config.webhookUrls, [])
  assert.equal(config.contactGraceSeconds, 20)
  assert.equal(config.contactsMax, 5)
  assert.equal(config.shareLinkTtlHours, 24)
  assert.equal(config.outboxMaxAttempts, 8)
})

test('SMS_PROVIDER=twilio: the four variables, the default base URL, a Messaging Service as sender', () => {
  const config = createConfig({ ...twilio, CONTACT_GRACE_SECONDS: '0' })
  assert.deepEqual(config.sms, { provider: 'twilio', accountSid: SID, authToken: 'super-secret-token', from: '+15005550006', apiBase: 'https://api.twilio.com' })
  assert.equal(config.contactGraceSeconds, 0, '0 is allowed')
  assert.equal(createConfig({ ...twilio, TWILIO_FROM: `MG${'b'.repeat(32)}`, TWILIO_API_BASE: 'http://127.0.0.1:9999/' }).sms?.apiBase, 'http://127.0.0.1:9999')
})

test('invalid settings are refused, and no message repeats a secret', () => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ SMS_PROVIDER: 'nexmo' }, /SMS_PROVIDER must be twilio/],
    [{ ...twilio, TWILIO_ACCOUNT_SID: 'AC123' }, /TWILIO_ACCOUNT_SID/],
    [{ ...twilio, TWILIO_AUTH_TOKEN: '' }, /TWILIO_AUTH_TOKEN/],
    [{ ...twilio, TWILIO_FROM: '5550006' }, /TWILIO_FROM/],
    [{ ...twilio, TWILIO_API_BASE: 'ftp://x' }, /TWILIO_API_BASE/],
    [{ WEBHOOK_URLS: 'https://cad.example.org/hook' }, /WEBHOOK_SECRET/],
    [{ WEBHOOK_URLS: 'https://cad.example.org/hook', WEBHOOK_SECRET: 'plain-secret' }, /whsec_/],
    [{ WEBHOOK_URLS: 'https://cad.example.org/hook', WEBHOOK_SECRET: `whsec_${Buffer.alloc(8).toString('base64')}` }, /24 to 64/],
    [{ WEBHOOK_URLS: 'cad.example.org', WEBHOOK_SECRET: `whsec_${Buffer.alloc(32).toString('base64')}` }, /WEBHOOK_URLS/],
    [{ CONTACT_GRACE_SECONDS: '-1' }, /CONTACT_GRACE_SECONDS/],
    [{ CONTACT_TIME_ZONE: 'Mars/Olympus' }, /CONTACT_TIME_ZONE/],
    [{ MAP_TILE_URL: 'https://tiles.example.org/tile.png' }, /MAP_TILE_URL/],
    [{ OUTBOX_LEASE_SECONDS: '5', OUTBOX_SEND_TIMEOUT_MS: '5000' }, /must be below OUTBOX_LEASE_SECONDS/],
  ]
  for (const [env, message] of cases) {
    assert.throws(() => createConfig(env), (error: unknown) => error instanceof ConfigError && message.test(error.message) && !error.message.includes('super-secret-token') && !error.message.includes('plain-secret'), JSON.stringify(env))
  }
})
