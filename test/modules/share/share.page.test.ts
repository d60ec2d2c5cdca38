// The live-tracking page in a real browser (Debian's headless Chromium): the link the local SMS provider
// received opens the page, the marker shows, a location sent by the phone moves it without a reload,
// "I'm on my way" reaches the control room live, a resolve shows on the page, and a revoked link goes dark
// and answers 410. Map tiles point at a closed local port: the page must work without them.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { chromium } from 'playwright-core'
import { buildTestApp } from '../../helpers/app.ts'
import { auth, createUser } from '../../helpers/factories.ts'
import { eventually, startFakeTwilio } from '../../helpers/providers.ts'
import { connect, emitAck } from '../../helpers/sockets.ts'
import { CHROMIUM, requireProgram } from '../../helpers/system.ts'

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
const WAIT_MS = 15_000
/** Nothing listens on port 9 (discard) here: tile requests fail at once and never leave the machine. */
const NO_TILES = 'http://127.0.0.1:9/{z}/{x}/{y}.png'

test('the live-tracking page: marker, live move, on my way, resolved, revoked → 410', async (t) => {
  if (!requireProgram(t, CHROMIUM)) return
  const twilio = await startFakeTwilio(t)
  const { app, apiUrl, socketUrl } = await buildTestApp(t, { sms: twilio.config, contactGraceSeconds: 0, outboxCheckMs: 50, shareLivePollMs: 150, mapTileUrl: NO_TILES })
  const dispatcher = await createUser(app, 'dispatcher')
  const control = await connect(t, socketUrl, dispatcher.token)
  assert.equal((await emitAck(control, 'join_sos_channel', {})).ok, true)
  const updates: Array<{ kind: string; by: { kind: string } }> = []
  control.on('sos_updated', (event) => updates.push(event))

  const created = await app.inject({
    method: 'POST',
    url: '/api/create-sos/',
    payload: { name: 'Asha', initial_latitude: 12.9716, initial_longitude: 77.5946, contacts: [{ name: 'Ravi', phone: '+919812345678' }] },
  })
  assert.equal(created.statusCode, 201)
  const sos = created.json() as { sos_id: number; room_id: string; sos_token: string }

  // The link exactly as the contact received it.
  await twilio.waitFor(1)
  const sms = twilio.requests[0].form.get('Body')!
  const link = /(http:\/\/\S+\/t\/[A-Za-z0-9_-]{43})/.exec(sms)?.[1]
  assert.ok(link, `the SMS carries a link: ${sms}`)
  assert.ok(link.startsWith(apiUrl), 'the link points at this server')

  const browser = await chromium.launch({ executablePath: CHROMIUM.path, args: CHROMIUM_ARGS })
  t.after(() => browser.close())
  const page = await browser.newPage({ viewport: { width: 480, height: 860 } })
  const pageErrors: string[] = []
  const cspViolations: string[] = []
  page.on('pageerror', (error) => pageErrors.push(error.message))
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text())
  })
  const requested: string[] = []
  page.on('request', (request) => requested.push(request.url()))

  const response = await page.goto(link)
  assert.equal(response?.status(), 200)
  await page.locator('.leaflet-marker-icon').waitFor({ timeout: WAIT_MS })
  assert.equal(await page.locator('#name').innerText(), 'Asha')
  assert.match(await page.locator('#status').innerText(), /control room has been alerted/)
  assert.equal(await page.locator('#coords').getAttribute('data-lat'), '12.9716')
  await page.locator('#live').filter({ hasText: 'live' }).waitFor({ timeout: WAIT_MS })
  // Marks this document: a reload would lose it.
  await page.evaluate(() => Object.assign(window, { sameDocument: true }))
  const before = await page.locator('.leaflet-marker-icon').evaluate((el) => (el as HTMLElement).style.transform)

  // The phone sends positions: the marker moves, with no reload.
  for (const [latitude, longitude] of [[12.9721, 77.5952], [12.9729, 77.5961]]) {
    const res = await app.inject({ method: 'POST', url: '/api/update-location/', headers: { 'x-sos-token': sos.sos_token }, payload: { sos_request: sos.sos_id, latitude, longitude } })
    assert.equal(res.statusCode, 201)
  }
  await page.waitForFunction(() => document.getElementById('coords')?.getAttribute('data-lat') === '12.9729', undefined, { timeout: WAIT_MS })
  assert.equal(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument), true, 'no reload')
  assert.notEqual(await page.locator('.leaflet-marker-icon').evaluate((el) => (el as HTMLElement).style.transform), before, 'the marker moved')
  assert.equal(await page.getAttribute('body', 'data-points'), '3', 'the track: start and two points')
  assert.match(await page.locator('#age').innerText(), /updated \d+ s ago/)
  // No internal ids on the page (the room id; the state it shows has no ids at all: share.test.ts).
  const html = await page.content()
  assert.ok(!html.includes(sos.room_id) && !html.includes(sos.sos_token), 'no room id or SOS token in the page')

  // "I'm on my way" → the control room sees it live.
  await page.locator('#on-my-way').click()
  await page.locator('#on-my-way-done').waitFor({ timeout: WAIT_MS })
  await eventually(() => updates.find((u) => u.kind === 'contact_on_the_way'), WAIT_MS, 'contact_on_the_way reached the control room')
  assert.equal(updates.find((u) => u.kind === 'contact_on_the_way')?.by.kind, 'contact')

  if (process.env.SHARE_SCREENSHOT) await page.screenshot({ path: process.env.SHARE_SCREENSHOT, fullPage: true })

  // Resolved by the control room: the page says so, without a reload.
  const resolved = await app.inject({ method: 'POST', url: `/api/resolve-sos/${sos.sos_id}/`, headers: auth(dispatcher) })
  assert.equal(resolved.statusCode, 200)
  await page.waitForFunction(() => document.body.getAttribute('data-status') === 'resolved', undefined, { timeout: WAIT_MS })
  assert.match(await page.locator('#closed').innerText(), /This SOS was resolved/)

  // Revoked by the victim: the open page goes dark, and the link answers 410.
  const links = await app.inject({ method: 'GET', url: `/api/sos/${sos.sos_id}/share-links/`, headers: { 'x-sos-token': sos.sos_token } })
  const ravi = (links.json() as { results: Array<{ id: number; label: string }> }).results.find((l) => l.label === 'Ravi')!
  const revoked = await app.inject({ method: 'DELETE', url: `/api/sos/${sos.sos_id}/share-links/${ravi.id}/`, headers: { 'x-sos-token': sos.sos_token } })
  assert.equal(revoked.statusCode, 204)
  await page.waitForFunction(() => document.body.getAttribute('data-status') === 'gone', undefined, { timeout: WAIT_MS })
  assert.equal(await page.locator('#coords').innerText(), '–', 'no position is shown any more')
  const again = await page.goto(link)
  assert.equal(again?.status(), 410)
  assert.doesNotMatch(await page.content(), /Asha|12\.97/, 'a 410 carries no data')

  assert.deepEqual(pageErrors, [])
  assert.deepEqual(cspViolations, [])
  // Only this server and the (unreachable, local) tile server were asked for anything.
  const origins = new Set(requested.map((url) => new URL(url).origin))
  assert.deepEqual([...origins].sort(), [apiUrl, 'http://127.0.0.1:9'].sort())
})
