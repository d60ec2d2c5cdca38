// API shapes of an SOS and its children (the original's fields, plus §5's), and the mappers from rows.
import type { AssignmentRow, ImageRow, LocationRow, SosOutcome, SosRow, SosStatus } from '../../db/schema.ts'
import { type AppError, errors } from '../../errors.ts'
import { type FieldReader, UNIT_NUMBER_RE } from '../../lib/fields.ts'
import type { LocationPoint, NewSosEvent } from '../../realtime/contract.ts'
import type { Actor } from './sos.policy.ts'

export interface LocationDto {
  id: number
  sos_request: number
  latitude: number
  longitude: number
  timestamp: string
  accuracy: number | null
}

export interface AssignmentDto {
  id: number
  sos_request: number
  officer_name: string
  unit_number: string
  assigned_at: string
  /** The account that made this dispatch (who assigned, for the record); null if it was deleted. */
  assigned_by: number | null
}

export interface ImageDto {
  id: number
  sos_request: number
  image: string
  image_url: string
  description: string
  uploaded_at: string
  /** SHA-256 (hex) of the stored bytes: proof that the file is the one the phone sent. */
  sha256: string | null
}

export interface SosDto {
  id: number
  user: number | null
  name: string
  sos_type: number
  status_flag: number
  status: SosStatus
  initial_latitude: number
  initial_longitude: number
  unit_number_dispatched: string | null
  acknowledged_flag: number
  room_id: string
  created_at: string
  updated_at: string
  location_updates: LocationDto[]
  location_updates_count: number
  officer_assignments: AssignmentDto[]
  images: ImageDto[]
  /** The seq of the SOS's newest event. */
  seq: number
  outcome: SosOutcome | null
  resolution_note: string | null
  cancel_reason: string | null
  acknowledged_at: string | null
  dispatched_at: string | null
  accepted_at: string | null
  arrived_at: string | null
  closed_at: string | null
  escalation_level: number
}

/** Turns a stored media path into the links a reader gets (signed in secure mode). */
export interface ImageLinks {
  describe(row: ImageRow, baseUrl: string): ImageDto
  remove(paths: string[]): Promise<void>
}

/** Who is asking, and the absolute base URL for links in the answer. */
export interface RequestContext {
  actor: Actor
  baseUrl: string
}

// Paging is shared with the account lists: one definition in lib/paging.ts.
export { MAX_PAGE, pageLinks, parsePage, type Page } from '../../lib/paging.ts'

export const COORDS = { latitude: { min: -90, max: 90 }, longitude: { min: -180, max: 180 } }

export const toLocationDto = (row: LocationRow): LocationDto => ({
  id: row.id,
  sos_request: row.sos_request_id,
  latitude: row.latitude,
  longitude: row.longitude,
  timestamp: row.timestamp,
  accuracy: row.accuracy,
})

export const toAssignmentDto = (row: AssignmentRow): AssignmentDto => ({
  id: row.id,
  sos_request: row.sos_request_id,
  officer_name: row.officer_name,
  unit_number: row.unit_number,
  assigned_at: row.assigned_at,
  assigned_by: row.assigned_by,
})

export const toNewSosEvent = (row: SosRow): NewSosEvent => ({
  sos_id: row.id,
  room_id: row.room_id,
  name: row.name,
  sos_type: row.sos_type,
  latitude: row.initial_latitude,
  longitude: row.initial_longitude,
  created_at: row.created_at,
})

export const toPoint = (row: LocationRow): LocationPoint => ({
  sos_id: row.sos_request_id,
  latitude: row.latitude,
  longitude: row.longitude,
  timestamp: row.timestamp,
  id: row.id,
  // Only when the phone sent one: live points go to thousands of sockets, so no empty fields.
  ...(row.accuracy !== null && { accuracy: row.accuracy }),
})

export function readUnitNumber(fields: FieldReader, field: string): string | undefined {
  const unit = fields.string(field, { max: 50 })
  if (unit !== undefined && !UNIT_NUMBER_RE.test(unit)) return fields.fail(field, 'Use 1–50 letters, digits, "-" or "_".')
  return unit
}

/** Refusal for an actor: 401 when nothing identifies them, 403 otherwise (as DRF decides). */
export function refuse(actor: Actor): AppError {
  return actor.user || actor.sosToken ? errors.forbidden() : errors.notAuthenticated()
}
