// Many writers on one SOS: racing assign/resolve/cancel/acknowledge and location updates never give a 5xx,
// a lost update, or a state the lifecycle forbids.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { buildTestApp } from '../helpers/app.ts'
import { auth, createSos, createUser } from '../helpers/factories.ts'
import { collect, connect, emitAck, settle } from '../helpers/sockets.ts'

test('racing lifecycle changes: exactly one close wins, nothing lands after it', async (t) => {
  const { app, socketUrl } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  const admin = await createUser(app, 'admin')
  for (let round = 0; round < 5; round++) {
    const sos = await createSos(app)
    const watcher = await connect(t, socketUrl, dispatcher.token)
    await emitAck(watcher, 'join_sos_room', sos.room_id)
    const closedEvents = collect<{ status: string }>(watcher, 'sos_resolved')

    const requests = [
      ...Array.from({ length: 6 }, (_, i) => ({ kind: 'assign', run: () => app.inject({ method: 'POST', url: '/api/assign-officer/', headers: auth(dispatcher), payload: { sos_request: sos.sos_id, officer_name: `O${i}`, unit_number: `U${i}` } }) })),
      ...Array.from({ length: 4 }, () => ({ kind: 'resolve', run: () => app.inject({ method: 'POST', url: `/api/resolve-sos/${sos.sos_id}/`, headers: auth(admin) }) })),
      ...Array.from({ length: 4 }, () => ({ kind: 'cancel', run: () => app.inject({ method: 'POST', url: `/api/sos/${sos.sos_id}/cancel/`, headers: { 'x-sos-token': sos.sos_token } }) })),
      ...Array.from({ length: 3 }, () => ({ kind: 'ack', run: () => app.inject({ method: 'POST', url: `/api/sos/${sos.sos_id}/acknowledge/`, headers: auth(dispatcher) }) })),
      ...Array.from({ length: 20 }, (_, i) => ({ kind: 'location', run: () => app.inject({ method: 'POST', url: '/api/update-location/', headers: { 'x-sos-token': sos.sos_token }, payload: { sos_request: sos.sos_id, latitude: i, longitude: i } }) })),
    ]
    // Shuffle deterministically per round so different interleavings are exercised.
    const order = requests.map((r, i) => ({ r, k: (i * 7919 + round * 104729) % 1009 })).sort((a, b) => a.k - b.k).map((x) => x.r)
    const responses = await Promise.all(order.map(async (r) => ({ kind: r.kind, res: await r.run() })))

    for (const { kind, res } of responses) assert.ok([200, 201, 409].includes(res.statusCode), `${kind} → ${res.statusCode} ${res.body}`)
    const closes = responses.filter((r) => (r.kind === 'resolve' || r.kind === 'cancel') && r.res.statusCode === 200)
    assert.equal(closes.length, 1, 'exactly one close succeeds')

    const final = (await app.inject({ method: 'GET', url: `/api/sos/${sos.sos_id}/`, headers: auth(admin) })).json()
    const winner = closes[0].kind === 'resolve' ? 'resolved' : 'cancelled'
    assert.equal(final.status, winner)
    assert.equal(final.status_flag, 1)
    // Every accepted location is stored (no lost update), and none after the close.
    const acceptedLocations = responses.filter((r) => r.kind === 'location' && r.res.statusCode === 201).map((r) => r.res.json().location.id).sort()
    assert.deepEqual(final.location_updates.map((l: { id: number }) => l.id).sort(), acceptedLocations)
    const closedAt = final.updated_at
    assert.ok(final.location_updates.every((l: { timestamp: string }) => l.timestamp <= closedAt))
    // Every accepted assignment is recorded; the dispatched unit is one of them.
    const assigned = responses.filter((r) => r.kind === 'assign' && r.res.statusCode === 201)
    assert.equal(final.officer_assignments.length, assigned.length)
    if (assigned.length > 0) {
      assert.ok(final.officer_assignments.some((a: { unit_number: string }) => a.unit_number === final.unit_number_dispatched))
      assert.equal(final.acknowledged_flag, 1)
    }
    await settle(200)
    assert.deepEqual(closedEvents.map((e) => e.status), [winner], 'one sos_resolved event, for the winning close')
  }
})
