// Every table's row types, in one file: the layer below all feature modules.
import type { Generated, Insertable, Selectable, Updateable } from 'kysely'

export type Role = 'citizen' | 'officer' | 'dispatcher' | 'admin'
export type SosStatus = 'active' | 'acknowledged' | 'dispatched' | 'resolved' | 'cancelled'

// Timestamps are stored as ISO 8601 UTC text with milliseconds (`2025-06-26T10:15:30.123Z`):
// identical on SQLite and PostgreSQL, sortable as text, and already in the wire format.

export interface UsersTable {
  id: Generated<number>
  username: string
  email: string
  password_hash: string
  role: Role
  unit_number: string | null
  is_active: number
  created_at: string
}

export interface ApiTokensTable {
  id: Generated<number>
  user_id: number
  /** SHA-256 (hex) of the token; the token itself is never stored. */
  token_hash: string
  created_at: string
}

export interface SosRequestsTable {
  id: Generated<number>
  user_id: number | null
  name: string
  sos_type: number
  status: SosStatus
  status_flag: number
  acknowledged_flag: number
  initial_latitude: number
  initial_longitude: number
  unit_number_dispatched: string | null
  room_id: string
  /** SHA-256 (hex) of the victim device's SOS token. */
  sos_token_hash: string
  created_at: string
  updated_at: string
}

export interface LocationUpdatesTable {
  id: Generated<number>
  sos_request_id: number
  latitude: number
  longitude: number
  timestamp: string
}

export interface OfficerAssignmentsTable {
  id: Generated<number>
  sos_request_id: number
  officer_name: string
  unit_number: string
  assigned_by: number | null
  assigned_at: string
}

export interface SosImagesTable {
  id: Generated<number>
  sos_request_id: number
  /** Media path relative to MEDIA_ROOT, e.g. `sos_images/<uuid>.jpg`. */
  image: string
  content_type: string
  size_bytes: number
  description: string
  uploaded_at: string
}

export interface UnitLocationsTable {
  unit_number: string
  latitude: number
  longitude: number
  timestamp: string
  updated_by: number | null
}

export interface AppSettingsTable {
  key: string
  value: string
}

export interface Database {
  users: UsersTable
  api_tokens: ApiTokensTable
  sos_requests: SosRequestsTable
  location_updates: LocationUpdatesTable
  officer_assignments: OfficerAssignmentsTable
  sos_images: SosImagesTable
  unit_locations: UnitLocationsTable
  app_settings: AppSettingsTable
}

export type UserRow = Selectable<UsersTable>
export type NewUser = Insertable<UsersTable>
export type SosRow = Selectable<SosRequestsTable>
export type NewSos = Insertable<SosRequestsTable>
export type SosUpdate = Updateable<SosRequestsTable>
export type LocationRow = Selectable<LocationUpdatesTable>
export type AssignmentRow = Selectable<OfficerAssignmentsTable>
export type ImageRow = Selectable<SosImagesTable>
export type UnitLocationRow = Selectable<UnitLocationsTable>
