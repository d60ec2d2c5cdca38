// WORKERS=N: one `naarikavach serve` forks N workers behind the same two ports (node:cluster for REST,
// @socket.io/sticky for Socket.IO). A polling-only and a websocket client on different workers hear
// each other's events; a worker that dies is logged and replaced; SIGTERM drains and exits 0.
// Runs in `npm run test:scale` (PostgreSQL + Redis); `test/cli/cli.test.ts` checks WORKERS=2 on SQLite is refused.
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { test, type TestContext } from 'node:test'
import { io, type Socket } from 'socket.io-client'
import { dialect, freshDatabaseUrl } from '../helpers/app.ts'
import { emitAck, settle } from '../helpers/sockets.ts'
import { assertStored, createAccount, driveWrites, newAcked, request, spawnServe, type ServeProcess } from '../helpers/serve.ts'

const REDIS_URL = process.env.TEST_REDIS_URL || 'redis://127.0.0.1:6379'

async function clusterEnv(t: TestContext): Promise<Record<string, string>> {
  assert.equal(dialect, 'postgres', 'run with TEST_DATABASE=postgres (npm run test:scale)')
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'naarikavach-workers-'))
  t.after(() => fs.rm(dir, { recursive: true, force: true }))
  return {
    WORKERS: '2',
    DATABASE_URL: await freshDatabaseUrl(t, dir),
    REDIS_URL,
    REDIS_PREFIX: `nk_workers_${crypto.randomBytes(6).toString('hex')}`,
    MEDIA_ROOT: path.join(dir, 'media'),
    PASSWORD_HASH_COST: '10',
    SOS_CREATE_RATE_LIMIT_PER_MINUTE: '1000000',
    LOG_LEVEL: 'info',
  }
}

/** The worker pids the primary reported ready, in order. */
function readyWorkers(server: ServeProcess): number[] {
  return server.logs().filter((l) => l.role === 'primary' && l.msg === 'worker ready').map((l) => Number(l.workerPid))
}

interface Client {
  socket: Socket
  events: Array<[string, unknown]>
  disconnects: number
  connects: number
}

/** A socket.io-client with the given transports; `onConnect` (re)joins its rooms on every connect. */
async function client(t: TestContext, url: string, token: string, transports: Array<'polling' | 'websocket'>, onConnect: (s: Socket) => Promise<void>): Promise<Client> {
  const socket = io(url, { transports, forceNew: true, auth: { token }, reconnectionDelay: 100, reconnectionDelayMax: 500 })
  t.after(() => {
    socket.disconnect()
  })
  const c: Client = { socket, events: [], disconnects: 0, connects: 0 }
  socket.onAny((event: string, payload: unknown) => c.events.push([event, payload]))
  socket.on('disconnect', () => (c.disconnects += 1))
  const joined = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('connect timeout')), 10_000)
    socket.on('connection_established', () => {
      c.connects += 1
      onConnect(socket).then(() => {
        clearTimeout(timer)
        resolve()
      }, reject)
    })
  })
  await joined
  return c
}

const received = (c: Client, event: string) => c.events.filter(([e]) => e === event).map(([, p]) => p as Record<string, unknown>)

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

test('WORKERS=2: a polling-only and a websocket client share one port, hear events across workers, and a dead worker is replaced', async (t) => {
  const env = await clusterEnv(t)
  const server = await spawnServe(t, env)
  const workers = readyWorkers(server)
  assert.equal(workers.length, 2, 'two workers reported ready')
  assert.ok(workers.every((pid) => pid !== server.child.pid), 'the workers are separate processes')

  const dispatcher = await createAccount(env.DATABASE_URL, 'dispatcher')
  const officer = await createAccount(env.DATABASE_URL, 'officer', 'UNIT_W')
  // Connected one after the other, so the primary's least-connection choice puts them on different workers.
  const dashboard = await client(t, server.socketUrl, dispatcher.token, ['polling'], async (s) => {
    for (const event of ['join_sos_channel', 'join_location_tracking_channel', 'join_officer_update']) assert.equal((await emitAck(s, event, {})).ok, true, event)
  })
  assert.equal(dashboard.socket.io.engine.transport.name, 'polling', 'the dashboard stays on long-polling')
  const unit = await client(t, server.socketUrl, officer.token, ['websocket'], async (s) => {
    assert.equal((await emitAck(s, 'join_officer_room', 'UNIT_W')).ok, true)
  })

  // REST (round robin over the workers) → both sockets.
  const created = await request(`${server.apiUrl}/api/create-sos/`, { method: 'POST', json: { name: 'Worker test', initial_latitude: 12.9, initial_longitude: 77.6 } })
  assert.equal(created.status, 201)
  const sosId = created.body.sos_id as number
  const assigned = await request(`${server.apiUrl}/api/assign-officer/`, {
    method: 'POST',
    headers: { authorization: `Token ${dispatcher.token}` },
    json: { sos_request: sosId, officer_name: 'SI Rao', unit_number: 'UNIT_W' },
  })
  assert.equal(assigned.status, 201)
  const located = await request(`${server.apiUrl}/api/update-location/`, {
    method: 'POST',
    headers: { 'x-sos-token': created.body.sos_token },
    json: { sos_request: sosId, latitude: 13.1, longitude: 77.7 },
  })
  assert.equal(located.status, 201)
  // A socket action on the officer's worker → the dashboard on the other worker (through Redis).
  assert.equal((await emitAck(unit.socket, 'officer_location_update', { unit_id: 'UNIT_W', latitude: 13.2, longitude: 77.8, timestamp: new Date().toISOString() })).ok, true)

  await until('every event', () => received(dashboard, 'unit_loc').length > 0 && received(unit, 'unit_location_update').length > 0 && received(dashboard, 'location_tracking_update').length > 0)
  await settle(300)
  assert.deepEqual(received(dashboard, 'new_sos').map((e) => e.sos_id), [sosId], 'new_sos once, on the polling dashboard')
  assert.deepEqual(received(dashboard, 'location_tracking_update').map((e) => e.latitude), [13.1])
  assert.deepEqual(received(dashboard, 'unit_loc').map((e) => e.latitude), [13.2], 'unit_loc once, from the websocket officer')
  assert.deepEqual(received(unit, 'unit_location_update').map((e) => e.latitude), [13.1], 'unit_location_update once, on the websocket officer')
  assert.equal(received(unit, 'new_sos').length, 0, 'the officer is not in sos_channel')

  // One worker dies: only the client on it notices (so the two were on different workers); the primary
  // logs it and starts a replacement; that client reconnects through the same port and hears events again.
  const victim = workers[0]
  process.kill(victim, 'SIGKILL')
  await until('one client to lose its connection', () => dashboard.disconnects + unit.disconnects >= 1)
  await until('the replacement worker', () => readyWorkers(server).length === 3, 20_000)
  const died = server.logs().find((l) => l.msg === 'worker died; starting a replacement')
  assert.ok(died, 'the primary logs the dead worker')
  assert.equal(died.workerPid, victim)
  assert.equal(died.signal, 'SIGKILL')
  assert.equal(died.level, 50, 'logged as an error')
  await settle(500)
  assert.equal(dashboard.disconnects + unit.disconnects, 1, 'exactly one of the two clients was on the dead worker')
  const moved = dashboard.disconnects === 1 ? dashboard : unit
  await until('the client to reconnect and rejoin', () => moved.connects === 2 && moved.socket.connected)
  await settle(300)

  const before = { dashboard: dashboard.events.length, unit: unit.events.length }
  const again = await request(`${server.apiUrl}/api/update-location/`, {
    method: 'POST',
    headers: { 'x-sos-token': created.body.sos_token },
    json: { sos_request: sosId, latitude: 13.3, longitude: 77.7 },
  })
  assert.equal(again.status, 201)
  await until('the location on both clients', () => received(dashboard, 'location_tracking_update').some((e) => e.latitude === 13.3) && received(unit, 'unit_location_update').some((e) => e.latitude === 13.3))
  await settle(300)
  assert.equal(dashboard.events.slice(before.dashboard).filter(([e, p]) => e === 'location_tracking_update' && (p as { latitude: number }).latitude === 13.3).length, 1)
  assert.equal(unit.events.slice(before.unit).filter(([e, p]) => e === 'unit_location_update' && (p as { latitude: number }).latitude === 13.3).length, 1)
  assert.equal(server.child.exitCode, null, 'the primary kept running')
})

test('WORKERS=2: SIGTERM to the primary drains both workers and exits 0; every acknowledged write is stored', async (t) => {
  const env = await clusterEnv(t)
  const server = await spawnServe(t, env)
  assert.equal(readyWorkers(server).length, 2)
  const acked = newAcked()
  const stop = { done: false }
  const traffic = driveWrites(server.apiUrl, acked, stop, { writers: 6 })
  await new Promise((resolve) => setTimeout(resolve, 800))
  server.child.kill('SIGTERM')
  const { code, signal } = await server.exited
  stop.done = true
  await traffic
  assert.equal(signal, null)
  assert.equal(code, 0, `graceful shutdown exits 0\n${server.stderr()}`)
  assert.ok(acked.sos.size > 0 && acked.locations.size > 0, 'requests were acknowledged before the signal')
  const logs = server.logs()
  const stopped = logs.filter((l) => l.msg === 'shutting down: finishing in-flight requests' && typeof l.worker === 'number')
  assert.equal(stopped.length, 2, 'each worker drained')
  assert.ok(logs.some((l) => l.role === 'primary' && l.msg === 'every worker has stopped' && l.clean === true))
  assert.ok(!logs.some((l) => l.msg === 'worker died; starting a replacement'), 'no worker is restarted during shutdown')
  await assertStored(env.DATABASE_URL, acked)
  t.diagnostic(`${acked.sos.size} SOS and ${acked.locations.size} locations acknowledged before and during the drain`)
})
