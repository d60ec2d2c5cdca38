// TypeBox schemas of the units endpoints: the units list, nearest units, a unit's position reports and history.
import { Type } from '@sinclair/typebox'
import { UNIT_NUMBER_PATTERN } from '../../lib/fields.ts'
import { Id, Timestamp } from '../../lib/schemas.ts'

const UnitNumber = Type.String({ pattern: UNIT_NUMBER_PATTERN, description: 'Unit number: 1–50 letters, digits, "-" or "_"' })
const ReportedBy = Type.Union([Type.Integer(), Type.Null()], { description: 'Id of the account that reported it (null: legacy anonymous report, or the account was deleted)' })

const unitFields = {
  unit_number: UnitNumber,
  officers: Type.Array(
    Type.Object({ id: Id, username: Type.String() }),
    { description: 'The active officer accounts of this unit, by id' },
  ),
  position: Type.Union([
    Type.Object({
      latitude: Type.Number(),
      longitude: Type.Number(),
      timestamp: Timestamp,
      reported_by: ReportedBy,
    }, { description: 'The last reported position (the fix time is the phone\'s when it sent one)' }),
    Type.Null(),
  ], { description: 'null when the unit never reported a position' }),
  position_age_seconds: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], { description: 'Whole seconds since the position\'s fix time; null without a position' }),
  stale: Type.Boolean({ description: 'No position, or older than UNIT_POSITION_MAX_AGE_SECONDS: never offered as a nearest unit' }),
  status: Type.Union([Type.Literal('free'), Type.Literal('busy')], { description: 'busy while an open SOS (active … on_scene) is dispatched to the unit' }),
  busy_with: Type.Array(Type.Integer(), { description: 'Ids of the open SOS dispatched to this unit (empty when free)' }),
}

export const Unit = Type.Object(unitFields, { $id: 'Unit' })

export const UnitList = Type.Object({
  count: Type.Integer({ description: 'Units in `results`' }),
  truncated: Type.Boolean({ description: 'More units are known than SNAPSHOT_LIMIT; the first ones by unit number are listed' }),
  position_max_age_seconds: Type.Integer({ description: 'UNIT_POSITION_MAX_AGE_SECONDS: positions older than this are stale' }),
  results: Type.Array(Type.Ref(Unit), { description: 'By unit number (numbers inside names in numeric order: UNIT2 before UNIT10)' }),
})

export const NearestQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 50, description: 'Most units returned; default 5' })),
  include_busy: Type.Optional(Type.Boolean({ description: 'Also rank busy units (each still says `status` and `busy_with`); default false. Stale units are never included.' })),
})

export const NearestResponse = Type.Object({
  sos_id: Id,
  origin: Type.Object({
    latitude: Type.Number(),
    longitude: Type.Number(),
    timestamp: Timestamp,
    source: Type.Union([Type.Literal('location_update'), Type.Literal('initial')], { description: 'location_update: the SOS\'s newest point (by the phone\'s time); initial: it has none yet, so where it was raised' }),
  }, { description: 'Where distances are measured from' }),
  position_max_age_seconds: Type.Integer({ description: 'UNIT_POSITION_MAX_AGE_SECONDS: units whose position is older are left out' }),
  include_busy: Type.Boolean(),
  count: Type.Integer(),
  results: Type.Array(
    Type.Object({ ...unitFields, distance_m: Type.Integer({ minimum: 0, description: 'Great-circle (haversine) distance from `origin`, whole metres' }) }),
    { description: 'Nearest first; ties by unit number' },
  ),
})

export const UnitNumberParams = Type.Object({ unit_number: Type.String({ description: 'Unit number, e.g. UNIT007' }) })

export const UnitLocationBody = Type.Object({
  latitude: Type.Number({ minimum: -90, maximum: 90, description: 'Degrees; numeric strings accepted' }),
  longitude: Type.Number({ minimum: -180, maximum: 180, description: 'Degrees; numeric strings accepted' }),
  timestamp: Type.Optional(Type.Union([Type.String({ format: 'date-time' }), Type.Number()], {
    description: 'The fix time: ISO 8601, or epoch seconds/milliseconds; at most 5 minutes ahead of the server. Default: when the server receives it.',
  })),
})

export const UnitLocationResponse = Type.Object({
  unit_id: UnitNumber,
  latitude: Type.Number(),
  longitude: Type.Number(),
  timestamp: Timestamp,
}, { description: 'The stored position: exactly the `unit_loc` payload broadcast to officer_tracking_channel (and the socket ack\'s data)' })

export const HistoryQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'Most reports returned, newest first; default 100' })),
})

export const HistoryResponse = Type.Object({
  unit_number: UnitNumber,
  history_size: Type.Integer({ description: 'UNIT_POSITION_HISTORY: how many reports are kept per unit' }),
  results: Type.Array(Type.Object({
    id: Id,
    latitude: Type.Number(),
    longitude: Type.Number(),
    timestamp: Timestamp,
    received_at: Timestamp,
    reported_by: ReportedBy,
  }), { description: 'Newest first, in the order the server stored them' }),
})

export const UNITS_SHARED_SCHEMAS = [Unit]
