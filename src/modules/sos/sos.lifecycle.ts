// The SOS state machine (CONTRACT §5): which action moves which status where, and the legacy flags that follow.
import type { SosOutcome, SosStatus } from '../../db/schema.ts'

export type LifecycleAction = 'acknowledge' | 'assign' | 'accept' | 'arrive' | 'resolve' | 'cancel'

/**
 * active → acknowledged → dispatched → responding → on_scene → resolved; cancelled from any open
 * state. A dispatcher may (re-)assign while the SOS is open, which puts it back to `dispatched` for the
 * new unit. A unit may arrive without pressing "accept" first (officers do not always have a free hand).
 */
const TRANSITIONS: Record<LifecycleAction, { from: SosStatus[]; to: SosStatus }> = {
  acknowledge: { from: ['active'], to: 'acknowledged' },
  assign: { from: ['active', 'acknowledged', 'dispatched', 'responding', 'on_scene'], to: 'dispatched' },
  accept: { from: ['dispatched'], to: 'responding' },
  arrive: { from: ['dispatched', 'responding'], to: 'on_scene' },
  resolve: { from: ['active', 'acknowledged', 'dispatched', 'responding', 'on_scene'], to: 'resolved' },
  cancel: { from: ['active', 'acknowledged', 'dispatched', 'responding', 'on_scene'], to: 'cancelled' },
}

export const OPEN_STATUSES: SosStatus[] = ['active', 'acknowledged', 'dispatched', 'responding', 'on_scene']
export const CLOSED_STATUSES: SosStatus[] = ['resolved', 'cancelled']
export const OUTCOMES: SosOutcome[] = ['assisted', 'false_alarm', 'unfounded', 'transferred', 'other']

/** The statuses `action` may start from (for the conditional UPDATE that decides races). */
export const allowedFrom = (action: LifecycleAction): SosStatus[] => TRANSITIONS[action].from

export const targetOf = (action: LifecycleAction): SosStatus => TRANSITIONS[action].to

export const isOpen = (status: SosStatus): boolean => OPEN_STATUSES.includes(status)

/**
 * The original's flags, kept consistent with the status: closing sets `status_flag` 1 (and leaves
 * `acknowledged_flag` as it was: a pocket press cancelled while active was never acknowledged); every
 * other step is past `active`, so `acknowledged_flag` is 1.
 */
export function flagsFor(status: SosStatus): { status_flag: number } | { status_flag: number; acknowledged_flag: number } {
  if (CLOSED_STATUSES.includes(status)) return { status_flag: 1 }
  return { status_flag: 0, acknowledged_flag: status === 'active' ? 0 : 1 }
}

/** The 409 message for an action the current status does not allow. */
export function illegalMessage(action: LifecycleAction, status: SosStatus): string {
  if (CLOSED_STATUSES.includes(status)) return `This SOS is already ${status}.`
  const from = TRANSITIONS[action].from.join(', ')
  return `Cannot ${action} an SOS that is ${status} (allowed from: ${from}).`
}
