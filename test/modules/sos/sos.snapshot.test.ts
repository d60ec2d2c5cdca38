// Staff channel snapshots (CONTRACT §5): a socket joining a staff channel is sent the channel's current
// state, so a dashboard that reconnects after a network drop misses no SOS.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { io } from 'socket.io-client'
import type { LocationSnapshot, SosSnapshot, UnitSnapshot } from '../../../src/realtime/contract.ts'
import { buildTestApp } from '../../helpers/app.ts'
import { auth, createSos, createUser } from '../../helpers/factories.ts'
import { collect, connect, emitAck, next, settle } from '../../helpers/sockets.ts'

test('joining sos_channel sends the open SOS, newest first, with where each stands', async (t) => {
  const { app, socketUrl } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  const first = await createSos(app, { name: 'First', initial_latitude: 12.5, initial_longitude: 77.5 })
  const second = await createSos(app, { name: 'Second', sos_type: 1 })
  const third = await createSos(app, { name: 'Third' })
  const closed = await createSos(app, { name: 'Closed' })
  assert.equal((await app.inject({ method: 'POST', url: `/api/resolve-sos/${closed.sos_id}/`, headers: auth(dispatcher) })).statusCode, 200)
  assert.equal((await app.inject({ method: 'POST', url: `/api/sos/${second.sos_id}/acknowledge/`, headers: auth(dispatcher) })).statusCode, 200)
  const assigned = await app.inject({
    method: 'POST',
    url: '/api/assign-officer/',
    headers: auth(dispatcher),
    payload: { sos_request: third.sos_id, officer_name: 'SI Meera', unit_number: 'UNIT7' },
  })
  assert.equal(assigned.statusCode, 201)

  const control = await connect(t, socketUrl, dispatcher.token)
  const snapshot = next<SosSnapshot>(control, 'sos_snapshot')
  const joined = await emitAck(control, 'join_sos_channel', {})
  assert.deepEqual(joined, { ok: true, data: { channel: 'sos_channel', message: 'Joined sos_channel', snapshot_count: 3, truncated: false } })
  const { channel, sos, truncated } = await snapshot
  assert.equal(channel, 'sos_channel')
  assert.equal(truncated, false)
  assert.deepEqual(sos.map((s) => [s.sos_id, s.status, s.unit_number_dispatched]), [
    [third.sos_id, 'dispatched', 'UNIT7'],
    [second.sos_id, 'acknowledged', null],
    [first.sos_id, 'active', null],
  ])
  const oldest = sos[2]
  assert.deepEqual({ ...oldest, created_at: undefined }, {
    sos_id: first.sos_id, room_id: first.room_id, name: 'First', sos_type: 0, latitude: 12.5, longitude: 77.5,
    created_at: undefined, status: 'active', unit_number_dispatched: null,
  })
  assert.match(oldest.created_at, /^\d{4}-\d{2}-\d{2}T/)
  assert.equal(sos[1].sos_type, 1)
  assert.ok(!JSON.stringify(sos).includes('token'), 'no SOS token (or its hash) in the snapshot')
})

test('a dashboard that loses its connection gets, on reconnect, what happened while it was away', async (t) => {
  const { app, socketUrl } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  const before = await createSos(app, { name: 'Before' })

  // A dashboard as written against socket.io-client: join on every (re)connect, keep a map of open SOS.
  const dashboard = io(socketUrl, { transports: ['websocket'], forceNew: true, auth: { token: dispatcher.token }, reconnectionDelay: 100, reconnectionDelayMax: 200 })
  t.after(() => {
    dashboard.disconnect()
  })
  const open = new Map<number, string>()
  let snapshots = 0
  dashboard.on('connect', () => dashboard.emit('join_sos_channel', {}))
  dashboard.on('sos_snapshot', (s: SosSnapshot) => {
    snapshots += 1
    open.clear()
    for (const item of s.sos) open.set(item.sos_id, item.name)
  })
  dashboard.on('new_sos', (e: { sos_id: number; name: string }) => open.set(e.sos_id, e.name))
  dashboard.on('sos_resolved', (e: { sos_id: number }) => open.delete(e.sos_id))
  const waitFor = async (check: () => boolean, what: string) => {
    for (let i = 0; i < 100 && !check(); i++) await settle(50)
    assert.ok(check(), what)
  }
  await waitFor(() => snapshots === 1, 'first snapshot')
  assert.deepEqual([...open.keys()], [before.sos_id])

  // The network drops (not a client disconnect: the manager reconnects by itself).
  const dropped = next(dashboard, 'disconnect')
  dashboard.io.engine.close()
  await dropped
  const during = await createSos(app, { name: 'During' })
  assert.equal((await app.inject({ method: 'POST', url: `/api/resolve-sos/${before.sos_id}/`, headers: auth(dispatcher) })).statusCode, 200)

  await waitFor(() => snapshots === 2, 'a snapshot after reconnecting')
  assert.deepEqual([...open.entries()], [[during.sos_id, 'During']], 'the SOS created while away is there, the one resolved while away is gone')
})

test('an SOS committed while a staff socket is joining reaches it live or in the snapshot', async (t) => {
  const { app, socketUrl } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  for (let round = 0; round < 5; round++) {
    const control = await connect(t, socketUrl, dispatcher.token)
    const live = collect<{ sos_id: number }>(control, 'new_sos')
    const snapshot = next<SosSnapshot>(control, 'sos_snapshot')
    // Creates commit one after another for the whole time the join is in flight.
    let joining = true
    const created: number[] = []
    const creator = (async () => {
      // At least one create before the join starts and one after it ends, however slow the database
      // is (PostgreSQL on a loaded machine): the join always falls inside the stream of commits.
      while (joining || created.length < 2) created.push((await createSos(app, { name: `Race ${round}` })).sos_id)
    })()
    while (created.length === 0) await settle(2)
    assert.equal((await emitAck(control, 'join_sos_channel', {})).ok, true)
    joining = false
    await creator
    const inSnapshot = (await snapshot).sos.map((s) => s.sos_id)
    await settle(100)
    const seen = new Set([...inSnapshot, ...live.map((e) => e.sos_id)])
    assert.ok(created.length > 1, 'creates overlapped the join')
    for (const id of created) assert.ok(seen.has(id), `SOS ${id} (round ${round}) was neither in the snapshot nor broadcast`)
    control.disconnect()
  }
})

test('joining location_tracking_channel sends the last point of each open SOS with its unit', async (t) => {
  const { app, socketUrl } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  const moving = await createSos(app)
  const still = await createSos(app)
  const done = await createSos(app)
  const move = (s: { sos_id: number; sos_token: string }, latitude: number) =>
    app.inject({ method: 'POST', url: '/api/update-location/', headers: { 'x-sos-token': s.sos_token }, payload: { sos_request: s.sos_id, latitude, longitude: 77.6 } })
  for (const lat of [12.1, 12.2, 12.3]) assert.equal((await move(moving, lat)).statusCode, 201)
  assert.equal((await move(done, 13)).statusCode, 201)
  assert.equal((await app.inject({ method: 'POST', url: `/api/resolve-sos/${done.sos_id}/`, headers: auth(dispatcher) })).statusCode, 200)
  const assigned = await app.inject({ method: 'POST', url: '/api/assign-officer/', headers: auth(dispatcher), payload: { sos_request: moving.sos_id, officer_name: 'SI Meera', unit_number: 'UNIT9' } })
  assert.equal(assigned.statusCode, 201)

  const tracking = await connect(t, socketUrl, dispatcher.token)
  const snapshot = next<LocationSnapshot>(tracking, 'location_snapshot')
  const ack = await emitAck(tracking, 'join_location_tracking_channel', {})
  assert.equal(ack.data?.snapshot_count, 1)
  const { positions, truncated } = await snapshot
  assert.equal(truncated, false)
  assert.equal(positions.length, 1, `only SOS with a point, and only open ones (not ${still.sos_id} or ${done.sos_id})`)
  assert.deepEqual({ ...positions[0], id: undefined, timestamp: undefined }, { unit_number: 'UNIT9', sos_id: moving.sos_id, latitude: 12.3, longitude: 77.6, timestamp: undefined, id: undefined })
  assert.equal(typeof positions[0].id, 'number')
})

test('joining officer_tracking_channel sends each unit’s last known position', async (t) => {
  const { app, socketUrl } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  const officer = await createUser(app, 'officer', 'UNIT3')
  const patrol = await connect(t, socketUrl, officer.token)
  assert.equal((await emitAck(patrol, 'officer_location_update', { unit_id: 'UNIT3', latitude: 12.9, longitude: 77.5 })).ok, true)
  assert.equal((await emitAck(patrol, 'officer_location_update', { unit_id: 'UNIT3', latitude: 12.95, longitude: 77.55 })).ok, true)

  const watcher = await connect(t, socketUrl, dispatcher.token)
  const snapshot = next<UnitSnapshot>(watcher, 'unit_snapshot')
  assert.equal((await emitAck(watcher, 'join_officer_update', {})).data?.snapshot_count, 1)
  const { channel, units } = await snapshot
  assert.equal(channel, 'officer_tracking_channel')
  assert.deepEqual(units.map((u) => [u.unit_id, u.latitude, u.longitude]), [['UNIT3', 12.95, 77.55]])
})

test('the snapshot is bounded by SNAPSHOT_LIMIT and says when it was cut', async (t) => {
  const { app, socketUrl } = await buildTestApp(t, { snapshotLimit: 2 })
  const dispatcher = await createUser(app, 'dispatcher')
  const created = []
  for (let i = 0; i < 3; i++) created.push(await createSos(app, { name: `S${i}` }))
  const control = await connect(t, socketUrl, dispatcher.token)
  const snapshot = next<SosSnapshot>(control, 'sos_snapshot')
  assert.deepEqual((await emitAck(control, 'join_sos_channel', {})).data, { channel: 'sos_channel', message: 'Joined sos_channel', snapshot_count: 2, truncated: true })
  const { sos, truncated } = await snapshot
  assert.equal(truncated, true)
  assert.deepEqual(sos.map((s) => s.sos_id), [created[2].sos_id, created[1].sos_id], 'the newest are kept')
})

test('a socket refused a staff channel gets no snapshot', async (t) => {
  const { app, socketUrl } = await buildTestApp(t)
  const citizen = await createUser(app, 'citizen')
  const officer = await createUser(app, 'officer', 'UNIT1')
  const sos = await createSos(app)
  assert.equal((await app.inject({ method: 'POST', url: '/api/update-location/', headers: { 'x-sos-token': sos.sos_token }, payload: { sos_request: sos.sos_id, latitude: 12, longitude: 77 } })).statusCode, 201)
  const attempts: Array<[string | undefined, string, string]> = [
    [undefined, 'join_sos_channel', 'not_authenticated'],
    [citizen.token, 'join_sos_channel', 'permission_denied'],
    [citizen.token, 'join_location_tracking_channel', 'permission_denied'],
    [undefined, 'join_officer_update', 'not_authenticated'],
  ]
  for (const [token, event, code] of attempts) {
    const socket = await connect(t, socketUrl, token)
    const snapshots: unknown[] = []
    for (const name of ['sos_snapshot', 'location_snapshot', 'unit_snapshot']) socket.on(name, (p: unknown) => snapshots.push(p))
    const ack = await emitAck(socket, event, {})
    assert.equal(ack.ok, false, `${event} with ${token ? 'a citizen token' : 'no token'}`)
    assert.equal(ack.error?.code, code)
    await settle(100)
    assert.deepEqual(snapshots, [], `${event}: nothing sent to a socket that may not see it`)
  }
  // An officer is staff: allowed.
  const patrol = await connect(t, socketUrl, officer.token)
  assert.equal((await emitAck(patrol, 'join_location_tracking_channel', {})).data?.snapshot_count, 1)
})

test('many dashboards joining at once each get exactly one snapshot (one read, one encoding for all)', async (t) => {
  const { app, socketUrl } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  const open = [await createSos(app, { name: 'A' }), await createSos(app, { name: 'B' })]
  const dashboards = await Promise.all(Array.from({ length: 40 }, () => connect(t, socketUrl, dispatcher.token)))
  const received = dashboards.map((socket) => collect<SosSnapshot>(socket, 'sos_snapshot'))
  // One of them goes away while the batch is pending; the others must not be affected.
  const leaving = dashboards[0]
  const acks = await Promise.all(dashboards.map((socket) => emitAck(socket, 'join_sos_channel', {})))
  leaving.disconnect()
  await settle(100)
  for (const [i, ack] of acks.entries()) {
    assert.deepEqual(ack.data, { channel: 'sos_channel', message: 'Joined sos_channel', snapshot_count: 2, truncated: false }, `dashboard ${i}`)
    assert.equal(received[i].length, 1, `dashboard ${i} got one snapshot`)
    assert.deepEqual(received[i][0].sos.map((s) => s.sos_id), [open[1].sos_id, open[0].sos_id])
  }
  // The batch is not sticky: a later join reads again and sees a newer SOS.
  const late = await createSos(app, { name: 'C' })
  const again = next<SosSnapshot>(dashboards[1], 'sos_snapshot')
  assert.equal((await emitAck(dashboards[1], 'join_sos_channel', {})).data?.snapshot_count, 3)
  assert.equal((await again).sos[0].sos_id, late.sos_id)
})
