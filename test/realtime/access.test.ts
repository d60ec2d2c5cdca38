// The Socket.IO access matrix (CONTRACT §3, §4): every join and officer event × every kind of client,
// with the identity from the handshake `auth` or an Authorization header, in secure and legacy mode.
// A refusal must answer {ok:false,error}, emit `error`, join nothing, and leave the socket usable.
import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import type { FastifyInstance } from 'fastify'
import { io } from 'socket.io-client'
import { findUnitLocation } from '../../src/modules/units/units.repository.ts'
import { buildTestApp } from '../helpers/app.ts'
import { auth, createSos, createUser, type CreatedSos, type TestUser } from '../helpers/factories.ts'
import { collect, connect, emitAck, next, settle, type AckResponse, type ClientSocket } from '../helpers/sockets.ts'

const UNIT = 'UNIT_A'
const OTHER_UNIT = 'UNIT_B'

const NOT_AUTHENTICATED = { code: 'not_authenticated', message: 'Authentication credentials were not provided.' }
const PERMISSION_DENIED = { code: 'permission_denied', message: 'You do not have permission to perform this action.' }

const ACTORS = [
  'anonymous',
  'citizen owner (no sos_token)',
  'citizen non-owner',
  'holder of this SOS’s sos_token',
  'holder of another SOS’s sos_token',
  'officer of UNIT_A',
  'officer of UNIT_B',
  'dispatcher',
  'admin',
] as const
type Actor = (typeof ACTORS)[number]

type Outcome = 'joins' | 401 | 403
type Matrix = Record<Actor, Outcome>
type Via = 'auth' | 'header'

interface World {
  app: FastifyInstance
  socketUrl: string
  legacy: boolean
  users: Record<'owner' | 'citizen' | 'officerUnit' | 'officerOther' | 'dispatcher' | 'admin', TestUser>
  /** Raised by the owner's account and dispatched to UNIT_A. */
  target: CreatedSos
  other: CreatedSos
}

async function buildWorld(t: TestContext, legacy: boolean): Promise<World> {
  const { app, socketUrl } = await buildTestApp(t, legacy ? { legacyOpenAccess: true } : {})
  const users = {
    owner: await createUser(app, 'citizen'),
    citizen: await createUser(app, 'citizen'),
    officerUnit: await createUser(app, 'officer', UNIT),
    officerOther: await createUser(app, 'officer', OTHER_UNIT),
    dispatcher: await createUser(app, 'dispatcher'),
    admin: await createUser(app, 'admin'),
  }
  const target = await createSos(app, { name: 'Asha' }, users.owner)
  const assigned = await app.inject({
    method: 'POST',
    url: '/api/assign-officer/',
    headers: auth(users.admin),
    payload: { sos_request: target.sos_id, officer_name: 'SI Meera', unit_number: UNIT },
  })
  assert.equal(assigned.statusCode, 201)
  return { app, socketUrl, legacy, users, target, other: await createSos(app, { name: 'Someone else' }) }
}

/** A socket whose identity comes from the handshake `auth: {token}` or an `Authorization: Token …` header. */
async function connectVia(t: TestContext, url: string, via: Via, token?: string): Promise<ClientSocket> {
  if (via === 'auth' || !token) return connect(t, url, token)
  const socket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false, extraHeaders: { authorization: `Token ${token}` } })
  t.after(() => {
    socket.disconnect()
  })
  await new Promise<void>((resolve, reject) => {
    socket.once('connection_established', () => resolve())
    socket.once('connect_error', reject)
  })
  return socket
}

/** The connect_error a handshake gets (and proof that it never connected). */
async function handshakeError(t: TestContext, url: string, options: { auth?: Record<string, unknown>; extraHeaders?: Record<string, string> }): Promise<string> {
  const socket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false, ...options })
  t.after(() => {
    socket.disconnect()
  })
  const outcome = await new Promise<string>((resolve) => {
    socket.once('connection_established', () => resolve('connected'))
    socket.once('connect_error', (err) => resolve(err.message))
  })
  assert.equal(socket.connected, false)
  return outcome
}

interface Client {
  actor: Actor
  socket: ClientSocket
  /** The SOS token this client presents in its payloads, if any. */
  sosToken?: string
}

async function connectActors(t: TestContext, w: World, via: Via): Promise<Client[]> {
  const apiToken: Partial<Record<Actor, string>> = {
    'citizen owner (no sos_token)': w.users.owner.token,
    'citizen non-owner': w.users.citizen.token,
    'officer of UNIT_A': w.users.officerUnit.token,
    'officer of UNIT_B': w.users.officerOther.token,
    dispatcher: w.users.dispatcher.token,
    admin: w.users.admin.token,
  }
  const sosToken: Partial<Record<Actor, string>> = {
    'holder of this SOS’s sos_token': w.target.sos_token,
    'holder of another SOS’s sos_token': w.other.sos_token,
  }
  const clients: Client[] = []
  for (const actor of ACTORS) {
    clients.push({ actor, socket: await connectVia(t, w.socketUrl, via, apiToken[actor]), sosToken: sosToken[actor] })
  }
  return clients
}

const withToken = (payload: Record<string, unknown>, client: Client) => (client.sosToken ? { ...payload, sos_token: client.sosToken } : payload)

const refusal = (status: 401 | 403) => (status === 401 ? NOT_AUTHENTICATED : PERMISSION_DENIED)

async function updateLocation(w: World, latitude: number) {
  const res = await w.app.inject({
    method: 'POST',
    url: '/api/update-location/',
    headers: { 'x-sos-token': w.target.sos_token },
    payload: { sos_request: w.target.sos_id, latitude, longitude: 77.6 },
  })
  assert.equal(res.statusCode, 201, res.body)
}

interface JoinSpec {
  event: string
  payload(w: World, client: Client): unknown
  /** The ack data (and `room_joined` payload) of a successful join. */
  joined(w: World): Record<string, unknown>
  /** The server event the room then receives. */
  delivered: string
  /** Makes the server emit `delivered` to that room once; returns what identifies this emission. */
  trigger(w: World, t: TestContext): Promise<Record<string, unknown>>
  secure: Matrix
}

const STAFF_CHANNEL: Matrix = {
  anonymous: 401,
  'citizen owner (no sos_token)': 403,
  'citizen non-owner': 403,
  'holder of this SOS’s sos_token': 401,
  'holder of another SOS’s sos_token': 401,
  'officer of UNIT_A': 'joins',
  'officer of UNIT_B': 'joins',
  dispatcher: 'joins',
  admin: 'joins',
}

const JOINS: JoinSpec[] = [
  {
    event: 'join_sos_channel',
    payload: (_w, client) => withToken({}, client),
    joined: () => ({ channel: 'sos_channel', message: 'Joined sos_channel' }),
    delivered: 'new_sos',
    trigger: async (w) => {
      const created = await createSos(w.app, { name: 'Priya' })
      return { sos_id: created.sos_id, room_id: created.room_id, name: 'Priya' }
    },
    secure: STAFF_CHANNEL,
  },
  {
    event: 'join_location_tracking_channel',
    payload: (_w, client) => withToken({}, client),
    joined: () => ({ channel: 'location_tracking_channel', message: 'Joined location_tracking_channel' }),
    delivered: 'location_tracking_update',
    trigger: async (w) => {
      await updateLocation(w, 12.5)
      return { sos_id: w.target.sos_id, unit_number: UNIT, latitude: 12.5 }
    },
    secure: STAFF_CHANNEL,
  },
  {
    event: 'join_officer_update',
    payload: (_w, client) => withToken({}, client),
    joined: () => ({ channel: 'officer_tracking_channel', message: 'Joined officer_tracking_channel' }),
    delivered: 'unit_loc',
    trigger: async (w, t) => {
      const reporter = await connect(t, w.socketUrl, w.users.officerUnit.token)
      const ack = await emitAck(reporter, 'officer_location_update', { unit_id: UNIT, latitude: 12.7, longitude: 77.7 })
      assert.equal(ack.ok, true, JSON.stringify(ack))
      return { unit_id: UNIT, latitude: 12.7, longitude: 77.7 }
    },
    secure: STAFF_CHANNEL,
  },
  {
    event: 'join_officer_room',
    payload: (_w, client) => withToken({ unit_number: UNIT }, client),
    joined: () => ({ unit_number: UNIT, message: `Joined unit room ${UNIT}` }),
    delivered: 'unit_location_update',
    trigger: async (w) => {
      await updateLocation(w, 12.6)
      return { sos_id: w.target.sos_id, latitude: 12.6 }
    },
    secure: {
      anonymous: 401,
      'citizen owner (no sos_token)': 403,
      'citizen non-owner': 403,
      'holder of this SOS’s sos_token': 401,
      'holder of another SOS’s sos_token': 401,
      'officer of UNIT_A': 'joins',
      'officer of UNIT_B': 403,
      dispatcher: 'joins',
      admin: 'joins',
    },
  },
  {
    event: 'join_sos_room',
    payload: (w, client) => withToken({ room_id: w.target.room_id }, client),
    joined: (w) => ({ room_id: w.target.room_id, message: `Joined SOS room ${w.target.room_id}` }),
    delivered: 'location_history',
    trigger: async (w) => {
      await updateLocation(w, 12.8)
      return { sos_id: w.target.sos_id, latitude: 12.8 }
    },
    secure: {
      anonymous: 401,
      // §4 names only staff and the sos_token for this room; the owner's account alone is not enough.
      'citizen owner (no sos_token)': 403,
      'citizen non-owner': 403,
      'holder of this SOS’s sos_token': 'joins',
      'holder of another SOS’s sos_token': 403,
      'officer of UNIT_A': 'joins',
      'officer of UNIT_B': 'joins',
      dispatcher: 'joins',
      admin: 'joins',
    },
  },
]

const ALL_JOIN: Matrix = Object.fromEntries(ACTORS.map((actor) => [actor, 'joins'])) as Matrix

const MODES: { mode: 'secure' | 'legacy'; via: Via }[] = [
  { mode: 'secure', via: 'auth' },
  { mode: 'secure', via: 'header' },
  { mode: 'legacy', via: 'auth' },
]

for (const { mode, via } of MODES) {
  for (const spec of JOINS) {
    test(`${mode} mode, identity via handshake ${via}: ${spec.event}`, async (t) => {
      const w = await buildWorld(t, mode === 'legacy')
      const matrix = mode === 'legacy' ? ALL_JOIN : spec.secure
      const clients = await connectActors(t, w, via)
      const received = new Map<Actor, Record<string, unknown>[]>()
      const roomJoined = new Map<Actor, Record<string, unknown>[]>()
      const deliveries = new Map<Actor, Promise<Record<string, unknown>>>()

      for (const client of clients) {
        const expected = matrix[client.actor]
        received.set(client.actor, collect(client.socket, spec.delivered))
        roomJoined.set(client.actor, collect(client.socket, 'room_joined'))
        await t.test(`${client.actor} → ${expected === 'joins' ? 'joins' : `refused ${expected}`}`, async () => {
          const errorEvent = expected === 'joins' ? undefined : next<Record<string, unknown>>(client.socket, 'error')
          const ack = await emitAck(client.socket, spec.event, spec.payload(w, client))
          if (expected === 'joins') {
            assert.equal(ack.ok, true, JSON.stringify(ack))
            for (const [key, value] of Object.entries(spec.joined(w))) assert.equal(ack.data?.[key], value, key)
            assert.deepEqual(roomJoined.get(client.actor), [spec.joined(w)])
          } else {
            assert.deepEqual(ack, { ok: false, error: refusal(expected) })
            assert.deepEqual(await errorEvent, { ...refusal(expected), event: spec.event })
            assert.deepEqual(roomJoined.get(client.actor), [], 'no room_joined for a refused join')
          }
        })
      }

      // Every join settled: the room's next event reaches exactly the clients that joined.
      for (const client of clients) {
        if (matrix[client.actor] === 'joins') deliveries.set(client.actor, waitFor(client.socket, spec.delivered, spec.delivered === 'location_history' ? (p) => !('updates' in p) : () => true))
      }
      const emitted = await spec.trigger(w, t)
      for (const [actor, delivery] of deliveries) {
        const payload = await delivery
        for (const [key, value] of Object.entries(emitted)) assert.equal(payload[key], value, `${actor} got ${spec.delivered}.${key}`)
      }
      await settle()
      for (const client of clients) {
        const events = received.get(client.actor)!
        if (matrix[client.actor] === 'joins') continue
        assert.deepEqual(events, [], `${client.actor} must not receive ${spec.delivered}`)
      }

      // Refused sockets stay connected and can still do what they are allowed to.
      for (const client of clients) {
        if (matrix[client.actor] === 'joins') continue
        assert.equal(client.socket.connected, true, `${client.actor} is still connected`)
        const later = await emitAck(client.socket, 'create_sos', { name: 'Still here', initial_latitude: 10, initial_longitude: 70 })
        assert.equal(later.ok, true, `${client.actor}: ${JSON.stringify(later)}`)
        assert.equal(typeof later.data?.sos_id, 'number')
      }
    })
  }
}

/** Resolves with the next `event` payload that matches. */
function waitFor(socket: ClientSocket, event: string, match: (payload: Record<string, unknown>) => boolean, ms = 5000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, handler)
      reject(new Error(`no matching "${event}" within ${ms} ms`))
    }, ms)
    const handler = (payload: Record<string, unknown>) => {
      if (!match(payload)) return
      clearTimeout(timer)
      socket.off(event, handler)
      resolve(payload)
    }
    socket.on(event, handler)
  })
}

for (const via of ['auth', 'header'] as const) {
  test(`secure mode, identity via handshake ${via}: a refused join_sos_room replays no history`, async (t) => {
    const w = await buildWorld(t, false)
    await updateLocation(w, 11.1)
    const clients = await connectActors(t, w, via)
    for (const client of clients) {
      if (JOINS[4].secure[client.actor] === 'joins') continue
      const history = collect(client.socket, 'location_history')
      const ack = await emitAck(client.socket, 'join_sos_room', withToken({ room_id: w.target.room_id }, client))
      assert.equal(ack.ok, false)
      await settle()
      assert.deepEqual(history, [], `${client.actor} must not see the stored history`)
    }
    const holder = clients.find((client) => client.actor === 'holder of this SOS’s sos_token')!
    const replay = next<{ updates: { latitude: number }[] }>(holder.socket, 'location_history')
    assert.equal((await emitAck(holder.socket, 'join_sos_room', { room_id: w.target.room_id, sos_token: w.target.sos_token })).ok, true)
    assert.deepEqual((await replay).updates.map((u) => u.latitude), [11.1])
  })
}

const OFFICER_REPORT: Matrix = {
  anonymous: 401,
  'citizen owner (no sos_token)': 403,
  'citizen non-owner': 403,
  'holder of this SOS’s sos_token': 401,
  'holder of another SOS’s sos_token': 401,
  'officer of UNIT_A': 'joins',
  'officer of UNIT_B': 403,
  dispatcher: 403,
  admin: 403,
}

for (const { mode, via } of MODES) {
  test(`${mode} mode, identity via handshake ${via}: officer_location_update for UNIT_A`, async (t) => {
    const w = await buildWorld(t, mode === 'legacy')
    const matrix = mode === 'legacy' ? ALL_JOIN : OFFICER_REPORT
    const watcher = await connect(t, w.socketUrl, w.users.dispatcher.token)
    assert.equal((await emitAck(watcher, 'join_officer_update', {})).ok, true)
    const unitLocs = collect<Record<string, unknown>>(watcher, 'unit_loc')
    const clients = await connectActors(t, w, via)
    const allowedLatitudes: number[] = []

    for (const [index, client] of clients.entries()) {
      const expected = matrix[client.actor]
      const latitude = 20 + index
      await t.test(`${client.actor} → ${expected === 'joins' ? 'broadcast as unit_loc' : `refused ${expected}`}`, async () => {
        const report = { unit_id: UNIT, latitude, longitude: 78, timestamp: new Date().toISOString() }
        const broadcast = expected === 'joins' ? next<Record<string, unknown>>(watcher, 'unit_loc') : undefined
        const errorEvent = expected === 'joins' ? undefined : next<Record<string, unknown>>(client.socket, 'error')
        const ack = await emitAck(client.socket, 'officer_location_update', withToken(report, client))
        if (expected === 'joins') {
          assert.deepEqual(ack, { ok: true, data: report })
          assert.deepEqual(await broadcast, report)
          allowedLatitudes.push(latitude)
        } else {
          assert.deepEqual(ack, { ok: false, error: refusal(expected) })
          assert.deepEqual(await errorEvent, { ...refusal(expected), event: 'officer_location_update' })
          assert.equal(client.socket.connected, true)
        }
      })
    }
    await settle()
    assert.deepEqual(unitLocs.map((loc) => loc.latitude), allowedLatitudes, 'only allowed reports were broadcast')
    const stored = await findUnitLocation(w.app.db, UNIT)
    assert.equal(stored?.latitude, allowedLatitudes.at(-1), 'the last allowed report is the unit’s last known position')
  })
}

test('secure mode: an officer reports only for their own unit', async (t) => {
  const w = await buildWorld(t, false)
  const watcher = await connect(t, w.socketUrl, w.users.dispatcher.token)
  await emitAck(watcher, 'join_officer_update', {})
  const unitLocs = collect(watcher, 'unit_loc')
  const officer = await connect(t, w.socketUrl, w.users.officerUnit.token)

  const errorEvent = next(officer, 'error')
  const refused = await emitAck(officer, 'officer_location_update', { unit_id: OTHER_UNIT, latitude: 1, longitude: 1 })
  assert.deepEqual(refused, { ok: false, error: PERMISSION_DENIED })
  assert.deepEqual(await errorEvent, { ...PERMISSION_DENIED, event: 'officer_location_update' })
  await settle()
  assert.deepEqual(unitLocs, [])
  assert.equal(await findUnitLocation(w.app.db, OTHER_UNIT), undefined, 'nothing stored for the other unit')

  // Still connected; its own unit works.
  const broadcast = next<{ unit_id: string }>(watcher, 'unit_loc')
  const own = await emitAck(officer, 'officer_location_update', { unit_id: UNIT, latitude: 2, longitude: 2 })
  assert.equal(own.ok, true)
  assert.equal((await broadcast).unit_id, UNIT)
})

test('secure mode: the bare-string payloads of the original clients keep the same rules', async (t) => {
  const w = await buildWorld(t, false)
  const officerA = await connect(t, w.socketUrl, w.users.officerUnit.token)
  assert.deepEqual(await emitAck(officerA, 'join_officer_room', UNIT), { ok: true, data: { unit_number: UNIT, message: `Joined unit room ${UNIT}` } })
  const officerB = await connect(t, w.socketUrl, w.users.officerOther.token)
  assert.deepEqual(await emitAck(officerB, 'join_officer_room', UNIT), { ok: false, error: PERMISSION_DENIED })
  // A bare room id carries no sos_token: staff only.
  const anonymous = await connect(t, w.socketUrl)
  assert.deepEqual(await emitAck(anonymous, 'join_sos_room', w.target.room_id), { ok: false, error: NOT_AUTHENTICATED })
  assert.equal((await emitAck(officerB, 'join_sos_room', w.target.room_id)).ok, true)
})

for (const mode of ['secure', 'legacy'] as const) {
  test(`${mode} mode: an invalid handshake token is refused with connect_error`, async (t) => {
    const w = await buildWorld(t, mode === 'legacy')
    const bogus = '0'.repeat(40)
    assert.equal(await handshakeError(t, w.socketUrl, { auth: { token: bogus } }), 'Invalid token.')
    assert.equal(await handshakeError(t, w.socketUrl, { extraHeaders: { authorization: `Token ${bogus}` } }), 'Invalid token.')
    assert.equal(await handshakeError(t, w.socketUrl, { extraHeaders: { authorization: `Bearer ${bogus}` } }), 'Invalid token.')
    // A token that was valid stops working after logout.
    const logout = await w.app.inject({ method: 'POST', url: '/auth/token/logout/', headers: auth(w.users.dispatcher) })
    assert.equal(logout.statusCode, 204)
    assert.equal(await handshakeError(t, w.socketUrl, { auth: { token: w.users.dispatcher.token } }), 'Invalid token.')
    // And a valid one connects, announcing who it is.
    const socket = io(w.socketUrl, { transports: ['websocket'], forceNew: true, reconnection: false, extraHeaders: { authorization: `Bearer ${w.users.admin.token}` } })
    t.after(() => {
      socket.disconnect()
    })
    const hello = await next<{ user: { id: number; role: string } | null }>(socket, 'connection_established')
    assert.deepEqual({ id: hello.user?.id, role: hello.user?.role }, { id: w.users.admin.id, role: 'admin' })
  })
}

/** The server's own events (and the original's internal ones), with payloads a forger would send. */
function forgeries(w: World): [string, unknown][] {
  const point = { sos_id: w.target.sos_id, latitude: 0, longitude: 0, timestamp: new Date().toISOString() }
  return [
    ['new_sos', { sos_id: 999, room_id: w.target.room_id, name: 'Fake', sos_type: 0, latitude: 0, longitude: 0, created_at: point.timestamp }],
    ['sos_created', { sos_id: 999, room_id: w.target.room_id, name: 'Fake' }],
    ['location_update_to_room', { room_id: w.target.room_id, ...point }],
    ['location_update_to_unit', { unit_number: UNIT, ...point }],
    ['location_history', point],
    ['unit_location_update', point],
    ['location_tracking_update', { unit_number: UNIT, ...point }],
    ['unit_loc', { unit_id: UNIT, latitude: 0, longitude: 0, timestamp: point.timestamp }],
    ['sos_resolved', { sos_id: w.target.sos_id, room_id: w.target.room_id, status: 'resolved' }],
    ['room_joined', { channel: 'sos_channel', message: 'x' }],
    ['connection_established', { message: 'x' }],
    ['create_sos_response', { success: true, data: {} }],
    ['update_location_response', { success: true, data: {} }],
    ['sos_updated', { sos_id: w.target.sos_id, seq: 2, cursor: 2, kind: 'acknowledged', status: 'acknowledged', unit_number_dispatched: null, acknowledged_flag: 1 }],
    ['sos_escalated', { sos_id: w.target.sos_id, seq: 2, cursor: 2, level: 1, reason: 'unacknowledged', waiting_seconds: 60 }],
    ['events_replay', { after: 0, events: [], truncated: false, cursor: 0 }],
    ['sos_snapshot', { channel: 'sos_channel', sos: [], truncated: false, cursor: 0 }],
    ['location_snapshot', { channel: 'location_tracking_channel', positions: [], truncated: false }],
    ['unit_snapshot', { channel: 'officer_tracking_channel', units: [], truncated: false }],
  ]
}

for (const mode of ['secure', 'legacy'] as const) {
  test(`${mode} mode: clients cannot emit the server's events; nothing reaches anyone else`, async (t) => {
    const w = await buildWorld(t, mode === 'legacy')
    // A control room that listens everywhere the forged events could land.
    const control = await connect(t, w.socketUrl, w.users.dispatcher.token)
    for (const [event, payload] of [
      ['join_sos_channel', {}],
      ['join_location_tracking_channel', {}],
      ['join_officer_update', {}],
      ['join_officer_room', UNIT],
      ['join_sos_room', w.target.room_id],
    ] as const) {
      assert.equal((await emitAck(control, event, payload)).ok, true, event)
    }
    const heard: string[] = []
    control.onAny((event: string) => heard.push(event))

    const forgers: [string, ClientSocket][] = [
      ['anonymous', await connect(t, w.socketUrl)],
      ['citizen', await connect(t, w.socketUrl, w.users.citizen.token)],
      ['officer', await connect(t, w.socketUrl, w.users.officerUnit.token)],
      ['admin', await connect(t, w.socketUrl, w.users.admin.token)],
    ]
    // The token holder sits in its own SOS room (as the victim's phone does) and tries to broadcast into it.
    const phone = await connect(t, w.socketUrl)
    assert.equal((await emitAck(phone, 'join_sos_room', { room_id: w.target.room_id, sos_token: w.target.sos_token })).ok, true)
    forgers.push(['SOS token holder in the room', phone])
    const phoneHeard: string[] = []
    phone.onAny((event: string) => phoneHeard.push(event))

    for (const [who, socket] of forgers) {
      for (const [event, payload] of forgeries(w)) {
        const expectedError = { code: 'forbidden_event', message: `"${event}" is a server event; clients cannot emit it.` }
        // Without a callback: an `error` event.
        const errorEvent = next<Record<string, unknown>>(socket, 'error')
        socket.emit(event, payload)
        assert.deepEqual(await errorEvent, { ...expectedError, event }, `${who} ${event}`)
        // With a callback: a negative acknowledgement too (§3: every client event answers its ack).
        const secondError = next<Record<string, unknown>>(socket, 'error')
        const ack: AckResponse = await emitAck(socket, event, payload)
        assert.deepEqual(ack, { ok: false, error: expectedError }, `${who} ${event} ack`)
        assert.deepEqual(await secondError, { ...expectedError, event })
      }
    }
    await settle()
    assert.deepEqual(heard, [], 'the control room heard none of the forged events')
    assert.deepEqual(phoneHeard.filter((event) => event !== 'error'), [], 'nothing was broadcast into the SOS room')

    // The forgers are still connected and can still do what they may.
    for (const [who, socket] of forgers) {
      assert.equal(socket.connected, true, who)
      const created = await emitAck(socket, 'create_sos', { name: 'Real', initial_latitude: 10, initial_longitude: 70 })
      assert.equal(created.ok, true, who)
    }
  })
}

test('secure mode: an unknown event is answered with an error (and a negative ack), the socket stays up', async (t) => {
  const w = await buildWorld(t, false)
  const socket = await connect(t, w.socketUrl)
  const errorEvent = next<Record<string, unknown>>(socket, 'error')
  socket.emit('join_everything', {})
  assert.deepEqual(await errorEvent, { code: 'unknown_event', message: 'Unknown event "join_everything".', event: 'join_everything' })
  assert.deepEqual(await emitAck(socket, 'join_everything', {}), { ok: false, error: { code: 'unknown_event', message: 'Unknown event "join_everything".' } })
  assert.equal(socket.connected, true)
  assert.equal((await emitAck(socket, 'create_sos', { name: 'Real', initial_latitude: 10, initial_longitude: 70 })).ok, true)
})
