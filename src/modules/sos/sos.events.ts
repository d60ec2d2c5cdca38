// Socket handlers for SOS: staff channels, SOS rooms with history replay, and socket-side create/update.
import { AppError, errors, knownError } from '../../errors.ts'
import { ROOMS, type ClientEventName, type ResponseEvent } from '../../realtime/contract.ts'
import { clientAddress, internalError, payloadObject, type AppSocket, type EventHandler } from '../../realtime/handlers.ts'
import { SnapshotBatcher, type SnapshotSummary } from '../../realtime/snapshot-batcher.ts'
import { isStaff } from '../auth/auth.service.ts'
import type { Actor } from './sos.policy.ts'
import { sosPolicy } from './sos.policy.ts'
import type { SosService } from './sos.service.ts'

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export interface SosEventOptions {
  sos: SosService
  legacy: boolean
  /** Most SOS rooms one socket may be in at once. */
  maxRoomsPerSocket: number
  /** Behind a load balancer the client's address comes from X-Forwarded-For. */
  trustProxy: boolean
}

export function actorOf(socket: AppSocket, legacy: boolean, payload?: Record<string, unknown>): Actor {
  const token = payload?.sos_token
  return { user: socket.data.user, sosToken: typeof token === 'string' ? token : null, legacy }
}

/** Sends a joining socket the channel's current state; returns how many entries it held. */
export type ChannelSnapshot = (socket: AppSocket) => Promise<SnapshotSummary>

/**
 * Joins a staff-only channel (legacy: anyone), then sends the channel's snapshot. Joining before reading
 * is what makes a reconnect lossless: whatever committed before the read is in the snapshot, whatever
 * commits after it is broadcast to a socket that is already in the room.
 */
export function staffChannel(channel: string, legacy: boolean, snapshot: ChannelSnapshot): EventHandler {
  return async (socket, raw) => {
    // The payload is `{}` (or nothing); a number, list or string is malformed input, answered as such.
    payloadObject(raw)
    if (!legacy && !isStaff(socket.data.user)) throw socket.data.user ? errors.forbidden() : errors.notAuthenticated()
    await socket.join(channel)
    const joined = { channel, message: `Joined ${channel}` }
    socket.emit('room_joined', joined)
    return { ...joined, ...(await snapshot(socket)) }
  }
}

/** Runs a socket-side create/update and also answers on its `<event>_response` event, as the original did. */
function withResponseEvent(event: 'create_sos_response' | 'update_location_response', run: EventHandler): EventHandler {
  return async (socket, payload) => {
    try {
      const data = await run(socket, payload)
      socket.emit(event, { success: true, data } satisfies ResponseEvent)
      return data
    } catch (error) {
      const known = (knownError(error) ?? internalError()).toSocketError()
      const retry = 'retry_after' in known ? { retry_after: known.retry_after } : {}
      socket.emit(event, { success: false, error: known.message, code: known.code, fields: known.fields, ...retry } satisfies ResponseEvent)
      throw error
    }
  }
}

/** The optional `after` cursor of `join_sos_channel`: a whole number, or a field error. */
function readCursor(payload: Record<string, unknown>): number | undefined {
  const value = payload.after
  if (value === undefined || value === null) return undefined
  const cursor = typeof value === 'string' && /^\d{1,10}$/.test(value) ? Number(value) : value
  if (typeof cursor !== 'number' || !Number.isSafeInteger(cursor) || cursor < 0) {
    throw new AppError(400, 'validation_error', 'after must be a cursor (a whole number ≥ 0).', { after: ['A valid integer is required.'] })
  }
  return cursor
}

export function sosEventHandlers(opts: SosEventOptions): Partial<Record<ClientEventName, EventHandler>> {
  const { sos, legacy } = opts
  const openSos = new SnapshotBatcher(
    () => sos.openSnapshot(),
    (to, snapshot) => to.emit('sos_snapshot', snapshot),
    (snapshot) => ({ snapshot_count: snapshot.sos.length, truncated: snapshot.truncated }),
  )
  const positions = new SnapshotBatcher(
    () => sos.trackingSnapshot(),
    (to, snapshot) => to.emit('location_snapshot', snapshot),
    (snapshot) => ({ snapshot_count: snapshot.positions.length, truncated: snapshot.truncated }),
  )

  return {
    // `{after: <cursor>}`: replay the log since then (a dashboard resuming); without it, the snapshot.
    join_sos_channel: async (socket, raw) => {
      const payload = payloadObject(raw)
      const after = readCursor(payload)
      if (after === undefined) return staffChannel(ROOMS.sosChannel, legacy, (s) => openSos.send(s))(socket, payload)
      const replayed = { replayed: 0, replay_truncated: false, cursor: after }
      const joined = await staffChannel(ROOMS.sosChannel, legacy, async (s) => {
        // Joined before this read, as the snapshot: whatever commits after it reaches the socket live.
        const replay = await sos.log.replay(after)
        s.emit('events_replay', replay)
        Object.assign(replayed, { replayed: replay.events.length, replay_truncated: replay.truncated, cursor: replay.cursor })
        // Too much was missed for one replay: the snapshot tells the current state instead.
        return replay.truncated ? openSos.send(s) : { snapshot_count: 0, truncated: false }
      })(socket, payload)
      return { ...(joined as Record<string, unknown>), ...replayed }
    },
    join_location_tracking_channel: staffChannel(ROOMS.locationTracking, legacy, (socket) => positions.send(socket)),

    join_sos_room: async (socket, raw) => {
      const payload = payloadObject(raw, 'room_id')
      const roomId = payload.room_id
      if (typeof roomId !== 'string' || roomId === '') throw new AppError(400, 'validation_error', 'room_id is required.', { room_id: ['This field is required.'] })
      if (!UUID_RE.test(roomId)) throw new AppError(404, 'not_found', 'SOS room not found.')
      const row = await sos.findByRoomId(roomId.toLowerCase())
      if (!row) throw new AppError(404, 'not_found', 'SOS room not found.')
      const actor = actorOf(socket, legacy, payload)
      if (!sosPolicy.joinRoom(actor, row)) throw actor.user || actor.sosToken ? errors.forbidden() : errors.notAuthenticated()
      const room = ROOMS.sos(row.room_id)
      if (!socket.data.joinedRooms.has(room) && socket.data.joinedRooms.size >= opts.maxRoomsPerSocket) {
        throw new AppError(429, 'too_many_rooms', `A connection may watch at most ${opts.maxRoomsPerSocket} SOS rooms.`)
      }
      // Join before reading history, so no update can fall between the two (a client may see one twice).
      await socket.join(room)
      socket.data.joinedRooms.add(room)
      const joined = { room_id: row.room_id, message: `Joined SOS room ${row.room_id}` }
      socket.emit('room_joined', joined)
      const history = await sos.history(row)
      // As the original: a replay only when there is history (an empty one is no event at all).
      if (history.updates.length > 0) socket.emit('location_history', history)
      return { ...joined, sos_id: row.id, status: row.status, history_count: history.updates.length }
    },

    // The service counts this against the same budgets as REST create (per IP, or per account).
    // `client_request_id` is the socket's Idempotency-Key (one namespace with the REST header).
    create_sos: withResponseEvent('create_sos_response', async (socket, raw) => {
      const payload = payloadObject(raw)
      const key = payload.client_request_id
      return sos.create(payload, actorOf(socket, legacy), clientAddress(socket, opts.trustProxy), key === undefined ? undefined : { value: key, field: 'client_request_id' })
    }),

    update_location: withResponseEvent('update_location_response', async (socket, raw) => {
      const payload = payloadObject(raw)
      return sos.updateLocation(payload, actorOf(socket, legacy, payload))
    }),
  }
}
