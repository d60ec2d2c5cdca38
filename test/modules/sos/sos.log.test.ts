// The incident log read back (issue 10): a dashboard that drops resumes by cursor and misses nothing, the
// global feed shows each caller only what they may see, and admins get the same log as an audit trail.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { io } from 'socket.io-client'
import { buildTestApp } from '../../helpers/app.ts'
import { auth, createSos, createUser } from '../../helpers/factories.ts'
import { connect, emitAck, next, settle } from '../../helpers/sockets.ts'

interface Live {
  sos_id: number
  cursor: number
  seq: number
  kind: string
}
interface Replay {
  after: number
  events: Live[]
  truncated: boolean
  cursor: number
}

test('a dashboard that drops resumes with join_sos_channel {after}: what was committed while away arrives in order, exactly once', async (t) => {
  const { app, socketUrl } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  // A dashboard whose manager reconnects by itself after a network drop, as a real one does.
  const dashboard = io(socketUrl, { transports: ['websocket'], forceNew: true, auth: { token: dispatcher.token }, reconnectionDelay: 100, reconnectionDelayMax: 200 })
  t.after(() => {
    dashboard.disconnect()
  })
  await next(dashboard, 'connection_established')

  // The documented client loop: remember the last cursor; on every (re)connect join with {after}; drop
  // anything at or below the last cursor (a live event may also be in the replay).
  let last = 0
  const applied: Live[] = []
  const apply = (event: Live) => {
    if (event.cursor <= last) return
    last = event.cursor
    applied.push(event)
  }
  const replays: Replay[] = []
  dashboard.on('sos_updated', apply)
  dashboard.on('events_replay', (replay: Replay) => {
    replays.push(replay)
    replay.events.forEach(apply)
  })
  const join = () => emitAck(dashboard, 'join_sos_channel', { after: last })
  dashboard.on('connect', () => void join()) // every reconnect (this socket is connected already)
  assert.equal((await join()).ok, true)

  const first = await createSos(app, { name: 'Before' })
  await app.inject({ method: 'POST', url: `/api/sos/${first.sos_id}/acknowledge/`, headers: auth(dispatcher) })
  for (let i = 0; i < 50 && applied.length < 2; i++) await settle(20)
  assert.deepEqual(applied.map((e) => e.kind), ['created', 'acknowledged'])

  // The network drops (the manager reconnects by itself); meanwhile the incident goes on.
  const dropped = next(dashboard, 'disconnect')
  dashboard.io.engine.close()
  await dropped
  const during = await createSos(app, { name: 'While away' })
  await app.inject({ method: 'POST', url: '/api/assign-officer/', headers: auth(dispatcher), payload: { sos_request: first.sos_id, officer_name: 'SI Rao', unit_number: 'UNIT001' } })
  await app.inject({ method: 'POST', url: `/api/sos/${during.sos_id}/cancel/`, headers: { 'x-sos-token': during.sos_token } })

  for (let i = 0; i < 250 && replays.length < 2; i++) await settle(20)
  assert.equal(replays.length, 2, 'one replay on the first join, one after reconnecting')
  const replay = replays[1]
  assert.equal(replay.truncated, false)
  assert.deepEqual(replay.events.map((e) => [e.sos_id, e.kind]), [[during.sos_id, 'created'], [first.sos_id, 'assigned'], [during.sos_id, 'cancelled']])
  assert.ok(replay.events.every((e, i) => i === 0 || e.cursor > replay.events[i - 1].cursor))
  assert.equal(replay.cursor, replay.events.at(-1)?.cursor)

  // Live again after the replay.
  await app.inject({ method: 'POST', url: `/api/resolve-sos/${first.sos_id}/`, headers: auth(dispatcher) })
  for (let i = 0; i < 50 && applied.length < 6; i++) await settle(20)
  assert.deepEqual(applied.map((e) => e.kind), ['created', 'acknowledged', 'created', 'assigned', 'cancelled', 'resolved'])
  // Exactly once: the whole log, each event once, in cursor order.
  const feed = await app.inject({ method: 'GET', url: '/api/events/', headers: auth(dispatcher) })
  assert.deepEqual(applied.map((e) => e.cursor), feed.json().results.map((e: Live) => e.cursor))
})

test('a replay longer than EVENTS_REPLAY_LIMIT is truncated and the snapshot is sent with it', async (t) => {
  const { app, socketUrl } = await buildTestApp(t, { eventsReplayLimit: 3 })
  const dispatcher = await createUser(app, 'dispatcher')
  for (let i = 0; i < 5; i++) await createSos(app, { name: `S${i}` })
  const dashboard = await connect(t, socketUrl, dispatcher.token)
  const replay = next<Replay>(dashboard, 'events_replay')
  const snapshot = next<{ sos: unknown[]; cursor: number }>(dashboard, 'sos_snapshot')
  const ack = await emitAck(dashboard, 'join_sos_channel', { after: 0 })
  assert.equal(ack.ok, true)
  assert.deepEqual([(await replay).events.length, (await replay).truncated], [3, true])
  const state = await snapshot
  assert.equal(state.sos.length, 5, 'the snapshot tells the current state')
  assert.equal(state.cursor, 5, 'and where to resume from')
  assert.deepEqual([ack.data?.replayed, ack.data?.replay_truncated, ack.data?.snapshot_count], [3, true, 5])
  // A bad cursor is a field error, and joins nothing.
  const bad = await emitAck(dashboard, 'join_sos_channel', { after: 'yesterday' })
  assert.deepEqual(bad.error?.fields, { after: ['A valid integer is required.'] })
})

test('the global feed: staff see every SOS, a citizen only her own, nobody else anything; ?after pages', async (t) => {
  const { app } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  const officer = await createUser(app, 'officer', 'UNIT001')
  const asha = await createUser(app, 'citizen')
  const bela = await createUser(app, 'citizen')
  const mine = await createSos(app, { name: 'Asha' }, asha)
  const hers = await createSos(app, { name: 'Bela' }, bela)
  const anonymous = await createSos(app, { name: 'Anon' })
  await app.inject({ method: 'POST', url: `/api/sos/${hers.sos_id}/acknowledge/`, headers: auth(dispatcher) })
  await app.inject({ method: 'POST', url: `/api/sos/${mine.sos_id}/acknowledge/`, headers: auth(officer) })

  const feed = async (user: { token: string } | null, query = '') => app.inject({ method: 'GET', url: `/api/events/${query}`, headers: auth(user) })
  const staff = (await feed(dispatcher)).json().results as Live[]
  assert.deepEqual(staff.map((e) => [e.sos_id, e.kind]), [[mine.sos_id, 'created'], [hers.sos_id, 'created'], [anonymous.sos_id, 'created'], [hers.sos_id, 'acknowledged'], [mine.sos_id, 'acknowledged']])
  assert.deepEqual((await feed(officer)).json().results.length, 5)
  // Asha sees her own SOS's events, including what the officer did to it, and nothing of Bela's or the anonymous one.
  const own = (await feed(asha)).json().results as Live[]
  assert.deepEqual(own.map((e) => [e.sos_id, e.kind]), [[mine.sos_id, 'created'], [mine.sos_id, 'acknowledged']])
  assert.equal((await feed(null)).statusCode, 401)
  // A token holder is no account: the per-SOS log is hers, the global feed is not.
  assert.equal((await app.inject({ method: 'GET', url: '/api/events/', headers: { 'x-sos-token': anonymous.sos_token } })).statusCode, 401)
  assert.equal((await app.inject({ method: 'GET', url: `/api/sos/${hers.sos_id}/events/`, headers: auth(asha) })).statusCode, 403)

  // Paging by cursor: two at a time, the links lead through the whole feed.
  const page1 = (await feed(dispatcher, '?limit=2')).json()
  assert.equal(page1.results.length, 2)
  const page2 = (await feed(dispatcher, `?after=${page1.next_after}&limit=2`)).json()
  const page3 = (await feed(dispatcher, `?after=${page2.next_after}&limit=2`)).json()
  assert.deepEqual([...page1.results, ...page2.results, ...page3.results].map((e: Live) => e.cursor), staff.map((e) => e.cursor))
  assert.equal(page3.next, null)
  const bad = await feed(dispatcher, '?after=-1&limit=5000')
  assert.equal(bad.statusCode, 400)
  assert.deepEqual(Object.keys(bad.json()).sort(), ['after', 'limit'])
})

test('the audit trail: admins filter the log by actor, kind, SOS and time; others are refused', async (t) => {
  const { app } = await buildTestApp(t)
  const admin = await createUser(app, 'admin')
  const dispatcher = await createUser(app, 'dispatcher')
  const officer = await createUser(app, 'officer', 'UNIT001')
  const a = await createSos(app)
  const b = await createSos(app)
  await app.inject({ method: 'POST', url: '/api/assign-officer/', headers: auth(dispatcher), payload: { sos_request: a.sos_id, officer_name: 'SI Rao', unit_number: 'UNIT001' } })
  await app.inject({ method: 'POST', url: `/api/sos/${a.sos_id}/accept/`, headers: auth(officer) })
  await app.inject({ method: 'POST', url: `/api/resolve-sos/${b.sos_id}/`, headers: auth(dispatcher) })

  const audit = async (query: string, user = admin) => app.inject({ method: 'GET', url: `/api/audit/${query}`, headers: auth(user) })
  const kinds = (res: { json(): { results: Live[] } }) => res.json().results.map((e) => [e.sos_id, e.kind])
  assert.deepEqual(kinds(await audit(`?actor=${dispatcher.id}`)), [[a.sos_id, 'assigned'], [b.sos_id, 'resolved']])
  assert.deepEqual(kinds(await audit('?kind=accepted')), [[a.sos_id, 'accepted']])
  assert.deepEqual(kinds(await audit(`?sos=${b.sos_id}`)), [[b.sos_id, 'created'], [b.sos_id, 'resolved']])
  assert.deepEqual(kinds(await audit('?since=2999-01-01T00:00:00Z')), [])
  assert.equal((await audit('?until=2000-01-01')).json().results.length, 0)
  assert.equal((await audit('')).json().results.length, 5)
  const bad = await audit('?kind=teleported&since=yesterday')
  assert.equal(bad.statusCode, 400)
  assert.deepEqual(Object.keys(bad.json()).sort(), ['kind', 'since'])
  assert.equal((await audit('', dispatcher)).statusCode, 403)
  assert.equal((await app.inject({ method: 'GET', url: '/api/audit/' })).statusCode, 401)
})

test('an admin edit is an event too; the SOS read carries its newest seq', async (t) => {
  const { app } = await buildTestApp(t)
  const admin = await createUser(app, 'admin')
  const sos = await createSos(app)
  const edited = await app.inject({ method: 'PATCH', url: `/api/sos/${sos.sos_id}/`, headers: auth(admin), payload: { name: 'Corrected name' } })
  assert.equal(edited.statusCode, 200)
  assert.equal(edited.json().seq, 2)
  const log = (await app.inject({ method: 'GET', url: `/api/sos/${sos.sos_id}/events/`, headers: auth(admin) })).json().results
  assert.deepEqual(log.map((e: { kind: string; data: unknown }) => [e.kind, e.data]), [['created', { name: 'Asha', sos_type: 0, latitude: 12.9716, longitude: 77.5946 }], ['edited', { fields: ['name'] }]])
})
