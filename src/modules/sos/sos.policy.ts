// Who may do what to an SOS (CONTRACT §4), in secure mode and in legacy open-access mode.
import type { SosRow } from '../../db/schema.ts'
import { digestsEqual, sha256Hex } from '../../lib/secrets.ts'
import { isStaff, type AuthUser } from '../auth/auth.service.ts'

/** Everything a request or a socket event presents about who is asking. */
export interface Actor {
  user: AuthUser | null
  /** An SOS token presented with the request (header, body or socket payload). */
  sosToken: string | null
  /** LEGACY_OPEN_ACCESS: the original's open rules. */
  legacy: boolean
}

type SosAccess = Pick<SosRow, 'user_id' | 'sos_token_hash' | 'unit_number_dispatched'>

export function holdsToken(actor: Actor, sos: SosAccess): boolean {
  return !!actor.sosToken && actor.sosToken.length <= 200 && digestsEqual(sha256Hex(actor.sosToken), sos.sos_token_hash)
}

export function isOwner(actor: Actor, sos: SosAccess): boolean {
  return !!actor.user && sos.user_id !== null && actor.user.id === sos.user_id
}

const isDispatcherOrAdmin = (user: AuthUser | null) => user?.role === 'dispatcher' || user?.role === 'admin'
const isOfficerOf = (actor: Actor, unitNumber: string) => actor.user?.role === 'officer' && actor.user.unit_number === unitNumber

/** The caller presents no credential at all (no account, no SOS token): 401 before any lookup. */
export const hasNoCredential = (actor: Actor) => !actor.user && !actor.sosToken

export const sosPolicy = {
  /** List every SOS: staff (legacy: any signed-in user). Citizens get their own list instead. */
  listAll: (actor: Actor) => isStaff(actor.user) || (actor.legacy && !!actor.user),
  read: (actor: Actor, sos: SosAccess) => isStaff(actor.user) || isOwner(actor, sos) || holdsToken(actor, sos) || (actor.legacy && !!actor.user),
  /** Location updates and image uploads: the victim's device (token), the owner, staff; legacy: anyone. */
  contribute: (actor: Actor, sos: SosAccess) => actor.legacy || isStaff(actor.user) || isOwner(actor, sos) || holdsToken(actor, sos),
  /** Images are as private as the SOS; legacy served media to anyone. */
  readImages: (actor: Actor, sos: SosAccess) => actor.legacy || sosPolicy.read(actor, sos),
  /**
   * Dispatching a unit: dispatchers and admins, to any unit, also re-dispatching. An officer only
   * volunteers their own unit, and only for an SOS no other unit has: taking an SOS away from the unit
   * a dispatcher chose is the dispatcher's call (otherwise one officer account could take over, and
   * then close, every open SOS). Legacy: any signed-in user, as the original.
   */
  assign: (actor: Actor, sos: SosAccess, unitNumber: string) =>
    isDispatcherOrAdmin(actor.user) ||
    (isOfficerOf(actor, unitNumber) && (sos.unit_number_dispatched === null || sos.unit_number_dispatched === unitNumber)) ||
    (actor.legacy && !!actor.user),
  /** Whether a dispatch by this actor must also hold when it is written (no other unit took the SOS meanwhile). */
  assignNeedsFreeSos: (actor: Actor) => !isDispatcherOrAdmin(actor.user) && !(actor.legacy && !!actor.user),
  resolve: (actor: Actor, sos: SosAccess) =>
    isDispatcherOrAdmin(actor.user) ||
    (actor.user?.role === 'officer' && !!sos.unit_number_dispatched && actor.user.unit_number === sos.unit_number_dispatched) ||
    (actor.legacy && !!actor.user),
  /** Accept ("on our way") and arrive: the officers of the unit the SOS is dispatched to. */
  actForUnit: (actor: Actor, sos: SosAccess) =>
    (!!sos.unit_number_dispatched && isOfficerOf(actor, sos.unit_number_dispatched)) || (actor.legacy && !!actor.user),
  acknowledge: (actor: Actor) => isStaff(actor.user) || (actor.legacy && !!actor.user),
  /** A false alarm is called off by the victim's device or account (and by a dispatcher/admin). */
  cancel: (actor: Actor, sos: SosAccess) => holdsToken(actor, sos) || isOwner(actor, sos) || isDispatcherOrAdmin(actor.user),
  /** PUT/PATCH/DELETE on the SOS resource (the original's ModelViewSet). */
  administer: (actor: Actor) => actor.user?.role === 'admin' || (actor.legacy && !!actor.user),
  /** Joining an SOS room: staff, or the device holding that SOS's token; legacy: anyone. */
  joinRoom: (actor: Actor, sos: SosAccess) => actor.legacy || isStaff(actor.user) || holdsToken(actor, sos),
}
