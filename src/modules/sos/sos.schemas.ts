// TypeBox schemas of the SOS endpoints: request bodies as documented, and every success response.
import { Type } from '@sinclair/typebox'
import { UNIT_NUMBER_PATTERN } from '../../lib/fields.ts'
import { Id, Timestamp } from '../../lib/schemas.ts'

const Latitude = Type.Number({ minimum: -90, maximum: 90, description: 'Degrees, finite, in [-90, 90]; numeric strings accepted' })
const Longitude = Type.Number({ minimum: -180, maximum: 180, description: 'Degrees, finite, in [-180, 180]; numeric strings accepted' })
const SosToken = Type.String({ description: 'The SOS token from create-sos (or send it as the X-SOS-Token header)' })

export const SosStatus = Type.Union(
  ['active', 'acknowledged', 'dispatched', 'responding', 'on_scene', 'resolved', 'cancelled'].map((s) => Type.Literal(s)),
  { description: 'Lifecycle: active → acknowledged → dispatched → responding → on_scene → resolved; cancelled from any open state' },
)

const Outcome = Type.Union(['assisted', 'false_alarm', 'unfounded', 'transferred', 'other'].map((s) => Type.Literal(s)))
const NullableTime = Type.Union([Timestamp, Type.Null()])

export const LocationUpdate = Type.Object({
  id: Id,
  sos_request: Type.Integer({ description: 'SOS id' }),
  latitude: Type.Number(),
  longitude: Type.Number(),
  timestamp: Timestamp,
  accuracy: Type.Optional(Type.Union([Type.Number(), Type.Null()], { description: 'Horizontal accuracy in metres, when the phone sent it' })),
}, { $id: 'LocationUpdate' })

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

export const CreateSosBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 255, description: 'Who needs help' }),
  sos_type: Type.Optional(Type.Integer({ enum: [0, 1], description: '0 Emergency (default), 1 Alert' })),
  initial_latitude: Latitude,
  initial_longitude: Longitude,
  contacts: Type.Optional(Type.Array(Type.Object({ name: Type.String({ maxLength: 255 }), phone: Type.String({ description: 'E.164' }), email: Type.Optional(Type.String()) }), {
    description: 'Trusted contacts to alert after CONTACT_GRACE_SECONDS (with a signed-in citizen\'s own contacts first; at most CONTACTS_MAX in all). Invalid ones never refuse the SOS: they are reported in contacts_rejected.',
  })),
})

export const CreateSosResponse = Type.Object({
  status: Type.Literal('success'),
  message: Type.String(),
  sos_id: Id,
  room_id: Type.String(),
  sos_token: Type.String({ description: 'Secret for this SOS only; shown once; keep it on the device' }),
  contacts_count: Type.Optional(Type.Integer({ description: 'How many trusted contacts this SOS alerts' })),
  contacts_rejected: Type.Optional(Type.Array(Type.Unknown(), { description: 'Per item of `contacts` its field errors ({} when fine), or one list-level message (too many)' })),
})

export const UpdateLocationBody = Type.Object({
  sos_request: Type.Integer({ description: 'SOS id' }),
  latitude: Latitude,
  longitude: Longitude,
  sos_token: Type.Optional(SosToken),
})

export const UpdateLocationResponse = Type.Object({ status: Type.String(), location: Type.Ref(LocationUpdate) })

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
  after: Type.Optional(Type.Integer({ minimum: 0, description: 'Return points with an id greater than this (the last id of the previous page)' })),
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
