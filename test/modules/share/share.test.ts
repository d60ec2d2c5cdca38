// Live-tracking links over HTTP: managing them (the victim or the owner only), what a link shows (no internal
// ids), the live stream, "I'm on my way" in the log, the close window, 410 for revoked/expired links, a link
// token of another SOS, the rate limit, and that no phone number, link token or provider secret is ever logged.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { buildTestApp, type TestApp } from '../../helpers/app.ts'
import { auth, createSos, createUser } from '../../helpers/factories.ts'
import { eventually, startFakeTwilio, TWILIO_TOKEN } from '../../helpers/providers.ts'

const linkPath = (url: string) => new URL(url).pathname

async function newLink(node: TestApp, sos: { sos_id: number; sos_token: string }, label = 'Priya'): Promise<{ id: number; url: string; token: string }> {
  const res = await node.app.inject({ method: 'POST', url: `/api/sos/${sos.sos_id}/share-links/`, headers: { 'x-sos-token': sos.sos_token }, payload: { label } })
  assert.equal(res.statusCode, 201, res.body)
  const body = res.json() as { id: number; url: string }
  return { ...body, token: linkPath(body.url).split('/')[2] }
}

/** Every key of a JSON value, at any depth. */
function keys(value: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(value)) value.forEach((v) => keys(v, out))
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      out.add(k)
      keys(v, out)
    }
  }
  return out
}

test('links are listed, made and revoked by the victim or the owner only; revoked and expired links answer 410 with no data', async (t) => {
  const node = await buildTestApp(t)
  const { app } = node
  const owner = await createUser(app, 'citizen')
  const stranger = await createUser(app, 'citizen')
  const dispatcher = await createUser(app, 'dispatcher')
  const sos = await createSos(app, {}, owner)
  const other = await createSos(app)
  const base = `/api/sos/${sos.sos_id}/share-links/`

  const link = await newLink(node, sos)
  assert.match(link.url, /^http:\/\/localhost(:\d+)?\/t\/[A-Za-z0-9_-]{43}$/)
  const byOwner = await app.inject({ method: 'POST', url: base, headers: auth(owner), payload: { label: 'Neighbour', ttl_hours: 2 } })
  assert.equal(byOwner.statusCode, 201)
  const listed = await app.inject({ method: 'GET', url: base, headers: auth(owner) })
  assert.deepEqual(listed.json().results.map((l: { label: string; status: string }) => [l.label, l.status]), [['Priya', 'active'], ['Neighbour', 'active']])
  assert.doesNotMatch(listed.body, new RegExp(link.token), 'a token is shown once, when made')
  // The token is stored only as its hash.
  const stored = await app.db.selectFrom('share_links').selectAll().execute()
  assert.ok(stored.every((row) => row.token_hash.length === 64 && !JSON.stringify(row).includes(link.token)))

  for (const [headers, status] of [[{}, 401], [auth(stranger), 403], [auth(dispatcher), 403], [{ 'x-sos-token': other.sos_token }, 403], [{ 'x-sos-token': link.token }, 403]] as const) {
    assert.equal((await app.inject({ method: 'GET', url: base, headers })).statusCode, status)
    assert.equal((await app.inject({ method: 'POST', url: base, headers, payload: { label: 'x' } })).statusCode, status)
    assert.equal((await app.inject({ method: 'DELETE', url: `${base}${link.id}/`, headers })).statusCode, status)
  }
  // A link token is no SOS token: it opens nothing of the API.
  assert.equal((await app.inject({ method: 'GET', url: `/api/sos/${sos.sos_id}/`, headers: { 'x-sos-token': link.token } })).statusCode, 403)
  // A link of another SOS is "not found" on this SOS (and stays untouched).
  const otherLink = await newLink(node, other)
  assert.equal((await app.inject({ method: 'DELETE', url: `${base}${otherLink.id}/`, headers: { 'x-sos-token': sos.sos_token } })).statusCode, 404)
  assert.equal((await app.inject({ method: 'GET', url: `${linkPath(otherLink.url)}/state` })).statusCode, 200)
  assert.equal((await app.inject({ method: 'POST', url: base, headers: { 'x-sos-token': sos.sos_token }, payload: {} })).json().label[0], 'This field is required.')

  assert.equal((await app.inject({ method: 'GET', url: linkPath(link.url) })).statusCode, 200)
  assert.equal((await app.inject({ method: 'DELETE', url: `${base}${link.id}/`, headers: { 'x-sos-token': sos.sos_token } })).statusCode, 204)
  assert.equal((await app.inject({ method: 'DELETE', url: `${base}${link.id}/`, headers: { 'x-sos-token': sos.sos_token } })).statusCode, 204, 'revoking twice is fine')
  for (const suffix of ['', '/state', '/events']) {
    const gone = await app.inject({ method: 'GET', url: `${linkPath(link.url)}${suffix}` })
    assert.equal(gone.statusCode, 410, suffix)
    assert.doesNotMatch(gone.body, /Asha|12\.97|77\.59/, 'no data')
  }
  assert.equal((await app.inject({ method: 'POST', url: `${linkPath(link.url)}/on-my-way` })).statusCode, 410)
  const log = await app.inject({ method: 'GET', url: `/api/sos/${sos.sos_id}/events/`, headers: auth(dispatcher) })
  assert.deepEqual(log.json().results.map((e: { kind: string }) => e.kind).filter((k: string) => k.startsWith('share')), ['share_link_added', 'share_link_added', 'share_link_revoked'])

  // Expired: 410 too.
  const neighbour = byOwner.json() as { id: number; url: string }
  await app.db.updateTable('share_links').set({ expires_at: new Date(Date.now() - 1000).toISOString() }).where('id', '=', neighbour.id).execute()
  assert.equal((await app.inject({ method: 'GET', url: linkPath(neighbour.url) })).statusCode, 410)
  assert.equal((await app.inject({ method: 'GET', url: base, headers: auth(owner) })).json().results[1].status, 'expired')
  // Unknown and malformed tokens: 404.
  assert.equal((await app.inject({ method: 'GET', url: `/t/${'A'.repeat(43)}` })).statusCode, 404)
  assert.equal((await app.inject({ method: 'GET', url: '/t/not-a-token/state' })).statusCode, 404)
})

test('what a link shows: her name, status and track, no internal ids; positions stop after the close window', async (t) => {
  const node = await buildTestApp(t, { shareLinkAfterCloseMinutes: 0 })
  const { app } = node
  const dispatcher = await createUser(app, 'dispatcher')
  const sos = await createSos(app, { name: 'Asha <b>K</b>' })
  const link = await newLink(node, sos)
  await app.inject({ method: 'POST', url: '/api/update-location/', headers: { 'x-sos-token': sos.sos_token }, payload: { sos_request: sos.sos_id, latitude: 12.98, longitude: 77.6 } })
  const page = await app.inject({ method: 'GET', url: linkPath(link.url) })
  assert.equal(page.headers['content-type'], 'text/html; charset=utf-8')
  const csp = String(page.headers['content-security-policy'])
  assert.match(csp, /script-src 'self'/)
  assert.match(csp, /img-src 'self' data: https:\/\/tile\.openstreetmap\.org/, 'tiles from MAP_TILE_URL')
  assert.match(csp, /frame-ancestors 'none'/)
  assert.equal(page.headers['referrer-policy'], 'no-referrer', 'a tile request never carries the token')
  assert.doesNotMatch(page.body, /Asha/, 'the HTML itself carries no data (the script fetches it)')

  const state = (await app.inject({ method: 'GET', url: `${linkPath(link.url)}/state` })).json()
  assert.equal(state.name, 'Asha <b>K</b>', 'her name as given (the page sets it as text)')
  assert.equal(state.status, 'active')
  assert.deepEqual(state.positions.map((p: { lat: number }) => p.lat), [12.9716, 12.98], 'where it was raised, then the track')
  assert.equal(state.link.for, 'Priya')
  const found = keys(state)
  for (const internal of ['id', 'sos_id', 'room_id', 'user', 'user_id', 'sos_token', 'seq', 'cursor', 'phone']) assert.ok(!found.has(internal), `no ${internal}`)

  await app.inject({ method: 'POST', url: `/api/resolve-sos/${sos.sos_id}/`, headers: auth(dispatcher) })
  const closed = (await app.inject({ method: 'GET', url: `${linkPath(link.url)}/state` })).json()
  assert.equal(closed.status, 'resolved')
  assert.equal(closed.open, false)
  assert.equal(closed.positions_hidden, true, 'SHARE_LINK_AFTER_CLOSE_MINUTES=0: dark at once')
  assert.deepEqual(closed.positions, [])
})

test('the live stream sends the state, then each new position and status change', async (t) => {
  const node = await buildTestApp(t, { shareLivePollMs: 50 })
  const { app, apiUrl } = node
  const dispatcher = await createUser(app, 'dispatcher')
  const sos = await createSos(app)
  const link = await newLink(node, sos)
  const controller = new AbortController()
  t.after(() => controller.abort())
  const res = await fetch(`${apiUrl}${linkPath(link.url)}/events`, { signal: controller.signal })
  assert.equal(res.status, 200)
  assert.match(String(res.headers.get('content-type')), /^text\/event-stream/)
  const received: Array<{ event: string; data: Record<string, unknown> }> = []
  void (async () => {
    let buffer = ''
    const decoder = new TextDecoder()
    try {
      for await (const chunk of res.body!) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true })
        let end
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const event = /^event: (.+)$/m.exec(block)?.[1]
          const data = /^data: (.+)$/m.exec(block)?.[1]
          if (event && data) received.push({ event, data: JSON.parse(data) })
        }
      }
    } catch {
      // aborted at the end of the test
    }
  })()
  await eventually(() => received.find((r) => r.event === 'state'), 5000, 'the first state')
  await app.inject({ method: 'POST', url: '/api/update-location/', headers: { 'x-sos-token': sos.sos_token }, payload: { sos_request: sos.sos_id, latitude: 12.99, longitude: 77.61 } })
  const position = await eventually(() => received.find((r) => r.event === 'position'), 5000, 'a position')
  assert.deepEqual({ ...position.data, at: 'x' }, { lat: 12.99, lng: 77.61, accuracy: null, at: 'x' })
  await app.inject({ method: 'POST', url: `/api/sos/${sos.sos_id}/acknowledge/`, headers: auth(dispatcher) })
  await eventually(() => received.find((r) => r.event === 'state' && r.data.status === 'acknowledged'), 5000, 'the new status')
})

test('"I\'m on my way" is an event in the log, once per link, only while the SOS is open', async (t) => {
  const node = await buildTestApp(t)
  const { app } = node
  const dispatcher = await createUser(app, 'dispatcher')
  const sos = await createSos(app)
  const link = await newLink(node, sos, 'Ravi')
  const press = () => app.inject({ method: 'POST', url: `${linkPath(link.url)}/on-my-way` })
  const first = await press()
  assert.equal(first.statusCode, 200)
  assert.equal((await press()).json().on_the_way_at, first.json().on_the_way_at, 'a second press changes nothing')
  const log = await app.inject({ method: 'GET', url: `/api/sos/${sos.sos_id}/events/`, headers: auth(dispatcher) })
  const events = log.json().results.filter((e: { kind: string }) => e.kind === 'contact_on_the_way')
  assert.equal(events.length, 1)
  assert.deepEqual(events[0].by, { kind: 'contact', user_id: null, role: null })
  assert.equal(events[0].data.contact, 'Ravi')
  const audit = await app.inject({ method: 'GET', url: '/api/audit/?kind=contact_on_the_way', headers: auth(await createUser(app, 'admin')) })
  assert.equal(audit.json().results.length, 1, 'the audit trail filters on the new kind')
  const other = await newLink(node, sos, 'Late')
  await app.inject({ method: 'POST', url: `/api/resolve-sos/${sos.sos_id}/`, headers: auth(dispatcher) })
  assert.equal((await app.inject({ method: 'POST', url: `${linkPath(other.url)}/on-my-way` })).statusCode, 409)
})

test('the links are rate-limited per client IP', async (t) => {
  const node = await buildTestApp(t, { shareLinkRateLimitPerMinute: 3 })
  const sos = await createSos(node.app)
  const link = await newLink(node, sos)
  const statuses: number[] = []
  for (let i = 0; i < 5; i++) statuses.push((await node.app.inject({ method: 'GET', url: `${linkPath(link.url)}/state` })).statusCode)
  assert.deepEqual(statuses, [200, 200, 200, 429, 429])
  // Guessing tokens is limited the same way.
  const guesses: number[] = []
  for (let i = 0; i < 4; i++) guesses.push((await node.app.inject({ method: 'GET', url: `/t/${String(i).repeat(43)}` })).statusCode)
  assert.deepEqual(guesses, [404, 404, 404, 429])
})

test('no phone number, link token or provider secret ever reaches the logs', async (t) => {
  const twilio = await startFakeTwilio(t, [503, 400])
  const node = await buildTestApp(t, { sms: twilio.config, contactGraceSeconds: 0, outboxCheckMs: 25, outboxBackoffBaseMs: 50 }, { captureLogs: true })
  const { app, apiUrl } = node
  const asha = await createUser(app, 'citizen')
  const phones = ['+919812345678', '+919876543210', '+447700900123']
  await app.inject({ method: 'POST', url: '/api/contacts/', headers: auth(asha), payload: { name: 'Mother', phone: phones[0] } })
  await app.inject({ method: 'POST', url: '/api/contacts/', headers: auth(asha), payload: { name: 'Bad', phone: '+91 not a number 98123' } })
  const created = await app.inject({ method: 'POST', url: '/api/create-sos/', headers: auth(asha), payload: { name: 'Asha', initial_latitude: 12.97, initial_longitude: 77.59, contacts: [{ name: 'Meera', phone: phones[1] }, { name: 'x', phone: '12' }] } })
  const sos = created.json() as { sos_id: number; sos_token: string }
  await app.inject({ method: 'POST', url: `/api/sos/${sos.sos_id}/contacts/`, headers: { 'x-sos-token': sos.sos_token }, payload: { name: 'Sam', phone: phones[2] } })
  await eventually(async () => {
    const notes = await app.inject({ method: 'GET', url: `/api/sos/${sos.sos_id}/notifications/`, headers: { 'x-sos-token': sos.sos_token } })
    return (notes.json() as { results: Array<{ status: string }> }).results.every((n) => n.status === 'sent' || n.status === 'dead')
  }, 10_000, 'all messages settled')
  const tokens = twilio.requests.map((r) => /\/t\/([A-Za-z0-9_-]{43})/.exec(r.form.get('Body') ?? '')?.[1]).filter((x): x is string => !!x)
  assert.ok(tokens.length >= 2)
  // Open a link, its stream and its button, as a contact would.
  await fetch(`${apiUrl}/t/${tokens[0]}`)
  await fetch(`${apiUrl}/t/${tokens[0]}/state`)
  await fetch(`${apiUrl}/t/${tokens[0]}/on-my-way`, { method: 'POST' })
  await new Promise((r) => setTimeout(r, 100))

  const logs = node.logs.join('')
  assert.ok(node.logs.length > 20, 'logging was on (trace)')
  assert.match(logs, /message sent/)
  for (const phone of phones) {
    assert.ok(!logs.includes(phone), `${phone} is not in the logs`)
    assert.ok(!logs.includes(phone.slice(3)), `nor its digits ${phone.slice(3)}`)
  }
  for (const token of tokens) assert.ok(!logs.includes(token), 'no link token in the logs')
  assert.match(logs, /\/t\/\[redacted\]/)
  assert.ok(!logs.includes(TWILIO_TOKEN), 'no provider secret in the logs')
  assert.ok(!logs.includes(sos.sos_token), 'no SOS token in the logs')
})
