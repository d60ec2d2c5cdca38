// Who may raise how many SOS: one budget per client IP for anonymous callers, one per citizen account, none for staff.
import { errors } from '../../errors.ts'
import { clientKey, type RateLimiter, type RateRule } from '../../lib/rate-limiter.ts'
import { isStaff } from '../auth/auth.service.ts'
import type { Actor } from './sos.policy.ts'

export interface SosCreateLimits {
  /** Anonymous creations per client IP per minute (SOS_CREATE_RATE_LIMIT_PER_MINUTE). */
  anonymousPerMinute: number
  /** Creations per citizen account per minute (SOS_CREATE_ACCOUNT_LIMIT_PER_MINUTE). */
  accountPerMinute: number
  /** Creations per citizen account per hour (SOS_CREATE_ACCOUNT_LIMIT_PER_HOUR). */
  accountPerHour: number
}

/**
 * The budgets are counted by the service, not by a transport, so REST (both create paths) and the
 * socket `create_sos` draw on the same counters, and with Redis on every node's counters.
 *
 * - Staff (officer, dispatcher, admin) are never limited: their accounts are made by an admin.
 * - A signed-in citizen has a budget of her own (a burst per minute, a cap per hour), so accounts
 *   anyone can register do not each bring the flood an unlimited budget.
 * - Past her own budget she draws on her address's anonymous budget, as she could by signing out:
 *   an account is never worse off than no account, and that gives an abuser nothing new.
 * - Anonymous callers share one budget per client IP, generous because of carrier-grade NAT.
 * - A repeated create (same Idempotency-Key, already stored) is answered before spend() is called, so a
 *   retrying phone costs nothing and gets its SOS back even with its budget spent. First attempts that
 *   race each other each spend once: until the database decides, none knows it is a repeat.
 */
export class SosCreateBudget {
  private readonly anonymous: RateRule[]
  private readonly account: RateRule[]

  constructor(
    private readonly limiter: RateLimiter,
    limits: SosCreateLimits,
  ) {
    this.anonymous = [{ max: limits.anonymousPerMinute, windowMs: 60_000 }]
    this.account = [
      { max: limits.accountPerMinute, windowMs: 60_000 },
      { max: limits.accountPerHour, windowMs: 3_600_000 },
    ]
  }

  /** Spends one creation for `actor` calling from `address`; throws a 429 `throttled` AppError when none is left. */
  async spend(actor: Actor, address: string): Promise<void> {
    const user = actor.user
    if (isStaff(user)) return
    let retryAfter = Infinity
    if (user) {
      const own = await this.limiter.consume(`sos-create:user:${user.id}`, this.account)
      if (own.allowed) return
      retryAfter = own.retryAfterSeconds
    }
    const shared = await this.limiter.consume(`sos-create:ip:${clientKey(address)}`, this.anonymous)
    if (shared.allowed) return
    throw errors.throttled(Math.min(retryAfter, shared.retryAfterSeconds))
  }
}
