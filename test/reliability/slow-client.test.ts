// Slow and hostile clients: a socket that stops reading is dropped once its queue passes the limit,
// while a healthy socket keeps getting every event; floods are throttled; frames over 64 KB are refused.
import assert from 'node:assert/strict'
import type net from 'node:net'
import { test } from 'node:test'
import { buildTestApp } from '../helpers/app.ts'
import { createSos, createUser } from '../helpers/factories.ts'
import { collect, connect, emitAck, next, settle } from '../helpers/sockets.ts'

test('a socket that never reads is disconnected and does not hold back others', async (t) => {
  const { app, socketUrl } = await buildTestApp(t, { socketMaxPendingPackets: 20, sosCreateRateLimitPerMinute: 100_000 })
  const dispatcher = await createUser(app, 'dispatcher')
  const sos = await createSos(app)
  // A big incident: 1,000 stored points, so each history replay is a large frame.
  const rows = Array.from({ length: 1000 }, (_, i) => ({ sos_request_id: sos.sos_id, latitude: 12 + i / 1e4, longitude: 77, timestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString() }))
  for (let i = 0; i < rows.length; i += 200) await app.db.insertInto('location_updates').values(rows.slice(i, i + 200)).execute()

  const healthy = await connect(t, socketUrl, dispatcher.token)
  await emitAck(healthy, 'join_sos_channel', {})
  const received = collect<{ sos_id: number }>(healthy, 'new_sos')

  const slow = await connect(t, socketUrl, dispatcher.token)
  const slowId = slow.id
  const raw = (slow.io.engine.transport as unknown as { ws: { _socket: net.Socket } }).ws._socket
  raw.pause() // stop reading: the kernel buffers fill, then the server's queue for this socket grows

  const created: number[] = []
  for (let round = 0; round < 60 && app.realtime.io.of('/').sockets.has(slowId!); round++) {
    for (let i = 0; i < 20; i++) slow.emit('join_sos_room', sos.room_id)
    created.push((await createSos(app)).sos_id)
    await settle(100)
  }
  assert.equal(app.realtime.io.of('/').sockets.has(slowId!), false, 'the stalled socket was disconnected')
  await settle(300)
  assert.deepEqual(received.map((e) => e.sos_id), created, 'the healthy socket got every new_sos, in order')
  raw.resume()
})

test('an event flood from one socket is throttled; the socket stays up', async (t) => {
  const { socketUrl } = await buildTestApp(t, { socketEventsPerSecond: 10 })
  const socket = await connect(t, socketUrl)
  const acks = await Promise.all(Array.from({ length: 30 }, () => emitAck(socket, 'join_officer_room', 'UNIT1')))
  const throttled = acks.filter((a) => !a.ok && a.error?.code === 'throttled')
  assert.ok(throttled.length >= 15, `most of the flood was throttled (${throttled.length}/30)`)
  assert.ok(socket.connected)
})

test('a socket cannot watch more than the configured number of SOS rooms', async (t) => {
  const { app, socketUrl } = await buildTestApp(t, { socketMaxSosRooms: 3, sosCreateRateLimitPerMinute: 1000 })
  const officer = await createUser(app, 'officer', 'U1')
  const socket = await connect(t, socketUrl, officer.token)
  const results = []
  for (let i = 0; i < 5; i++) results.push(await emitAck(socket, 'join_sos_room', (await createSos(app)).room_id))
  assert.deepEqual(results.map((r) => r.ok), [true, true, true, false, false])
  assert.equal(results[3].error?.code, 'too_many_rooms')
})

test('an oversized frame closes only that socket', async (t) => {
  const { app, socketUrl } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  const other = await connect(t, socketUrl, dispatcher.token)
  await emitAck(other, 'join_sos_channel', {})
  const big = await connect(t, socketUrl)
  const gone = next(big, 'disconnect')
  big.emit('create_sos', { name: 'x'.repeat(100 * 1024), initial_latitude: 1, initial_longitude: 1 })
  await gone
  const seen = next<{ sos_id: number }>(other, 'new_sos')
  const sos = await createSos(app)
  assert.equal((await seen).sos_id, sos.sos_id)
  const count = await app.db.selectFrom('sos_requests').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()
  assert.equal(Number(count.n), 1, 'the oversized create wrote nothing')
})
