// The realtime engine: uWebSockets.js by default, ws on request or where uWS cannot serve, and the same
// wire behaviour on both (transports, handshake auth, frame limit, 404s, exclusive port, address format).
import assert from 'node:assert/strict'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import { test } from 'node:test'
import { io } from 'socket.io-client'
import WebSocket from 'ws'
import type { RealtimeEngine } from '../../src/config.ts'
import { canonicalAddress, createEngine } from '../../src/realtime/engine.ts'
import { buildTestApp } from '../helpers/app.ts'
import { createSos, createUser } from '../helpers/factories.ts'
import { collect, connect, emitAck, next, settle } from '../helpers/sockets.ts'

const ENGINES: RealtimeEngine[] = ['uws', 'ws']

/** Whether the uWS package ships a binary for this platform and Node ABI (it does for linux x64/arm64 on Node 20). */
function uwsShipsBinaryHere(): boolean {
  const dir = createRequire(import.meta.url).resolve('@trufflesuite/uws-js-unofficial/package.json').replace(/package\.json$/, 'binaries/')
  return fs.existsSync(`${dir}uws_${process.platform}_${process.arch}_${process.versions.modules}.node`)
}

test('REALTIME_ENGINE=uws serves with uWebSockets.js where its binary exists, and falls back to ws with a warning where not', async (t) => {
  const { app, logs } = await buildTestApp(t, { realtimeEngine: 'uws' }, { captureLogs: true })
  if (uwsShipsBinaryHere()) {
    assert.equal(app.realtime.engine, 'uws')
    assert.equal(app.realtime.httpServer, undefined, 'no Node http server under uWS')
  } else {
    assert.equal(app.realtime.engine, 'ws')
    assert.ok(logs.some((line) => line.includes('could not load its native binary')), 'the fallback is logged')
  }
  const metrics = await app.inject({ method: 'GET', url: '/metrics' })
  assert.match(metrics.body, new RegExp(`naarikavach_realtime_engine_info\\{engine="${app.realtime.engine}"\\} 1`), 'an operator sees the engine in /metrics')
  const ws = await buildTestApp(t, { realtimeEngine: 'ws' })
  assert.equal(ws.app.realtime.engine, 'ws')
  assert.ok(ws.app.realtime.httpServer, 'ws runs on a Node http server (which @socket.io/sticky needs)')
})

test('where uWS is unsuitable (a cluster worker), the engine falls back to ws and says why', async () => {
  const warnings: string[] = []
  const { io: server, host } = createEngine({
    requested: 'uws',
    uwsUnsuitable: 'WORKERS=2 hands connections to workers through Node\'s http server',
    socketIo: { serveClient: false },
    maxBufferedBytes: 1024,
    log: { info: (message) => warnings.push(message), warn: (message) => warnings.push(message) },
  })
  assert.equal(host.name, 'ws')
  assert.ok(host.httpServer)
  assert.match(warnings.join('\n'), /REALTIME_ENGINE=uws is not used: WORKERS=2/)
  await new Promise<void>((resolve) => server.close(() => resolve()))
})

test('REALTIME_ENGINE other than uws or ws is refused at start', async () => {
  const { createConfig, ConfigError } = await import('../../src/config.ts')
  assert.throws(() => createConfig({ REALTIME_ENGINE: 'uwebsockets' }), (err: unknown) => err instanceof ConfigError && /REALTIME_ENGINE must be uws or ws/.test(err.message))
  assert.equal(createConfig({ REALTIME_ENGINE: 'WS' }).realtimeEngine, 'ws')
  assert.equal(createConfig({}).realtimeEngine, 'uws')
})

for (const engine of ENGINES) {
  test(`${engine}: long-polling, the upgrade to WebSocket, and handshake auth from the header`, async (t) => {
    const { app, socketUrl } = await buildTestApp(t, { realtimeEngine: engine })
    const dispatcher = await createUser(app, 'dispatcher')
    // The original dashboard's way: polling first, then upgrade, the token in an Authorization header.
    const socket = io(socketUrl, { transports: ['polling', 'websocket'], forceNew: true, reconnection: false, extraHeaders: { authorization: `Token ${dispatcher.token}` } })
    t.after(() => {
      socket.disconnect()
    })
    const opened = new Promise<string>((resolve) => socket.io.once('open', () => resolve(socket.io.engine.transport.name)))
    const established = await next<{ user: { role: string } | null }>(socket, 'connection_established')
    assert.equal(established.user?.role, 'dispatcher', 'the header token identified the socket')
    assert.equal(await opened, 'polling', 'the session opened over long-polling')
    if (socket.io.engine.transport.name !== 'websocket') await new Promise<void>((resolve) => socket.io.engine.once('upgrade', () => resolve()))
    assert.equal(socket.io.engine.transport.name, 'websocket')
    const ack = await socket.timeout(5000).emitWithAck('join_sos_channel', {})
    assert.equal(ack.ok, true, 'events flow over the upgraded transport')
  })

  test(`${engine}: paths other than /socket.io/ answer 404 in the contract's shape`, async (t) => {
    const { socketUrl } = await buildTestApp(t, { realtimeEngine: engine })
    const res = await fetch(`${socketUrl}/api/create-sos/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
    assert.equal(res.status, 404)
    assert.deepEqual(await res.json(), { detail: 'Not found.' })
  })

  test(`${engine}: a WebSocket frame over 64 KB closes that connection; the server keeps serving`, async (t) => {
    const { app, socketUrl } = await buildTestApp(t, { realtimeEngine: engine })
    const dispatcher = await createUser(app, 'dispatcher')
    const raw = new WebSocket(`${socketUrl.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`)
    t.after(() => raw.terminate())
    await new Promise((resolve, reject) => raw.once('message', resolve).once('error', reject)) // the open packet
    const closed = new Promise<number>((resolve) => raw.once('close', (code) => resolve(code)))
    raw.send(`42["update_location",{"note":"${'x'.repeat(70 * 1024)}"}]`)
    const code = await closed
    assert.ok([1006, 1009].includes(code), `closed as too big (got ${code})`)
    const fresh = await connect(t, socketUrl, dispatcher.token)
    assert.equal(fresh.connected, true)
  })

  test(`${engine}: a second server cannot take a port the first is listening on`, async (t) => {
    const first = await buildTestApp(t, { realtimeEngine: engine })
    const port = Number(new URL(first.socketUrl).port)
    // Without an exclusive port, a second uWS server would share it silently (SO_REUSEPORT) and take half the connections.
    const second = createEngine({ requested: engine, socketIo: { serveClient: false }, maxBufferedBytes: 1024, log: { info: () => undefined, warn: () => undefined } })
    t.after(() => new Promise<void>((resolve) => second.io.close(() => resolve())))
    await assert.rejects(second.host.listen(port, '127.0.0.1'), (err: NodeJS.ErrnoException) => err.code === 'EADDRINUSE')
    await assert.rejects(first.app.realtime.listen(0, '127.0.0.1'), (err: NodeJS.ErrnoException) => err.code === 'ERR_SERVER_ALREADY_LISTEN')
    // The first is unaffected: every connection still reaches it.
    const res = await fetch(`${first.socketUrl}/socket.io/?EIO=4&transport=polling`)
    assert.equal(res.status, 200)
  })
}

for (const engine of ENGINES) {
  test(`${engine}: an event for several rooms reaches each socket in any of them once, in order, whatever its transport`, async (t) => {
    const { app, socketUrl } = await buildTestApp(t, { realtimeEngine: engine })
    const [dispatcher, officer, other] = [await createUser(app, 'dispatcher'), await createUser(app, 'officer', 'UNIT001'), await createUser(app, 'officer', 'UNIT002')]
    const sos = await createSos(app)
    const seen = async (name: string, socket: Awaited<ReturnType<typeof connect>>, joins: Array<[string, unknown]>) => {
      for (const [event, payload] of joins) assert.equal((await emitAck(socket, event, payload)).ok, true, `${name} ${event}`)
      return collect<{ sos_id: number; seq: number; kind: string }>(socket, 'sos_updated')
    }
    const pollingDashboard = io(socketUrl, { transports: ['polling'], forceNew: true, reconnection: false, auth: { token: dispatcher.token } })
    t.after(() => pollingDashboard.disconnect())
    await next(pollingDashboard, 'connection_established')
    // Joins while still on long-polling (the client upgrades right after connecting), then upgrades: it
    // must leave the server's set of polling sockets for the room's topic, and get nothing twice.
    const upgrading = io(socketUrl, { forceNew: true, reconnection: false, auth: { token: dispatcher.token } })
    t.after(() => upgrading.disconnect())
    const upgraded = new Promise<void>((resolve) => upgrading.io.engine.once('upgrade', () => resolve()))
    await next(upgrading, 'connection_established')
    const upgradingNewSos = collect<{ sos_id: number }>(upgrading, 'new_sos')
    const upgradingEvents = await seen('upgrading dashboard', upgrading, [['join_sos_channel', {}]])
    await upgraded
    // A polling dashboard that left: broadcasts go on without it.
    const leaving = io(socketUrl, { transports: ['polling'], forceNew: true, reconnection: false, auth: { token: dispatcher.token } })
    await next(leaving, 'connection_established')
    assert.equal((await emitAck(leaving, 'join_sos_channel', {})).ok, true)
    leaving.disconnect()
    const sockets = {
      upgrading: upgradingEvents,
      // sos_channel only, on each transport; sos_channel and the SOS room; the SOS room only; each unit's room only.
      dashboard: await seen('dashboard', await connect(t, socketUrl, dispatcher.token), [['join_sos_channel', {}]]),
      pollingDashboard: await seen('polling dashboard', pollingDashboard, [['join_sos_channel', {}]]),
      bothRooms: await seen('both rooms', await connect(t, socketUrl, dispatcher.token), [['join_sos_channel', {}], ['join_sos_room', { room_id: sos.room_id }]]),
      victim: await seen('victim', await connect(t, socketUrl), [['join_sos_room', { room_id: sos.room_id, sos_token: sos.sos_token }]]),
      firstUnit: await seen('first unit', await connect(t, socketUrl, officer.token), [['join_officer_room', { unit_number: 'UNIT001' }]]),
      secondUnit: await seen('second unit', await connect(t, socketUrl, other.token), [['join_officer_room', { unit_number: 'UNIT002' }]]),
    }
    const step = async (url: string, payload: object) => {
      const res = await app.inject({ method: 'POST', url, headers: { authorization: `Token ${dispatcher.token}` }, payload })
      assert.ok(res.statusCode < 300, `${url}: ${res.statusCode} ${res.body}`)
    }
    await step(`/api/sos/${sos.sos_id}/acknowledge/`, {}) // sos_channel + the SOS room
    await step('/api/assign-officer/', { sos_request: sos.sos_id, officer_name: 'SI Rao', unit_number: 'UNIT001' }) // + UNIT001
    await step('/api/assign-officer/', { sos_request: sos.sos_id, officer_name: 'SI Meera', unit_number: 'UNIT002' }) // + UNIT002, and UNIT001 (taken off)
    await settle(400)
    const kinds = (events: Array<{ seq: number; kind: string }>) => events.map((e) => `${e.seq}:${e.kind}`)
    const all = ['2:acknowledged', '3:assigned', '4:assigned']
    assert.deepEqual(kinds(sockets.dashboard), all)
    assert.deepEqual(kinds(sockets.pollingDashboard), all, 'a long-polling socket has no uWS topic, and still gets each once')
    assert.deepEqual(kinds(sockets.bothRooms), all, 'a socket in two of the rooms gets each event once')
    assert.deepEqual(kinds(sockets.victim), all)
    assert.deepEqual(kinds(sockets.firstUnit), ['3:assigned', '4:assigned'], 'the first unit: its assignment and the re-dispatch away from it')
    assert.deepEqual(kinds(sockets.secondUnit), ['4:assigned'])
    assert.deepEqual(kinds(sockets.upgrading), all, 'a socket that joined on polling and upgraded gets each event once')
    // One room (new_sos to sos_channel): the topic for WebSockets, direct writes for the polling socket only.
    const pollingNewSos = collect<{ sos_id: number }>(pollingDashboard, 'new_sos')
    const fresh = await createSos(app)
    await settle(400)
    assert.deepEqual(upgradingNewSos.map((e) => e.sos_id), [fresh.sos_id], 'the upgraded socket gets new_sos once, through the topic')
    assert.deepEqual(pollingNewSos.map((e) => e.sos_id), [fresh.sos_id], 'the polling socket gets new_sos once')
  })
}

test('several servers in one process, on either engine, each deliver only to their own sockets (rooms as uWS topics per server)', async (t) => {
  const nodes = await Promise.all((['uws', 'ws', 'uws'] as const).map(async (engine) => {
    const node = await buildTestApp(t, { realtimeEngine: engine, sosCreateRateLimitPerMinute: 100_000 })
    const dispatcher = await createUser(node.app, 'dispatcher')
    const socket = await connect(t, node.socketUrl, dispatcher.token)
    assert.equal((await emitAck(socket, 'join_sos_channel', {})).ok, true)
    return { ...node, seen: collect<{ sos_id: number }>(socket, 'new_sos') }
  }))
  const [a, b, c] = nodes
  const fromA = await createSos(a.app)
  const fromB = await createSos(b.app)
  await settle(300)
  assert.deepEqual(a.seen.map((e) => e.sos_id), [fromA.sos_id])
  assert.deepEqual(b.seen.map((e) => e.sos_id), [fromB.sos_id])
  assert.deepEqual(c.seen, [], 'nothing leaked into the other uWS server')
  // Closing one uWS server (Socket.IO then restores the Adapter prototype process-wide) leaves the others delivering.
  await c.close()
  const again = await createSos(a.app)
  const late = await createUser(a.app, 'dispatcher')
  const joinedLater = await connect(t, a.socketUrl, late.token)
  const lateSeen = collect<{ sos_id: number }>(joinedLater, 'new_sos')
  assert.equal((await emitAck(joinedLater, 'join_sos_channel', {})).ok, true)
  const last = await createSos(a.app)
  await settle(300)
  assert.deepEqual(a.seen.map((e) => e.sos_id), [fromA.sos_id, again.sos_id, last.sos_id])
  assert.deepEqual(lateSeen.map((e) => e.sos_id), [last.sos_id], 'a socket that joined after the close gets broadcasts too')
})

test('peer addresses are spelled as Node spells them, whichever engine read them', () => {
  assert.equal(canonicalAddress('127.0.0.1'), '127.0.0.1')
  assert.equal(canonicalAddress('0000:0000:0000:0000:0000:ffff:7f00:0001'), '::ffff:127.0.0.1')
  assert.equal(canonicalAddress('0000:0000:0000:0000:0000:ffff:c0a8:0a02'), '::ffff:192.168.10.2')
  assert.equal(canonicalAddress('0000:0000:0000:0000:0000:0000:0000:0001'), '::1')
  assert.equal(canonicalAddress('2001:0db8:0000:0000:0000:0000:0000:00ff'), '2001:db8::ff')
  assert.equal(canonicalAddress('::1'), '::1')
})
