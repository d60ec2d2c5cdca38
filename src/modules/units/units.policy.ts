// Who may see units and report their positions (CONTRACT §4), in secure mode and in legacy open-access mode.
import { errors } from '../../errors.ts'
import { isStaff, type AuthUser } from '../auth/auth.service.ts'

export const unitsPolicy = {
  /**
   * The units list, nearest units, a unit's history: staff. Legacy: any signed-in account, as every other
   * staff read there (GET /api/sos/, get-all-sos); an account is still needed.
   */
  view: (user: AuthUser | null, legacy: boolean) => isStaff(user) || (legacy && !!user),
  /**
   * Reporting a unit's position: an officer of that unit. Legacy: anyone, as the original socket accepted
   * `officer_location_update` from any client (the REST route still asks for an account, see units.routes.ts).
   */
  report: (user: AuthUser | null, unitNumber: string, legacy: boolean) => legacy || (user?.role === 'officer' && user.unit_number === unitNumber),
}

/** 401 without an account (an SOS token counts for nothing here), 403 for an account that may not. */
export function requireViewer(user: AuthUser | null, legacy: boolean): AuthUser {
  if (!user) throw errors.notAuthenticated()
  if (!unitsPolicy.view(user, legacy)) throw errors.forbidden()
  return user
}

export function requireReporter(user: AuthUser | null, unitNumber: string, legacy: boolean): void {
  if (unitsPolicy.report(user, unitNumber, legacy)) return
  throw user ? errors.forbidden() : errors.notAuthenticated()
}
