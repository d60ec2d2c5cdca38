// TypeBox schemas REST and the socket share: the create-sos and update-location bodies and their answers.
// The REST routes (modules/sos) and the AsyncAPI document (realtime/) both use these, so the two
// descriptions of one request cannot drift apart; the services validate both paths with one reader.
import { Type } from '@sinclair/typebox'
import { Id, Timestamp } from './schemas.ts'

export const Latitude = Type.Number({ minimum: -90, maximum: 90, description: 'Degrees, finite, in [-90, 90]; numeric strings accepted' })
export const Longitude = Type.Number({ minimum: -180, maximum: 180, description: 'Degrees, finite, in [-180, 180]; numeric strings accepted' })
export const SosToken = Type.String({ description: 'The SOS token from create-sos (or send it as the X-SOS-Token header)' })

export const LocationUpdate = Type.Object({
  id: Id,
  sos_request: Type.Integer({ description: 'SOS id' }),
  latitude: Type.Number(),
  longitude: Type.Number(),
  timestamp: Timestamp,
  accuracy: Type.Optional(Type.Union([Type.Number(), Type.Null()], { description: 'Horizontal accuracy in metres, when the phone sent it' })),
}, { $id: 'LocationUpdate' })

/** `POST /api/create-sos/` (and `/api/sos/`) and the socket's `create_sos`. */
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

export const Accuracy = Type.Number({ minimum: 0, maximum: 100_000, description: 'Horizontal accuracy in metres (0–100000), as the phone reports it; null or absent when unknown' })
export const RecordedAt = Type.Union([
  Type.String({ format: 'date-time', description: 'ISO 8601 with an offset (Z or ±HH:MM)' }),
  Type.Integer({ description: 'Epoch milliseconds' }),
], { description: 'When the phone took the fix (its own clock). At most LOCATION_CLOCK_SKEW_SECONDS (120) ahead of the server\'s clock; not before 2000-01-01.' })

/** `POST /api/update-location/` and the socket's `update_location`. */
export const UpdateLocationBody = Type.Object({
  sos_request: Type.Integer({ description: 'SOS id' }),
  latitude: Latitude,
  longitude: Longitude,
  sos_token: Type.Optional(SosToken),
  accuracy: Type.Optional(Type.Union([Accuracy, Type.Null()])),
  recorded_at: Type.Optional(Type.Union([RecordedAt, Type.Null()], { description: 'The phone\'s time of the fix; without it the server\'s clock stamps the point. A repeat of a stored time is answered with the stored point and duplicate: true.' })),
})

export const UpdateLocationResponse = Type.Object({
  status: Type.String(),
  location: Type.Ref(LocationUpdate),
  duplicate: Type.Optional(Type.Boolean({ description: 'Only with recorded_at: true when a point with that time was already stored (nothing new was stored)' })),
})
