// Big incidents: an SOS with 100,000 location points still answers reads and room joins with bounded
// payloads, and its full history can be paged through.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { buildTestApp } from '../helpers/app.ts'
import { auth, createSos, createUser } from '../helpers/factories.ts'
import { connect, emitAck, next } from '../helpers/sockets.ts'

const POINTS = 100_000

test('an SOS with 100,000 points: bounded reads, bounded replay, complete paging', async (t) => {
  const { app, socketUrl } = await buildTestApp(t, { historyReplayLimit: 1000, locationsInLists: 50 })
  const dispatcher = await createUser(app, 'dispatcher')
  const big = await createSos(app)
  const small = await createSos(app)
  const start = Date.UTC(2026, 10, 1)
  for (let i = 0; i < POINTS; i += 1000) {
    const rows = Array.from({ length: 1000 }, (_, j) => ({
      sos_request_id: big.sos_id,
      latitude: 12 + (i + j) / 1e6,
      longitude: 77,
      timestamp: new Date(start + (i + j) * 1000).toISOString(),
    }))
    await app.db.transaction().execute((trx) => trx.insertInto('location_updates').values(rows).execute())
  }

  const detail = await app.inject({ method: 'GET', url: `/api/sos/${big.sos_id}/`, headers: auth(dispatcher) })
  assert.equal(detail.statusCode, 200)
  const sos = detail.json()
  assert.equal(sos.location_updates_count, POINTS)
  assert.equal(sos.location_updates.length, 1000, 'the detail embeds the newest 1,000 points')
  assert.equal(sos.location_updates.at(-1).timestamp, new Date(start + (POINTS - 1) * 1000).toISOString(), 'ending with the newest')

  const list = await app.inject({ method: 'GET', url: '/api/sos/', headers: auth(dispatcher) })
  assert.equal(list.statusCode, 200)
  const bigInList = list.json().find((s: { id: number }) => s.id === big.sos_id)
  assert.equal(bigInList.location_updates.length, 50)
  assert.ok(list.body.length < 200_000, `list payload stays small (${list.body.length} bytes)`)

  const paged = await app.inject({ method: 'GET', url: '/api/sos/?limit=1&offset=0', headers: auth(dispatcher) })
  const page = paged.json()
  assert.equal(page.count, 2)
  assert.equal(page.results.length, 1)
  assert.equal(page.results[0].id, small.sos_id, 'newest first')
  assert.match(page.next, /offset=1/)
  assert.equal(page.previous, null)
  const getAll = await app.inject({ method: 'GET', url: '/api/get-all-sos/?limit=1&offset=1', headers: auth(dispatcher) })
  assert.equal(getAll.json().count, 2)
  assert.equal(getAll.json().data[0].id, big.sos_id)
  const badPage = await app.inject({ method: 'GET', url: '/api/sos/?limit=0', headers: auth(dispatcher) })
  assert.equal(badPage.statusCode, 400)
  assert.deepEqual(badPage.json(), { limit: ['Ensure this value is greater than or equal to 1.'] })

  // A room join replays a bounded window and says it was cut.
  const socket = await connect(t, socketUrl, dispatcher.token)
  const replay = next<{ updates: unknown[]; truncated: boolean }>(socket, 'location_history')
  assert.equal((await emitAck(socket, 'join_sos_room', big.room_id)).ok, true)
  const history = await replay
  assert.equal(history.updates.length, 1000)
  assert.equal(history.truncated, true)

  // The full history pages through completely, in order, with no duplicates.
  let url: string | null = `/api/sos/${big.sos_id}/locations/?limit=1000`
  let seen = 0
  let lastId = 0
  while (url) {
    const target: string = url.replace(/^https?:\/\/[^/]+/, '')
    const res = await app.inject({ method: 'GET', url: target, headers: auth(dispatcher) })
    assert.equal(res.statusCode, 200)
    const body = res.json() as { count: number; next: string | null; results: { id: number }[] }
    assert.equal(body.count, POINTS)
    for (const point of body.results) {
      assert.ok(point.id > lastId)
      lastId = point.id
    }
    seen += body.results.length
    url = body.next
  }
  assert.equal(seen, POINTS)
})
