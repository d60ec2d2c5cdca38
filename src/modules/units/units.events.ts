// Socket handlers for units: officer rooms, the officer tracking channel, and officers' own positions.
import { AppError, errors } from '../../errors.ts'
import { ROOMS, type ClientEventName } from '../../realtime/contract.ts'
import { payloadObject, type EventHandler } from '../../realtime/handlers.ts'
import { SnapshotBatcher } from '../../realtime/snapshot-batcher.ts'
import { UNIT_NUMBER_RE } from '../../lib/fields.ts'
import { staffChannel } from '../sos/sos.events.ts'
import type { UnitsService } from './units.service.ts'

export function unitEventHandlers(opts: { units: UnitsService; legacy: boolean }): Partial<Record<ClientEventName, EventHandler>> {
  const { units, legacy } = opts
  const unitPositions = new SnapshotBatcher(
    () => units.snapshot(),
    (to, snapshot) => to.emit('unit_snapshot', snapshot),
    (snapshot) => ({ snapshot_count: snapshot.units.length, truncated: snapshot.truncated }),
  )
  return {
    join_officer_room: async (socket, raw) => {
      const payload = payloadObject(raw, 'unit_number')
      const unit = payload.unit_number
      if (typeof unit !== 'string' || !UNIT_NUMBER_RE.test(unit)) {
        throw new AppError(400, 'validation_error', 'unit_number is required (1–50 letters, digits, "-" or "_").', { unit_number: ['A valid unit number is required.'] })
      }
      const user = socket.data.user
      const allowed = legacy || user?.role === 'dispatcher' || user?.role === 'admin' || (user?.role === 'officer' && user.unit_number === unit)
      if (!allowed) throw user ? errors.forbidden() : errors.notAuthenticated()
      await socket.join(ROOMS.unit(unit))
      const joined = { unit_number: unit, message: `Joined unit room ${unit}` }
      socket.emit('room_joined', joined)
      return joined
    },

    join_officer_update: staffChannel(ROOMS.officerTracking, legacy, (socket) => unitPositions.send(socket)),

    officer_location_update: async (socket, raw) => units.recordOfficerLocation(payloadObject(raw), socket.data.user, legacy),
  }
}
