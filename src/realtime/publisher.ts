// The only code that emits to rooms. Services call it after their transaction has committed.
import type { Server } from 'socket.io'
import { ROOMS, type LocationPoint, type NewSosEvent, type SocketData, type ClientToServerEvents, type ServerToClientEvents, type SosResolvedEvent, type UnitLocation } from './contract.ts'

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

  newSos(event: NewSosEvent): void {
    this.io?.to(ROOMS.sosChannel).emit('new_sos', event)
  }

  locationUpdated(sos: SosRouting, point: LocationPoint): void {
    if (!this.io) return
    this.io.to(ROOMS.sos(sos.room_id)).emit('location_history', point)
    if (sos.unit_number_dispatched) this.io.to(ROOMS.unit(sos.unit_number_dispatched)).emit('unit_location_update', point)
    this.io.to(ROOMS.locationTracking).emit('location_tracking_update', { unit_number: sos.unit_number_dispatched, ...point })
  }

  sosClosed(sos: SosRouting, status: SosResolvedEvent['status']): void {
    if (!this.io) return
    const rooms = [ROOMS.sos(sos.room_id), ROOMS.sosChannel]
    if (sos.unit_number_dispatched) rooms.push(ROOMS.unit(sos.unit_number_dispatched))
    // One emit to the union of rooms, so a socket in several of them gets the event once.
    this.io.to(rooms).emit('sos_resolved', { sos_id: sos.id, room_id: sos.room_id, status })
  }

  unitLocation(location: UnitLocation): void {
    this.io?.to(ROOMS.officerTracking).emit('unit_loc', location)
  }
}
