// The AsyncAPI document at /api/asyncapi.json: valid for @asyncapi/parser, complete against contract.ts in
// both directions, and describing create_sos/update_location with exactly REST's body schemas.
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import { test, type TestContext } from 'node:test'
import { Parser, type AsyncAPIDocumentInterface } from '@asyncapi/parser'
import { FormatRegistry } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import ts from 'typescript'
import * as sosSchemas from '../../src/modules/sos/sos.schemas.ts'
import { buildAsyncApiDocument, documentedMessages } from '../../src/realtime/asyncapi.ts'
import { CLIENT_EVENTS, ROOMS, SERVER_EVENTS } from '../../src/realtime/contract.ts'
import * as realtimeSchemas from '../../src/realtime/schemas.ts'
import { io, type Socket } from 'socket.io-client'
import { buildTestApp } from '../helpers/app.ts'
import { auth, createUser } from '../helpers/factories.ts'
import { next, settle } from '../helpers/sockets.ts'

type Json = Record<string, unknown>

// @stoplight/types' DiagnosticSeverity.
const SEVERITY = ['error', 'warning', 'information', 'hint']

// The two formats the schemas use (TypeBox checks no format it was not given).
FormatRegistry.Set('date-time', (value) => !Number.isNaN(Date.parse(value)) && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(value))
FormatRegistry.Set('uuid', (value) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value))

/**
 * Why `payload` does not fit `schema`: its errors, and any field the schema does not document (TypeBox
 * objects allow extra fields, so an undocumented one shows up as what Value.Clean removes).
 */
function misfit(schema: Parameters<typeof Value.Check>[0], payload: unknown): string[] {
  const refs = [realtimeSchemas.LocationUpdate]
  const errors = [...Value.Errors(schema, refs, payload)].map((e) => `${e.path || '/'}: ${e.message}`)
  if (errors.length > 0) return errors
  const cleaned = Value.Clean(schema, refs, structuredClone(payload))
  try {
    assert.deepEqual(cleaned, payload)
    return []
  } catch {
    return [`undocumented fields: ${JSON.stringify(payload)} documents only ${JSON.stringify(cleaned)}`]
  }
}

/** The member names of an interface in src/realtime/contract.ts, read from the source (not from the runtime lists). */
async function contractEvents(interfaceName: string): Promise<string[]> {
  const file = new URL('../../src/realtime/contract.ts', import.meta.url)
  const source = ts.createSourceFile('contract.ts', await fs.readFile(file, 'utf8'), ts.ScriptTarget.ES2022, true)
  const names: string[] = []
  source.forEachChild((node) => {
    if (!ts.isInterfaceDeclaration(node) || node.name.text !== interfaceName) return
    for (const member of node.members) if (member.name && (ts.isIdentifier(member.name) || ts.isStringLiteral(member.name))) names.push(member.name.text)
  })
  assert.ok(names.length > 0, `interface ${interfaceName} found in contract.ts`)
  return names.sort()
}

/** A parsed schema's JSON without the ids the parser adds (`x-parser-schema-id`, …). */
function withoutParserKeys(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value), (key, v) => (key.startsWith('x-parser-') ? undefined : v))
}

/** The JSON a TypeBox schema serializes to (what Fastify and the AsyncAPI builder see). */
const json = (schema: unknown) => JSON.parse(JSON.stringify(schema)) as Json

async function served(t: TestContext) {
  const { app, config } = await buildTestApp(t, { socketPort: 8123 })
  const res = await app.inject({ method: 'GET', url: '/api/asyncapi.json' })
  assert.equal(res.statusCode, 200)
  assert.match(String(res.headers['content-type']), /^application\/json/)
  const openapi = (await app.inject({ method: 'GET', url: '/api/schema/' })).json()
  return { app, config, raw: res.body, doc: res.json() as Json, openapi }
}

interface Parsed {
  document: AsyncAPIDocumentInterface
  diagnostics: Array<{ severity: number; code: string | number; message: string; path: Array<string | number> }>
}
// The document is the same for every app built with the same options: parse each text once (a parse takes seconds).
const parsed = new Map<string, Promise<Parsed>>()

function parse(raw: string): Promise<Parsed> {
  let result = parsed.get(raw)
  if (!result) {
    result = new Parser().parse(raw).then(({ document, diagnostics }) => {
      assert.ok(document, `the parser returned a document; errors: ${JSON.stringify(diagnostics.filter((d) => d.severity === 0))}`)
      return { document, diagnostics }
    })
    parsed.set(raw, result)
  }
  return result
}

test('GET /api/asyncapi.json is an AsyncAPI 3.0.0 document @asyncapi/parser accepts with no errors', async (t) => {
  const { raw, doc, config } = await served(t)
  assert.equal(doc.asyncapi, '3.0.0')
  const { diagnostics } = await parse(raw)
  for (const d of diagnostics) t.diagnostic(`${SEVERITY[d.severity] ?? d.severity}: ${d.code}: ${d.message} at ${d.path.join('.') || '(root)'}`)
  const errors = diagnostics.filter((d) => d.severity === 0)
  assert.deepEqual(errors, [], 'no errors')

  // The servers say how to connect: Socket.IO's path, the configured port, websocket and long-polling.
  const servers = doc.servers as Record<string, Json>
  assert.deepEqual(Object.values(servers).map((s) => s.protocol).sort(), ['http', 'ws'])
  for (const server of Object.values(servers)) {
    assert.equal(server.pathname, '/socket.io/')
    assert.equal((server.variables as Record<string, Json>).port.default, String(config.socketPort))
    assert.deepEqual(server.security, [{ $ref: '#/components/securitySchemes/apiToken' }])
  }
  const scheme = ((doc.components as Json).securitySchemes as Record<string, Json>).apiToken
  assert.equal(scheme.type, 'httpApiKey')
  assert.match(String(scheme.description), /auth: \{token/)
  assert.match(String(scheme.description), /sos_token/)
})

test('every event of contract.ts is in the document, in its direction, and nothing else is', async (t) => {
  const { raw } = await served(t)
  const { document } = await parse(raw)
  const clientEvents = await contractEvents('ClientToServerEvents')
  const serverEvents = await contractEvents('ServerToClientEvents')
  // The runtime lists the server registers handlers and refusals from agree with the interfaces.
  assert.deepEqual([...CLIENT_EVENTS].sort(), clientEvents)
  assert.deepEqual([...SERVER_EVENTS].sort(), serverEvents)

  const received = new Set<string>()
  const sent = new Set<string>()
  for (const operation of document.operations()) {
    const names = operation.messages().all().map((m) => m.name())
    for (const name of names) {
      assert.ok(name, `every message of ${operation.id()} has a name (the event)`)
      ;(operation.isReceive() ? received : sent).add(name)
    }
    if (operation.isReceive()) {
      // Every client event answers its acknowledgement: the operation's reply.
      const reply = operation.reply()
      assert.ok(reply, `${operation.id()} has a reply (the ack)`)
      const replyPayloads = reply.messages().all().map((m) => withoutParserKeys(m.payload()?.json()) as Json)
      assert.equal(replyPayloads.length, 1, `${operation.id()}: one ack message`)
      const shapes = (replyPayloads[0].anyOf as Json[]).map((branch) => ((branch.properties as Json).ok as Json).const)
      assert.deepEqual(shapes, [true, false], `${operation.id()}: the ack is {ok: true, data} or {ok: false, error}`)
    }
  }
  assert.deepEqual([...received].sort(), clientEvents, 'client → server events (receive operations)')
  assert.deepEqual([...sent].sort(), serverEvents, 'server → client events (send operations)')

  // location_history has both shapes: the replay on join and a live point.
  const history = document.messages().all().filter((m) => m.name() === 'location_history')
  const required = history.map((m) => ((m.payload()?.json() as Json).required as string[]).sort())
  assert.deepEqual(required.sort(), [['latitude', 'longitude', 'sos_id', 'timestamp'], ['truncated', 'updates']])
})

test('the rooms are channels, the per-SOS and per-unit rooms with their parameter', async (t) => {
  const { raw } = await served(t)
  const { document } = await parse(raw)
  const addresses = new Map(document.channels().all().map((c) => [c.address(), c]))
  for (const room of [ROOMS.sosChannel, ROOMS.locationTracking, ROOMS.officerTracking, ROOMS.sos('{room_id}'), ROOMS.unit('{unit_number}')]) {
    assert.ok(addresses.has(room), `channel ${room}`)
  }
  assert.deepEqual(addresses.get('sos_{room_id}')!.parameters().all().map((p) => p.id()), ['room_id'])
  assert.deepEqual(addresses.get('unit_{unit_number}')!.parameters().all().map((p) => p.id()), ['unit_number'])
  const carries = (address: string) => addresses.get(address)!.messages().all().map((m) => m.name()).sort()
  assert.deepEqual(carries('sos_channel'), ['new_sos', 'sos_escalated', 'sos_resolved', 'sos_updated'])
  assert.deepEqual(carries('sos_{room_id}'), ['location_history', 'sos_resolved', 'sos_updated'])
  assert.deepEqual(carries('unit_{unit_number}'), ['sos_escalated', 'sos_resolved', 'sos_updated', 'unit_location_update'])
})

test('create_sos and update_location carry the REST bodies of create-sos and update-location (create_sos adds client_request_id)', async (t) => {
  const { raw, doc, openapi } = await served(t)
  const { document } = await parse(raw)
  // One definition: the socket's schema objects are the REST routes' own.
  assert.equal(realtimeSchemas.CreateSosBody, sosSchemas.CreateSosBody)
  assert.equal(realtimeSchemas.UpdateLocationBody, sosSchemas.UpdateLocationBody)
  // Trusted contacts are part of that shared body (REST and socket alike), not a socket-only field.
  assert.ok('contacts' in sosSchemas.CreateSosBody.properties, 'CreateSosBody documents contacts')

  // The socket's create_sos carries in its body what REST sends as the Idempotency-Key header.
  const socketOnly: Record<string, string[]> = { create_sos: ['client_request_id'], update_location: [] }
  /** A payload schema without the socket-only fields: what must equal the REST body. */
  const restPart = (event: string, schema: Json): Json => {
    const properties = Object.fromEntries(Object.entries(schema.properties as Json).filter(([key]) => !socketOnly[event].includes(key)))
    return { ...schema, properties }
  }
  const cases = [
    { event: 'create_sos', body: sosSchemas.CreateSosBody, paths: ['/api/create-sos/', '/api/sos/'] },
    { event: 'update_location', body: sosSchemas.UpdateLocationBody, paths: ['/api/update-location/'] },
  ]
  const messages = (doc.components as Json).messages as Record<string, Json>
  for (const { event, body, paths } of cases) {
    const parsed = document.messages().all().find((m) => m.name() === event)
    assert.ok(parsed, event)
    const fullSocketSchema = withoutParserKeys(parsed.payload()?.json()) as Json
    for (const key of socketOnly[event]) assert.ok(key in (fullSocketSchema.properties as Json), `${event} documents ${key}`)
    const socketSchema = restPart(event, fullSocketSchema)
    assert.deepEqual(socketSchema, json(body), `${event}: the parsed payload is the REST body schema`)
    // As served, before any parser touches it.
    const ref = (messages[event].payload as Json).$ref as string
    const servedSchema = restPart(event, ((doc.components as Json).schemas as Json)[ref.split('/').at(-1)!] as Json)
    assert.deepEqual(servedSchema, json(body), `${event}: the served payload is the REST body schema`)
    // And the OpenAPI document documents the same body for the REST routes.
    for (const path of paths) {
      const restSchema = openapi.paths[path].post.requestBody.content['application/json'].schema
      // OpenAPI 3.0 has no null type, so @fastify/swagger rewrites nullable unions in its own way; the
      // schema objects are the same (asserted above), so here the fields and which are required must agree.
      assert.deepEqual(Object.keys(restSchema.properties as Json).sort(), Object.keys(socketSchema.properties as Json).sort(), `${event} = POST ${path}: fields`)
      assert.deepEqual([...((restSchema.required as string[]) ?? [])].sort(), [...((socketSchema.required as string[]) ?? [])].sort(), `${event} = POST ${path}: required`)
    }
  }
})

test('every documented example satisfies its payload schema, and the document carries them', async (t) => {
  const { doc } = await served(t)
  const messages = (doc.components as Json).messages as Record<string, Json>
  const documented = documentedMessages()
  assert.deepEqual(documented.map((m) => m.key).sort(), Object.keys(messages).sort())
  for (const { key, schema, examples } of documented) {
    assert.ok(examples.length > 0, `${key} has an example`)
    assert.deepEqual(messages[key].examples, json(examples), `${key}: served examples`)
    for (const example of examples) assert.deepEqual(misfit(schema, example.payload), [], `${key} (${example.name})`)
  }
})

test('legacy mode says so; /api/realtime-schema/ still answers and points at the AsyncAPI document', async (t) => {
  assert.match(String((buildAsyncApiDocument({ socketPort: 8001, legacy: true }).info as Json).description), /LEGACY OPEN ACCESS/)
  assert.doesNotMatch(String((buildAsyncApiDocument({ socketPort: 8001, legacy: false }).info as Json).description), /LEGACY OPEN ACCESS/)
  const { app } = await served(t)
  const summary = (await app.inject({ method: 'GET', url: '/api/realtime-schema/' })).json()
  assert.match(summary.asyncapi, /\/api\/asyncapi\.json/)
  for (const event of ['sos_updated', 'sos_escalated', 'events_replay']) assert.ok(summary.serverEvents[event], event)
})

test('what a real server sends matches the document: every server event and every ack, live', async (t) => {
  // Short escalation times, so both kinds of sos_escalated happen within the test.
  const { app, socketUrl } = await buildTestApp(t, { escalateAfterSeconds: 1, escalateRepeatSeconds: 3600, unitAcceptSeconds: 1, escalationCheckMs: 100 })
  const dispatcher = await createUser(app, 'dispatcher')
  const officer = await createUser(app, 'officer', 'UNIT007')
  const documented = documentedMessages()
  const schemasOf = (event: string, direction: 'server' | 'ack') => documented.filter((m) => m.event === event && m.direction === direction).map((m) => m.schema)

  const heard: Array<{ who: string; event: string; payload: unknown }> = []
  const acks: Array<{ event: string; ack: unknown }> = []
  /** A connection that records every event from the first one (connection_established) on. */
  async function open(who: string, token?: string): Promise<Socket> {
    const socket = io(socketUrl, { transports: ['websocket'], forceNew: true, reconnection: false, auth: token ? { token } : {} })
    t.after(() => {
      socket.disconnect()
    })
    socket.onAny((event: string, payload: unknown) => heard.push({ who, event, payload }))
    await next(socket, 'connection_established')
    return socket
  }
  async function emit(socket: Socket, event: string, payload?: unknown): Promise<Record<string, unknown>> {
    const ack = (await socket.timeout(5000).emitWithAck(event, payload)) as Record<string, unknown>
    acks.push({ event, ack })
    return ack
  }
  const rest = async (url: string, payload: Record<string, unknown> = {}) => {
    const res = await app.inject({ method: 'POST', url, headers: auth(dispatcher), payload })
    assert.ok(res.statusCode < 300, `${url}: ${res.statusCode} ${res.body}`)
  }

  const control = await open('control', dispatcher.token)
  for (const event of ['join_sos_channel', 'join_location_tracking_channel', 'join_officer_update']) assert.equal((await emit(control, event, {})).ok, true, event)
  const unit = await open('officer', officer.token)
  assert.equal((await emit(unit, 'join_officer_room', 'UNIT007')).ok, true)
  assert.equal((await emit(unit, 'officer_location_update', { unit_id: 'UNIT007', latitude: 28.6, longitude: 77.2 })).ok, true)

  const phone = await open('phone')
  // With a trusted contact (one good, one malformed: the answer then carries contacts_count and contacts_rejected).
  const contacts = [{ name: 'Priya', phone: '+919812345678' }, { name: 'Typo', phone: '98123' }]
  const created = await emit(phone, 'create_sos', { name: 'Kavya', sos_type: 0, initial_latitude: 28.6139, initial_longitude: 77.209, contacts })
  const { sos_id, room_id, sos_token, contacts_count } = created.data as { sos_id: number; room_id: string; sos_token: string; contacts_count: number }
  assert.equal(contacts_count, 1)
  assert.equal((await emit(phone, 'join_sos_room', { room_id, sos_token })).ok, true)
  assert.equal((await emit(phone, 'update_location', { sos_request: sos_id, latitude: 28.614, longitude: 77.2091, sos_token })).ok, true)
  // A live-tracking link made with the SOS token, and its contact pressing "I'm on my way" (an event by a `contact`).
  const link = await app.inject({ method: 'POST', url: `/api/sos/${sos_id}/share-links/`, headers: { 'x-sos-token': sos_token }, payload: { label: 'Neighbour' } })
  assert.equal(link.statusCode, 201, link.body)
  const onMyWay = await app.inject({ method: 'POST', url: `${new URL(link.json().url as string).pathname}/on-my-way` })
  assert.equal(onMyWay.statusCode, 200, onMyWay.body)
  await next(control, 'sos_escalated') // unacknowledged, after a second

  await rest(`/api/sos/${sos_id}/acknowledge/`)
  await rest('/api/assign-officer/', { sos_request: sos_id, officer_name: 'Inspector Rao', unit_number: 'UNIT007' })
  await next(unit, 'sos_escalated') // unit_not_responding, after a second
  assert.equal((await emit(phone, 'update_location', { sos_request: sos_id, latitude: 28.615, longitude: 77.2092, sos_token })).ok, true)
  assert.equal((await emit(phone, 'update_location', { sos_request: 'not a number', latitude: 91, longitude: 0, sos_token })).ok, false)

  // A dashboard that was away: history replay, the log since cursor 0, and the snapshots.
  const late = await open('late dashboard', dispatcher.token)
  assert.equal((await emit(late, 'join_sos_room', { room_id })).ok, true)
  assert.equal((await emit(late, 'join_sos_channel', { after: 0 })).ok, true)
  assert.equal((await emit(late, 'join_location_tracking_channel')).ok, true)
  assert.equal((await emit(late, 'join_officer_update', {})).ok, true)

  // Listening before the request: the event may reach the phone before the REST answer is read.
  const phoneResolved = next(phone, 'sos_resolved')
  await rest(`/api/resolve-sos/${sos_id}/`)
  await phoneResolved
  await settle()

  for (const { who, event, payload } of heard) {
    const schemas = schemasOf(event, 'server')
    assert.ok(schemas.length > 0, `${who} heard "${event}", which the document does not have`)
    const misfits = schemas.map((schema) => misfit(schema, payload))
    assert.ok(misfits.some((m) => m.length === 0), `${who}: ${event} ${JSON.stringify(payload)} fits no documented shape: ${JSON.stringify(misfits)}`)
  }
  for (const { event, ack } of acks) {
    const [schema] = schemasOf(event, 'ack')
    assert.deepEqual(misfit(schema, ack), [], `${event} ack ${JSON.stringify(ack)}`)
  }
  // The trusted contacts' events were among them: live, and in the late dashboard's replay.
  const updates = heard.filter((h) => h.event === 'sos_updated').map((h) => h.payload as { kind: string; by: { kind: string } })
  for (const kind of ['share_link_added', 'contact_on_the_way']) assert.ok(updates.some((u) => u.kind === kind), `sos_updated ${kind}`)
  assert.ok(updates.some((u) => u.by.kind === 'contact'), 'an sos_updated by a contact')
  const replayed = heard.filter((h) => h.event === 'events_replay').flatMap((h) => (h.payload as { events: Array<{ kind: string }> }).events)
  assert.ok(replayed.some((e) => e.kind === 'contact_on_the_way'), 'events_replay carries the contact event')
  // Every server event of the contract was seen at least once (both location_history shapes too).
  assert.deepEqual([...new Set(heard.map((h) => h.event))].sort(), [...SERVER_EVENTS].sort())
  const histories = heard.filter((h) => h.event === 'location_history').map((h) => Array.isArray((h.payload as Json).updates))
  assert.ok(histories.includes(true) && histories.includes(false), 'a history replay and a live point')
  assert.deepEqual([...new Set(acks.map((a) => a.event))].sort(), [...CLIENT_EVENTS].sort(), 'every client event\'s ack was checked')
})
