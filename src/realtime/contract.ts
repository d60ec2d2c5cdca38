// The typed Socket.IO contract: every client→server and server→client event, and the room names.

export const ROOMS = {
  sosChannel: 'sos_channel',
  locationTracking: 'location_tracking_channel',
  officerTracking: 'officer_tracking_channel',
  sos: (roomId: string) => `sos_${roomId}`,
  unit: (unitNumber: string) => `unit_${unitNumber}`,
} as const

/** Who is on the other end of a socket (from the handshake token), as the realtime layer sees it. */
export interface SocketIdentity {
  id: number
  username: string
  email: string
  role: 'citizen' | 'officer' | 'dispatcher' | 'admin'
  unit_number: string | null
}

export interface SocketData {
  user: SocketIdentity | null
  /** SOS rooms this socket has joined (bounded per socket). */
  joinedRooms: Set<string>
}

export interface NewSosEvent {
  sos_id: number
  room_id: string
  name: string
  sos_type: number
  latitude: number
  longitude: number
  created_at: string
  /** The `created` event's per-SOS seq (1) and global cursor, for de-duplication and resuming. */
  seq?: number
  cursor?: number
}

/** Who caused an event: an account (id and role), the victim's device (its SOS token), anyone (legacy), the server, or a trusted contact (her link). */
export interface EventActor {
  kind: 'user' | 'sos_token' | 'anonymous' | 'system' | 'contact'
  user_id: number | null
  role: 'citizen' | 'officer' | 'dispatcher' | 'admin' | null
}

export type SosStatusName = 'active' | 'acknowledged' | 'dispatched' | 'responding' | 'on_scene' | 'resolved' | 'cancelled'

/** One entry of the incident log, as REST and sockets show it. */
export interface LogEvent {
  /** The global cursor: increases across all SOS; resume from the last one seen. */
  cursor: number
  sos_id: number
  /** The per-SOS sequence number (1 = created). */
  seq: number
  kind: string
  by: EventActor
  at: string
  data: Record<string, unknown>
}

/** Every change of an SOS, live (to `sos_channel`, the SOS room and the unit's room). */
export interface SosUpdatedEvent {
  sos_id: number
  seq: number
  cursor: number
  kind: string
  status: SosStatusName
  unit_number_dispatched: string | null
  acknowledged_flag: number
  by: EventActor
  at: string
}

/** An SOS nobody acknowledged in time, or a dispatched unit that did not accept (to `sos_channel`). */
export interface SosEscalatedEvent {
  sos_id: number
  seq: number
  cursor: number
  level: number
  reason: 'unacknowledged' | 'unit_not_responding'
  waiting_seconds: number
  unit_number?: string
}

/** What `join_sos_channel {after}` replays before going live: the log after the client's cursor. */
export interface EventsReplay {
  after: number
  events: LogEvent[]
  /** More events were missed than one replay holds: fall back to the snapshot (and page GET /api/events/). */
  truncated: boolean
  /** The cursor of the last replayed event (or `after` when none): live events at or below it are duplicates. */
  cursor: number
}

export interface LocationPoint {
  sos_id: number
  latitude: number
  longitude: number
  /** The fix's time (the phone's `recorded_at` when it sent one). */
  timestamp: string
  /** The point's id: its place in storage order (resume `GET /api/sos/{id}/locations/?received_after=`). */
  id?: number
  /** Horizontal accuracy in metres, when the phone reported it. */
  accuracy?: number | null
}

/**
 * The stored history sent once to a socket joining an SOS room, only when there is history. It has
 * `updates` and no top-level `sos_id`/`latitude`: that is how a client tells it from a live point.
 */
export interface HistoryReplay {
  updates: LocationPoint[]
  /** More points are stored than were replayed (the newest were kept); page the rest over REST. */
  truncated: boolean
}

export interface TrackingUpdate extends LocationPoint {
  unit_number: string | null
}

export interface UnitLocation {
  unit_id: string
  latitude: number
  longitude: number
  timestamp: string
}

export interface SosResolvedEvent {
  sos_id: number
  room_id: string
  status: 'resolved' | 'cancelled'
}

/** One open SOS in the snapshot a socket gets on joining `sos_channel`: the `new_sos` fields and where it stands now. */
export interface OpenSos extends NewSosEvent {
  status: Exclude<SosStatusName, 'resolved' | 'cancelled'>
  unit_number_dispatched: string | null
}

/**
 * What a staff socket is sent right after it joins a channel, so a dashboard that (re)connects knows
 * everything that happened while it was away. Newest first, at most SNAPSHOT_LIMIT entries.
 */
export interface SosSnapshot {
  channel: 'sos_channel'
  sos: OpenSos[]
  truncated: boolean
  /** The log's newest cursor when the snapshot was read (read first): resume `after` it. */
  cursor: number
}

export interface LocationSnapshot {
  channel: 'location_tracking_channel'
  /** The last stored point of each open SOS that has one. */
  positions: TrackingUpdate[]
  truncated: boolean
}

export interface UnitSnapshot {
  channel: 'officer_tracking_channel'
  /** Every unit's last known position. */
  units: UnitLocation[]
  truncated: boolean
}

export interface RoomJoined {
  message: string
  channel?: string
  room_id?: string
  unit_number?: string
}

export interface SocketErrorBody {
  code: string
  message: string
  fields?: Record<string, string[]>
  /** On `throttled`: seconds until a retry can succeed (HTTP's Retry-After). */
  retry_after?: number
}

export type Ack = { ok: true; data: unknown } | { ok: false; error: SocketErrorBody }
export type AckCallback = (response: Ack) => void

export type ResponseEvent =
  | { success: true; data: unknown }
  | { success: false; error: string; code?: string; fields?: Record<string, string[]>; retry_after?: number }

export interface ServerToClientEvents {
  connection_established: (payload: { message: string; sid: string; user: { id: number; username: string; role: string } | null }) => void
  room_joined: (payload: RoomJoined) => void
  new_sos: (payload: NewSosEvent) => void
  sos_snapshot: (payload: SosSnapshot) => void
  location_snapshot: (payload: LocationSnapshot) => void
  unit_snapshot: (payload: UnitSnapshot) => void
  location_history: (payload: LocationPoint | HistoryReplay) => void
  unit_location_update: (payload: LocationPoint) => void
  location_tracking_update: (payload: TrackingUpdate) => void
  unit_loc: (payload: UnitLocation) => void
  sos_resolved: (payload: SosResolvedEvent) => void
  sos_updated: (payload: SosUpdatedEvent) => void
  sos_escalated: (payload: SosEscalatedEvent) => void
  events_replay: (payload: EventsReplay) => void
  create_sos_response: (payload: ResponseEvent) => void
  update_location_response: (payload: ResponseEvent) => void
  error: (payload: SocketErrorBody & { event?: string }) => void
}

type ClientHandler = (payload?: unknown, ack?: AckCallback) => void

export interface ClientToServerEvents {
  join_sos_channel: ClientHandler
  join_sos_room: ClientHandler
  join_officer_room: ClientHandler
  join_location_tracking_channel: ClientHandler
  join_officer_update: ClientHandler
  officer_location_update: ClientHandler
  create_sos: ClientHandler
  update_location: ClientHandler
}

export type ClientEventName = keyof ClientToServerEvents

export const CLIENT_EVENTS: ClientEventName[] = [
  'join_sos_channel',
  'join_sos_room',
  'join_officer_room',
  'join_location_tracking_channel',
  'join_officer_update',
  'officer_location_update',
  'create_sos',
  'update_location',
]
