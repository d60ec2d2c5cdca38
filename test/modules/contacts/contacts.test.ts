// Trusted contacts over HTTP and the socket: an account's list (CRUD, E.164, the limit), contacts named in the
// create request (REST and socket) or added later with the SOS token, who may see the numbers, and bad input.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { buildTestApp } from '../../helpers/app.ts'
import { auth, createSos, createUser } from '../../helpers/factories.ts'
import { connect, emitAck, next } from '../../helpers/sockets.ts'

const MALFORMED_PHONES = ['9812345678', '+0123456789', '+91 98123 abc', '+1234', '+1234567890123456', '', '++919812345678', 919812345678.5, null, ['+919812345678'], { phone: '+919812345678' }]

test('a citizen keeps her contacts: create, list in priority order, change, delete; only her own', async (t) => {
  const { app } = await buildTestApp(t)
  const asha = await createUser(app, 'citizen')
  const other = await createUser(app, 'citizen')
  const add = (payload: Record<string, unknown>, user = asha) => app.inject({ method: 'POST', url: '/api/contacts/', headers: auth(user), payload })

  const ravi = await add({ name: 'Ravi', phone: '+91 98123-45678', email: 'Ravi@Example.org' })
  assert.equal(ravi.statusCode, 201, ravi.body)
  assert.deepEqual({ ...(ravi.json() as object), id: 0, created_at: '', updated_at: '' }, { id: 0, name: 'Ravi', phone: '+919812345678', email: 'ravi@example.org', priority: 1, created_at: '', updated_at: '' })
  const meera = await add({ name: 'Meera', phone: '0091 98765 43210', priority: 1 })
  assert.equal(meera.json().phone, '+919876543210', 'a leading 00 reads as +')
  const listed = await app.inject({ method: 'GET', url: '/api/contacts/', headers: auth(asha) })
  assert.deepEqual(listed.json().map((c: { name: string }) => c.name), ['Ravi', 'Meera'], 'equal priority: the order added')

  const patched = await app.inject({ method: 'PATCH', url: `/api/contacts/${ravi.json().id}/`, headers: auth(asha), payload: { priority: 0 } })
  assert.equal(patched.statusCode, 400, 'priority is 1–100')
  const renamed = await app.inject({ method: 'PATCH', url: `/api/contacts/${ravi.json().id}/`, headers: auth(asha), payload: { name: 'Ravi Kumar', email: null, priority: 5 } })
  assert.equal(renamed.statusCode, 200)
  const reordered = await app.inject({ method: 'GET', url: '/api/contacts/', headers: auth(asha) })
  assert.deepEqual(reordered.json().map((c: { name: string }) => c.name), ['Meera', 'Ravi Kumar'], 'priority first')
  assert.equal(renamed.json().name, 'Ravi Kumar')
  assert.equal(renamed.json().email, null)

  // Another account sees and touches none of them.
  assert.deepEqual((await app.inject({ method: 'GET', url: '/api/contacts/', headers: auth(other) })).json(), [])
  assert.equal((await app.inject({ method: 'GET', url: `/api/contacts/${ravi.json().id}/`, headers: auth(other) })).statusCode, 404)
  assert.equal((await app.inject({ method: 'PATCH', url: `/api/contacts/${ravi.json().id}/`, headers: auth(other), payload: { name: 'x' } })).statusCode, 404)
  assert.equal((await app.inject({ method: 'DELETE', url: `/api/contacts/${ravi.json().id}/`, headers: auth(other) })).statusCode, 404)
  assert.equal((await app.inject({ method: 'GET', url: '/api/contacts/' })).statusCode, 401)
  const created = await createSos(app)
  assert.equal((await app.inject({ method: 'GET', url: '/api/contacts/', headers: { 'x-sos-token': created.sos_token } })).statusCode, 401, 'an SOS token is no account')

  assert.equal((await app.inject({ method: 'DELETE', url: `/api/contacts/${ravi.json().id}/`, headers: auth(asha) })).statusCode, 204)
  assert.equal((await app.inject({ method: 'GET', url: '/api/contacts/', headers: auth(asha) })).json().length, 1)
})

test('bad input: malformed phone numbers, bad email, duplicates, too many contacts', async (t) => {
  const { app } = await buildTestApp(t, { contactsMax: 3 })
  const asha = await createUser(app, 'citizen')
  for (const phone of MALFORMED_PHONES) {
    const res = await app.inject({ method: 'POST', url: '/api/contacts/', headers: auth(asha), payload: { name: 'X', phone } })
    assert.equal(res.statusCode, 400, `phone ${JSON.stringify(phone)}`)
    assert.ok(Array.isArray(res.json().phone), `a field error for ${JSON.stringify(phone)}: ${res.body}`)
  }
  assert.equal((await app.inject({ method: 'POST', url: '/api/contacts/', headers: auth(asha), payload: { name: 'X', phone: '+919812345678', email: 'not-an-email' } })).json().email[0], 'Enter a valid email address.')
  assert.equal((await app.inject({ method: 'POST', url: '/api/contacts/', headers: auth(asha), payload: { phone: '+919812345678' } })).json().name[0], 'This field is required.')
  for (const phone of ['+919812345670', '+919812345671', '+919812345672']) {
    assert.equal((await app.inject({ method: 'POST', url: '/api/contacts/', headers: auth(asha), payload: { name: 'X', phone } })).statusCode, 201)
  }
  const dup = await app.inject({ method: 'POST', url: '/api/contacts/', headers: auth(asha), payload: { name: 'Y', phone: '+91 98123 45670' } })
  assert.equal(dup.statusCode, 400)
  const tooMany = await app.inject({ method: 'POST', url: '/api/contacts/', headers: auth(asha), payload: { name: 'Z', phone: '+919812345673' } })
  assert.equal(tooMany.statusCode, 400)
  assert.match(tooMany.json().non_field_errors[0], /at most 3 contacts/)
  assert.equal((await app.inject({ method: 'GET', url: '/api/contacts/', headers: auth(asha) })).json().length, 3, 'nothing half-written')
})

test('an SOS alerts the citizen\'s own contacts and the ones named in the request; bad ones never refuse the SOS', async (t) => {
  const { app } = await buildTestApp(t, { contactsMax: 3, contactGraceSeconds: 3600 })
  const asha = await createUser(app, 'citizen')
  await app.inject({ method: 'POST', url: '/api/contacts/', headers: auth(asha), payload: { name: 'Mother', phone: '+919800000001' } })
  const res = await app.inject({
    method: 'POST',
    url: '/api/create-sos/',
    headers: auth(asha),
    payload: { name: 'Asha', initial_latitude: 12.97, initial_longitude: 77.59, contacts: [{ name: 'Ravi', phone: '+919812345678' }, { name: 'Bad', phone: '12345' }, { name: 'Mother again', phone: '+919800000001' }] },
  })
  assert.equal(res.statusCode, 201, 'a malformed contact never refuses an SOS')
  const body = res.json()
  assert.equal(body.contacts_count, 2)
  assert.deepEqual(body.contacts_rejected, [{}, { phone: ['Enter a valid phone number in international E.164 form, e.g. +919812345678.'] }, {}])
  const contacts = await app.inject({ method: 'GET', url: `/api/sos/${body.sos_id}/contacts/`, headers: auth(asha) })
  assert.deepEqual(contacts.json().results.map((c: { name: string; source: string }) => [c.name, c.source]), [['Mother', 'account'], ['Ravi', 'request']])

  // Too many in the request: the SOS is raised, the list is reported.
  const crowded = await app.inject({
    method: 'POST',
    url: '/api/create-sos/',
    payload: { name: 'Asha', initial_latitude: 12.97, initial_longitude: 77.59, contacts: Array.from({ length: 4 }, (_, i) => ({ name: `C${i}`, phone: `+9198000000${10 + i}` })) },
  })
  assert.equal(crowded.statusCode, 201)
  assert.deepEqual(crowded.json().contacts_rejected, ['Ensure this field has no more than 3 elements.'])
  assert.equal(crowded.json().contacts_count, 0)
  // Not a list at all: reported, SOS raised.
  const odd = await app.inject({ method: 'POST', url: '/api/create-sos/', payload: { name: 'Asha', initial_latitude: 12.97, initial_longitude: 77.59, contacts: '+919812345678' } })
  assert.equal(odd.statusCode, 201)
  assert.ok(Array.isArray(odd.json().contacts_rejected))
  // Bad SOS fields still refuse the create, as before, and store nothing.
  const before = await app.db.selectFrom('sos_contacts').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()
  const refused = await app.inject({ method: 'POST', url: '/api/create-sos/', payload: { name: '', initial_latitude: 12.97, initial_longitude: 77.59, contacts: [{ name: 'Ravi', phone: '+919812345678' }] } })
  assert.equal(refused.statusCode, 400)
  const after = await app.db.selectFrom('sos_contacts').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()
  assert.equal(Number(after.n), Number(before.n))
})

test('socket create_sos takes contacts too', async (t) => {
  const { app, socketUrl } = await buildTestApp(t, { contactGraceSeconds: 3600 })
  const phone = await connect(t, socketUrl)
  const response = next<{ success: boolean; data: { sos_id: number; sos_token: string; contacts_count: number } }>(phone, 'create_sos_response')
  const ack = await emitAck(phone, 'create_sos', { name: 'Asha', initial_latitude: 12.97, initial_longitude: 77.59, contacts: [{ name: 'Ravi', phone: '+919812345678' }] })
  assert.equal(ack.ok, true)
  const { data } = await response
  assert.equal(data.contacts_count, 1)
  const contacts = await app.inject({ method: 'GET', url: `/api/sos/${data.sos_id}/contacts/`, headers: { 'x-sos-token': data.sos_token } })
  assert.equal(contacts.json().results[0].phone, '+919812345678')
  const notes = await app.inject({ method: 'GET', url: `/api/sos/${data.sos_id}/notifications/`, headers: { 'x-sos-token': data.sos_token } })
  assert.deepEqual(notes.json().results.map((n: { status: string }) => n.status), ['queued'])
})

test('an anonymous victim adds contacts later with her SOS token; numbers are shown to her, the owner and staff only', async (t) => {
  const { app, socketUrl } = await buildTestApp(t, { contactsMax: 2, contactGraceSeconds: 3600 })
  const dispatcher = await createUser(app, 'dispatcher')
  const stranger = await createUser(app, 'citizen')
  const sos = await createSos(app)
  const other = await createSos(app)
  const control = await connect(t, socketUrl, dispatcher.token)
  await emitAck(control, 'join_sos_channel', {})
  const live = next<{ kind: string; sos_id: number }>(control, 'sos_updated')

  const url = `/api/sos/${sos.sos_id}/contacts/`
  assert.equal((await app.inject({ method: 'POST', url, payload: { name: 'Ravi', phone: '+919812345678' } })).statusCode, 401)
  assert.equal((await app.inject({ method: 'POST', url, headers: { 'x-sos-token': other.sos_token }, payload: { name: 'Ravi', phone: '+919812345678' } })).statusCode, 403, "another SOS's token")
  assert.equal((await app.inject({ method: 'POST', url, headers: auth(dispatcher), payload: { name: 'Ravi', phone: '+919812345678' } })).statusCode, 403, 'staff do not speak for her')
  const bad = await app.inject({ method: 'POST', url, headers: { 'x-sos-token': sos.sos_token }, payload: { contacts: [{ name: 'Ravi', phone: '98123' }] } })
  assert.equal(bad.statusCode, 400)
  assert.deepEqual(bad.json(), { contacts: [{ phone: ['Enter a valid phone number in international E.164 form, e.g. +919812345678.'] }] })
  const single = await app.inject({ method: 'POST', url, headers: { 'x-sos-token': sos.sos_token }, payload: { name: 'Ravi', phone: '+919812345678' } })
  assert.equal(single.statusCode, 201, single.body)
  assert.equal((await live).kind, 'contacts_added', 'the control room sees it live')
  const body = await app.inject({ method: 'POST', url, payload: { sos_token: sos.sos_token, contacts: [{ name: 'Meera', phone: '+919876543210' }, { name: 'Kiran', phone: '+919800000003' }] } })
  assert.equal(body.statusCode, 400, 'more than CONTACTS_MAX in all')
  assert.match(JSON.stringify(body.json()), /at most 2 contacts/)
  assert.equal((await app.inject({ method: 'POST', url, payload: { sos_token: sos.sos_token, contacts: [{ name: 'Meera', phone: '+919876543210' }] } })).statusCode, 201)

  // Who sees the numbers.
  for (const headers of [{ 'x-sos-token': sos.sos_token }, auth(dispatcher)]) {
    const res = await app.inject({ method: 'GET', url, headers })
    assert.equal(res.statusCode, 200)
    assert.deepEqual(res.json().results.map((c: { phone: string }) => c.phone), ['+919812345678', '+919876543210'])
  }
  assert.equal((await app.inject({ method: 'GET', url, headers: auth(stranger) })).statusCode, 403)
  assert.equal((await app.inject({ method: 'GET', url, headers: { 'x-sos-token': other.sos_token } })).statusCode, 403)
  assert.equal((await app.inject({ method: 'GET', url })).statusCode, 401)
  assert.equal((await app.inject({ method: 'GET', url: `/api/sos/${sos.sos_id}/notifications/`, headers: auth(stranger) })).statusCode, 403)
  // The SOS itself never carries them (the control room's lists go to many screens).
  const read = await app.inject({ method: 'GET', url: `/api/sos/${sos.sos_id}/`, headers: auth(dispatcher) })
  assert.doesNotMatch(read.body, /9812345678/)
  // The log records who was added, never their numbers.
  const log = await app.inject({ method: 'GET', url: `/api/sos/${sos.sos_id}/events/`, headers: auth(dispatcher) })
  assert.match(log.body, /contacts_added/)
  assert.doesNotMatch(log.body, /98123|98765/)

  // Closed: no more contacts.
  await app.inject({ method: 'POST', url: `/api/sos/${sos.sos_id}/cancel/`, headers: { 'x-sos-token': sos.sos_token } })
  assert.equal((await app.inject({ method: 'POST', url, headers: { 'x-sos-token': sos.sos_token }, payload: { name: 'Late', phone: '+919800000009' } })).statusCode, 409)
})

test('a repeated idempotent create alerts its contacts once and answers as the first time; other contacts with the key are 422', async (t) => {
  const { app, socketUrl } = await buildTestApp(t, { contactsMax: 2, contactGraceSeconds: 3600 })
  const asha = await createUser(app, 'citizen')
  await app.inject({ method: 'POST', url: '/api/contacts/', headers: auth(asha), payload: { name: 'Mother', phone: '+919800000001' } })
  const count = async (table: 'sos_requests' | 'sos_contacts' | 'share_links' | 'outbox') =>
    Number((await app.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n)
  const counts = async () => ({ sos: await count('sos_requests'), contacts: await count('sos_contacts'), links: await count('share_links'), outbox: await count('outbox') })

  // Two named, the second over the limit (the account's contact comes first).
  const payload = { name: 'Asha', initial_latitude: 12.97, initial_longitude: 77.59, contacts: [{ name: 'Ravi', phone: '+919812345678' }, { name: 'Kiran', phone: '+919800000003' }] }
  const create = (body: Record<string, unknown> = payload, key = 'a3c1f0e2-5b7d-4e9a-8c6f-1d2b3a4c5e6f') =>
    app.inject({ method: 'POST', url: '/api/create-sos/', headers: { ...auth(asha), 'idempotency-key': key }, payload: body })
  const first = await create()
  assert.equal(first.statusCode, 201, first.body)
  assert.equal(first.json().contacts_count, 2)
  assert.deepEqual(first.json().contacts_rejected, ['Ensure this field has no more than 2 elements.'])
  const stored = await counts()
  assert.deepEqual(stored, { sos: 1, contacts: 2, links: 2, outbox: 2 })

  for (let i = 0; i < 3; i++) {
    const again = await create()
    assert.equal(again.statusCode, 201)
    assert.equal(again.headers['idempotent-replayed'], 'true')
    assert.deepEqual(again.json(), first.json(), 'the first answer, contacts fields too')
  }
  // Over the socket with the same key (one namespace with the header): the same answer.
  const phone = await connect(t, socketUrl, asha.token)
  const ack = await emitAck(phone, 'create_sos', { ...payload, client_request_id: 'a3c1f0e2-5b7d-4e9a-8c6f-1d2b3a4c5e6f' })
  assert.equal(ack.ok, true)
  assert.deepEqual(ack.data, first.json())
  assert.deepEqual(await counts(), stored, 'no second SOS, contact, link or alert')
  const notes = await app.inject({ method: 'GET', url: `/api/sos/${first.json().sos_id}/notifications/`, headers: auth(asha) })
  assert.equal(notes.json().results.length, 2, 'each contact alerted once')

  // The contacts belong to the request the key was made for.
  const changed = await create({ ...payload, contacts: [{ name: 'Ravi', phone: '+919812345678' }] })
  assert.equal(changed.statusCode, 422)
  assert.match(changed.json().detail, /already used with a different request/)
  // The same contacts spelled otherwise are the same request.
  const respelled = await create({ ...payload, initial_latitude: '12.97', contacts: [{ name: 'Ravi', phone: '+91 98123-45678' }, { name: 'Kiran', phone: '0091 98000 00003' }] })
  assert.equal(respelled.statusCode, 201)
  assert.deepEqual(respelled.json(), first.json())
  assert.deepEqual(await counts(), stored)
  // Without contacts, a key's request is what it was before contacts existed; a replay still names the account's.
  const plain = { name: 'Asha', initial_latitude: 12.97, initial_longitude: 77.59 }
  const bare = await create(plain, 'b4d2e1f3-6c8e-4fab-9d70-2e3c4b5d6f70')
  assert.equal(bare.json().contacts_count, 1)
  const bareAgain = await create(plain, 'b4d2e1f3-6c8e-4fab-9d70-2e3c4b5d6f70')
  assert.deepEqual(bareAgain.json(), bare.json())
  // A bad number is reported again on a replay.
  const bad = { ...plain, contacts: [{ name: 'Bad', phone: '123' }] }
  const badFirst = await create(bad, 'c5e3f2a4-7d9f-4abc-8e81-3f4d5c6e7f81')
  assert.equal(badFirst.json().contacts_count, 1)
  assert.deepEqual(badFirst.json().contacts_rejected, [{ phone: ['Enter a valid phone number in international E.164 form, e.g. +919812345678.'] }])
  assert.deepEqual((await create(bad, 'c5e3f2a4-7d9f-4abc-8e81-3f4d5c6e7f81')).json(), badFirst.json())
  assert.equal(await count('outbox'), stored.outbox + 2, 'one alert per first create')
})
