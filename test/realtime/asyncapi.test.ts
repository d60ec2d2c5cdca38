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
import { buildAsyncApiDocument, documentedExamples } from '../../src/realtime/asyncapi.ts'
import { CLIENT_EVENTS, ROOMS, SERVER_EVENTS } from '../../src/realtime/contract.ts'
import * as realtimeSchemas from '../../src/realtime/schemas.ts'
import { buildTestApp } from '../helpers/app.ts'

type Json = Record<string, unknown>

// @stoplight/types' DiagnosticSeverity.
const SEVERITY = ['error', 'warning', 'information', 'hint']

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

test('create_sos and update_location carry exactly the REST bodies of create-sos and update-location', async (t) => {
  const { raw, doc, openapi } = await served(t)
  const { document } = await parse(raw)
  // One definition: the socket's schema objects are the REST routes' own.
  assert.equal(realtimeSchemas.CreateSosBody, sosSchemas.CreateSosBody)
  assert.equal(realtimeSchemas.UpdateLocationBody, sosSchemas.UpdateLocationBody)

  const cases = [
    { event: 'create_sos', body: sosSchemas.CreateSosBody, paths: ['/api/create-sos/', '/api/sos/'] },
    { event: 'update_location', body: sosSchemas.UpdateLocationBody, paths: ['/api/update-location/'] },
  ]
  const messages = (doc.components as Json).messages as Record<string, Json>
  for (const { event, body, paths } of cases) {
    const parsed = document.messages().all().find((m) => m.name() === event)
    assert.ok(parsed, event)
    const socketSchema = withoutParserKeys(parsed.payload()?.json())
    assert.deepEqual(socketSchema, json(body), `${event}: the parsed payload is the REST body schema`)
    // As served, before any parser touches it.
    const ref = (messages[event].payload as Json).$ref as string
    const servedSchema = ((doc.components as Json).schemas as Json)[ref.split('/').at(-1)!]
    assert.deepEqual(servedSchema, json(body), `${event}: the served payload is the REST body schema`)
    // And the OpenAPI document documents the same body for the REST routes.
    for (const path of paths) {
      const restSchema = openapi.paths[path].post.requestBody.content['application/json'].schema
      assert.deepEqual(restSchema, socketSchema, `${event} = POST ${path}`)
    }
  }
})

test('every documented example satisfies its payload schema', () => {
  FormatRegistry.Set('date-time', (value) => !Number.isNaN(Date.parse(value)) && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(value))
  FormatRegistry.Set('uuid', (value) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value))
  const examples = documentedExamples()
  assert.ok(examples.length > 40, `${examples.length} examples`)
  for (const { message, schema, payload } of examples) {
    const errors = [...Value.Errors(schema, [realtimeSchemas.LocationUpdate], payload)].map((e) => `${e.path || '/'}: ${e.message}`)
    assert.deepEqual(errors, [], message)
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
