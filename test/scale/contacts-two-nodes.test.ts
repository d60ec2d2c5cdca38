// Trusted contacts on two nodes sharing one PostgreSQL database and one Redis: every alert is sent exactly
// once, and a tracking page streaming from node A follows a location posted to node B.
// Runs in `npm run test:scale` (and CI); it fails, not skips, when PostgreSQL or Redis is unreachable.
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { test } from 'node:test'
import { buildTestApp, dialect } from '../helpers/app.ts'
import { eventually, startFakeTwilio } from '../helpers/providers.ts'

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

test('two nodes on one PostgreSQL database: each alert sent once; a page on node A follows node B', async (t) => {
  assert.equal(dialect, 'postgres', 'run with TEST_DATABASE=postgres (npm run test:scale)')
  const twilio = await startFakeTwilio(t)
  const shared = { redisUrl: REDIS_URL, redisPrefix: `nk_scale_${crypto.randomBytes(6).toString('hex')}`, sms: twilio.config, contactGraceSeconds: 0, outboxCheckMs: 20, shareLivePollMs: 100 }
  const nodeA = await buildTestApp(t, shared)
  const nodeB = await buildTestApp(t, { ...shared, databaseUrl: nodeA.config.databaseUrl })

  const raised: Array<{ sos_id: number; sos_token: string }> = []
  for (let i = 0; i < 10; i++) {
    const node = i % 2 === 0 ? nodeA : nodeB
    const res = await node.app.inject({
      method: 'POST',
      url: '/api/create-sos/',
      payload: { name: `Victim ${i}`, initial_latitude: 12.97, initial_longitude: 77.59, contacts: [{ name: 'Ravi', phone: '+919812345678' }, { name: 'Meera', phone: `+9198765432${10 + i}` }] },
    })
    assert.equal(res.statusCode, 201)
    raised.push(res.json())
  }
  await twilio.waitFor(20, 15_000)
  await new Promise((r) => setTimeout(r, 300))
  const keys = twilio.requests.map((r) => r.idempotencyKey)
  assert.equal(keys.length, 20, 'one request per alert')
  assert.equal(new Set(keys).size, 20, 'none sent twice')

  // The page of the first SOS's first contact, streaming from node A; the phone posts to node B.
  const [sos] = raised
  const link = twilio.requests.map((r) => /\/t\/[A-Za-z0-9_-]{43}/.exec(r.form.get('Body') ?? '')?.[0]).find(Boolean)!
  const owner = await nodeA.app.db.selectFrom('share_links').select('sos_request_id').where('token_hash', '=', crypto.createHash('sha256').update(link.slice(3)).digest('hex')).executeTakeFirstOrThrow()
  const token = raised.find((r) => r.sos_id === owner.sos_request_id)?.sos_token ?? sos.sos_token
  const controller = new AbortController()
  t.after(() => controller.abort())
  const stream = await fetch(`${nodeA.apiUrl}${link}/events`, { signal: controller.signal })
  assert.equal(stream.status, 200)
  let text = ''
  void (async () => {
    try {
      for await (const chunk of stream.body!) text += Buffer.from(chunk as Uint8Array).toString()
    } catch {
      // aborted at the end
    }
  })()
  await eventually(() => text.includes('event: state'), 5000, 'the first state')
  const moved = await nodeB.app.inject({ method: 'POST', url: '/api/update-location/', headers: { 'x-sos-token': token }, payload: { sos_request: owner.sos_request_id, latitude: 19.076, longitude: 72.8777 } })
  assert.equal(moved.statusCode, 201)
  await eventually(() => text.includes('"lat":19.076'), 5000, 'node A streams the point posted to node B')
})
