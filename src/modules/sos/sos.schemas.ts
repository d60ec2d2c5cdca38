// TypeBox schemas of the SOS endpoints: request bodies as documented, and every success response.
import { Type } from '@sinclair/typebox'
import { UNIT_NUMBER_PATTERN } from '../../lib/fields.ts'
import { Id, Timestamp } from '../../lib/schemas.ts'
import { Accuracy, CreateSosBody, CreateSosResponse, Latitude, LocationUpdate, Longitude, RecordedAt, SosToken, UpdateLocationBody, UpdateLocationResponse } from '../../lib/sos-payloads.ts'

// The bodies the socket takes too (create_sos, update_location), defined once in lib/ for both.
export { CreateSosBody, CreateSosResponse, LocationUpdate, UpdateLocationBody, UpdateLocationResponse }

export const SosStatus = Type.Union(
  ['active', 'acknowledged', 'dispatched', 'responding', 'on_scene', 'resolved', 'cancelled'].map((s) => Type.Literal(s)),
  { description: 'Lifecycle: active → acknowledged → dispatched → responding → on_scene → resolved; cancelled from any open state' },
)

const Outcome = Type.Union(['assisted', 'false_alarm', 'unfounded', 'transferred', 'other'].map((s) => Type.Literal(s)))
const NullableTime = Type.Union([Timestamp, Type.Null()])

export const OfficerAssignment = Type.Object({
  id: Id,
  sos_request: Type.Integer({ description: 'SOS id' }),
  officer_name: Type.String(),
  unit_number: Type.String(),
  assigned_at: Timestamp,
  assigned_by: Type.Union([Type.Integer(), Type.Null()], { description: 'Id of the account that made this dispatch (null if that account was deleted)' }),
}, { $id: 'OfficerAssignment' })

export const SosImage = Type.Object({
  id: Id,
  sos_request: Type.Integer({ description: 'SOS id' }),
  image: Type.String({ description: 'Media path, e.g. /media/sos_images/<uuid>.jpg' }),
  image_url: Type.String({ description: 'Absolute URL; in secure mode a signed link that expires' }),
  description: Type.String(),
  uploaded_at: Timestamp,
  sha256: Type.Union([Type.String({ pattern: '^[0-9a-f]{64}$' }), Type.Null()], { description: 'SHA-256 (hex) of the stored bytes, computed as they arrived; null only for images stored before this was kept' }),
}, { $id: 'SosImage' })

export const Sos = Type.Object({
  id: Id,
  user: Type.Union([Type.Integer(), Type.Null()], { description: 'Owner account id; null for an anonymous SOS' }),
  name: Type.String(),
  sos_type: Type.Integer({ description: '0 Emergency, 1 Alert' }),
  status_flag: Type.Integer({ description: '0 open, 1 closed (resolved or cancelled)' }),
  status: SosStatus,
  initial_latitude: Type.Number(),
  initial_longitude: Type.Number(),
  unit_number_dispatched: Type.Union([Type.String(), Type.Null()]),
  acknowledged_flag: Type.Integer({ description: '0/1' }),
  room_id: Type.String({ description: 'Random UUID naming the SOS\'s Socket.IO room' }),
  created_at: Timestamp,
  updated_at: Timestamp,
  location_updates: Type.Array(Type.Ref(LocationUpdate), { description: 'The newest points (oldest first); see location_updates_count and /api/sos/{id}/locations/' }),
  location_updates_count: Type.Integer({ description: 'How many points the SOS has in all' }),
  officer_assignments: Type.Array(Type.Ref(OfficerAssignment)),
  images: Type.Array(Type.Ref(SosImage)),
  seq: Type.Integer({ description: 'The seq of this SOS\'s newest event (GET /api/sos/{id}/events/?after=seq resumes after it)' }),
  outcome: Type.Union([Outcome, Type.Null()], { description: 'How a resolved SOS ended' }),
  resolution_note: Type.Union([Type.String(), Type.Null()]),
  cancel_reason: Type.Union([Type.String(), Type.Null()]),
  acknowledged_at: NullableTime,
  dispatched_at: NullableTime,
  accepted_at: NullableTime,
  arrived_at: NullableTime,
  closed_at: NullableTime,
  escalation_level: Type.Integer({ description: 'How many times this SOS was escalated in its current phase' }),
}, { $id: 'Sos' })

export const CreateSosHeaders = Type.Object({
  'idempotency-key': Type.Optional(Type.String({
    description: 'Makes the create retry-safe: a repeat with the same key and body within IDEMPOTENCY_TTL_SECONDS (24 h) returns the first answer '
      + '(same sos_id, room_id and a working sos_token) instead of a second SOS; the same key with another body is 422. 8–255 visible ASCII characters. '
      + 'Use a fresh random UUID v4 per SOS: with the exact body the key recovers the sos_token.',
  })),
})

export const LocationFix = Type.Object({
  latitude: Latitude,
  longitude: Longitude,
  accuracy: Type.Optional(Type.Union([Accuracy, Type.Null()])),
  recorded_at: RecordedAt,
})

export const LocationBatchBody = Type.Union([
  Type.Array(LocationFix, { description: 'The buffered fixes (at most LOCATION_BATCH_MAX, 500); the SOS token goes in X-SOS-Token' }),
  Type.Object({ locations: Type.Array(LocationFix), sos_token: Type.Optional(SosToken) }),
])

const RejectedItem = Type.Object({
  index: Type.Integer({ description: 'Position of the item in the batch (0-based)' }),
  errors: Type.Record(Type.String(), Type.Array(Type.String()), { description: 'DRF-style field errors of that item' }),
})

export const LocationBatchResponse = Type.Object({
  status: Type.String(),
  accepted: Type.Integer({ description: 'Points stored by this request' }),
  duplicates: Type.Integer({ description: 'Valid points not stored again: their recorded_at was already stored for this SOS, or repeated in the batch' }),
  rejected: Type.Array(RejectedItem, { description: 'Invalid items (future-dated, bad coordinates, …), by index; the others were still stored' }),
  locations: Type.Array(Type.Ref(LocationUpdate), { description: 'The stored points, in the phone\'s time order' }),
})

export const LocationBatchError = Type.Object({
  rejected: Type.Optional(Type.Array(RejectedItem)),
}, { additionalProperties: Type.Array(Type.String()), description: 'DRF-style errors; when no item was valid, also `rejected` by index' })

export const AssignOfficerBody = Type.Object({
  sos_request: Type.Integer({ description: 'SOS id' }),
  officer_name: Type.String({ minLength: 1, maxLength: 255 }),
  unit_number: Type.String({ pattern: UNIT_NUMBER_PATTERN }),
})

export const AssignOfficerResponse = Type.Object({ status: Type.String(), officer: Type.Ref(OfficerAssignment) })

export const SosActionResponse = Type.Object({ status: Type.String(), sos: Type.Ref(Sos) })

export const CancelBody = Type.Object({
  sos_token: Type.Optional(SosToken),
  reason: Type.Optional(Type.String({ maxLength: 500, description: 'Why it was called off (optional)' })),
})

export const ResolveBody = Type.Object({
  outcome: Type.Optional(Outcome),
  note: Type.Optional(Type.String({ maxLength: 2000 })),
})

const Actor = Type.Object({
  kind: Type.Union(['user', 'sos_token', 'anonymous', 'system', 'contact'].map((s) => Type.Literal(s))),
  user_id: Type.Union([Type.Integer(), Type.Null()]),
  role: Type.Union([Type.String(), Type.Null()]),
}, { description: 'Who did it: an account (id, role), the victim device (its SOS token), anyone (legacy mode), the server, or a trusted contact (through her live-tracking link)' })

export const LogEvent = Type.Object({
  cursor: Type.Integer({ description: 'Global cursor: increases across all SOS' }),
  sos_id: Type.Integer(),
  seq: Type.Integer({ description: 'Per-SOS sequence number (1 = created)' }),
  kind: Type.String({ description: 'created, acknowledged, assigned, accepted, arrived, escalated, image_added, edited, resolved, cancelled, contacts_added, share_link_added, share_link_revoked, contact_on_the_way' }),
  by: Actor,
  at: Timestamp,
  data: Type.Record(Type.String(), Type.Unknown(), { description: 'A small payload that depends on the kind' }),
}, { $id: 'LogEvent' })

export const EventsQuery = Type.Object({
  after: Type.Optional(Type.Integer({ minimum: 0, description: 'Return events after this cursor (or seq, for one SOS)' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'Default 100' })),
})

export const AuditQuery = Type.Object({
  after: Type.Optional(Type.Integer({ minimum: 0 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  actor: Type.Optional(Type.Integer({ description: 'Only events by this account id' })),
  kind: Type.Optional(Type.String()),
  sos: Type.Optional(Type.Integer({ description: 'Only events of this SOS' })),
  since: Type.Optional(Type.String({ description: 'ISO 8601, inclusive' })),
  until: Type.Optional(Type.String({ description: 'ISO 8601, exclusive' })),
})

const PageFields = {
  after: Type.Integer(),
  results: Type.Array(Type.Ref(LogEvent)),
  next_after: Type.Integer({ description: 'Pass back as `after` for the next page' }),
  next: Type.Union([Type.String(), Type.Null()]),
}
export const EventPage = Type.Object(PageFields)
export const SosEventPage = Type.Object({ sos_id: Type.Integer(), ...PageFields })

const Link = Type.Union([Type.String(), Type.Null()])

export const GetAllResponse = Type.Object({
  status: Type.Literal('success'),
  message: Type.String(),
  count: Type.Integer({ description: 'All SOS (not just this page)' }),
  next: Type.Optional(Link),
  previous: Type.Optional(Link),
  data: Type.Array(Type.Ref(Sos)),
})

export const PageQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'Page size; without it the whole list is returned' })),
  offset: Type.Optional(Type.Integer({ minimum: 0 })),
})

export const SosPage = Type.Object({ count: Type.Integer(), next: Link, previous: Link, results: Type.Array(Type.Ref(Sos)) })

export const LocationsQuery = Type.Object({
  after: Type.Optional(Type.Integer({ minimum: 0, description: 'Continue after the point with this id (the last of the previous page) in the fix order (timestamp, id); 0 or absent: from the oldest' })),
  received_after: Type.Optional(Type.Integer({ minimum: 0, description: 'Instead of after: points stored after the point with this id, in storage order (what arrived since)' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'Default 500' })),
})

export const LocationsPage = Type.Object({
  sos_id: Type.Integer(),
  count: Type.Integer({ description: 'Points in all' }),
  next: Link,
  results: Type.Array(Type.Ref(LocationUpdate)),
})

export const AdminSosBody = Type.Object({
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  sos_type: Type.Optional(Type.Integer({ enum: [0, 1] })),
  initial_latitude: Type.Optional(Latitude),
  initial_longitude: Type.Optional(Longitude),
  unit_number_dispatched: Type.Optional(Type.Union([Type.String(), Type.Null()])),
})

export const SosIdParams = Type.Object({ id: Type.String({ description: 'SOS id' }) })

export const SOS_SHARED_SCHEMAS = [LocationUpdate, OfficerAssignment, SosImage, Sos, LogEvent]
