// Operations endpoints: liveness, readiness, Prometheus metrics and the realtime event description.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { buildTestApp } from '../../helpers/app.ts'
import { createSos } from '../../helpers/factories.ts'
import { connect } from '../../helpers/sockets.ts'

test('health, readiness, metrics and the realtime description answer', async (t) => {
  const { app, socketUrl } = await buildTestApp(t)
  assert.deepEqual((await app.inject({ method: 'GET', url: '/health' })).json(), { status: 'ok' })
  assert.deepEqual((await app.inject({ method: 'GET', url: '/ready' })).json(), { status: 'ready' })

  await createSos(app)
  await connect(t, socketUrl)
  const metrics = await app.inject({ method: 'GET', url: '/metrics' })
  assert.equal(metrics.statusCode, 200)
  assert.match(metrics.headers['content-type'] as string, /text\/plain/)
  assert.match(metrics.body, /naarikavach_http_requests_total\{method="POST",route="\/api\/create-sos\/",status="201"\} 1/)
  assert.match(metrics.body, /naarikavach_socket_connections 1/)
  assert.match(metrics.body, /naarikavach_process_resident_memory_bytes/)

  const realtime = (await app.inject({ method: 'GET', url: '/api/realtime-schema/' })).json()
  assert.deepEqual(Object.keys(realtime.clientEvents).sort(), [
    'create_sos', 'join_location_tracking_channel', 'join_officer_room', 'join_officer_update', 'join_sos_channel', 'join_sos_room', 'officer_location_update', 'update_location',
  ])
  assert.ok(realtime.serverEvents.new_sos)
})

test('readiness reports 503 when the database is gone', async (t) => {
  const { app } = await buildTestApp(t)
  await app.db.destroy()
  const res = await app.inject({ method: 'GET', url: '/ready' })
  assert.equal(res.statusCode, 503)
  assert.deepEqual(res.json(), { status: 'unavailable' })
})
