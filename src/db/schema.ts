// Every table's row types, in one file: the layer below all feature modules.
import type { Generated, Insertable, Selectable, Updateable } from 'kysely'

export type Role = 'citizen' | 'officer' | 'dispatcher' | 'admin'
export type SosStatus = 'active' | 'acknowledged' | 'dispatched' | 'responding' | 'on_scene' | 'resolved' | 'cancelled'
export type SosOutcome = 'assisted' | 'false_alarm' | 'unfounded' | 'transferred' | 'other'
/** Who caused an event: an account, the victim's device (its SOS token), anyone (legacy mode), the server, or a trusted contact (her live-tracking link). */
export type ActorKind = 'user' | 'sos_token' | 'anonymous' | 'system' | 'contact'

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
  outcome: SosOutcome | null
  resolution_note: string | null
  cancel_reason: string | null
  acknowledged_at: string | null
  dispatched_at: string | null
  accepted_at: string | null
  arrived_at: string | null
  closed_at: string | null
  /** When the escalation job should next look at this SOS (null: nothing pending). */
  next_escalation_at: string | null
  escalation_level: Generated<number>
  /** The seq of this SOS's newest event (the per-SOS sequence counter). */
  last_seq: Generated<number>
}

export interface LocationUpdatesTable {
  id: Generated<number>
  sos_request_id: number
  latitude: number
  longitude: number
  /** The fix's time: the phone's `recorded_at` when it sent one, else when the server received it. */
  timestamp: string
  /** Horizontal accuracy in metres, as the phone reported it. */
  accuracy: number | null
  received_at: string | null
  /** 1 when `timestamp` came from the phone (de-duplicated on SOS + timestamp). */
  client_time: Generated<number>
}

export interface SosEventsTable {
  /** The global cursor: increases with every event of every SOS. */
  id: Generated<number>
  sos_request_id: number
  /** Per-SOS sequence number, 1, 2, 3, … */
  seq: number
  kind: string
  actor_kind: ActorKind
  actor_user_id: number | null
  actor_role: Role | null
  created_at: string
  /** A small JSON object (text, so it is the same on SQLite and PostgreSQL). */
  payload: string
}

/** A create's Idempotency-Key, remembered for IDEMPOTENCY_TTL_SECONDS. Neither the key nor the SOS token is stored. */
export interface IdempotencyKeysTable {
  /** SHA-256 (hex) of (operation, caller scope, key): the primary key, which decides racing first attempts. */
  key_hash: string
  /** SHA-256 (hex) of the canonical (validated) request body. */
  request_hash: string
  sos_request_id: number
  /** Random per row; the SOS token is HMAC-SHA256(key, salt ‖ room_id), so it can be derived again from the key. */
  token_salt: string
  created_at: string
  expires_at: string
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
  /** SHA-256 (hex) of the stored bytes, computed as they streamed in; null for images stored before it was kept. */
  sha256: string | null
}

export interface UnitLocationsTable {
  unit_number: string
  latitude: number
  longitude: number
  timestamp: string
  updated_by: number | null
}

/** Every unit's recent reported positions, newest N per unit (UNIT_POSITION_HISTORY), oldest trimmed. */
export interface UnitLocationHistoryTable {
  id: Generated<number>
  unit_number: string
  latitude: number
  longitude: number
  /** The fix's time: the phone's `timestamp` when it sent one, else when the server received it. */
  timestamp: string
  received_at: string
  updated_by: number | null
}

export interface AppSettingsTable {
  key: string
  value: string
}

export interface ContactsTable {
  id: Generated<number>
  user_id: number
  name: string
  /** E.164, e.g. `+919812345678`. Personal data: never logged, shown only to the owner and staff. */
  phone: string
  email: string | null
  /** 1 is alerted first; lists are ordered by priority, then id. */
  priority: number
  created_at: string
  updated_at: string
}

export type SosContactSource = 'account' | 'request' | 'added'

export interface SosContactsTable {
  id: Generated<number>
  sos_request_id: number
  /** The account contact this was copied from (null: named in the request, or that contact was deleted). */
  contact_id: number | null
  name: string
  phone: string
  email: string | null
  priority: number
  source: SosContactSource
  created_at: string
}

export interface ShareLinksTable {
  id: Generated<number>
  sos_request_id: number
  /** The contact this link was made for (null: added by hand by the victim). */
  sos_contact_id: number | null
  /** Who the link is for, as the victim named them. */
  label: string
  /** SHA-256 (hex) of the link token; the token itself is never stored. */
  token_hash: string
  token_salt: string
  created_by: ActorKind
  created_at: string
  expires_at: string
  revoked_at: string | null
  /** When this contact pressed "I'm on my way". */
  on_the_way_at: string | null
}

export type OutboxChannel = 'sms' | 'webhook'
export type OutboxKind = 'alert' | 'closing' | 'event'
/**
 * queued → sending → sent; sending → failed (retried after a backoff) → … → dead after the last try or a
 * permanent refusal; not_configured when no provider is set up; cancelled when the SOS closed first.
 */
export type OutboxStatus = 'queued' | 'sending' | 'sent' | 'failed' | 'dead' | 'not_configured' | 'cancelled'

export interface OutboxTable {
  id: Generated<number>
  sos_request_id: number | null
  channel: OutboxChannel
  kind: OutboxKind
  message_id: string
  /** A phone number (sms) or a URL (webhook). */
  recipient: string
  sos_contact_id: number | null
  share_link_id: number | null
  follows_id: number | null
  /** SMS text (with `{{link}}` for the contact's link, filled in at send time) or the webhook's JSON body. */
  body: string
  status: OutboxStatus
  /** Claims so far; each claim increments it, which is what makes a claim conditional. */
  attempts: Generated<number>
  /** Not to be sent before this moment (the grace window, then each retry's backoff). */
  not_before: string
  /** While `sending`: the claim's lease; past it another node may claim the row again. */
  claimed_until: string | null
  last_error: string | null
  /** The provider's id for the sent message (Twilio's `sid`). */
  provider_ref: string | null
  created_at: string
  updated_at: string
  sent_at: string | null
}

export interface Database {
  users: UsersTable
  api_tokens: ApiTokensTable
  sos_requests: SosRequestsTable
  location_updates: LocationUpdatesTable
  officer_assignments: OfficerAssignmentsTable
  sos_images: SosImagesTable
  unit_locations: UnitLocationsTable
  unit_location_history: UnitLocationHistoryTable
  app_settings: AppSettingsTable
  sos_events: SosEventsTable
  idempotency_keys: IdempotencyKeysTable
  contacts: ContactsTable
  sos_contacts: SosContactsTable
  share_links: ShareLinksTable
  outbox: OutboxTable
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
export type UnitHistoryRow = Selectable<UnitLocationHistoryTable>
export type NewUnitHistory = Insertable<UnitLocationHistoryTable>
export type SosEventRow = Selectable<SosEventsTable>
export type NewSosEvent = Insertable<SosEventsTable>
export type IdempotencyKeyRow = Selectable<IdempotencyKeysTable>
export type ContactRow = Selectable<ContactsTable>
export type SosContactRow = Selectable<SosContactsTable>
export type ShareLinkRow = Selectable<ShareLinksTable>
export type OutboxRow = Selectable<OutboxTable>
export type NewOutbox = Insertable<OutboxTable>
