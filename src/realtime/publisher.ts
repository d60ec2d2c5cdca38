// The only code that emits to rooms. Services call it after their transaction has committed.
import type { Server } from 'socket.io'
import { ROOMS, type LocationPoint, type NewSosEvent, type SocketData, type ClientToServerEvents, type ServerEventName, type ServerToClientEvents, type SosEscalatedEvent, type SosResolvedEvent, type SosUpdatedEvent, type UnitLocation } from './contract.ts'

export type RealtimeServer = Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>

/** What the SOS service needs to know about an SOS to route its events. */
export interface SosRouting {
  id: number
  room_id: string
  unit_number_dispatched: string | null
}

/** Why sockets are disconnected by the server: their token or account no longer grants what they hold. */
export type RevocationReason = 'logout' | 'password_changed' | 'deactivated' | 'role_changed' | 'revalidated'

/** Whose sockets to disconnect: a user's (optionally but one token's), or one token's. */
export type RevocationTarget = { userId: number; exceptTokenHash?: string } | { tokenHash: string }

/** Disconnects revoked sockets on every node: the publisher in a server, a Redis stream writer in the CLI. */
export interface Revoker {
  revoke(target: RevocationTarget, reason: RevocationReason): void
}

export interface PublisherObserver {
  /** One room broadcast of `event` (whatever the number of recipients). */
  emitted?(event: string): void
  /** How long one room broadcast of `event` held the event loop inside Socket.IO's emit (seconds). */
  broadcastTimed?(event: string, seconds: number): void
  /** Sockets of a user or token were told to disconnect, on every node. */
  revoked?(reason: RevocationReason): void
}

export class RealtimePublisher implements Revoker {
  private io: RealtimeServer | null = null

  constructor(private readonly observer: PublisherObserver = {}) {}

  /** Bound once the Socket.IO server exists; before that (e.g. in the CLI) events go nowhere. */
  attach(io: RealtimeServer): void {
    this.io = io
  }

  /**
   * Emits on the next turn of the event loop: the caller (already past its commit) answers its own
   * request first, so a victim's create is not held up by 10,000 socket writes to the control rooms.
   * setImmediate callbacks run in order, so events keep the order of their commits.
   */
  private later(emit: (io: RealtimeServer) => void): void {
    const io = this.io
    if (io) setImmediate(() => emit(io))
  }

  private counted(event: string): void {
    this.observer.emitted?.(event)
  }

  /**
   * Runs one room broadcast and reports how long it took. Socket.IO encodes the packet and writes it to
   * every socket of the room synchronously, so this is the time the event loop could do nothing else
   * (10,000 dashboards: one kernel write each). One clock pair per broadcast, whatever the room size.
   */
  private timed(event: ServerEventName, emit: () => void): void {
    const started = performance.now()
    emit()
    this.observer.broadcastTimed?.(event, (performance.now() - started) / 1000)
  }

  newSos(event: NewSosEvent): void {
    this.later((io) => {
      this.timed('new_sos', () => io.to(ROOMS.sosChannel).emit('new_sos', event))
      this.counted('new_sos')
    })
  }

  locationUpdated(sos: SosRouting, point: LocationPoint): void {
    this.later((io) => {
      this.timed('location_history', () => io.to(ROOMS.sos(sos.room_id)).emit('location_history', point))
      this.counted('location_history')
      if (sos.unit_number_dispatched) {
        const unit = ROOMS.unit(sos.unit_number_dispatched)
        this.timed('unit_location_update', () => io.to(unit).emit('unit_location_update', point))
        this.counted('unit_location_update')
      }
      this.timed('location_tracking_update', () => io.to(ROOMS.locationTracking).emit('location_tracking_update', { unit_number: sos.unit_number_dispatched, ...point }))
      this.counted('location_tracking_update')
    })
  }

  sosClosed(sos: SosRouting, status: SosResolvedEvent['status']): void {
    const rooms = [ROOMS.sos(sos.room_id), ROOMS.sosChannel]
    if (sos.unit_number_dispatched) rooms.push(ROOMS.unit(sos.unit_number_dispatched))
    // One emit to the union of rooms, so a socket in several of them gets the event once.
    this.later((io) => {
      this.timed('sos_resolved', () => io.to(rooms).emit('sos_resolved', { sos_id: sos.id, room_id: sos.room_id, status }))
      this.counted('sos_resolved')
    })
  }

  /**
   * Every change of an SOS: to `sos_channel`, its room and its unit's room (and the previous unit's, on a
   * re-dispatch, so that unit learns it was taken off). One emit to the union, so each socket gets it once.
   */
  sosUpdated(sos: SosRouting, event: SosUpdatedEvent, previousUnit: string | null = null): void {
    const rooms = [ROOMS.sosChannel, ROOMS.sos(sos.room_id)]
    if (sos.unit_number_dispatched) rooms.push(ROOMS.unit(sos.unit_number_dispatched))
    if (previousUnit && previousUnit !== sos.unit_number_dispatched) rooms.push(ROOMS.unit(previousUnit))
    this.later((io) => this.timed('sos_updated', () => io.to(rooms).emit('sos_updated', event)))
  }

  /** An escalation, to the control rooms (and, for a silent unit, to that unit's room too). */
  sosEscalated(event: SosEscalatedEvent): void {
    const rooms: string[] = [ROOMS.sosChannel]
    if (event.unit_number) rooms.push(ROOMS.unit(event.unit_number))
    this.later((io) => this.timed('sos_escalated', () => io.to(rooms).emit('sos_escalated', event)))
  }

  unitLocation(location: UnitLocation): void {
    this.later((io) => {
      this.timed('unit_loc', () => io.to(ROOMS.officerTracking).emit('unit_loc', location))
      this.counted('unit_loc')
    })
  }

  /**
   * Disconnects, on every node (the adapter carries it), the sockets opened with a revoked token or by
   * a user whose account changed, after telling them why. `exceptToken`: the token hash whose sockets
   * stay (a password change keeps the device that made it signed in). Immediate, not deferred: the
   * caller's answer ("logged out") must not precede it.
   */
  revoke(target: RevocationTarget, reason: RevocationReason): void {
    const io = this.io
    if (!io) return
    const room = 'userId' in target ? ROOMS.user(target.userId) : ROOMS.token(target.tokenHash)
    let to = io.to(room)
    if ('userId' in target && target.exceptTokenHash) to = to.except(ROOMS.token(target.exceptTokenHash))
    to.emit('error', { code: 'session_revoked', message: REVOCATION_MESSAGES[reason] })
    to.disconnectSockets(true)
    this.observer.revoked?.(reason)
  }
}

export const REVOCATION_MESSAGES: Record<RevocationReason, string> = {
  logout: 'This token was logged out.',
  password_changed: 'The password of this account was changed; sign in again.',
  deactivated: 'This account was deactivated.',
  role_changed: 'The role or unit of this account changed; reconnect to get the rooms it now allows.',
  revalidated: 'This token is no longer valid, or its account changed; reconnect.',
}
