// The only code that emits to rooms. Services call it after their transaction has committed.
import type { Server } from 'socket.io'
import { ROOMS, type LocationPoint, type NewSosEvent, type SocketData, type ClientToServerEvents, type ServerToClientEvents, type SosEscalatedEvent, type SosResolvedEvent, type SosUpdatedEvent, type UnitLocation } from './contract.ts'

export type RealtimeServer = Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>

/** What the SOS service needs to know about an SOS to route its events. */
export interface SosRouting {
  id: number
  room_id: string
  unit_number_dispatched: string | null
}

export class RealtimePublisher {
  private io: RealtimeServer | null = null

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

  newSos(event: NewSosEvent): void {
    this.later((io) => io.to(ROOMS.sosChannel).emit('new_sos', event))
  }

  locationUpdated(sos: SosRouting, point: LocationPoint): void {
    this.later((io) => {
      io.to(ROOMS.sos(sos.room_id)).emit('location_history', point)
      if (sos.unit_number_dispatched) io.to(ROOMS.unit(sos.unit_number_dispatched)).emit('unit_location_update', point)
      io.to(ROOMS.locationTracking).emit('location_tracking_update', { unit_number: sos.unit_number_dispatched, ...point })
    })
  }

  sosClosed(sos: SosRouting, status: SosResolvedEvent['status']): void {
    const rooms = [ROOMS.sos(sos.room_id), ROOMS.sosChannel]
    if (sos.unit_number_dispatched) rooms.push(ROOMS.unit(sos.unit_number_dispatched))
    // One emit to the union of rooms, so a socket in several of them gets the event once.
    this.later((io) => io.to(rooms).emit('sos_resolved', { sos_id: sos.id, room_id: sos.room_id, status }))
  }

  /**
   * Every change of an SOS: to `sos_channel`, its room and its unit's room (and the previous unit's, on a
   * re-dispatch, so that unit learns it was taken off). One emit to the union, so each socket gets it once.
   */
  sosUpdated(sos: SosRouting, event: SosUpdatedEvent, previousUnit: string | null = null): void {
    const rooms = [ROOMS.sosChannel, ROOMS.sos(sos.room_id)]
    if (sos.unit_number_dispatched) rooms.push(ROOMS.unit(sos.unit_number_dispatched))
    if (previousUnit && previousUnit !== sos.unit_number_dispatched) rooms.push(ROOMS.unit(previousUnit))
    this.later((io) => io.to(rooms).emit('sos_updated', event))
  }

  /** An escalation, to the control rooms (and, for a silent unit, to that unit's room too). */
  sosEscalated(event: SosEscalatedEvent): void {
    const rooms: string[] = [ROOMS.sosChannel]
    if (event.unit_number) rooms.push(ROOMS.unit(event.unit_number))
    this.later((io) => io.to(rooms).emit('sos_escalated', event))
  }

  unitLocation(location: UnitLocation): void {
    this.later((io) => io.to(ROOMS.officerTracking).emit('unit_loc', location))
  }
}
