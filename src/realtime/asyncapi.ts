// The AsyncAPI 3.0 document of the Socket.IO interface (GET /api/asyncapi.json), built from the
// payload schemas in schemas.ts and typed against contract.ts, so no event can be left out of it.
import type { Static, TSchema } from '@sinclair/typebox'
import { Kind } from '@sinclair/typebox'
import { ROOMS, type ClientEventName, type ServerEventName, type ServerToClientEvents } from './contract.ts'
import * as s from './schemas.ts'

export interface AsyncApiOptions {
  /** The realtime port the server listens on (SOCKET_PORT). */
  socketPort: number
  /** LEGACY_OPEN_ACCESS: the document says so, as the OpenAPI one does. */
  legacy: boolean
}

type Json = Record<string, unknown>

/** The rooms (and the one connection) events travel on. */
type ChannelKey = 'connection' | 'sos_channel' | 'location_tracking_channel' | 'officer_tracking_channel' | 'sos_room' | 'unit_room'

const CHANNELS: Record<ChannelKey, Json> = {
  connection: {
    address: '/',
    title: 'One connection',
    description:
      'The default namespace `/` as one connection sees it: every event a client emits, and every event the server sends to that ' +
      'one socket only (answers, snapshots, replays, errors). Connect with a Socket.IO v4 client; a raw WebSocket does not speak the protocol.',
    bindings: {
      ws: {
        method: 'GET',
        query: {
          type: 'object',
          properties: {
            EIO: { type: 'string', const: '4', description: 'Engine.IO protocol version (the Socket.IO client sets it)' },
            transport: { type: 'string', enum: ['polling', 'websocket'], description: 'Long-polling first, then upgrade (the default), or websocket only' },
          },
        },
        headers: {
          type: 'object',
          properties: { Authorization: { type: 'string', description: 'Optional `Token <key>`, for clients that can set headers; browsers use `auth: {token}`' } },
        },
        bindingVersion: '0.1.0',
      },
    },
  },
  sos_channel: {
    address: ROOMS.sosChannel,
    title: 'Every SOS (control rooms)',
    description: 'Staff only (legacy mode: anyone). Joined with `join_sos_channel`; carries every new SOS, every change of one, escalations and closures.',
  },
  location_tracking_channel: {
    address: ROOMS.locationTracking,
    title: 'Every SOS location (control rooms)',
    description: 'Staff only (legacy mode: anyone). Joined with `join_location_tracking_channel`; one `location_tracking_update` per stored point of any SOS.',
  },
  officer_tracking_channel: {
    address: ROOMS.officerTracking,
    title: 'Every unit position (control rooms)',
    description: 'Staff only (legacy mode: anyone). Joined with `join_officer_update`; one `unit_loc` per position an officer reports.',
  },
  sos_room: {
    address: ROOMS.sos('{room_id}'),
    title: 'One SOS',
    description: 'Staff, or whoever presents that SOS\'s `sos_token` (legacy mode: anyone with the room id). Joined with `join_sos_room`; the victim\'s phone sits here too.',
    parameters: { room_id: { description: 'The SOS\'s `room_id`, a UUID returned by create-sos and shown on the SOS object', examples: ['c9fe8dfe-3a5e-4b8f-9d62-0c1b2a3d4e5f'] } },
  },
  unit_room: {
    address: ROOMS.unit('{unit_number}'),
    title: 'One unit',
    description: 'Officers of that unit, dispatchers and admins (legacy mode: anyone). Joined with `join_officer_room`; carries what the unit needs about the SOS dispatched to it.',
    parameters: { unit_number: { description: 'The unit number, e.g. UNIT007 (1–50 letters, digits, "-" or "_")', examples: ['UNIT007'] } },
  },
}

/** A payload schema with its example, the example type-checked against the schema. */
interface Payload<T extends TSchema = TSchema> {
  schema: T
  examples: Array<{ name: string; summary?: string; payload: Static<T> }>
}
const payload = <T extends TSchema>(schema: T, ...examples: Array<{ name: string; summary?: string; payload: Static<T> }>): Payload<T> => ({ schema, examples })

interface ServerMessage extends Payload {
  /** The key under components.messages (the event name, unless an event has two shapes). */
  key: string
  title: string
  summary: string
  description?: string
  /** Where it is sent: to one socket (connection) or to rooms. */
  to: ChannelKey[]
}

type EventPayload<E extends ServerEventName> = Parameters<ServerToClientEvents[E]>[0]

/**
 * Binds a message's schema to its event's contract type: a schema whose payloads the server could not
 * emit as that event (a wrong or stale schema) asks for one more argument, of type never, and fails to compile.
 */
function serverMessage<E extends ServerEventName, T extends TSchema>(
  _event: E,
  doc: Omit<ServerMessage, 'schema' | 'examples'> & { payload: Payload<T> },
  ..._fits: Static<T> extends EventPayload<E> ? [] : [never]
): ServerMessage {
  const { payload: p, ...rest } = doc
  return { ...rest, schema: p.schema, examples: p.examples }
}

interface ClientEvent {
  title: string
  summary: string
  description: string
  payload: Payload
  ack: Payload
  /** Needs an account in secure mode (an API token in the handshake). */
  staffOrAccount: boolean
  tags: string[]
}

const ROOM_ID = 'c9fe8dfe-3a5e-4b8f-9d62-0c1b2a3d4e5f'
const AT = '2026-11-23T21:31:13.748Z'
const POINT = { sos_id: 126, latitude: 28.614, longitude: 77.2091, timestamp: AT, id: 4 }
const ACTOR = { kind: 'user' as const, user_id: 3, role: 'dispatcher' as const }
const DENIED = { ok: false as const, error: { code: 'permission_denied', message: 'You do not have permission to perform this action.' } }
const channelAck = (channel: string) => payload(
  s.ackOf(s.ChannelJoinedData),
  { name: 'joined', payload: { ok: true, data: { channel, message: `Joined ${channel}`, snapshot_count: 3, truncated: false } } },
  { name: 'refused', summary: 'Not staff, in secure mode', payload: DENIED },
)

const CLIENT_EVENTS: Record<ClientEventName, ClientEvent> = {
  join_sos_channel: {
    title: 'Follow every SOS',
    summary: 'Join sos_channel: a snapshot of every open SOS (or, with `after`, a replay of the log), then everything live.',
    description:
      'Answers `room_joined`, then either `sos_snapshot` (no `after`) or `events_replay` (with `after: <cursor>`: the incident log since ' +
      'then, from the database, in order; when it is `truncated`, a `sos_snapshot` follows). From then on: `new_sos`, `sos_updated`, ' +
      '`sos_escalated`, `sos_resolved`. The socket joins before the database is read, so nothing falls in between; drop live events whose ' +
      '`cursor` is at or below the replay\'s (or the snapshot\'s) `cursor`. Staff only (legacy mode: anyone).',
    payload: payload(s.JoinSosChannelPayload, { name: 'snapshot', payload: {} }, { name: 'resume', summary: 'A dashboard that was away', payload: { after: 1041 } }),
    ack: payload(
      s.ackOf(s.SosChannelJoinedData),
      { name: 'joined', payload: { ok: true, data: { channel: 'sos_channel', message: 'Joined sos_channel', snapshot_count: 3, truncated: false } } },
      { name: 'resumed', payload: { ok: true, data: { channel: 'sos_channel', message: 'Joined sos_channel', snapshot_count: 0, truncated: false, replayed: 2, replay_truncated: false, cursor: 1043 } } },
      { name: 'refused', summary: 'Not staff, in secure mode', payload: DENIED },
    ),
    staffOrAccount: true,
    tags: ['control room'],
  },
  join_location_tracking_channel: {
    title: 'Follow every SOS location',
    summary: 'Join location_tracking_channel: the last point of each open SOS, then every new point of any SOS.',
    description: 'Answers `room_joined`, then `location_snapshot`; then `location_tracking_update` per stored point. Staff only (legacy mode: anyone).',
    payload: payload(s.EmptyPayload, { name: 'join', payload: {} }),
    ack: channelAck(ROOMS.locationTracking),
    staffOrAccount: true,
    tags: ['control room'],
  },
  join_officer_update: {
    title: 'Follow every unit',
    summary: 'Join officer_tracking_channel: every unit\'s last known position, then every new one.',
    description: 'Answers `room_joined`, then `unit_snapshot`; then `unit_loc` per reported position. Staff only (legacy mode: anyone).',
    payload: payload(s.EmptyPayload, { name: 'join', payload: {} }),
    ack: channelAck(ROOMS.officerTracking),
    staffOrAccount: true,
    tags: ['control room'],
  },
  join_officer_room: {
    title: 'Follow one unit\'s SOS',
    summary: 'Join unit_<unit_number>: locations, changes and escalations of the SOS dispatched to that unit.',
    description: 'Answers `room_joined`. Officers of that unit, dispatchers and admins (legacy mode: anyone); an officer asking for another unit gets `permission_denied`. The bare string `"UNIT007"` works too.',
    payload: payload(s.JoinOfficerRoomPayload, { name: 'object', payload: { unit_number: 'UNIT007' } }, { name: 'bare string', payload: 'UNIT007' }),
    ack: payload(
      s.ackOf(s.OfficerRoomJoinedData),
      { name: 'joined', payload: { ok: true, data: { unit_number: 'UNIT007', message: 'Joined unit room UNIT007' } } },
      { name: 'refused', summary: 'An officer of another unit', payload: DENIED },
    ),
    staffOrAccount: true,
    tags: ['officer', 'control room'],
  },
  join_sos_room: {
    title: 'Follow one SOS',
    summary: 'Join sos_<room_id>: its stored location history, then every new point, change and its closure.',
    description:
      'Answers `room_joined`, then `location_history {updates, truncated}` with the stored history (only when there is any), then the ack. ' +
      'Staff need no `sos_token`; anyone else presents that SOS\'s token from create-sos (legacy mode: anyone). A bare room-id string carries no ' +
      'token. Errors: no room_id → validation_error; not a UUID or no such SOS → not_found; over SOCKET_MAX_SOS_ROOMS → too_many_rooms.',
    payload: payload(
      s.JoinSosRoomPayload,
      { name: 'victim device', payload: { room_id: ROOM_ID, sos_token: 'vZivH3xjR0e1qv2b5WkCw3c9Q8nXyZ1a' } },
      { name: 'staff', payload: { room_id: ROOM_ID } },
      { name: 'bare string', summary: 'The original dashboard', payload: ROOM_ID },
    ),
    ack: payload(
      s.ackOf(s.SosRoomJoinedData),
      { name: 'joined', payload: { ok: true, data: { room_id: ROOM_ID, message: `Joined SOS room ${ROOM_ID}`, sos_id: 126, status: 'active', history_count: 12 } } },
      { name: 'not found', payload: { ok: false, error: { code: 'not_found', message: 'SOS room not found.' } } },
    ),
    staffOrAccount: false,
    tags: ['victim device', 'control room'],
  },
  officer_location_update: {
    title: 'Report a unit\'s position',
    summary: 'An officer reports their own unit\'s position: stored as its last known location and broadcast as `unit_loc`.',
    description: 'Officers only, for their own unit (legacy mode: anyone, any unit). The ack\'s `data` is the broadcast `unit_loc`.',
    payload: payload(s.OfficerLocationUpdatePayload, { name: 'position', payload: { unit_id: 'UNIT007', latitude: 28.6, longitude: 77.2, timestamp: AT } }),
    ack: payload(s.ackOf(s.UnitLocation), { name: 'stored', payload: { ok: true, data: { unit_id: 'UNIT007', latitude: 28.6, longitude: 77.2, timestamp: AT } } }, { name: 'refused', payload: DENIED }),
    staffOrAccount: true,
    tags: ['officer'],
  },
  create_sos: {
    title: 'Raise an SOS',
    summary: 'The same body and effects as POST /api/create-sos/: the SOS is stored, then `new_sos` goes to sos_channel.',
    description:
      'Anyone may send it (a signed-in connection\'s SOS belongs to its account). Counted against the same creation budgets as REST. ' +
      'Answers `create_sos_response` and the ack, both carrying the create-sos answer with the `sos_token`, the only other place it is ever shown.',
    payload: payload(s.CreateSosPayload, { name: 'emergency', payload: { name: 'Kavya', sos_type: 0, initial_latitude: 28.6139, initial_longitude: 77.209, client_request_id: '5f0c1b2a-8d3e-4c6f-9a7b-2e1d0c9b8a76' } }),
    ack: payload(
      s.ackOf(s.CreateSosResponse),
      { name: 'created', payload: { ok: true, data: { status: 'success', message: 'SOS created successfully', sos_id: 126, room_id: ROOM_ID, sos_token: 'vZivH3xjR0e1qv2b5WkCw3c9Q8nXyZ1a' } } },
      { name: 'throttled', payload: { ok: false, error: { code: 'throttled', message: 'Request was throttled. Expected available in 42 seconds.', retry_after: 42 } } },
    ),
    staffOrAccount: false,
    tags: ['victim device'],
  },
  update_location: {
    title: 'Send a position of an SOS',
    summary: 'The same body (plus `sos_token`) and effects as POST /api/update-location/.',
    description:
      'The SOS token holder, the owner (signed-in connection) or staff (legacy mode: anyone). The point is stored, then `location_history` ' +
      '(SOS room), `location_tracking_update` and, when a unit is dispatched, `unit_location_update` are sent. A closed SOS gives `conflict`.',
    payload: payload(s.UpdateLocationBody, { name: 'position', payload: { sos_request: 126, latitude: 28.614, longitude: 77.2091, sos_token: 'vZivH3xjR0e1qv2b5WkCw3c9Q8nXyZ1a' } }),
    ack: payload(
      s.ackOf(s.UpdateLocationResponse),
      { name: 'stored', payload: { ok: true, data: { status: 'Location updated successfully', location: { id: 4, sos_request: 126, latitude: 28.614, longitude: 77.2091, timestamp: AT } } } },
      { name: 'invalid', payload: { ok: false, error: { code: 'validation_error', message: 'latitude: Ensure this value is less than or equal to 90.', fields: { latitude: ['Ensure this value is less than or equal to 90.'] } } } },
    ),
    staffOrAccount: false,
    tags: ['victim device'],
  },
}

const SERVER_EVENTS: Record<ServerEventName, ServerMessage[]> = {
  connection_established: [serverMessage('connection_established', {
    key: 'connection_established', to: ['connection'], title: 'Connected',
    summary: 'Sent once on every accepted connection; `user` is who the handshake token belongs to (null: anonymous).',
    payload: payload(s.ConnectionEstablished, { name: 'dispatcher', payload: { message: 'Connected to NaariKavach realtime server', sid: 'FMZbBPsP0glZdzEuAAAC', user: { id: 3, username: 'control1', role: 'dispatcher' } } }),
  })],
  room_joined: [serverMessage('room_joined', {
    key: 'room_joined', to: ['connection'], title: 'Joined',
    summary: 'Answers every successful join_*: `channel`, `room_id` or `unit_number` says what was joined.',
    payload: payload(s.RoomJoined, { name: 'channel', payload: { channel: 'sos_channel', message: 'Joined sos_channel' } }, { name: 'SOS room', payload: { room_id: ROOM_ID, message: `Joined SOS room ${ROOM_ID}` } }),
  })],
  new_sos: [serverMessage('new_sos', {
    key: 'new_sos', to: ['sos_channel'], title: 'New SOS',
    summary: 'A new SOS, after it was stored (REST create-sos, POST /api/sos/ or socket create_sos).',
    payload: payload(s.NewSos, { name: 'new', payload: { sos_id: 126, room_id: ROOM_ID, name: 'Kavya', sos_type: 0, latitude: 28.6139, longitude: 77.209, created_at: AT, seq: 1, cursor: 1041 } }),
  })],
  sos_snapshot: [serverMessage('sos_snapshot', {
    key: 'sos_snapshot', to: ['connection'], title: 'Open SOS snapshot',
    summary: 'Right after joining sos_channel: every open SOS, newest first. Replace your list with it (what closed meanwhile is absent).',
    payload: payload(s.SosSnapshot, { name: 'snapshot', payload: { channel: 'sos_channel', sos: [{ sos_id: 126, room_id: ROOM_ID, name: 'Kavya', sos_type: 0, latitude: 28.6139, longitude: 77.209, created_at: AT, status: 'dispatched', unit_number_dispatched: 'UNIT007' }], truncated: false, cursor: 1043 } }),
  })],
  location_snapshot: [serverMessage('location_snapshot', {
    key: 'location_snapshot', to: ['connection'], title: 'Last position of each open SOS',
    summary: 'Right after joining location_tracking_channel.',
    payload: payload(s.LocationSnapshot, { name: 'snapshot', payload: { channel: 'location_tracking_channel', positions: [{ unit_number: 'UNIT007', ...POINT }], truncated: false } }),
  })],
  unit_snapshot: [serverMessage('unit_snapshot', {
    key: 'unit_snapshot', to: ['connection'], title: 'Last position of each unit',
    summary: 'Right after joining officer_tracking_channel.',
    payload: payload(s.UnitSnapshot, { name: 'snapshot', payload: { channel: 'officer_tracking_channel', units: [{ unit_id: 'UNIT007', latitude: 28.6, longitude: 77.2, timestamp: AT }], truncated: false } }),
  })],
  location_history: [
    serverMessage('location_history', {
      key: 'location_history_replay', to: ['connection'], title: 'Location history (replay on join)',
      summary: 'Right after joining an SOS room, only when it has stored points: the newest HISTORY_REPLAY_LIMIT of them, oldest first.',
      description: 'The same event name as a live point. Tell them apart by shape: a replay has an `updates` array and no top-level `sos_id` (test `Array.isArray(payload.updates)`); the original dashboard depends on that.',
      payload: payload(s.HistoryReplay, { name: 'replay', payload: { updates: [POINT], truncated: false } }),
    }),
    serverMessage('location_history', {
      key: 'location_history', to: ['sos_room'], title: 'Location (live point)',
      summary: 'Every new stored point of that SOS. A point that arrives during the join may also be in the replay: de-duplicate.',
      payload: payload(s.LocationPoint, { name: 'point', payload: POINT }),
    }),
  ],
  unit_location_update: [serverMessage('unit_location_update', {
    key: 'unit_location_update', to: ['unit_room'], title: 'Location of the unit\'s SOS',
    summary: 'Every new point of an SOS dispatched to that unit.',
    payload: payload(s.LocationPoint, { name: 'point', payload: POINT }),
  })],
  location_tracking_update: [serverMessage('location_tracking_update', {
    key: 'location_tracking_update', to: ['location_tracking_channel'], title: 'Location of any SOS',
    summary: 'Every new point of every SOS, with the dispatched unit (null while none is).',
    payload: payload(s.TrackingUpdate, { name: 'point', payload: { unit_number: null, ...POINT } }),
  })],
  unit_loc: [serverMessage('unit_loc', {
    key: 'unit_loc', to: ['officer_tracking_channel'], title: 'Unit position',
    summary: 'A position an officer reported with officer_location_update.',
    payload: payload(s.UnitLocation, { name: 'position', payload: { unit_id: 'UNIT007', latitude: 28.6, longitude: 77.2, timestamp: AT } }),
  })],
  sos_resolved: [serverMessage('sos_resolved', {
    key: 'sos_resolved', to: ['sos_room', 'sos_channel', 'unit_room'], title: 'SOS closed',
    summary: 'The SOS was resolved or cancelled; once per socket even when it is in several of these rooms. Kept for the original phone app (sos_updated says the same and more).',
    payload: payload(s.SosResolved, { name: 'resolved', payload: { sos_id: 126, room_id: ROOM_ID, status: 'resolved' } }),
  })],
  sos_updated: [serverMessage('sos_updated', {
    key: 'sos_updated', to: ['sos_channel', 'sos_room', 'unit_room'], title: 'SOS changed',
    summary: 'Every change of an SOS (acknowledged, assigned, accepted, arrived, escalated, edited, resolved, cancelled, …), once per socket.',
    description: 'Carries the log event\'s `seq` and `cursor`: keep the highest cursor seen and resume with `join_sos_channel {after}`. On a re-dispatch the previous unit\'s room gets it too.',
    payload: payload(s.SosUpdated, { name: 'acknowledged', payload: { sos_id: 126, seq: 2, cursor: 1042, kind: 'acknowledged', status: 'acknowledged', unit_number_dispatched: null, acknowledged_flag: 1, by: ACTOR, at: AT } }),
  })],
  sos_escalated: [serverMessage('sos_escalated', {
    key: 'sos_escalated', to: ['sos_channel', 'unit_room'], title: 'SOS escalated',
    summary: 'Nobody acknowledged it in time (`unacknowledged`, repeated with a rising level), or the dispatched unit did not accept (`unit_not_responding`, also to that unit\'s room).',
    payload: payload(
      s.SosEscalated,
      { name: 'unacknowledged', payload: { sos_id: 126, seq: 2, cursor: 1042, level: 1, reason: 'unacknowledged', waiting_seconds: 120 } },
      { name: 'unit not responding', payload: { sos_id: 126, seq: 4, cursor: 1050, level: 1, reason: 'unit_not_responding', waiting_seconds: 300, unit_number: 'UNIT007' } },
    ),
  })],
  events_replay: [serverMessage('events_replay', {
    key: 'events_replay', to: ['connection'], title: 'Missed events (replay)',
    summary: 'Answers `join_sos_channel {after}`: the incident log after that cursor, bounded by EVENTS_REPLAY_LIMIT.',
    payload: payload(s.EventsReplay, { name: 'replay', payload: { after: 1041, events: [{ cursor: 1042, sos_id: 126, seq: 2, kind: 'acknowledged', by: ACTOR, at: AT, data: {} }], truncated: false, cursor: 1042 } }),
  })],
  create_sos_response: [serverMessage('create_sos_response', {
    key: 'create_sos_response', to: ['connection'], title: 'create_sos answer',
    summary: 'The original\'s answer event for create_sos (the ack says the same).',
    payload: payload(
      s.CreateSosResponseEvent,
      { name: 'created', payload: { success: true, data: { status: 'success', message: 'SOS created successfully', sos_id: 126, room_id: ROOM_ID, sos_token: 'vZivH3xjR0e1qv2b5WkCw3c9Q8nXyZ1a' } } },
      { name: 'throttled', payload: { success: false, error: 'Request was throttled. Expected available in 42 seconds.', code: 'throttled', retry_after: 42 } },
    ),
  })],
  update_location_response: [serverMessage('update_location_response', {
    key: 'update_location_response', to: ['connection'], title: 'update_location answer',
    summary: 'The original\'s answer event for update_location (the ack says the same).',
    payload: payload(
      s.UpdateLocationResponseEvent,
      { name: 'stored', payload: { success: true, data: { status: 'Location updated successfully', location: { id: 4, sos_request: 126, latitude: 28.614, longitude: 77.2091, timestamp: AT } } } },
      { name: 'closed', payload: { success: false, error: 'This SOS is closed; it no longer accepts location updates.', code: 'conflict' } },
    ),
  })],
  error: [serverMessage('error', {
    key: 'error', to: ['connection'], title: 'Refused',
    summary: 'Any refused client event, for clients that pass no callback (those get a negative ack as well). The connection stays up.',
    payload: payload(
      s.ErrorEvent,
      { name: 'not authenticated', payload: { code: 'not_authenticated', message: 'Authentication credentials were not provided.', event: 'join_sos_channel' } },
      { name: 'forged', summary: 'A client emitted a server event', payload: { code: 'forbidden_event', message: '"sos_created" is a server event; clients cannot emit it.', event: 'sos_created' } },
    ),
  })],
}

// ---- assembly ----

/** A TypeBox schema as plain JSON Schema, its `$ref`s pointed at components.schemas. */
function jsonSchema(schema: TSchema): Json {
  return JSON.parse(JSON.stringify(schema), (key, value) => {
    if (key === '$id') return undefined
    if (key === '$ref' && typeof value === 'string' && !value.startsWith('#')) return `#/components/schemas/${value}`
    return value
  }) as Json
}

const REFERENCED: TSchema[] = [s.LocationUpdate]

/** Names for components.schemas: each schema's export name in schemas.ts. */
const EXPORT_NAMES = new Map<unknown, string>(Object.entries(s).filter(([, value]) => typeof value === 'object' && value !== null && Kind in value).map(([name, value]) => [value, name]))
const pascal = (key: string) => key.replace(/(^|_)([a-z])/g, (_m, _sep: string, c: string) => c.toUpperCase())

export function buildAsyncApiDocument(opts: AsyncApiOptions): Json {
  // The schemas payloads point at with Type.Ref, under their $id.
  const schemas: Json = Object.fromEntries(REFERENCED.map((schema) => [schema.$id, jsonSchema(schema)]))
  const messages: Json = {}
  const channelMessages: Record<ChannelKey | 'acknowledgement', Json> = {
    connection: {}, sos_channel: {}, location_tracking_channel: {}, officer_tracking_channel: {}, sos_room: {}, unit_room: {}, acknowledgement: {},
  }
  const operations: Json = {}
  const ref = (path: string) => ({ $ref: `#/${path}` })
  const security = [ref('components/securitySchemes/apiToken')]

  const addMessage = (key: string, doc: Json, p: Payload, fallbackName: string): void => {
    const name = EXPORT_NAMES.get(p.schema) ?? fallbackName
    if (schemas[name] !== undefined && EXPORT_NAMES.get(p.schema) === undefined) throw new Error(`duplicate schema name ${name}`)
    schemas[name] = jsonSchema(p.schema)
    messages[key] = { ...doc, payload: ref(`components/schemas/${name}`), examples: p.examples }
  }

  for (const [event, doc] of Object.entries(CLIENT_EVENTS) as Array<[ClientEventName, ClientEvent]>) {
    addMessage(event, { name: event, title: doc.title, summary: doc.summary, description: doc.description }, doc.payload, `${pascal(event)}Payload`)
    addMessage(`${event}_ack`, {
      title: `${event} acknowledgement`,
      summary: `The answer to ${event} when the client passes a callback: {ok: true, data} or {ok: false, error}. Always answered exactly once.`,
    }, doc.ack, `${pascal(event)}Ack`)
    channelMessages.connection[event] = ref(`components/messages/${event}`)
    channelMessages.acknowledgement[`${event}_ack`] = ref(`components/messages/${event}_ack`)
    operations[`receive_${event}`] = {
      action: 'receive',
      channel: ref('channels/connection'),
      title: doc.title,
      summary: doc.summary,
      description: doc.description,
      messages: [ref(`channels/connection/messages/${event}`)],
      reply: { channel: ref('channels/acknowledgement'), messages: [ref(`channels/acknowledgement/messages/${event}_ack`)] },
      ...(doc.staffOrAccount && { security }),
      tags: doc.tags.map((name) => ({ name })),
    }
  }

  for (const [event, docs] of Object.entries(SERVER_EVENTS) as Array<[ServerEventName, ServerMessage[]]>) {
    for (const doc of docs) {
      addMessage(doc.key, { name: event, title: doc.title, summary: doc.summary, ...(doc.description && { description: doc.description }) }, doc, pascal(doc.key))
      for (const channel of doc.to) {
        channelMessages[channel][doc.key] = ref(`components/messages/${doc.key}`)
        const id = doc.to.length === 1 ? `send_${doc.key}` : `send_${doc.key}_to_${channel}`
        operations[id] = {
          action: 'send',
          channel: ref(`channels/${channel}`),
          title: doc.title,
          summary: doc.summary,
          messages: [ref(`channels/${channel}/messages/${doc.key}`)],
        }
      }
    }
  }

  const channels: Json = Object.fromEntries(Object.entries(CHANNELS).map(([key, channel]) => [key, { ...channel, messages: channelMessages[key as ChannelKey] }]))
  channels.acknowledgement = {
    address: null,
    title: 'Acknowledgements',
    description:
      'Not a room: the Socket.IO acknowledgement, the callback a client passes as the last argument of `emit` (or `emitWithAck`). ' +
      'Every client event answers it exactly once, refused ones too: `{ok: true, data}` or `{ok: false, error: {code, message, fields?, retry_after?}}`.',
    messages: channelMessages.acknowledgement,
  }

  const server = (protocol: string, title: string, description: string) => ({
    host: '{host}:{port}',
    protocol,
    pathname: '/socket.io/',
    title,
    description,
    variables: {
      host: { default: 'localhost', description: 'The realtime server\'s host name' },
      port: { default: String(opts.socketPort), description: 'SOCKET_PORT (its own port, next to the REST API\'s)' },
    },
    security,
  })

  return {
    asyncapi: '3.0.0',
    id: 'urn:naarikavach:realtime',
    info: {
      title: 'NaariKavach realtime (Socket.IO)',
      version: '1.0.0',
      description: INFO_DESCRIPTION + (opts.legacy ? '\n\n**LEGACY OPEN ACCESS MODE IS ON**: every join works without a token, as in the original.' : ''),
      tags: [
        { name: 'control room', description: 'Dispatchers\' and officers\' dashboards' },
        { name: 'victim device', description: 'The phone that raised the SOS' },
        { name: 'officer', description: 'An officer\'s device' },
      ],
    },
    defaultContentType: 'application/json',
    servers: {
      websocket: server('ws', 'Socket.IO over WebSocket', 'Socket.IO v4 (Engine.IO 4) over WebSocket: `io(url, {transports: ["websocket"]})`. Needs no sticky sessions behind a load balancer.'),
      polling: server('http', 'Socket.IO over HTTP long-polling', 'The Socket.IO default: long-polling first, then an upgrade to WebSocket. Behind a load balancer it needs sticky sessions.'),
    },
    channels,
    operations,
    components: {
      schemas,
      messages,
      securitySchemes: {
        apiToken: {
          type: 'httpApiKey',
          in: 'header',
          name: 'Authorization',
          description:
            'The API token from POST /auth/token/login/, given once per connection: in the handshake as `auth: {token: "<key>"}` (what browsers ' +
            'must use; the bare key, `Token <key>` or `Bearer <key>`) or as an `Authorization: Token <key>` header. Optional: without it the ' +
            'connection is anonymous (it may raise an SOS and, with an SOS token, follow that SOS). An invalid token refuses the connection ' +
            '(`connect_error "Invalid token."`). The SOS token is not a connection credential: it is the `sos_token` field of each ' +
            '`join_sos_room` and `update_location`, one SOS at a time.',
        },
      },
    },
  }
}

const INFO_DESCRIPTION = `The realtime half of the NaariKavach emergency SOS service: control rooms follow every SOS live, a victim's
phone follows its own SOS, officers report their unit's position. The REST API is described by the OpenAPI document
at \`/api/schema/\`; this document describes the Socket.IO events (served at \`/api/asyncapi.json\` on the REST port).

**How to read it.** This document describes the *server*: a \`receive\` operation is an event a client emits to it, a
\`send\` operation one it emits to clients. A message's \`name\` is the Socket.IO event name (\`location_history\` has two
shapes, so two messages). Channels are Socket.IO rooms, except \`connection\` (events to or from one socket only) and
\`acknowledgement\` (the ack callback of each client event, modelled as the operation's reply).

**Connecting.** Use a Socket.IO v4 client (socket.io-client 4, python-socketio 5) on \`SOCKET_PORT\` (default 8001), path
\`/socket.io/\`, with the API token in the handshake (\`io(url, {auth: {token}})\`) or no token at all. Rooms are joined
only through the \`join_*\` events, and do not survive a reconnect: join again in your \`connect\` handler.

**Rules that hold for every event.** Payloads may be an object or, where the original accepted it, a bare string.
Every client event answers its acknowledgement exactly once (\`{ok: true, data}\` / \`{ok: false, error}\`); a refused
one also sends \`error\` to the sender and the connection stays up. Server events are sent only after the change they
describe is committed. Clients cannot emit the server's events (\`forbidden_event\`). Limits (events per second, SOS rooms
per socket, frame size) are in docs/realtime.md, which also has complete dashboard and phone examples.`

export interface DocumentedMessage {
  /** The key under components.messages. */
  key: string
  /** The Socket.IO event (for an ack: the client event it answers). */
  event: string
  direction: 'client' | 'server' | 'ack'
  schema: TSchema
  examples: Array<{ name: string; payload: unknown }>
}

/** Every message of the document with its TypeBox schema, for tests that check examples and live payloads against it. */
export function documentedMessages(): DocumentedMessage[] {
  const out: DocumentedMessage[] = []
  for (const [event, doc] of Object.entries(CLIENT_EVENTS)) {
    out.push({ key: event, event, direction: 'client', schema: doc.payload.schema, examples: doc.payload.examples })
    out.push({ key: `${event}_ack`, event, direction: 'ack', schema: doc.ack.schema, examples: doc.ack.examples })
  }
  for (const [event, docs] of Object.entries(SERVER_EVENTS)) {
    for (const doc of docs) out.push({ key: doc.key, event, direction: 'server', schema: doc.schema, examples: doc.examples })
  }
  return out
}
