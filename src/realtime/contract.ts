// The typed Socket.IO contract: every client→server and server→client event, and the room names.
import type { Static } from '@sinclair/typebox'
import type * as s from './schemas.ts'

export const ROOMS = {
  sosChannel: 'sos_channel',
  locationTracking: 'location_tracking_channel',
  officerTracking: 'officer_tracking_channel',
  sos: (roomId: string) => `sos_${roomId}`,
  unit: (unitNumber: string) => `unit_${unitNumber}`,
  /** Every socket of a signed-in user joins it at connection (server-side only: revocation). */
  user: (userId: number) => `user:${userId}`,
  /**
   * Every socket opened with one API token joins it at connection: the first 32 hex digits of the
   * token's SHA-256 (a name in the adapter's messages, never the token; 128 bits do not collide).
   */
  token: (tokenHash: string) => `token:${tokenHash.slice(0, 32)}`,
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
  /** SHA-256 (hex) of the API token the socket connected with (null when anonymous). */
  tokenHash: string | null
  /** SOS rooms this socket has joined (bounded per socket). */
  joinedRooms: Set<string>
}

// The payload types are the TypeBox schemas' static types (schemas.ts): one definition for the
// compiler, the AsyncAPI document (GET /api/asyncapi.json) and the docs.
export type NewSosEvent = Static<typeof s.NewSos>
/** Who caused an event: an account (id and role), the victim's device (its SOS token), anyone (legacy), or the server. */
export type EventActor = Static<typeof s.EventActor>
export type SosStatusName = Static<typeof s.SosStatusName>
/** One entry of the incident log, as REST and sockets show it. */
export type LogEvent = Static<typeof s.LogEvent>
/** Every change of an SOS, live (to `sos_channel`, the SOS room and the unit's room). */
export type SosUpdatedEvent = Static<typeof s.SosUpdated>
/** An SOS nobody acknowledged in time, or a dispatched unit that did not accept (to `sos_channel`). */
export type SosEscalatedEvent = Static<typeof s.SosEscalated>
/** What `join_sos_channel {after}` replays before going live: the log after the client's cursor. */
export type EventsReplay = Static<typeof s.EventsReplay>
export type LocationPoint = Static<typeof s.LocationPoint>
/**
 * The stored history sent once to a socket joining an SOS room, only when there is history. It has
 * `updates` and no top-level `sos_id`/`latitude`: that is how a client tells it from a live point.
 */
export type HistoryReplay = Static<typeof s.HistoryReplay>
export type TrackingUpdate = Static<typeof s.TrackingUpdate>
export type UnitLocation = Static<typeof s.UnitLocation>
export type SosResolvedEvent = Static<typeof s.SosResolved>
/** One open SOS in the snapshot a socket gets on joining `sos_channel`: the `new_sos` fields and where it stands now. */
export type OpenSos = Static<typeof s.OpenSos>
/**
 * What a staff socket is sent right after it joins a channel, so a dashboard that (re)connects knows
 * everything that happened while it was away. Newest first, at most SNAPSHOT_LIMIT entries.
 */
export type SosSnapshot = Static<typeof s.SosSnapshot>
export type LocationSnapshot = Static<typeof s.LocationSnapshot>
export type UnitSnapshot = Static<typeof s.UnitSnapshot>
export type RoomJoined = Static<typeof s.RoomJoined>
export type SocketErrorBody = Static<typeof s.SocketErrorBody>
export type ConnectionEstablished = Static<typeof s.ConnectionEstablished>
export type ErrorEvent = Static<typeof s.ErrorEvent>

export type Ack = Static<typeof s.Ack>
export type AckCallback = (response: Ack) => void

export type ResponseEvent = Static<typeof s.ResponseEvent>

export interface ServerToClientEvents {
  connection_established: (payload: ConnectionEstablished) => void
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
  error: (payload: ErrorEvent) => void
}

export type ServerEventName = keyof ServerToClientEvents

// A record, so the compiler refuses a server event missing here (or one that does not exist).
const SERVER_EVENT_NAMES: Record<ServerEventName, true> = {
  connection_established: true,
  room_joined: true,
  new_sos: true,
  sos_snapshot: true,
  location_snapshot: true,
  unit_snapshot: true,
  location_history: true,
  unit_location_update: true,
  location_tracking_update: true,
  unit_loc: true,
  sos_resolved: true,
  sos_updated: true,
  sos_escalated: true,
  events_replay: true,
  create_sos_response: true,
  update_location_response: true,
  error: true,
}

/** Every event the server emits (clients may not emit them). */
export const SERVER_EVENTS = Object.keys(SERVER_EVENT_NAMES) as ServerEventName[]

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
