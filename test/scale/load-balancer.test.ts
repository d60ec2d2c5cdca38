// Three real `naarikavach serve` nodes on one PostgreSQL database and one Redis, behind a private nginx
// running deploy/nginx.conf (test/helpers/nginx.ts changes only ports, node addresses and paths).
// Through the balancer: the whole flow with the dashboard, the victim's phone and an officer each on a
// different node, every event checked to reach exactly the right sockets once; then one node is
// SIGKILLed mid-flow under write load: its clients come back through the balancer on the others and
// recover what they missed (staff-channel snapshots, SOS-room history), every acknowledged write is
// stored, and the clients of the other nodes never notice.
//
// How each client lands on a chosen node: the Socket.IO upstream hashes the client's address
// (`hash $remote_addr consistent`), so each client connects from its own loopback source address
// (127.0.0.x). Which node an address maps to is found by asking: an Engine.IO handshake through nginx
// from that address, then the session id is looked up on each node directly (only its owner knows it).
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import fs from 'node:fs/promises'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { test, type TestContext } from 'node:test'
import { io, type Socket } from 'socket.io-client'
import { dialect, freshDatabaseUrl } from '../helpers/app.ts'
import { IMAGES, multipart } from '../helpers/factories.ts'
import { startNginx, type Nginx } from '../helpers/nginx.ts'
import { assertStored, createAccount, driveWrites, newAcked, nextLatitude, request, spawnServe, type Acked, type ServeProcess } from '../helpers/serve.ts'
import { settle } from '../helpers/sockets.ts'
import { NGINX, requireProgram } from '../helpers/system.ts'
import { openDatabase } from '../../src/db/dialect.ts'

const REDIS_URL = process.env.TEST_REDIS_URL || 'redis://127.0.0.1:6379'

interface Received {
  event: string
  payload: Record<string, unknown>
  at: number
}

interface Client {
  name: string
  socket: Socket
  events: Received[]
  connects: number
  disconnects: number
  /** Resolved joins, one per connect. */
  joins: number
}

type Ack = { ok: boolean; data?: Record<string, unknown>; error?: { code: string; message: string } }
const ack = (socket: Socket, event: string, payload: unknown): Promise<Ack> => socket.timeout(5000).emitWithAck(event, payload) as Promise<Ack>

/** A socket.io-client through the balancer from `source`, (re)joining its rooms with `join` on every connect. */
async function client(t: TestContext, url: string, opts: { name: string; token?: string; source: string; transports: Array<'polling' | 'websocket'>; join: (s: Socket) => Promise<void> }): Promise<Client> {
  // The agent fixes the source address for both transports (long-polling requests and the WebSocket upgrade).
  const agent = new http.Agent({ localAddress: opts.source } as http.AgentOptions)
  const socket = io(url, {
    transports: opts.transports,
    forceNew: true,
    auth: opts.token ? { token: opts.token } : {},
    reconnectionDelay: 100,
    reconnectionDelayMax: 1000,
    timeout: 5000,
    ...({ agent, localAddress: opts.source } as object),
  })
  t.after(() => {
    socket.disconnect()
  })
  const c: Client = { name: opts.name, socket, events: [], connects: 0, disconnects: 0, joins: 0 }
  socket.onAny((event: string, payload: unknown) => c.events.push({ event, payload: payload as Record<string, unknown>, at: performance.now() }))
  socket.on('disconnect', () => (c.disconnects += 1))
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${opts.name}: connect timeout`)), 10_000)
    socket.on('connection_established', () => {
      c.connects += 1
      opts.join(socket).then(
        () => {
          c.joins += 1
          clearTimeout(timer)
          resolve()
        },
        (error: unknown) => {
          clearTimeout(timer)
          reject(error)
        },
      )
    })
  })
  return c
}

const of = (c: Client, event: string, from = 0) => c.events.slice(from).filter((e) => e.event === event).map((e) => e.payload)
const nums = (items: Array<Record<string, unknown>>, key: string) => items.map((p) => Number(p[key])).sort((a, b) => a - b)

/** The node (index) that holds Engine.IO session `sid`: the others answer "Session ID unknown" (code 1). */
async function ownerOf(nodes: ServeProcess[], sid: string, live: boolean[]): Promise<number> {
  const owners: number[] = []
  for (const [i, node] of nodes.entries()) {
    if (!live[i]) continue
    // An empty POST with the wrong transport: the owner refuses it as a bad request (code 3), harmlessly.
    const res = await request(`${node.socketUrl}/socket.io/?EIO=4&transport=polling&sid=${encodeURIComponent(sid)}`, { method: 'POST', body: Buffer.from(''), headers: { 'content-type': 'text/plain;charset=UTF-8' } })
    if (!(res.status === 400 && res.body?.code === 1)) owners.push(i)
  }
  assert.equal(owners.length, 1, `exactly one node holds session ${sid}`)
  return owners[0]
}

/** For each node, a loopback source address that nginx sends to it (found by handshaking and closing). */
async function sourcesByNode(lb: Nginx, nodes: ServeProcess[]): Promise<string[]> {
  const found: Array<string | undefined> = nodes.map(() => undefined)
  for (let k = 2; k < 250 && found.some((s) => s === undefined); k++) {
    const source = `127.0.0.${k}`
    const handshake = await request(`${lb.socketUrl}/socket.io/?EIO=4&transport=polling`, { localAddress: source })
    assert.equal(handshake.status, 200, String(handshake.body))
    const sid = (JSON.parse(String(handshake.body).slice(1)) as { sid: string }).sid
    for (const [i, node] of nodes.entries()) {
      // A close packet ("1"): its owner ends the probe session and answers "ok".
      const res = await request(`${node.socketUrl}/socket.io/?EIO=4&transport=polling&sid=${encodeURIComponent(sid)}`, { method: 'POST', body: Buffer.from('1'), headers: { 'content-type': 'text/plain;charset=UTF-8' } })
      if (res.status === 200 && found[i] === undefined) found[i] = source
    }
  }
  assert.ok(found.every(Boolean), `found a source address for every node: ${JSON.stringify(found)}`)
  return found as string[]
}

async function until(what: string, check: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

test('three nodes behind nginx (deploy/nginx.conf) act as one server, and one SIGKILLed mid-flow loses nothing', async (t) => {
  assert.equal(dialect, 'postgres', 'run with TEST_DATABASE=postgres (npm run test:scale)')
  if (!requireProgram(t, NGINX)) return
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'naarikavach-lb-'))
  t.after(() => fs.rm(dir, { recursive: true, force: true }))
  const databaseUrl = await freshDatabaseUrl(t, dir)
  const env = {
    DATABASE_URL: databaseUrl,
    REDIS_URL,
    REDIS_PREFIX: `nk_lb_${crypto.randomBytes(6).toString('hex')}`,
    TRUST_PROXY: 'true',
    // One media directory for all nodes, as shared storage would be.
    MEDIA_ROOT: path.join(dir, 'media'),
    PASSWORD_HASH_COST: '10',
    LOGIN_RATE_LIMIT_PER_MINUTE: '5',
    SOS_CREATE_RATE_LIMIT_PER_MINUTE: '1000000',
    LOG_LEVEL: 'warn',
  }
  // The first node migrates; the other two start on the migrated schema.
  const first = await spawnServe(t, env)
  const nodes = [first, ...(await Promise.all([spawnServe(t, env), spawnServe(t, env)]))]
  const live = nodes.map(() => true)
  const lb = await startNginx(t, { api: nodes.map((n) => `127.0.0.1:${n.port}`), socket: nodes.map((n) => `127.0.0.1:${n.socketPort}`) })
  const [A, B, C] = [0, 1, 2]
  const source = await sourcesByNode(lb, nodes)

  const dispatcher = await createAccount(databaseUrl, 'dispatcher')
  const dispatcher2 = await createAccount(databaseUrl, 'dispatcher')
  const officer = await createAccount(databaseUrl, 'officer', 'UNIT_LB')
  const acked: Acked = newAcked()

  await t.test('the balancer sets X-Forwarded-For/-Proto/-Host itself: the client address counts, a forged one does not', async () => {
    // Five failed logins with a different forged X-Forwarded-For each, spread by nginx over the three
    // nodes: one client address (shared limit in Redis), so the sixth is refused...
    const statuses: number[] = []
    for (let i = 0; i < 6; i++) {
      const res = await request(`${lb.apiUrl}/auth/token/login/`, { method: 'POST', localAddress: '127.0.1.1', headers: { 'x-forwarded-for': `203.0.113.${i + 1}` }, json: { username: 'nobody', password: 'wrong-password-1' } })
      statuses.push(res.status)
    }
    assert.deepEqual(statuses, [400, 400, 400, 400, 400, 429])
    // ...and another client address is its own (nginx passes the client's address, not its own).
    const other = await request(`${lb.apiUrl}/auth/token/login/`, { method: 'POST', localAddress: '127.0.1.2', json: { username: 'nobody', password: 'wrong-password-1' } })
    assert.equal(other.status, 400)
  })

  // The clients. The dashboard starts on long-polling and upgrades (socket.io-client's default); the
  // second dashboard never leaves long-polling (where the original dashboard falls back to), so every
  // one of its requests must reach its node.
  const phoneSos: { id?: number; room_id?: string; token?: string } = {}
  const staffJoin = async (s: Socket) => {
    for (const event of ['join_sos_channel', 'join_location_tracking_channel', 'join_officer_update']) assert.equal((await ack(s, event, {})).ok, true, event)
  }
  const dashboard = await client(t, lb.socketUrl, { name: 'dashboard', token: dispatcher.token, source: source[A], transports: ['polling', 'websocket'], join: staffJoin })
  const dashboard2 = await client(t, lb.socketUrl, { name: 'dashboard2', token: dispatcher2.token, source: source[B], transports: ['polling'], join: staffJoin })
  const phone = await client(t, lb.socketUrl, {
    name: 'phone',
    source: source[B],
    transports: ['websocket'],
    join: async (s) => {
      if (phoneSos.room_id) assert.equal((await ack(s, 'join_sos_room', { room_id: phoneSos.room_id, sos_token: phoneSos.token })).ok, true)
    },
  })
  const unit = await client(t, lb.socketUrl, { name: 'officer', token: officer.token, source: source[C], transports: ['websocket'], join: async (s) => assert.equal((await ack(s, 'join_officer_room', 'UNIT_LB')).ok, true) })
  const clients = [dashboard, dashboard2, phone, unit]

  await t.test('each client is on the node its address was sent to', async () => {
    await until('the dashboard to upgrade to WebSocket', () => dashboard.socket.io.engine.transport.name === 'websocket')
    assert.equal(await ownerOf(nodes, dashboard.socket.io.engine.id, live), A)
    assert.equal(await ownerOf(nodes, phone.socket.io.engine.id, live), B)
    assert.equal(await ownerOf(nodes, unit.socket.io.engine.id, live), C)
    assert.equal(dashboard2.socket.io.engine.transport.name, 'polling')
  })

  const sos: { id: number; room_id: string; token: string } = { id: 0, room_id: '', token: '' }
  const flowLatitudes: number[] = []
  const postLocation = async (latitude: number) => {
    const res = await request(`${lb.apiUrl}/api/update-location/`, { method: 'POST', headers: { 'x-sos-token': sos.token }, json: { sos_request: sos.id, latitude, longitude: 77.6 } })
    assert.equal(res.status, 201, JSON.stringify(res.body))
    acked.locations.set(res.body.location.id, { sosId: sos.id, latitude, at: performance.now() })
    flowLatitudes.push(latitude)
  }

  await t.test('the whole flow through the balancer: every event reaches exactly the right sockets, once', async () => {
    // The phone raises the SOS over its socket (node B) and joins the SOS room.
    const created = await ack(phone.socket, 'create_sos', { name: 'Asha', sos_type: 0, initial_latitude: 12.97, initial_longitude: 77.59 })
    assert.equal(created.ok, true, JSON.stringify(created))
    Object.assign(sos, { id: Number(created.data!.sos_id), room_id: String(created.data!.room_id), token: String(created.data!.sos_token) })
    Object.assign(phoneSos, sos)
    acked.sos.set(sos.id, { room_id: sos.room_id, token: sos.token, at: performance.now() })
    const joined = await ack(phone.socket, 'join_sos_room', { room_id: sos.room_id, sos_token: sos.token })
    assert.equal(joined.ok, true)
    assert.equal(joined.data!.history_count, 0)

    // Locations through the REST balancer (any node), before and after the officer's unit is assigned.
    const before = [nextLatitude(), nextLatitude()]
    for (const latitude of before) await postLocation(latitude)
    const assigned = await request(`${lb.apiUrl}/api/assign-officer/`, { method: 'POST', headers: { authorization: `Token ${dispatcher.token}` }, json: { sos_request: sos.id, officer_name: 'SI Rao', unit_number: 'UNIT_LB' } })
    assert.equal(assigned.status, 201)
    const after = nextLatitude()
    await postLocation(after)
    // The officer's own position, from its socket on node C.
    assert.equal((await ack(unit.socket, 'officer_location_update', { unit_id: 'UNIT_LB', latitude: 13.5, longitude: 77.7, timestamp: new Date().toISOString() })).ok, true)

    // An image from the phone, through the balancer; its link points at the balancer and any node serves it.
    const form = multipart({ sos_id: String(sos.id), descriptions: 'street sign' }, [{ filename: 'sign.png', contentType: 'image/png', data: IMAGES.png }])
    const uploaded = await request(`${lb.apiUrl}/api/upload-sos-images/`, { method: 'POST', headers: { ...form.headers, 'x-sos-token': sos.token, 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example' }, body: form.payload })
    assert.equal(uploaded.status, 201, JSON.stringify(uploaded.body))
    const imageUrl = String(uploaded.body.uploaded_images[0].image_url)
    assert.ok(imageUrl.startsWith(`${lb.apiUrl}/media/`), `image_url is built from the balancer's scheme and host, not forged ones: ${imageUrl}`)
    for (let i = 0; i < 3; i++) {
      const image = await fetch(imageUrl)
      assert.equal(image.status, 200)
      assert.deepEqual(Buffer.from(await image.arrayBuffer()), IMAGES.png)
    }
    const listed = await request(`${lb.apiUrl}/api/get-sos-images/${sos.id}/`, { headers: { 'x-sos-token': sos.token } })
    assert.equal(listed.body.count, 1)

    const all = [...before, after]
    await until('every event', () => of(dashboard, 'location_tracking_update').length >= 3 && of(dashboard2, 'unit_loc').length >= 1 && of(unit, 'unit_location_update').length >= 1 && of(phone, 'location_history').length >= 3)
    await settle(500)
    for (const staff of [dashboard, dashboard2]) {
      assert.deepEqual(nums(of(staff, 'new_sos'), 'sos_id'), [sos.id], `${staff.name}: new_sos once`)
      assert.deepEqual(nums(of(staff, 'location_tracking_update'), 'latitude'), all, `${staff.name}: every location once`)
      assert.deepEqual(of(staff, 'location_tracking_update').map((p) => p.unit_number), [null, null, 'UNIT_LB'])
      assert.deepEqual(nums(of(staff, 'unit_loc'), 'latitude'), [13.5], `${staff.name}: the officer's position once`)
      assert.equal(of(staff, 'sos_snapshot').length, 1)
      for (const event of ['location_history', 'unit_location_update', 'create_sos_response']) assert.equal(of(staff, event).length, 0, `${staff.name}: no ${event}`)
    }
    assert.deepEqual(nums(of(phone, 'location_history'), 'latitude'), all, 'phone: every location of its SOS once')
    assert.equal(of(phone, 'create_sos_response').length, 1)
    for (const event of ['new_sos', 'location_tracking_update', 'unit_location_update', 'unit_loc']) assert.equal(of(phone, event).length, 0, `phone: no ${event}`)
    assert.deepEqual(nums(of(unit, 'unit_location_update'), 'latitude'), [after], 'officer: the location after dispatch, once')
    for (const event of ['new_sos', 'location_tracking_update', 'location_history', 'unit_loc']) assert.equal(of(unit, event).length, 0, `officer: no ${event}`)
    for (const c of clients) assert.equal(of(c, 'error').length, 0, `${c.name}: no error events`)
  })

  await t.test('SIGKILL node B mid-flow: its clients come back through the balancer and recover; nothing acknowledged is lost; the others never notice', async () => {
    const mark = new Map(clients.map((c) => [c, c.events.length]))
    const stop = { done: false }
    const traffic = driveWrites(lb.apiUrl, acked, stop, { writers: 4, maxSos: 60, pauseMs: 5, extra: { sosId: sos.id, token: sos.token, max: 400 } })
    await new Promise((resolve) => setTimeout(resolve, 500))
    const killAt = performance.now()
    nodes[B].child.kill('SIGKILL')
    await nodes[B].exited
    live[B] = false
    const exitAt = performance.now()
    await until('the second dashboard and the phone to reconnect and rejoin', () => dashboard2.joins === 2 && phone.joins === 2)
    const rejoinedAt = performance.now()
    await new Promise((resolve) => setTimeout(resolve, 1000))
    stop.done = true
    await traffic

    // The officer's unit resolves the SOS: the room, the unit and sos_channel each hear it once.
    const resolved = await request(`${lb.apiUrl}/api/resolve-sos/${sos.id}/`, { method: 'POST', headers: { authorization: `Token ${officer.token}` } })
    assert.equal(resolved.status, 200, JSON.stringify(resolved.body))
    await until('sos_resolved everywhere', () => clients.every((c) => of(c, 'sos_resolved', mark.get(c)).length >= 1))
    await settle(800)

    // 1. Nothing acknowledged is lost.
    await assertStored(databaseUrl, acked)
    const handle = openDatabase(databaseUrl)
    const storedSos = new Set((await handle.db.selectFrom('sos_requests').select('id').execute()).map((r) => r.id))
    const storedLocations = await handle.db.selectFrom('location_updates').select(['id', 'sos_request_id', 'latitude', 'timestamp']).orderBy('timestamp', 'desc').orderBy('id', 'desc').execute()
    await handle.db.destroy()
    const storedLat = new Map(storedLocations.map((l) => [Number(l.latitude), l.sos_request_id]))
    const ackedSos1 = [...acked.locations.values()].filter((l) => l.sosId === sos.id)
    assert.ok(ackedSos1.length < 1000, 'within HISTORY_REPLAY_LIMIT, so the replay holds the whole history')

    // 2. The clients of the other nodes never noticed: still on their first connection, with every event
    // once. Writes node B answered in its last moments may have been committed and answered but never
    // published (it died before its emit); those are allowed to be missing live (the documented gap the
    // dashboards' snapshots and the phone's replay cover), so only outside that window is "every" required.
    const inWindow = (at: number) => at >= killAt - 250 && at <= exitAt
    const surely = <T extends { at: number }>(items: Iterable<T>): T[] => [...items].filter((x) => !inWindow(x.at))
    for (const c of [dashboard, unit]) {
      assert.equal(c.disconnects, 0, `${c.name} never disconnected`)
      assert.equal(c.connects, 1, `${c.name} never reconnected`)
    }
    const dashSos = nums(of(dashboard, 'new_sos'), 'sos_id')
    assert.equal(new Set(dashSos).size, dashSos.length, 'dashboard: no new_sos twice')
    assert.ok(dashSos.every((id) => storedSos.has(id)), 'dashboard: only stored SOS')
    const mustSos = surely([...acked.sos.entries()].map(([id, v]) => ({ id, at: v.at })))
    for (const { id } of mustSos) assert.ok(dashSos.includes(id), `dashboard heard new_sos ${id}`)
    const dashLat = nums(of(dashboard, 'location_tracking_update'), 'latitude')
    assert.equal(new Set(dashLat).size, dashLat.length, 'dashboard: no location twice')
    assert.ok(dashLat.every((lat) => storedLat.has(lat)), 'dashboard: only stored locations')
    const mustLocations = surely(acked.locations.values())
    for (const { latitude } of mustLocations) assert.ok(dashLat.includes(latitude), `dashboard heard location ${latitude}`)
    const unitLat = nums(of(unit, 'unit_location_update'), 'latitude')
    assert.equal(new Set(unitLat).size, unitLat.length, 'officer: no location twice')
    assert.ok(unitLat.every((lat) => storedLat.get(lat) === sos.id), 'officer: only its SOS, only stored locations')
    const dispatched = ackedSos1.filter((l) => !flowLatitudes.slice(0, 2).includes(l.latitude)) // the first two came before the assignment
    for (const { latitude } of surely(dispatched)) assert.ok(unitLat.includes(latitude), `officer heard location ${latitude}`)
    const missedLive = [...acked.locations.values()].filter((l) => !dashLat.includes(l.latitude)).length

    // 3. The clients of node B came back through the balancer, on the surviving nodes.
    for (const c of [dashboard2, phone]) {
      assert.equal(c.disconnects, 1, `${c.name} lost its connection once`)
      assert.equal(c.connects, 2, `${c.name} reconnected once`)
      assert.ok(c.socket.connected, `${c.name} is connected`)
    }
    assert.notEqual(await ownerOf(nodes, phone.socket.io.engine.id, live), B)
    assert.equal(dashboard2.socket.io.engine.transport.name, 'polling', 'the polling-only dashboard is back on long-polling')

    // ...and recovered everything. The phone: live points plus the room's history replay on rejoin.
    const phoneLive = of(phone, 'location_history').filter((p) => p.sos_id !== undefined)
    const phoneLiveLat = nums(phoneLive, 'latitude')
    assert.equal(new Set(phoneLiveLat).size, phoneLiveLat.length, 'phone: no live point twice')
    const replays = of(phone, 'location_history').filter((p) => Array.isArray(p.updates))
    assert.equal(replays.length, 1, 'phone: one history replay, on rejoin')
    const phoneKnows = new Set([...phoneLiveLat, ...(replays[0].updates as Array<{ latitude: number }>).map((u) => Number(u.latitude))])
    for (const { latitude } of ackedSos1) assert.ok(phoneKnows.has(latitude), `phone knows its location ${latitude}`)
    assert.ok([...phoneKnows].every((lat) => storedLat.get(lat) === sos.id), 'phone: only its own stored locations')
    assert.equal(of(phone, 'sos_resolved', mark.get(phone)).length, 1)

    // The second dashboard: live new_sos plus the sos_snapshot of its rejoin hold every SOS; for every
    // open SOS, the last stored point reached it (in the location_snapshot or live after it).
    const snapshots = of(dashboard2, 'sos_snapshot')
    assert.equal(snapshots.length, 2, 'dashboard2: a snapshot on each join')
    const d2Sos = new Set([...nums(of(dashboard2, 'new_sos'), 'sos_id'), ...(snapshots[1].sos as Array<{ sos_id: number }>).map((s) => s.sos_id)])
    for (const id of acked.sos.keys()) assert.ok(d2Sos.has(id), `dashboard2 knows SOS ${id}`)
    assert.ok([...d2Sos].every((id) => storedSos.has(id)), 'dashboard2: only stored SOS')
    const d2Lat = new Set([
      ...nums(of(dashboard2, 'location_tracking_update'), 'latitude'),
      ...of(dashboard2, 'location_snapshot').flatMap((s) => (s.positions as Array<{ latitude: number }>).map((p) => Number(p.latitude))),
    ])
    const latest = new Map<number, number>()
    for (const l of storedLocations) if (!latest.has(l.sos_request_id)) latest.set(l.sos_request_id, Number(l.latitude))
    for (const [id, latitude] of latest) assert.ok(d2Lat.has(latitude), `dashboard2 has the last position of SOS ${id}`)
    const d2Live = nums(of(dashboard2, 'location_tracking_update'), 'latitude')
    assert.equal(new Set(d2Live).size, d2Live.length, 'dashboard2: no live location twice')
    assert.equal(of(dashboard2, 'unit_snapshot').length, 2)

    // 4. sos_resolved once on each socket (room, unit room and sos_channel are one emit to their union).
    for (const c of clients) assert.equal(of(c, 'sos_resolved', mark.get(c)).length, 1, `${c.name}: sos_resolved once`)
    // 5. nginx saw node B fail (cut requests, or refused connections) and took it out of both upstreams.
    for (const port of [nodes[B].port, nodes[B].socketPort]) {
      assert.match(lb.errorLog(), new RegExp(`\\[warn\\].* upstream server temporarily disabled .*upstream: "http://127\\.0\\.0\\.1:${port}/`), `nginx disabled node B's port ${port}`)
    }

    t.diagnostic(
      `${acked.sos.size} SOS and ${acked.locations.size} locations acknowledged; node B killed ${Math.round(exitAt - killAt)} ms to exit, ` +
        `its clients rejoined ${Math.round(rejoinedAt - exitAt)} ms later; live events the dashboard never got (B's last moments): ${missedLive}`,
    )
  })

  // Orderly teardown: clients first (so they do not reconnect into stopping nodes), then nodes, then nginx.
  for (const c of clients) c.socket.disconnect()
  await Promise.all(
    nodes.map(async (node, i) => {
      if (!live[i]) return
      node.child.kill('SIGTERM')
      assert.equal((await node.exited).code, 0)
    }),
  )
  await lb.stop()
})
