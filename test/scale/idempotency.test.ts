// Retry-safe creates across nodes: two app instances on one PostgreSQL database race the same Idempotency-Key.
// Runs in `npm run test:scale` (and CI); it fails, not skips, when not on PostgreSQL.
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { test } from 'node:test'
import { buildTestApp, dialect } from '../helpers/app.ts'
import { call } from '../helpers/http.ts'

const BODY = { name: 'Asha', sos_type: 0, initial_latitude: 12.9716, initial_longitude: 77.5946 }

test('two nodes on one PostgreSQL database racing the same Idempotency-Key make one SOS, and either node replays it', async (t) => {
  assert.equal(dialect, 'postgres', 'run with TEST_DATABASE=postgres (npm run test:scale)')
  const nodeA = await buildTestApp(t)
  const nodeB = await buildTestApp(t, { databaseUrl: nodeA.config.databaseUrl })

  for (let round = 0; round < 5; round++) {
    const key = crypto.randomUUID()
    // Ten phones' worth of retries at once, alternating between the nodes (a load balancer's round robin).
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => call(i % 2 === 0 ? nodeA.apiUrl : nodeB.apiUrl, 'POST', '/api/create-sos/', { json: BODY, headers: { 'idempotency-key': key } })),
    )
    assert.deepEqual(answers.map((a) => a.status), Array(10).fill(201), `round ${round}: ${answers.map((a) => a.text).join(' | ')}`)
    for (const answer of answers) assert.deepEqual(answer.body, answers[0].body, `round ${round}: every answer is the first one`)
    assert.equal(answers.filter((a) => a.headers.get('idempotent-replayed') !== 'true').length, 1, `round ${round}: exactly one create`)

    // The token works on both nodes.
    const { sos_id: sosId, sos_token: token } = answers[0].body as { sos_id: number; sos_token: string }
    for (const node of [nodeA, nodeB]) {
      const res = await call(node.apiUrl, 'POST', '/api/update-location/', { json: { sos_request: sosId, latitude: 12.98, longitude: 77.6 }, headers: { 'x-sos-token': token } })
      assert.equal(res.status, 201)
    }
  }
  const rows = await nodeA.app.db.selectFrom('sos_requests').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()
  assert.equal(Number(rows.n), 5, 'one SOS per key')
  const keys = await nodeB.app.db.selectFrom('idempotency_keys').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()
  assert.equal(Number(keys.n), 5)
})
