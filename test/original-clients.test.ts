// Every request and socket emit of the two original clients, replayed as they send them: the phone app
// (NaariKavach_App: services.tsx, UserDashboardScreen, PoliceDashboardScreen) and the control-room
// dashboard (naarikavach_website: authService.js, socketService.js, Dashboard.jsx). Same method, path
// (trailing slash as sent), headers (the clients put `Content-Type: application/json` on every request,
// bodyless POSTs and GETs included), body, and socket.io-client handshake options. Real HTTP (fetch) and
// real sockets, so what reaches the server is what the clients put on the wire.
// docs/original-clients.md is the same inventory in prose; docs/clients.md has the patches.
//
// Legacy mode (LEGACY_OPEN_ACCESS=true): every answer is checked against what the original
// Django/python-socketio backend answered, on the fields the client reads.
// Secure mode (the default): the same requests. Where the answer is a refusal, it is deliberate: the
// test title says why, and the refusal is a clean 4xx in the contract's shape or an `error` event.
import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { io, type Socket } from 'socket.io-client'
import { buildTestApp } from './helpers/app.ts'
import { createUser, IMAGES } from './helpers/factories.ts'

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any
type Mode = 'legacy' | 'secure'
type SocketName = 'dashboard' | 'police' | 'offline'

const NOT_AUTHENTICATED = 'Authentication credentials were not provided.'
const FORBIDDEN = 'You do not have permission to perform this action.'
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** What both clients put on every request. */
const JSON_CT = { 'Content-Type': 'application/json' }
/**
 * The phone app's fetchApi(): `Authorization: Token ${token}` for every authenticated call, where the
 * token comes from AsyncStorage, so it is literally `Token null` when nobody is signed in.
 */
const phoneAuth = (token: string | undefined | null) => ({ ...JSON_CT, Authorization: `Token ${token ?? null}` })
/** The dashboard's AuthContext.getAuthHeaders(): the Authorization header only when it has a token. */
const dashboardAuth = (token: string | undefined) => ({ ...JSON_CT, ...(token && { Authorization: `Token ${token}` }) })

/** socketService.js connect(). `cors` is a server option that the client ignores; sent anyway, as there. */
const DASHBOARD_IO = { cors: { origin: 'http://localhost:3000' }, transports: ['websocket', 'polling'] }
/** PoliceDashboardScreen initializeSocket(). */
const POLICE_IO = { transports: ['websocket'], timeout: 20000 }
/** UserDashboardScreen initializeWebSocket(), the phone's offline mode (the original relay listened on 8002). */
const OFFLINE_IO = { transports: ['websocket'], timeout: 10000, reconnection: true, reconnectionAttempts: 5, reconnectionDelay: 2000 }

const PASSWORDS = { victim: 'Monsoon-Rain-88', dashboard: 'Kavach-Control-2025', police: 'Beat-Patrol-Seven-7' }

/** A real socket.io-client socket that records every server event, in arrival order. */
class Recorder {
  readonly events: Array<{ event: string; payload: Json; taken: boolean }> = []
  private wakers: Array<() => void> = []

  constructor(readonly socket: Socket) {
    socket.onAny((event: string, payload: unknown) => {
      this.events.push({ event, payload, taken: false })
      for (const wake of this.wakers.splice(0)) wake()
    })
  }

  /** The first not yet taken `event` that matches, waiting for it (a failure after `ms`, not a timing check). */
  async take(event: string, match: (payload: Json) => boolean = () => true, ms = 5000): Promise<Json> {
    const deadline = Date.now() + ms
    for (;;) {
      const found = this.events.find((e) => !e.taken && e.event === event && match(e.payload))
      if (found) {
        found.taken = true
        return found.payload
      }
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`no matching "${event}" within ${ms} ms; received: ${this.names().join(', ') || 'nothing'}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.wakers.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
  }

  names(): string[] {
    return this.events.map((e) => e.event)
  }
}

/** Opens a socket the way a client does: listeners first, then its first emit at once or on `connect`. */
function open(t: TestContext, url: string, options: object, first?: { event: string; payload: unknown; when: 'at once' | 'on connect' }): Recorder {
  const socket = io(url, options)
  t.after(() => {
    socket.disconnect()
  })
  const recorder = new Recorder(socket)
  if (first?.when === 'on connect') socket.on('connect', () => socket.emit(first.event, first.payload))
  // The dashboard emits right after io(), before the connection is up; socket.io-client buffers it.
  if (first?.when === 'at once') socket.emit(first.event, first.payload)
  return recorder
}

interface Answer {
  status: number
  headers: Headers
  bytes: Buffer
  body: Json
}

async function send(url: string, method: string, headers: Record<string, string>, body?: unknown): Promise<Answer> {
  const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  const bytes = Buffer.from(await res.arrayBuffer())
  const json = (res.headers.get('content-type') ?? '').includes('json') && bytes.length > 0
  return { status: res.status, headers: res.headers, bytes, body: json ? JSON.parse(bytes.toString('utf8')) : undefined }
}

interface Ctx {
  t: TestContext
  mode: Mode
  apiUrl: string
  socketUrl: string
  tokens: { victim?: string; dashboard?: string; police?: string }
  /** Raised by the phone over REST (online mode). */
  sos1?: { id: number; room_id: string; sos_token: string }
  /** Raised by the phone over the socket (offline mode). */
  sos2?: { id: number; room_id: string; name: string }
  /** The image a setup step uploaded (no original client uploads images). */
  upload?: { image: string; image_url: string }
  /** The image_url the dashboard got from get-sos-images (only when that fetch succeeded). */
  dashboardImageUrl?: string
  sockets: Partial<Record<SocketName, Recorder>>
}

/** An event some client receives as a consequence of a request or emit. */
interface Push {
  to: SocketName
  event: string
  match?: (payload: Json, c: Ctx) => boolean
  check: (payload: Json, c: Ctx) => void
}

interface HttpExpect {
  status: number
  /** Secure mode only: why this answer is a deliberate refusal or restriction. */
  refusal?: string
  /** The fields the client reads from the answer (and what the next rows need from it). */
  reads?: (body: Json, c: Ctx, answer: Answer) => void
  pushes?: Push[]
}

interface SocketExpect {
  refusal?: string
  answers: Push[]
}

interface Common {
  /** The request's number in docs/original-clients.md. */
  ref: string
  client: 'phone app (victim)' | 'phone app (police)' | 'dashboard'
  /** Where the request is made in the original client. */
  source: string
  /** The request as it appears in the test name. */
  label: string
}

type Row =
  | (Common & {
      kind: 'http'
      method: string
      /** A path on the API, or an absolute URL (the dashboard's <img src>). */
      url: (c: Ctx) => string
      headers: (c: Ctx) => Record<string, string>
      body?: (c: Ctx) => unknown
      legacy: HttpExpect
      secure: HttpExpect
    })
  | (Common & {
      kind: 'connect'
      name: SocketName
      options: object
      first?: { event: string; payload: (c: Ctx) => unknown; when: 'at once' | 'on connect' }
      legacy: SocketExpect
      secure: SocketExpect
    })
  | (Common & { kind: 'emit'; from: SocketName; event: string; payload: (c: Ctx) => unknown; legacy: SocketExpect; secure: SocketExpect })
  | { kind: 'setup'; label: string; run: (c: Ctx) => Promise<void> }

/** Secure mode's refusal of an HTTP request: 401/403 in DRF's shape. */
function refusedHttp(status: 401 | 403, refusal: string): HttpExpect {
  return { status, refusal, reads: (body) => assert.deepEqual(body, { detail: status === 401 ? NOT_AUTHENTICATED : FORBIDDEN }) }
}

/** Secure mode's refusal of a socket emit from a connection without a token: an `error` event, the socket stays up. */
function refusedEmit(from: SocketName, event: string, refusal: string, extra: Push[] = []): SocketExpect {
  return {
    refusal,
    answers: [
      ...extra,
      {
        to: from,
        event: 'error',
        match: (p) => p.event === event,
        check: (p, c) => {
          assert.equal(p.code, 'not_authenticated')
          assert.equal(p.message, NOT_AUTHENTICATED)
          assert.equal(c.sockets[from]?.socket.connected, true, 'the socket stays connected')
        },
      },
    ],
  }
}

const connected = (name: SocketName): Push => ({ to: name, event: 'connection_established', check: (p) => assert.equal(typeof p.message, 'string') })

const at = (latitude: number) => (p: Json) => p.latitude === latitude

const ROWS: Row[] = [
  // ── Phone app: account ─────────────────────────────────────────────────────────────────────────────
  {
    kind: 'http',
    client: 'phone app (victim)',
    ref: 'P1',
    source: 'services.tsx authApi.register (SignUpScreen)',
    label: 'POST /auth/users/ {username, email, password, re_password}',
    method: 'POST',
    url: () => '/auth/users/',
    headers: () => JSON_CT,
    body: () => ({ username: 'priya', email: 'priya@example.org', password: PASSWORDS.victim, re_password: PASSWORDS.victim }),
    legacy: { status: 201, reads: (b) => assert.deepEqual([Number.isInteger(b.id), b.username, b.email], [true, 'priya', 'priya@example.org']) },
    secure: { status: 201, reads: (b) => assert.deepEqual([Number.isInteger(b.id), b.username, b.email], [true, 'priya', 'priya@example.org']) },
  },
  {
    kind: 'http',
    client: 'phone app (victim)',
    ref: 'P2',
    source: 'services.tsx authApi.login (UserLoginScreen → AuthContext.login)',
    label: 'POST /auth/token/login/ {username, password}',
    method: 'POST',
    url: () => '/auth/token/login/',
    headers: () => JSON_CT,
    body: () => ({ username: 'priya', password: PASSWORDS.victim }),
    legacy: { status: 200, reads: (b, c) => void (c.tokens.victim = keepToken(b)) },
    secure: { status: 200, reads: (b, c) => void (c.tokens.victim = keepToken(b)) },
  },
  {
    kind: 'http',
    client: 'phone app (victim)',
    ref: 'P3',
    source: 'services.tsx authApi.getCurrentUser (after login; before raising an SOS)',
    label: 'GET /auth/users/me/ with Authorization: Token <key>',
    method: 'GET',
    url: () => '/auth/users/me/',
    headers: (c) => phoneAuth(c.tokens.victim),
    legacy: { status: 200, reads: (b) => assert.deepEqual([b.username, b.email], ['priya', 'priya@example.org']) },
    secure: { status: 200, reads: (b) => assert.deepEqual([b.username, b.email], ['priya', 'priya@example.org']) },
  },
  {
    kind: 'http',
    client: 'phone app (victim)',
    ref: 'P4',
    source: 'UserDashboardScreen handleEmergencyPress → getCurrentUser, nobody signed in (the app then names the SOS "guest")',
    label: 'GET /auth/users/me/ with Authorization: Token null',
    method: 'GET',
    url: () => '/auth/users/me/',
    headers: () => phoneAuth(null),
    legacy: { status: 401, reads: (b) => assert.deepEqual(b, { detail: 'Invalid token.' }) },
    secure: { status: 401, reads: (b) => assert.deepEqual(b, { detail: 'Invalid token.' }) },
  },

  // ── Dashboard: login, list, live channel ───────────────────────────────────────────────────────────
  {
    kind: 'http',
    client: 'dashboard',
    ref: 'D1',
    source: 'authService.js login (LoginModal), wrong password',
    label: 'POST /auth/token/login/ {username, password}',
    method: 'POST',
    url: () => '/auth/token/login/',
    headers: () => JSON_CT,
    body: () => ({ username: 'control1', password: 'not-the-password' }),
    legacy: { status: 400, reads: (b) => assert.equal(b.non_field_errors?.[0], 'Unable to log in with provided credentials.') },
    secure: { status: 400, reads: (b) => assert.equal(b.non_field_errors?.[0], 'Unable to log in with provided credentials.') },
  },
  {
    kind: 'http',
    client: 'dashboard',
    ref: 'D1',
    source: 'authService.js login (LoginModal → AuthContext.login)',
    label: 'POST /auth/token/login/ {username, password}',
    method: 'POST',
    url: () => '/auth/token/login/',
    headers: () => JSON_CT,
    body: () => ({ username: 'control1', password: PASSWORDS.dashboard }),
    legacy: { status: 200, reads: (b, c) => void (c.tokens.dashboard = keepToken(b)) },
    secure: { status: 200, reads: (b, c) => void (c.tokens.dashboard = keepToken(b)) },
  },
  {
    kind: 'http',
    client: 'dashboard',
    ref: 'D2',
    source: 'authService.js getCurrentUser / validateToken (after login; on every page load)',
    label: 'GET /auth/users/me/ with Authorization: Token <key>',
    method: 'GET',
    url: () => '/auth/users/me/',
    headers: (c) => ({ ...JSON_CT, Authorization: `Token ${c.tokens.dashboard}` }),
    legacy: { status: 200, reads: (b) => assert.equal(b.username, 'control1') },
    secure: { status: 200, reads: (b) => assert.equal(b.username, 'control1') },
  },
  {
    kind: 'http',
    client: 'dashboard',
    ref: 'D5',
    source: 'Dashboard.jsx fetchSOSData (on mount), nothing raised yet',
    label: 'GET /api/sos/ with getAuthHeaders()',
    method: 'GET',
    url: () => '/api/sos/',
    headers: (c) => dashboardAuth(c.tokens.dashboard),
    legacy: { status: 200, reads: (b) => assert.deepEqual(b, []) },
    secure: { status: 200, reads: (b) => assert.deepEqual(b, []) },
  },
  {
    kind: 'connect',
    client: 'dashboard',
    ref: 'D10',
    source: 'socketService.js connect() + joinSOSChannel() (Dashboard.jsx mount; emitted before the socket is up)',
    label: "io(':8001', {cors, transports: ['websocket','polling']}), emit join_sos_channel {}",
    name: 'dashboard',
    options: DASHBOARD_IO,
    first: { event: 'join_sos_channel', payload: () => ({}), when: 'at once' },
    legacy: {
      answers: [connected('dashboard'), { to: 'dashboard', event: 'room_joined', check: (p) => assert.equal(p.channel, 'sos_channel') }],
    },
    secure: refusedEmit('dashboard', 'join_sos_channel', 'the live SOS feed is for staff, and this handshake carries no token', [connected('dashboard')]),
  },

  // ── Police app: login and unit room ────────────────────────────────────────────────────────────────
  {
    kind: 'http',
    client: 'phone app (police)',
    ref: 'P2',
    source: 'services.tsx authApi.login (PoliceLoginScreen: the username is the unit id)',
    label: 'POST /auth/token/login/ {username, password}',
    method: 'POST',
    url: () => '/auth/token/login/',
    headers: () => JSON_CT,
    body: () => ({ username: 'UNIT007', password: PASSWORDS.police }),
    legacy: { status: 200, reads: (b, c) => void (c.tokens.police = keepToken(b)) },
    secure: { status: 200, reads: (b, c) => void (c.tokens.police = keepToken(b)) },
  },
  {
    kind: 'http',
    client: 'phone app (police)',
    ref: 'P3',
    source: 'services.tsx authApi.getCurrentUser (after login)',
    label: 'GET /auth/users/me/ with Authorization: Token <key>',
    method: 'GET',
    url: () => '/auth/users/me/',
    headers: (c) => phoneAuth(c.tokens.police),
    legacy: { status: 200, reads: (b) => assert.equal(b.username, 'UNIT007') },
    secure: { status: 200, reads: (b) => assert.equal(b.username, 'UNIT007') },
  },
  {
    kind: 'connect',
    client: 'phone app (police)',
    ref: 'P12',
    source: "PoliceDashboardScreen initializeSocket(): on 'connect', join_officer_room",
    label: "io(':8001', {transports: ['websocket'], timeout: 20000}), emit join_officer_room {unit_number}",
    name: 'police',
    options: POLICE_IO,
    first: { event: 'join_officer_room', payload: () => ({ unit_number: 'UNIT007' }), when: 'on connect' },
    legacy: { answers: [connected('police'), { to: 'police', event: 'room_joined', check: (p) => assert.equal(p.unit_number, 'UNIT007') }] },
    secure: refusedEmit('police', 'join_officer_room', "a unit room carries victims' positions: officers of that unit only, and this handshake carries no token", [connected('police')]),
  },

  // ── The phone raises an SOS and streams positions ──────────────────────────────────────────────────
  {
    kind: 'http',
    client: 'phone app (victim)',
    ref: 'P6',
    source: 'services.tsx sosApi.createSOS (UserDashboardScreen handleEmergencyPress, online; never sends the token)',
    label: 'POST /api/create-sos/ {name, sos_type, initial_latitude, initial_longitude}',
    method: 'POST',
    url: () => '/api/create-sos/',
    headers: () => JSON_CT,
    body: () => ({ name: 'priya', sos_type: 0, initial_latitude: 28.6139, initial_longitude: 77.209 }),
    legacy: {
      status: 201,
      reads: (b, c) => keepSos1(b, c),
      pushes: [
        {
          to: 'dashboard',
          event: 'new_sos',
          check: (p, c) => {
            assert.deepEqual(
              { sos_id: p.sos_id, room_id: p.room_id, name: p.name, sos_type: p.sos_type, latitude: p.latitude, longitude: p.longitude },
              { sos_id: c.sos1?.id, room_id: c.sos1?.room_id, name: 'priya', sos_type: 0, latitude: 28.6139, longitude: 77.209 },
            )
            assert.ok(!Number.isNaN(Date.parse(p.created_at)))
          },
        },
      ],
    },
    secure: { status: 201, reads: (b, c) => keepSos1(b, c) },
  },
  {
    kind: 'http',
    client: 'dashboard',
    ref: 'D5',
    source: 'Dashboard.jsx fetchSOSData (Refresh)',
    label: 'GET /api/sos/ with getAuthHeaders()',
    method: 'GET',
    url: () => '/api/sos/',
    headers: (c) => dashboardAuth(c.tokens.dashboard),
    legacy: { status: 200, reads: (b, c) => assertDashboardRow(b, c) },
    secure: { status: 200, reads: (b, c) => assertDashboardRow(b, c) },
  },
  {
    kind: 'emit',
    client: 'dashboard',
    ref: 'D11',
    source: 'socketService.js joinSOSRoom (Dashboard.jsx handleSubscribeRoom, "Subscribe to Room")',
    label: 'emit join_sos_room {room_id}',
    from: 'dashboard',
    event: 'join_sos_room',
    payload: (c) => ({ room_id: c.sos1?.room_id }),
    legacy: { answers: [{ to: 'dashboard', event: 'room_joined', match: (p) => 'room_id' in p, check: (p, c) => assert.equal(p.room_id, c.sos1?.room_id) }] },
    secure: refusedEmit('dashboard', 'join_sos_room', "an SOS room streams the victim's position: staff or the victim's sos_token only"),
  },
  {
    kind: 'http',
    client: 'phone app (victim)',
    ref: 'P7',
    source: 'services.tsx sosApi.updateLocation (UserDashboardScreen updateLocationToSOS, every 5 s)',
    label: 'POST /api/update-location/ {sos_request, latitude, longitude}',
    method: 'POST',
    url: () => '/api/update-location/',
    headers: () => JSON_CT,
    body: (c) => ({ sos_request: c.sos1?.id, latitude: 28.6145, longitude: 77.2101 }),
    legacy: {
      status: 201,
      reads: (b) => assert.equal(b.status, 'Location updated successfully'),
      pushes: [
        {
          to: 'dashboard',
          event: 'location_history',
          match: at(28.6145),
          check: (p, c) => assert.deepEqual([p.sos_id, p.latitude, p.longitude], [c.sos1?.id, 28.6145, 77.2101]),
        },
      ],
    },
    secure: refusedHttp(401, "only the victim's device (sos_token), the owner or staff may add positions; the original let anyone move any SOS by its id"),
  },
  {
    kind: 'http',
    client: 'dashboard',
    ref: 'D8',
    source: 'Dashboard.jsx handleAssignOfficer ("Assign Officer")',
    label: 'POST /api/assign-officer/ {sos_request, officer_name, unit_number}',
    method: 'POST',
    url: () => '/api/assign-officer/',
    headers: (c) => ({ ...JSON_CT, ...dashboardAuth(c.tokens.dashboard) }),
    body: (c) => ({ sos_request: c.sos1?.id, officer_name: 'SI Meera', unit_number: 'UNIT007' }),
    legacy: { status: 201, reads: (b, c) => assertAssigned(b, c) },
    secure: { status: 201, reads: (b, c) => assertAssigned(b, c) },
  },
  {
    kind: 'http',
    client: 'phone app (victim)',
    ref: 'P7',
    source: 'services.tsx sosApi.updateLocation (next tick, now that a unit is dispatched)',
    label: 'POST /api/update-location/ {sos_request, latitude, longitude}',
    method: 'POST',
    url: () => '/api/update-location/',
    headers: () => JSON_CT,
    body: (c) => ({ sos_request: c.sos1?.id, latitude: 28.6152, longitude: 77.2113 }),
    legacy: {
      status: 201,
      reads: (b) => assert.equal(b.status, 'Location updated successfully'),
      pushes: [
        {
          // PoliceDashboardScreen drops a point unless sos_id is truthy and latitude/longitude are numbers.
          to: 'police',
          event: 'unit_location_update',
          check: (p, c) => {
            assert.deepEqual([p.sos_id, p.latitude, p.longitude], [c.sos1?.id, 28.6152, 77.2113])
            assert.ok(!Number.isNaN(Date.parse(p.timestamp)))
          },
        },
        { to: 'dashboard', event: 'location_history', match: at(28.6152), check: (p, c) => assert.equal(p.sos_id, c.sos1?.id) },
      ],
    },
    secure: refusedHttp(401, "only the victim's device (sos_token), the owner or staff may add positions"),
  },
  {
    kind: 'emit',
    client: 'dashboard',
    ref: 'D12',
    source: 'socketService.js joinOfficerTrackingChannel (Dashboard.jsx "Track Police Units")',
    label: 'emit join_officer_update {}',
    from: 'dashboard',
    event: 'join_officer_update',
    payload: () => ({}),
    // The original answered channel "location_tracking_channel" here (sic); the dashboard only logs it.
    legacy: { answers: [{ to: 'dashboard', event: 'room_joined', match: (p) => 'channel' in p && p.channel !== 'sos_channel', check: (p) => assert.equal(typeof p.message, 'string') }] },
    secure: refusedEmit('dashboard', 'join_officer_update', "officers' positions are for staff, and this handshake carries no token"),
  },
  {
    kind: 'emit',
    client: 'phone app (police)',
    ref: 'P13',
    source: 'PoliceDashboardScreen emitUnitLocation (every 5 s)',
    label: 'emit officer_location_update {unit_id, latitude, longitude, timestamp}',
    from: 'police',
    event: 'officer_location_update',
    payload: () => ({ unit_id: 'UNIT007', latitude: 28.61, longitude: 77.2, timestamp: new Date().toISOString() }),
    legacy: {
      // Dashboard.jsx handleUnitLocationUpdate keeps a unit only with a truthy unit_id, latitude and longitude.
      answers: [{ to: 'dashboard', event: 'unit_loc', check: (p) => assert.deepEqual([p.unit_id, p.latitude, p.longitude], ['UNIT007', 28.61, 77.2]) }],
    },
    secure: refusedEmit('police', 'officer_location_update', "only a signed-in officer may report its own unit's position; the original let anyone place any unit anywhere"),
  },

  // ── Evidence photos ────────────────────────────────────────────────────────────────────────────────
  {
    kind: 'setup',
    label: 'setup: one photo is uploaded for the SOS (no original client uploads; legacy: anonymously, as the original allowed; secure: with X-SOS-Token)',
    run: async (c) => {
      const form = new FormData()
      form.append('sos_id', String(c.sos1?.id))
      form.append('images', new Blob([IMAGES.png], { type: 'image/png' }), 'street.png')
      form.append('descriptions', 'Street sign near me')
      const headers: Record<string, string> = c.mode === 'secure' ? { 'X-SOS-Token': c.sos1?.sos_token ?? '' } : {}
      const res = await fetch(`${c.apiUrl}/api/upload-sos-images/`, { method: 'POST', headers, body: form })
      assert.equal(res.status, 201)
      const [image] = (await res.json()).uploaded_images
      c.upload = { image: image.image, image_url: image.image_url }
    },
  },
  {
    kind: 'http',
    client: 'dashboard',
    ref: 'D6',
    source: 'Dashboard.jsx fetchSOSImages (row expanded; sends no Authorization header)',
    label: 'GET /api/get-sos-images/{id}/',
    method: 'GET',
    url: (c) => `/api/get-sos-images/${c.sos1?.id}/`,
    headers: () => JSON_CT,
    legacy: {
      status: 200,
      reads: (b, c) => {
        assert.equal(b.status, 'success')
        assert.equal(b.images.length, 1)
        assert.deepEqual([b.images[0].description, Number.isNaN(Date.parse(b.images[0].uploaded_at))], ['Street sign near me', false])
        c.dashboardImageUrl = b.images[0].image_url
      },
    },
    secure: refusedHttp(401, 'evidence photos are as private as the SOS, and this fetch sends no Authorization header'),
  },
  {
    kind: 'http',
    client: 'dashboard',
    ref: 'D6',
    source: 'Dashboard.jsx fetchSOSImages, an SOS that does not exist (the dashboard shows "no images")',
    label: 'GET /api/get-sos-images/999999/',
    method: 'GET',
    url: () => '/api/get-sos-images/999999/',
    headers: () => JSON_CT,
    legacy: { status: 404, reads: (b) => assert.deepEqual(b, { status: 'error', message: 'SOS request not found' }) },
    // Without credentials an unknown id answers like a known one, so ids cannot be probed (issue 14).
    secure: refusedHttp(401, 'no credentials: 401 before the lookup, for existing and missing ids alike'),
  },
  {
    kind: 'http',
    client: 'dashboard',
    ref: 'D7',
    source: 'Dashboard.jsx image carousel <img src={image_url}> (a browser request: no custom headers)',
    label: 'GET image_url',
    method: 'GET',
    // Secure: the dashboard got no image_url (the list was refused); what is left is the bare media path.
    url: (c) => c.dashboardImageUrl ?? `${c.apiUrl}${c.upload?.image}`,
    headers: () => ({}),
    legacy: {
      status: 200,
      reads: (_b, c, res) => {
        assert.ok(c.dashboardImageUrl?.startsWith(`${c.apiUrl}/media/sos_images/`), 'an absolute link on the API host')
        assert.equal(res.headers.get('content-type'), 'image/png')
        assert.deepEqual(res.bytes, IMAGES.png)
      },
    },
    secure: refusedHttp(401, 'a media path without a valid signature needs a token; signed image_urls go only to those who may see the SOS'),
  },

  // ── services.tsx functions no screen calls (still part of the client) ─────────────────────────────
  {
    kind: 'http',
    client: 'phone app (victim)',
    ref: 'P8',
    source: 'services.tsx sosApi.getAllSOS (defined; no screen calls it)',
    label: 'GET /api/sos/ with Authorization: Token <key>',
    method: 'GET',
    url: () => '/api/sos/',
    headers: (c) => phoneAuth(c.tokens.victim),
    legacy: { status: 200, reads: (b, c) => assert.deepEqual(b.map((s: Json) => s.id), [c.sos1?.id]) },
    secure: { status: 200, refusal: 'a citizen lists only the SOS raised while signed in, and the app raises them anonymously', reads: (b) => assert.deepEqual(b, []) },
  },
  {
    kind: 'http',
    client: 'phone app (victim)',
    ref: 'P9',
    source: 'services.tsx sosApi.getSOS (defined; no screen calls it)',
    label: 'GET /api/sos/{id}/ with Authorization: Token <key>',
    method: 'GET',
    url: (c) => `/api/sos/${c.sos1?.id}/`,
    headers: (c) => phoneAuth(c.tokens.victim),
    legacy: { status: 200, reads: (b, c) => assert.deepEqual([b.id, b.location_updates.length, b.unit_number_dispatched], [c.sos1?.id, 2, 'UNIT007']) },
    secure: refusedHttp(403, "a citizen may read only their own SOS; the victim's device would present X-SOS-Token"),
  },
  {
    kind: 'http',
    client: 'phone app (victim)',
    ref: 'P10',
    source: 'services.tsx sosApi.assignOfficer (defined; no screen calls it)',
    label: 'POST /api/assign-officer/ {sos_request, officer_name, unit_number}',
    method: 'POST',
    url: () => '/api/assign-officer/',
    headers: (c) => phoneAuth(c.tokens.victim),
    body: (c) => ({ sos_request: c.sos1?.id, officer_name: 'SI Meera', unit_number: 'UNIT007' }),
    legacy: { status: 201, reads: (b, c) => assertAssigned(b, c) },
    secure: refusedHttp(403, 'dispatching a unit is for dispatchers and admins'),
  },

  // ── The phone's offline mode (the original's relay on :8002; here the same server on :8001) ───────
  {
    kind: 'connect',
    client: 'phone app (victim)',
    ref: 'P14',
    source: 'UserDashboardScreen initializeWebSocket() (no internet: the Google probe failed)',
    label: "io(':8001', {transports: ['websocket'], timeout, reconnection, reconnectionAttempts, reconnectionDelay})",
    name: 'offline',
    options: OFFLINE_IO,
    legacy: { answers: [connected('offline')] },
    secure: { answers: [connected('offline')] },
  },
  {
    kind: 'emit',
    client: 'phone app (victim)',
    ref: 'P14',
    source: 'UserDashboardScreen handleEmergencyPress, offline',
    label: 'emit create_sos {name: "Emergency-<ms>", sos_type, initial_latitude, initial_longitude}',
    from: 'offline',
    event: 'create_sos',
    payload: (c) => {
      c.sos2 = { id: 0, room_id: '', name: `Emergency-${Date.now()}` }
      return { name: c.sos2.name, sos_type: 0, initial_latitude: 28.5355, initial_longitude: 77.391 }
    },
    legacy: {
      answers: [
        { to: 'offline', event: 'create_sos_response', check: (p, c) => keepSos2(p, c) },
        { to: 'dashboard', event: 'new_sos', check: (p, c) => assert.deepEqual([p.sos_id, p.name, p.latitude], [c.sos2?.id, c.sos2?.name, 28.5355]) },
      ],
    },
    secure: { answers: [{ to: 'offline', event: 'create_sos_response', check: (p, c) => keepSos2(p, c) }] },
  },
  {
    kind: 'emit',
    client: 'phone app (victim)',
    ref: 'P15',
    source: 'UserDashboardScreen updateLocationToSOS, offline',
    label: 'emit update_location {sos_request, latitude, longitude}',
    from: 'offline',
    event: 'update_location',
    payload: (c) => ({ sos_request: c.sos2?.id, latitude: 28.536, longitude: 77.3915 }),
    legacy: { answers: [{ to: 'offline', event: 'update_location_response', check: (p) => assert.deepEqual([p.success, p.data?.status], [true, 'Location updated successfully']) }] },
    secure: refusedEmit('offline', 'update_location', 'positions need the sos_token, which the app does not send', [
      // UserDashboardScreen shows data.error in a toast.
      { to: 'offline', event: 'update_location_response', check: (p) => assert.deepEqual([p.success, p.error], [false, NOT_AUTHENTICATED]) },
    ]),
  },

  // ── Closing ────────────────────────────────────────────────────────────────────────────────────────
  {
    kind: 'http',
    client: 'phone app (police)',
    ref: 'P11',
    source: 'services.tsx sosApi.resolveSOS (PoliceAlertsScreen handleResolveSOS; no body)',
    label: 'POST /api/resolve-sos/{id}/ with no body',
    method: 'POST',
    url: (c) => `/api/resolve-sos/${c.sos1?.id}/`,
    headers: (c) => phoneAuth(c.tokens.police),
    legacy: { status: 200, reads: (b, c) => assertResolved(b, c.sos1?.id) },
    // Secure: allowed, the account is an officer of the dispatched unit.
    secure: { status: 200, reads: (b, c) => assertResolved(b, c.sos1?.id) },
  },
  {
    kind: 'http',
    client: 'dashboard',
    ref: 'D9',
    source: 'Dashboard.jsx handleResolveSOS ("Mark as Resolved"; no body)',
    label: 'POST /api/resolve-sos/{id}/ with no body',
    method: 'POST',
    url: (c) => `/api/resolve-sos/${c.sos2?.id}/`,
    headers: (c) => ({ ...JSON_CT, ...dashboardAuth(c.tokens.dashboard) }),
    legacy: { status: 200, reads: (b, c) => assertResolved(b, c.sos2?.id) },
    secure: { status: 200, reads: (b, c) => assertResolved(b, c.sos2?.id) },
  },
  {
    kind: 'http',
    client: 'dashboard',
    ref: 'D9',
    source: 'Dashboard.jsx handleResolveSOS, an SOS that no longer exists ("SOS not found. It may have been deleted.")',
    label: 'POST /api/resolve-sos/999999/ with no body',
    method: 'POST',
    url: () => '/api/resolve-sos/999999/',
    headers: (c) => ({ ...JSON_CT, ...dashboardAuth(c.tokens.dashboard) }),
    legacy: { status: 404, reads: (b) => assert.deepEqual(b, { error: 'SOS not found' }) },
    secure: { status: 404, reads: (b) => assert.deepEqual(b, { error: 'SOS not found' }) },
  },

  // ── Logging out ────────────────────────────────────────────────────────────────────────────────────
  {
    kind: 'http',
    client: 'phone app (victim)',
    ref: 'P5',
    source: 'services.tsx authApi.logout (ProfileScreen, PoliceDashboardScreen; no body)',
    label: 'POST /auth/token/logout/ with no body',
    method: 'POST',
    url: () => '/auth/token/logout/',
    headers: (c) => phoneAuth(c.tokens.victim),
    legacy: { status: 204, reads: (_b, _c, res) => assert.equal(res.bytes.length, 0) },
    secure: { status: 204, reads: (_b, _c, res) => assert.equal(res.bytes.length, 0) },
  },
  {
    kind: 'http',
    client: 'dashboard',
    ref: 'D3',
    source: 'authService.js logout ("Logout"; no body)',
    label: 'POST /auth/token/logout/ with no body',
    method: 'POST',
    url: () => '/auth/token/logout/',
    headers: (c) => ({ ...JSON_CT, Authorization: `Token ${c.tokens.dashboard}` }),
    legacy: { status: 204 },
    secure: { status: 204 },
  },
  {
    kind: 'http',
    client: 'dashboard',
    ref: 'D2',
    source: 'authService.js validateToken (page reload with the logged-out token still in localStorage)',
    label: 'GET /auth/users/me/ with the revoked token',
    method: 'GET',
    url: () => '/auth/users/me/',
    headers: (c) => ({ ...JSON_CT, Authorization: `Token ${c.tokens.dashboard}` }),
    legacy: { status: 401, reads: (b) => assert.deepEqual(b, { detail: 'Invalid token.' }) },
    secure: { status: 401, reads: (b) => assert.deepEqual(b, { detail: 'Invalid token.' }) },
  },
  {
    kind: 'http',
    client: 'dashboard',
    ref: 'D4',
    source: 'authService.js register (AuthContext.register; no screen calls it), passwords differ',
    label: 'POST /auth/users/ {username, password, re_password, email}',
    method: 'POST',
    url: () => '/auth/users/',
    headers: () => JSON_CT,
    body: () => ({ username: 'control2', password: 'Kavach-Control-2026', re_password: 'Kavach-Control-2027', email: 'c2@example.org' }),
    // The dashboard shows Object.values(data).flat().join(', ').
    legacy: { status: 400, reads: (b) => assert.deepEqual(b, { non_field_errors: ["The two password fields didn't match."] }) },
    secure: { status: 400, reads: (b) => assert.deepEqual(b, { non_field_errors: ["The two password fields didn't match."] }) },
  },
  {
    kind: 'http',
    client: 'dashboard',
    ref: 'D4',
    source: 'authService.js register (AuthContext.register; no screen calls it)',
    label: 'POST /auth/users/ {username, password, re_password, email}',
    method: 'POST',
    url: () => '/auth/users/',
    headers: () => JSON_CT,
    body: () => ({ username: 'control2', password: 'Kavach-Control-2026', re_password: 'Kavach-Control-2026', email: 'c2@example.org' }),
    legacy: { status: 201, reads: (b) => assert.equal(b.username, 'control2') },
    secure: { status: 201, reads: (b) => assert.equal(b.username, 'control2') },
  },
]

function keepToken(body: Json): string {
  assert.equal(typeof body.auth_token, 'string')
  assert.ok(body.auth_token.length >= 20)
  return body.auth_token
}

function keepSos1(body: Json, c: Ctx) {
  assert.deepEqual([body.status, body.message], ['success', 'SOS created successfully'])
  assert.ok(Number.isInteger(body.sos_id))
  assert.match(body.room_id, UUID)
  c.sos1 = { id: body.sos_id, room_id: body.room_id, sos_token: body.sos_token }
}

/** create_sos_response as UserDashboardScreen reads it: success and data.sos_id. */
function keepSos2(p: Json, c: Ctx) {
  assert.equal(p.success, true)
  assert.equal(p.data.status, 'success')
  assert.ok(Number.isInteger(p.data.sos_id))
  assert.match(p.data.room_id, UUID)
  c.sos2 = { id: p.data.sos_id, room_id: p.data.room_id, name: c.sos2?.name ?? '' }
}

/** The fields Dashboard.jsx copies out of each SOS of GET /api/sos/. */
function assertDashboardRow(body: Json, c: Ctx) {
  assert.ok(Array.isArray(body), 'a plain array (the dashboard calls data.map)')
  assert.equal(body.length, 1)
  const sos = body[0]
  assert.deepEqual(
    {
      id: sos.id,
      name: sos.name,
      sos_type: sos.sos_type,
      status_flag: sos.status_flag,
      acknowledged_flag: sos.acknowledged_flag,
      initial_latitude: sos.initial_latitude,
      initial_longitude: sos.initial_longitude,
      unit_number_dispatched: sos.unit_number_dispatched,
      room_id: sos.room_id,
    },
    { id: c.sos1?.id, name: 'priya', sos_type: 0, status_flag: 0, acknowledged_flag: 0, initial_latitude: 28.6139, initial_longitude: 77.209, unit_number_dispatched: null, room_id: c.sos1?.room_id },
  )
  assert.ok(!Number.isNaN(Date.parse(sos.created_at)))
}

function assertAssigned(body: Json, c: Ctx) {
  assert.equal(body.status, 'Officer assigned successfully')
  assert.deepEqual([body.officer.sos_request, body.officer.officer_name, body.officer.unit_number], [c.sos1?.id, 'SI Meera', 'UNIT007'])
}

function assertResolved(body: Json, id: number | undefined) {
  assert.equal(body.status, 'SOS marked as resolved successfully')
  assert.deepEqual([body.sos.id, body.sos.status_flag], [id, 1])
}

function titleOf(row: Row, mode: Mode): string {
  if (row.kind === 'setup') return row.label
  const expect = row[mode]
  const outcome = 'status' in expect ? `${expect.status}` : expect.answers.map((a) => a.event).join(' + ')
  const why = mode === 'secure' && expect.refusal ? ` (deliberate: ${expect.refusal})` : ''
  return `${row.ref} · ${row.client} · ${row.source} · ${row.label} → ${outcome}${why}`
}

async function runRow(c: Ctx, row: Row): Promise<void> {
  if (row.kind === 'setup') return row.run(c)
  let pushes: Push[]
  if (row.kind === 'http') {
    const expect = row[c.mode]
    const target = row.url(c)
    const url = target.startsWith('http') ? target : `${c.apiUrl}${target}`
    assert.ok(url.startsWith('http://127.0.0.1:'), 'traffic stays on this machine')
    const answer = await send(url, row.method, row.headers(c), row.body?.(c))
    assert.equal(answer.status, expect.status, `answer: ${answer.bytes.toString('utf8').slice(0, 300)}`)
    expect.reads?.(answer.body, c, answer)
    pushes = expect.pushes ?? []
  } else if (row.kind === 'connect') {
    const first = row.first && { event: row.first.event, payload: row.first.payload(c), when: row.first.when }
    c.sockets[row.name] = open(c.t, c.socketUrl, row.options, first)
    pushes = row[c.mode].answers
  } else {
    const from = c.sockets[row.from]
    assert.ok(from, `${row.from} socket is open`)
    from.socket.emit(row.event, row.payload(c))
    pushes = row[c.mode].answers
  }
  for (const push of pushes) {
    const recorder = c.sockets[push.to]
    assert.ok(recorder, `${push.to} socket is open`)
    push.check(await recorder.take(push.event, (p) => push.match?.(p, c) ?? true), c)
  }
}

/** Server events that carry victims' or officers' data (as opposed to answers about the connection). */
const DATA_EVENTS = ['new_sos', 'sos_snapshot', 'location_history', 'location_snapshot', 'location_tracking_update', 'unit_location_update', 'unit_loc', 'unit_snapshot', 'sos_resolved']

for (const mode of ['legacy', 'secure'] as const) {
  test(`${mode} mode: every request of the unmodified phone app and dashboard, as they send it`, async (t) => {
    const { app, apiUrl, socketUrl } = await buildTestApp(t, { legacyOpenAccess: mode === 'legacy' })
    // The original had one kind of account. Secure mode needs staff, made by an admin or the CLI; the
    // police app's login field is the unit id, so the officer's username is its unit number.
    await app.services.auth.createUser({ username: 'control1', password: PASSWORDS.dashboard, role: mode === 'legacy' ? 'citizen' : 'dispatcher' })
    await app.services.auth.createUser(
      mode === 'legacy' ? { username: 'UNIT007', password: PASSWORDS.police, role: 'citizen' } : { username: 'UNIT007', password: PASSWORDS.police, role: 'officer', unitNumber: 'UNIT007' },
    )
    const c: Ctx = { t, mode, apiUrl, socketUrl, tokens: {}, sockets: {} }
    for (const row of ROWS) await t.test(titleOf(row, mode), () => runRow(c, row))

    if (mode === 'secure') {
      await t.test('secure: the unmodified dashboard and police sockets were sent no victim or officer data at all', () => {
        for (const name of ['dashboard', 'police'] as const) {
          const leaked = c.sockets[name]?.names().filter((event) => DATA_EVENTS.includes(event))
          assert.deepEqual(leaked, [], `${name} received ${leaked?.join(', ')}`)
        }
      })
    }
  })
}

// ── The browser's side of the dashboard's requests ─────────────────────────────────────────────────────

/**
 * Every dashboard fetch sends `Content-Type: application/json`, which makes the browser ask first
 * (CORS preflight), GETs included. The dashboard runs on Vite's dev server (http://localhost:5173; the
 * socket code names http://localhost:3000): both are in the default CORS_ORIGINS, as in the original's
 * django-cors-headers settings.
 */
const PREFLIGHTS = [
  { source: 'authService.js login / register', method: 'POST', path: '/auth/token/login/', requestHeaders: 'content-type' },
  { source: 'authService.js getCurrentUser', method: 'GET', path: '/auth/users/me/', requestHeaders: 'authorization,content-type' },
  { source: 'authService.js logout', method: 'POST', path: '/auth/token/logout/', requestHeaders: 'authorization,content-type' },
  { source: 'Dashboard.jsx fetchSOSData', method: 'GET', path: '/api/sos/', requestHeaders: 'authorization,content-type' },
  { source: 'Dashboard.jsx fetchSOSImages', method: 'GET', path: '/api/get-sos-images/1/', requestHeaders: 'content-type' },
  { source: 'Dashboard.jsx handleAssignOfficer', method: 'POST', path: '/api/assign-officer/', requestHeaders: 'authorization,content-type' },
  { source: 'Dashboard.jsx handleResolveSOS', method: 'POST', path: '/api/resolve-sos/1/', requestHeaders: 'authorization,content-type' },
]

for (const mode of ['legacy', 'secure'] as const) {
  test(`${mode} mode: the browser lets the dashboard's requests through (CORS preflights, answers, the socket's polling fallback)`, async (t) => {
    const { apiUrl, socketUrl } = await buildTestApp(t, { legacyOpenAccess: mode === 'legacy' })
    for (const origin of ['http://localhost:5173', 'http://localhost:3000']) {
      for (const p of PREFLIGHTS) {
        await t.test(`${origin} · ${p.source} · OPTIONS ${p.path} for ${p.method} with ${p.requestHeaders}`, async () => {
          const res = await fetch(`${apiUrl}${p.path}`, {
            method: 'OPTIONS',
            headers: { Origin: origin, 'Access-Control-Request-Method': p.method, 'Access-Control-Request-Headers': p.requestHeaders },
          })
          assert.ok(res.status >= 200 && res.status < 300, `preflight answered ${res.status}`)
          assert.equal(res.headers.get('access-control-allow-origin'), origin)
          const methods = (res.headers.get('access-control-allow-methods') ?? '').toUpperCase().split(/\s*,\s*/)
          assert.ok(methods.includes(p.method), `allowed methods: ${methods.join(', ')}`)
          const allowed = (res.headers.get('access-control-allow-headers') ?? '').toLowerCase().split(/\s*,\s*/)
          for (const header of p.requestHeaders.split(',')) assert.ok(allowed.includes(header), `${header} not in ${allowed.join(', ')}`)
        })
      }
      // The answer itself must carry the header too, refusals included, or the dashboard cannot read the
      // status (it would see "Failed to fetch" instead of a 401/404 it handles).
      await t.test(`${origin} · Dashboard.jsx fetchSOSData without a token · the 401 carries Access-Control-Allow-Origin`, async () => {
        const res = await fetch(`${apiUrl}/api/sos/`, { headers: { Origin: origin, ...dashboardAuth(undefined) } })
        assert.deepEqual([res.status, await res.json()], [401, { detail: NOT_AUTHENTICATED }])
        assert.equal(res.headers.get('access-control-allow-origin'), origin)
      })
      // socketService.js lists 'polling' as the fallback transport: its handshake is a cross-origin XHR.
      await t.test(`${origin} · socketService.js polling fallback · the Engine.IO handshake carries Access-Control-Allow-Origin`, async () => {
        const res = await fetch(`${socketUrl}/socket.io/?EIO=4&transport=polling`, { headers: { Origin: origin } })
        assert.equal(res.status, 200)
        assert.equal(res.headers.get('access-control-allow-origin'), origin)
        assert.match(await res.text(), /^0\{"sid":/)
      })
    }
  })
}

// ── The dashboard's location_history handler ───────────────────────────────────────────────────────────

interface MapRow {
  id: number
  latitude: number
  longitude: number
}

/**
 * What Dashboard.jsx handleLocationHistory does with a `location_history` payload, restated: the SOS row
 * whose id equals `payload.sos_id` takes `payload.latitude/longitude` as its marker position. A payload
 * with a top-level `sos_id` but no coordinates would move that marker to (undefined, undefined).
 */
function applyLocationHistory(rows: MapRow[], payload: Json): MapRow[] {
  return rows.map((row) => (row.id === payload.sos_id ? { ...row, latitude: payload.latitude, longitude: payload.longitude } : row))
}

for (const mode of ['legacy', 'secure'] as const) {
  test(`${mode} mode: join_sos_room sends no location_history without history; the replay has updates and no top-level sos_id, so the dashboard's markers stay put`, async (t) => {
    const { app, apiUrl, socketUrl } = await buildTestApp(t, { legacyOpenAccess: mode === 'legacy' })
    // Secure mode: the dashboard as patched in docs/clients.md (a dispatcher's token in the handshake).
    const staff = mode === 'secure' ? await createUser(app, 'dispatcher') : undefined
    const dashboard = open(t, socketUrl, staff ? { ...DASHBOARD_IO, auth: { token: staff.token } } : DASHBOARD_IO)
    await dashboard.take('connection_established')

    // The phone's own requests: create-sos, then update-location (with X-SOS-Token when secure).
    const raise = async (latitude: number, longitude: number) => {
      const res = await send(`${apiUrl}/api/create-sos/`, 'POST', JSON_CT, { name: 'priya', sos_type: 0, initial_latitude: latitude, initial_longitude: longitude })
      assert.equal(res.status, 201)
      return res.body as { sos_id: number; room_id: string; sos_token: string }
    }
    const move = async (sos: { sos_id: number; sos_token: string }, latitude: number, longitude: number) => {
      const headers = mode === 'secure' ? { ...JSON_CT, 'X-SOS-Token': sos.sos_token } : JSON_CT
      const res = await send(`${apiUrl}/api/update-location/`, 'POST', headers, { sos_request: sos.sos_id, latitude, longitude })
      assert.equal(res.status, 201)
    }
    const quiet = await raise(28.6, 77.2)
    const busy = await raise(19.076, 72.8777)
    await move(busy, 19.077, 72.878)
    await move(busy, 19.078, 72.879)
    let rows: MapRow[] = [
      { id: quiet.sos_id, latitude: 28.6, longitude: 77.2 },
      { id: busy.sos_id, latitude: 19.076, longitude: 72.8777 },
    ]
    const replays = () => dashboard.events.filter((e) => e.event === 'location_history').map((e) => e.payload)

    // The dashboard emits without an acknowledgement; the test adds one only to know when the server is
    // done: the ack is sent after the replay would have been, on the same connection.
    const first = await dashboard.socket.timeout(5000).emitWithAck('join_sos_room', { room_id: quiet.room_id })
    assert.equal(first.ok, true)
    assert.equal((await dashboard.take('room_joined', (p) => p.room_id === quiet.room_id)).room_id, quiet.room_id)
    assert.deepEqual(replays(), [], 'no history, no location_history event')

    const second = await dashboard.socket.timeout(5000).emitWithAck('join_sos_room', { room_id: busy.room_id })
    assert.equal(second.ok, true)
    assert.equal(replays().length, 1)
    const [replay] = replays()
    assert.equal('sos_id' in replay, false, 'no top-level sos_id')
    assert.equal('latitude' in replay, false, 'no top-level latitude')
    assert.deepEqual(
      replay.updates.map((u: Json) => [u.sos_id, u.latitude, u.longitude]),
      [
        [busy.sos_id, 19.077, 72.878],
        [busy.sos_id, 19.078, 72.879],
      ],
    )
    assert.ok(replay.updates.every((u: Json) => !Number.isNaN(Date.parse(u.timestamp))))
    const before = rows
    rows = applyLocationHistory(rows, replay)
    assert.deepEqual(rows, before, 'the replay moves no marker')

    // A live point does move the marker of its SOS, and only that one.
    await move(busy, 19.079, 72.88)
    rows = applyLocationHistory(rows, await dashboard.take('location_history', (p) => p.latitude === 19.079))
    assert.deepEqual(rows, [
      { id: quiet.sos_id, latitude: 28.6, longitude: 77.2 },
      { id: busy.sos_id, latitude: 19.079, longitude: 72.88 },
    ])
  })
}

// ── Secure mode: what a self-registered dashboard account gets ─────────────────────────────────────────

test('secure mode: the dashboard signed in with a self-registered account sees an empty list and may not dispatch or resolve (deliberate: staff accounts come from an admin or the CLI)', async (t) => {
  const { apiUrl } = await buildTestApp(t)
  const register = await send(`${apiUrl}/auth/users/`, 'POST', JSON_CT, { username: 'control9', password: PASSWORDS.dashboard, re_password: PASSWORDS.dashboard, email: 'c9@example.org' })
  assert.equal(register.status, 201)
  assert.equal(register.body.role, 'citizen')
  const login = await send(`${apiUrl}/auth/token/login/`, 'POST', JSON_CT, { username: 'control9', password: PASSWORDS.dashboard })
  const token = keepToken(login.body)
  const sos = await send(`${apiUrl}/api/create-sos/`, 'POST', JSON_CT, { name: 'priya', sos_type: 0, initial_latitude: 28.6, initial_longitude: 77.2 })
  assert.equal(sos.status, 201)

  const list = await send(`${apiUrl}/api/sos/`, 'GET', dashboardAuth(token))
  assert.deepEqual([list.status, list.body], [200, []])
  const assign = await send(`${apiUrl}/api/assign-officer/`, 'POST', dashboardAuth(token), { sos_request: sos.body.sos_id, officer_name: 'SI Meera', unit_number: 'UNIT007' })
  assert.deepEqual([assign.status, assign.body], [403, { detail: FORBIDDEN }])
  const resolve = await send(`${apiUrl}/api/resolve-sos/${sos.body.sos_id}/`, 'POST', dashboardAuth(token))
  assert.deepEqual([resolve.status, resolve.body], [403, { detail: FORBIDDEN }])
})

// ── Secure mode: the clients patched as docs/clients.md shows ──────────────────────────────────────────

test('secure mode: the clients patched as in docs/clients.md work end to end (live feed, room stream, unit room, officer positions, images, offline mode, resolve)', async (t) => {
  const { app, apiUrl, socketUrl } = await buildTestApp(t)
  // Staff accounts from the CLI (`naarikavach create-user`): a dispatcher, and an officer named after its unit.
  await app.services.auth.createUser({ username: 'control1', password: PASSWORDS.dashboard, role: 'dispatcher' })
  await app.services.auth.createUser({ username: 'UNIT007', password: PASSWORDS.police, role: 'officer', unitNumber: 'UNIT007' })
  const api = (path: string) => `${apiUrl}${path}`

  // Dashboard: login as before; socketService.connect(token) puts the token in the handshake.
  const dashboardToken = keepToken((await send(api('/auth/token/login/'), 'POST', JSON_CT, { username: 'control1', password: PASSWORDS.dashboard })).body)
  const dashboard = open(t, socketUrl, { ...DASHBOARD_IO, auth: { token: dashboardToken } }, { event: 'join_sos_channel', payload: {}, when: 'at once' })
  assert.equal((await dashboard.take('room_joined')).channel, 'sos_channel')

  // Police app: login as before; the socket gets auth: {token}; the unit id is the officer's username.
  const policeToken = keepToken((await send(api('/auth/token/login/'), 'POST', JSON_CT, { username: 'UNIT007', password: PASSWORDS.police })).body)
  const police = open(t, socketUrl, { ...POLICE_IO, auth: { token: policeToken } }, { event: 'join_officer_room', payload: { unit_number: 'UNIT007' }, when: 'on connect' })
  assert.equal((await police.take('room_joined')).unit_number, 'UNIT007')

  // Phone: create-sos unchanged; the app now keeps sos_token. The dashboard's live feed shows the SOS.
  const created = await send(api('/api/create-sos/'), 'POST', JSON_CT, { name: 'priya', sos_type: 0, initial_latitude: 28.6139, initial_longitude: 77.209 })
  assert.equal(created.status, 201)
  const { sos_id: sosId, room_id: roomId, sos_token: sosToken } = created.body
  assert.equal(typeof sosToken, 'string')
  assert.deepEqual(await dashboard.take('new_sos').then((p) => [p.sos_id, p.room_id, p.name]), [sosId, roomId, 'priya'])

  // Dashboard "Subscribe to Room": unchanged emit, allowed for staff.
  dashboard.socket.emit('join_sos_room', { room_id: roomId })
  assert.equal((await dashboard.take('room_joined', (p) => 'room_id' in p)).room_id, roomId)

  // Phone: update-location with the X-SOS-Token header. The subscribed dashboard gets the live point.
  const phoneHeaders = { ...JSON_CT, 'X-SOS-Token': sosToken }
  const moved = await send(api('/api/update-location/'), 'POST', phoneHeaders, { sos_request: sosId, latitude: 28.6145, longitude: 77.2101 })
  assert.deepEqual([moved.status, moved.body.status], [201, 'Location updated successfully'])
  const live = await dashboard.take('location_history')
  assert.deepEqual([live.sos_id, live.latitude, live.longitude], [sosId, 28.6145, 77.2101])

  // Phone (an addition: the original app uploads nothing): a photo, multipart with X-SOS-Token.
  const form = new FormData()
  form.append('sos_id', String(sosId))
  form.append('images', new Blob([IMAGES.png], { type: 'image/png' }), 'street.png')
  form.append('descriptions', 'Street sign near me')
  const uploaded = await fetch(api('/api/upload-sos-images/'), { method: 'POST', headers: { 'X-SOS-Token': sosToken }, body: form })
  assert.equal(uploaded.status, 201)

  // Dashboard fetchSOSImages with getAuthHeaders(); <img src={image_url}> then works without any header.
  const images = await send(api(`/api/get-sos-images/${sosId}/`), 'GET', dashboardAuth(dashboardToken))
  assert.deepEqual([images.status, images.body.status, images.body.images.length], [200, 'success', 1])
  const imageUrl: string = images.body.images[0].image_url
  assert.ok(imageUrl.startsWith(`${apiUrl}/media/sos_images/`) && imageUrl.includes('signature='), imageUrl)
  const img = await send(imageUrl, 'GET', {})
  assert.deepEqual([img.status, img.headers.get('content-type')], [200, 'image/png'])
  assert.deepEqual(img.bytes, IMAGES.png)

  // Dashboard assigns the unit (unchanged request); the police app's unit room gets the next point.
  const assigned = await send(api('/api/assign-officer/'), 'POST', dashboardAuth(dashboardToken), { sos_request: sosId, officer_name: 'SI Meera', unit_number: 'UNIT007' })
  assert.equal(assigned.status, 201)
  await send(api('/api/update-location/'), 'POST', phoneHeaders, { sos_request: sosId, latitude: 28.6152, longitude: 77.2113 })
  const unitPoint = await police.take('unit_location_update')
  assert.deepEqual([unitPoint.sos_id, unitPoint.latitude, unitPoint.longitude], [sosId, 28.6152, 77.2113])

  // Dashboard "Track Police Units" (unchanged emit); the officer's positions (unchanged emit) reach it.
  dashboard.socket.emit('join_officer_update', {})
  await dashboard.take('room_joined', (p) => p.channel === 'officer_tracking_channel')
  police.socket.emit('officer_location_update', { unit_id: 'UNIT007', latitude: 28.61, longitude: 77.2, timestamp: new Date().toISOString() })
  const unit = await dashboard.take('unit_loc')
  assert.deepEqual([unit.unit_id, unit.latitude, unit.longitude], ['UNIT007', 28.61, 77.2])

  // Phone offline mode (socket on :8001): create_sos unchanged, then update_location with sos_token.
  const offline = open(t, socketUrl, OFFLINE_IO)
  offline.socket.emit('create_sos', { name: `Emergency-${Date.now()}`, sos_type: 0, initial_latitude: 28.5355, initial_longitude: 77.391 })
  const createdOffline = await offline.take('create_sos_response')
  assert.equal(createdOffline.success, true)
  const offlineSos = createdOffline.data
  assert.equal((await dashboard.take('new_sos')).sos_id, offlineSos.sos_id)
  offline.socket.emit('update_location', { sos_request: offlineSos.sos_id, latitude: 28.536, longitude: 77.3915, sos_token: offlineSos.sos_token })
  const movedOffline = await offline.take('update_location_response')
  assert.deepEqual([movedOffline.success, movedOffline.data?.status], [true, 'Location updated successfully'])

  // Police app resolves its SOS (unchanged request, an officer of the dispatched unit); the dashboard
  // resolves the other one (unchanged request, a dispatcher).
  const byPolice = await send(api(`/api/resolve-sos/${sosId}/`), 'POST', phoneAuth(policeToken))
  assert.deepEqual([byPolice.status, byPolice.body.sos?.status_flag], [200, 1])
  const byDashboard = await send(api(`/api/resolve-sos/${offlineSos.sos_id}/`), 'POST', dashboardAuth(dashboardToken))
  assert.deepEqual([byDashboard.status, byDashboard.body.sos?.status_flag], [200, 1])

  // Nothing the patched clients sent was refused.
  for (const [name, client] of Object.entries({ dashboard, police, offline })) {
    assert.deepEqual(client.events.filter((e) => e.event === 'error').map((e) => e.payload), [], `${name} got error events`)
  }
})
