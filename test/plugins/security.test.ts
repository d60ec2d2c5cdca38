// Security headers are computed once but must be on every answer: success, error, 404, the explorer.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { buildTestApp } from '../helpers/app.ts'

test('every answer carries the security headers', async (t) => {
  const { app } = await buildTestApp(t)
  const answers = [
    await app.inject({ method: 'GET', url: '/health' }),
    await app.inject({ method: 'POST', url: '/api/create-sos/', payload: { name: 'Asha', initial_latitude: 12.9, initial_longitude: 77.5 } }),
    await app.inject({ method: 'POST', url: '/api/create-sos/', payload: { name: 'Asha', initial_latitude: 'north' } }),
    await app.inject({ method: 'GET', url: '/api/sos/' }),
    await app.inject({ method: 'GET', url: '/no/such/path/' }),
    await app.inject({ method: 'GET', url: '/api/docs/' }),
  ]
  assert.deepEqual(answers.map((r) => r.statusCode), [200, 201, 400, 401, 404, 200])
  for (const [i, res] of answers.entries()) {
    const where = `answer ${i} (${res.statusCode})`
    assert.equal(res.headers['x-content-type-options'], 'nosniff', where)
    assert.equal(res.headers['x-frame-options'], 'SAMEORIGIN', where)
    assert.equal(res.headers['cross-origin-resource-policy'], 'cross-origin', where)
    assert.match(String(res.headers['strict-transport-security']), /max-age=\d+/, where)
    const csp = String(res.headers['content-security-policy'])
    assert.match(csp, /default-src 'self'/, where)
    assert.match(csp, /script-src 'self'/, where)
    assert.doesNotMatch(csp, /upgrade-insecure-requests/, where)
    assert.equal(res.headers['x-powered-by'], undefined, where)
  }
})
