// Operations endpoints: liveness, readiness, Prometheus metrics and the realtime event description.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { buildTestApp, dialect } from '../../helpers/app.ts'
import { createSos, createUser } from '../../helpers/factories.ts'
import { connect, emitAck, next, settle } from '../../helpers/sockets.ts'

test('health, readiness, metrics and the realtime description answer', async (t) => {
  const { app, socketUrl } = await buildTestApp(t)
  assert.deepEqual((await app.inject({ method: 'GET', url: '/health' })).json(), { status: 'ok' })
  const redis = process.env.TEST_REDIS_URL ? 'up' : 'disabled'
  assert.deepEqual((await app.inject({ method: 'GET', url: '/ready' })).json(), { status: 'ready', database: 'up', redis })

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
  assert.deepEqual(res.json(), { status: 'unavailable', database: 'down', redis: process.env.TEST_REDIS_URL ? 'up' : 'disabled' })
})

test('metrics: events broadcast by name, sockets by role, socket failures, query latency, pool use and Redis state', async (t) => {
  const { app, socketUrl } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  const control = await connect(t, socketUrl, dispatcher.token)
  assert.equal((await emitAck(control, 'join_sos_channel', {})).ok, true)
  await connect(t, socketUrl)
  const seen = next(control, 'new_sos')
  const sos = await createSos(app)
  await seen
  const located = await app.inject({ method: 'POST', url: '/api/update-location/', headers: { 'x-sos-token': sos.sos_token }, payload: { sos_request: sos.sos_id, latitude: 12.9, longitude: 77.6 } })
  assert.equal(located.statusCode, 201)
  await settle(100)

  const body = (await app.inject({ method: 'GET', url: '/metrics' })).body
  assert.match(body, /naarikavach_socket_events_emitted_total\{event="new_sos"\} 1/)
  assert.match(body, /naarikavach_socket_events_emitted_total\{event="location_history"\} 1/)
  assert.match(body, /naarikavach_socket_events_emitted_total\{event="location_tracking_update"\} 1/)
  // Every broadcast is timed (the value depends on the machine; only that it was observed is checked).
  assert.match(body, /naarikavach_realtime_broadcast_seconds_count\{event="new_sos"\} 1/)
  assert.match(body, /naarikavach_realtime_broadcast_seconds_count\{event="location_history"\} 1/)
  assert.match(body, /naarikavach_realtime_broadcast_seconds_bucket\{le="\+Inf",event="new_sos"\} 1/)
  assert.match(body, /naarikavach_socket_connections_by_role\{role="dispatcher"\} 1/)
  assert.match(body, /naarikavach_socket_connections_by_role\{role="anonymous"\} 1/)
  assert.match(body, /naarikavach_socket_connections_by_role\{role="officer"\} 0/)
  assert.match(body, /naarikavach_db_query_duration_seconds_count\{kind="insert",outcome="ok"\} [1-9]/)
  assert.match(body, /naarikavach_db_query_duration_seconds_bucket\{le="0.005",kind="select",outcome="ok"\} [1-9]/)
  if (dialect === 'postgres') {
    assert.match(body, /naarikavach_db_pool_connections\{state="max"\} 20/)
    assert.match(body, /naarikavach_db_pool_waiting_requests 0/)
  } else {
    assert.doesNotMatch(body, /naarikavach_db_pool_connections\{/, 'SQLite has no pool')
  }
  if (process.env.TEST_REDIS_URL) assert.match(body, /naarikavach_redis_up 1/)
  else assert.doesNotMatch(body, /naarikavach_redis_up/, 'no Redis metrics without REDIS_URL')

  // A failed event is counted by event and code once the database is gone.
  await app.db.destroy()
  const nack = await emitAck(control, 'create_sos', { name: 'Asha', initial_latitude: 12.9, initial_longitude: 77.6 })
  assert.equal(nack.error?.code, 'unavailable')
  assert.match((await app.inject({ method: 'GET', url: '/metrics' })).body, /naarikavach_socket_event_failures_total\{event="create_sos",code="unavailable"\} 1/)
})
