// TypeBox schemas of every Socket.IO payload, both directions, and of each event's acknowledgement.
// contract.ts derives its TypeScript types from these; asyncapi.ts builds the AsyncAPI document from
// them. The create_sos and update_location bodies are REST's own (lib/sos-payloads.ts), not copies.
import { Type, type TSchema } from '@sinclair/typebox'
import { UNIT_NUMBER_PATTERN } from '../lib/fields.ts'
import { Timestamp } from '../lib/schemas.ts'
import { CreateSosBody, CreateSosResponse, LocationUpdate, UpdateLocationBody, UpdateLocationResponse } from '../lib/sos-payloads.ts'

export { CreateSosBody, CreateSosResponse, LocationUpdate, UpdateLocationBody, UpdateLocationResponse }

/**
 * The socket's `create_sos`: REST's create-sos body, plus `client_request_id`, which stands in for the
 * `Idempotency-Key` header a socket message cannot carry.
 */
export const CreateSosPayload = Type.Composite([
  CreateSosBody,
  Type.Object({
    client_request_id: Type.Optional(Type.String({
      minLength: 8,
      maxLength: 255,
      description: 'Makes the create retry-safe, like REST\'s Idempotency-Key (one namespace with it): a repeat within IDEMPOTENCY_TTL_SECONDS answers the first data again. A fresh random UUID v4 per SOS.',
    })),
  }),
])

// ---- building blocks ----

const SosId = Type.Integer({ minimum: 1, description: 'The SOS id (`sos_id` of create-sos)' })
const Seq = Type.Integer({ minimum: 1, description: 'The per-SOS sequence number of the event (1 = created)' })
const Cursor = Type.Integer({ minimum: 0, description: 'The global cursor of the incident log: increases across all SOS; resume `after` the last one seen' })
const RoomId = Type.String({ format: 'uuid', description: 'The SOS\'s room id (a random UUID, `room_id` of create-sos)' })
const UnitNumber = Type.String({ pattern: UNIT_NUMBER_PATTERN, description: 'A unit number such as `UNIT007`: 1–50 letters, digits, "-" or "_"' })
const NullableUnit = Type.Union([UnitNumber, Type.Null()], { description: 'The dispatched unit, or null while none is dispatched' })
const Latitude = Type.Number({ minimum: -90, maximum: 90, description: 'Degrees' })
const Longitude = Type.Number({ minimum: -180, maximum: 180, description: 'Degrees' })
const Message = Type.String({ description: 'A human-readable confirmation' })
const Truncated = Type.Boolean({ description: 'More entries exist than this event holds (page the rest over REST)' })

export const Role = Type.Union([Type.Literal('citizen'), Type.Literal('officer'), Type.Literal('dispatcher'), Type.Literal('admin')], {
  description: 'The account\'s role; officer, dispatcher and admin are "staff"',
})

export const SosStatusName = Type.Union(
  [Type.Literal('active'), Type.Literal('acknowledged'), Type.Literal('dispatched'), Type.Literal('responding'), Type.Literal('on_scene'), Type.Literal('resolved'), Type.Literal('cancelled')],
  { description: 'active → acknowledged → dispatched → responding → on_scene → resolved; cancelled from any open state' },
)

export const OpenSosStatus = Type.Union(
  [Type.Literal('active'), Type.Literal('acknowledged'), Type.Literal('dispatched'), Type.Literal('responding'), Type.Literal('on_scene')],
  { description: 'The status of an SOS that is still open' },
)

// ---- client → server ----

export const JoinSosChannelPayload = Type.Object({
  after: Type.Optional(Type.Union([Type.Integer({ minimum: 0 }), Type.String({ pattern: '^\\d{1,10}$' })], {
    description: 'Resume: replay the incident log after this cursor (`events_replay`) instead of sending the snapshot. A whole number (or its digits as a string)',
  })),
}, { description: '`{}` (or no payload at all) for the snapshot; `{after: <cursor>}` to resume' })

export const EmptyPayload = Type.Object({}, { description: '`{}` (or no payload at all); other fields are ignored' })

export const JoinSosRoomPayload = Type.Union([
  Type.Object({
    room_id: RoomId,
    sos_token: Type.Optional(Type.String({ description: 'That SOS\'s token (from create-sos); staff may omit it' })),
  }),
  Type.String({ format: 'uuid', description: 'The bare room id, as the original dashboard sends it: carries no sos_token, so only staff (or legacy mode) succeed' }),
])

export const JoinOfficerRoomPayload = Type.Union([
  Type.Object({ unit_number: UnitNumber }),
  Type.String({ pattern: UNIT_NUMBER_PATTERN, description: 'The bare unit number, as the original officer app sends it' }),
])

export const OfficerLocationUpdatePayload = Type.Object({
  unit_id: UnitNumber,
  latitude: Latitude,
  longitude: Longitude,
  timestamp: Type.Optional(Type.Union([Type.String({ description: 'ISO 8601' }), Type.Number({ description: 'Epoch seconds or milliseconds' })], {
    description: 'When the position was taken: default now, at most 5 minutes in the future',
  })),
})

// ---- server → client ----

export const EventActor = Type.Object({
  kind: Type.Union([Type.Literal('user'), Type.Literal('sos_token'), Type.Literal('anonymous'), Type.Literal('system'), Type.Literal('contact')], {
    description: 'An account, the victim\'s device (its SOS token), anyone (legacy mode), the server itself, or a trusted contact (through her live-tracking link)',
  }),
  user_id: Type.Union([Type.Integer(), Type.Null()], { description: 'The account id, when an account did it' }),
  role: Type.Union([Role, Type.Null()]),
}, { description: 'Who caused an event' })

export const ConnectionEstablished = Type.Object({
  message: Message,
  sid: Type.String({ description: 'The Socket.IO session id' }),
  user: Type.Union([Type.Object({ id: Type.Integer(), username: Type.String(), role: Role }), Type.Null()], {
    description: 'Who the handshake token belongs to; null for an anonymous connection',
  }),
})

export const RoomJoined = Type.Object({
  message: Message,
  channel: Type.Optional(Type.String({ description: 'The staff channel joined' })),
  room_id: Type.Optional(RoomId),
  unit_number: Type.Optional(UnitNumber),
}, { description: 'Exactly one of channel, room_id or unit_number says what was joined' })

export const NewSos = Type.Object({
  sos_id: SosId,
  room_id: RoomId,
  name: Type.String({ description: 'Who needs help' }),
  sos_type: Type.Integer({ enum: [0, 1], description: '0 Emergency, 1 Alert' }),
  latitude: Latitude,
  longitude: Longitude,
  created_at: Timestamp,
  seq: Type.Optional(Seq),
  cursor: Type.Optional(Cursor),
})

export const LogEvent = Type.Object({
  cursor: Cursor,
  sos_id: SosId,
  seq: Seq,
  kind: Type.String({ description: 'created, acknowledged, assigned, accepted, arrived, escalated, image_added, edited, resolved, cancelled, contacts_added, share_link_added, share_link_revoked, contact_on_the_way' }),
  by: EventActor,
  at: Timestamp,
  data: Type.Record(Type.String(), Type.Unknown(), { description: 'A small payload that depends on the kind' }),
}, { description: 'One entry of the incident log, as GET /api/events/ shows it' })

export const SosUpdated = Type.Object({
  sos_id: SosId,
  seq: Seq,
  cursor: Cursor,
  kind: Type.String({ description: 'The log event\'s kind (acknowledged, assigned, accepted, …, contacts_added, share_link_added, share_link_revoked, contact_on_the_way)' }),
  status: SosStatusName,
  unit_number_dispatched: NullableUnit,
  acknowledged_flag: Type.Integer({ enum: [0, 1], description: '0/1, as the original' }),
  by: EventActor,
  at: Timestamp,
})

export const SosEscalated = Type.Object({
  sos_id: SosId,
  seq: Seq,
  cursor: Cursor,
  level: Type.Integer({ minimum: 1, description: 'Rises by one at every repeat (ESCALATE_REPEAT_SECONDS)' }),
  reason: Type.Union([Type.Literal('unacknowledged'), Type.Literal('unit_not_responding')], {
    description: 'unacknowledged: nobody acknowledged within ESCALATE_AFTER_SECONDS; unit_not_responding: the dispatched unit did not accept within UNIT_ACCEPT_SECONDS',
  }),
  waiting_seconds: Type.Integer({ minimum: 0, description: 'How long the SOS has been waiting for that step' }),
  unit_number: Type.Optional(UnitNumber),
})

export const EventsReplay = Type.Object({
  after: Cursor,
  events: Type.Array(LogEvent, { description: 'The log after `after`, in cursor order' }),
  truncated: Type.Boolean({ description: 'More was missed than one replay holds: the sos_snapshot that follows gives the current state (page the log with GET /api/events/)' }),
  cursor: Type.Integer({ minimum: 0, description: 'The cursor of the last replayed event (or `after`): drop live events at or below it, they are duplicates' }),
})

export const LocationPoint = Type.Object({
  sos_id: SosId,
  latitude: Latitude,
  longitude: Longitude,
  timestamp: Type.String({ format: 'date-time', description: 'The fix\'s time (the phone\'s recorded_at when it sent one)' }),
  id: Type.Optional(Type.Integer({ description: 'The point\'s id, its place in storage order' })),
  accuracy: Type.Optional(Type.Union([Type.Number(), Type.Null()], { description: 'Horizontal accuracy in metres, when the phone reported it' })),
}, { description: 'One live point: has a top-level sos_id and no `updates`' })

export const HistoryReplay = Type.Object({
  updates: Type.Array(LocationPoint, { description: 'The newest HISTORY_REPLAY_LIMIT stored points, oldest first' }),
  truncated: Type.Boolean({ description: 'Older points were left out; page them with GET /api/sos/{id}/locations/' }),
}, { description: 'The stored history: has `updates` and no top-level sos_id, which is how a client tells it from a live point' })

export const TrackingUpdate = Type.Object({ unit_number: NullableUnit, ...LocationPoint.properties })

export const UnitLocation = Type.Object({
  unit_id: UnitNumber,
  latitude: Latitude,
  longitude: Longitude,
  timestamp: Timestamp,
})

export const SosResolved = Type.Object({
  sos_id: SosId,
  room_id: RoomId,
  status: Type.Union([Type.Literal('resolved'), Type.Literal('cancelled')]),
})

export const OpenSos = Type.Object({
  ...NewSos.properties,
  status: OpenSosStatus,
  unit_number_dispatched: NullableUnit,
}, { description: 'The new_sos fields and where the SOS stands now' })

export const SosSnapshot = Type.Object({
  channel: Type.Literal('sos_channel'),
  sos: Type.Array(OpenSos, { description: 'Every open SOS, newest first, at most SNAPSHOT_LIMIT' }),
  truncated: Truncated,
  cursor: Type.Integer({ minimum: 0, description: 'The log\'s newest cursor when the snapshot was read: resume `after` it' }),
})

export const LocationSnapshot = Type.Object({
  channel: Type.Literal('location_tracking_channel'),
  positions: Type.Array(TrackingUpdate, { description: 'The last stored point of each open SOS that has one' }),
  truncated: Truncated,
})

export const UnitSnapshot = Type.Object({
  channel: Type.Literal('officer_tracking_channel'),
  units: Type.Array(UnitLocation, { description: 'Every unit\'s last known position' }),
  truncated: Truncated,
})

const FieldErrors = Type.Record(Type.String(), Type.Array(Type.String()), { description: 'On validation_error: each field\'s messages (DRF style)' })
const RetryAfter = Type.Integer({ minimum: 0, description: 'On throttled: seconds until a retry can succeed' })

export const SocketErrorBody = Type.Object({
  code: Type.String({ description: 'validation_error, not_authenticated, permission_denied, not_found, conflict, throttled, too_many_rooms, forbidden_event, unknown_event, internal_error, …' }),
  message: Type.String({ description: 'What went wrong, for a person' }),
  fields: Type.Optional(FieldErrors),
  retry_after: Type.Optional(RetryAfter),
})

export const ErrorEvent = Type.Object({
  ...SocketErrorBody.properties,
  event: Type.Optional(Type.String({ description: 'The client event that was refused' })),
})

const ResponseFailure = Type.Object({
  success: Type.Literal(false),
  error: Type.String({ description: 'The error message' }),
  code: Type.Optional(Type.String({ description: 'The error code, as in the `error` event' })),
  fields: Type.Optional(FieldErrors),
  retry_after: Type.Optional(RetryAfter),
})

/** `create_sos_response` / `update_location_response`, the original's answer events, whatever their `data`. */
export const ResponseEvent = Type.Union([Type.Object({ success: Type.Literal(true), data: Type.Unknown() }), ResponseFailure])

export const CreateSosResponseEvent = Type.Union([Type.Object({ success: Type.Literal(true), data: CreateSosResponse }), ResponseFailure])
export const UpdateLocationResponseEvent = Type.Union([Type.Object({ success: Type.Literal(true), data: UpdateLocationResponse }), ResponseFailure])

// ---- acknowledgements ----

export const AckFailure = Type.Object({ ok: Type.Literal(false), error: SocketErrorBody })

/** The acknowledgement of every client event, whatever its `data`. */
export const Ack = Type.Union([Type.Object({ ok: Type.Literal(true), data: Type.Unknown() }), AckFailure])

/** The acknowledgement of one client event: `{ok: true, data}` with that event's data, or the failure. */
export function ackOf<T extends TSchema>(data: T) {
  return Type.Union([Type.Object({ ok: Type.Literal(true), data }), AckFailure])
}

const SnapshotSummary = {
  snapshot_count: Type.Integer({ minimum: 0, description: 'How many entries the snapshot held' }),
  truncated: Truncated,
}

export const ChannelJoinedData = Type.Object({ channel: Type.String(), message: Message, ...SnapshotSummary })

export const SosChannelJoinedData = Type.Object({
  ...ChannelJoinedData.properties,
  replayed: Type.Optional(Type.Integer({ minimum: 0, description: 'With `after`: how many log events were replayed' })),
  replay_truncated: Type.Optional(Type.Boolean({ description: 'With `after`: the replay was cut short (and a snapshot followed)' })),
  cursor: Type.Optional(Type.Integer({ minimum: 0, description: 'With `after`: the cursor the replay ended at' })),
})

export const SosRoomJoinedData = Type.Object({
  room_id: RoomId,
  message: Message,
  sos_id: SosId,
  status: SosStatusName,
  history_count: Type.Integer({ minimum: 0, description: 'How many points the history replay held (0: no location_history was sent)' }),
})

export const OfficerRoomJoinedData = Type.Object({ unit_number: UnitNumber, message: Message })
