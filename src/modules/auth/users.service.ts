// Account management in Djoser's shape: admins list, read, change (role, unit, is_active, email) and
// deactivate accounts; anyone reads and changes their own email. A change that takes away what live
// sockets were granted disconnects them on every node; deactivation also revokes every token.
import type { Kysely } from 'kysely'
import type { Database, Role, UserRow } from '../../db/schema.ts'
import { errors, validationError } from '../../errors.ts'
import { asObject, FieldReader, MSG, shortRepr, UNIT_NUMBER_RE } from '../../lib/fields.ts'
import { pageLinks, type Page } from '../../lib/paging.ts'
import type { Revoker } from '../../realtime/publisher.ts'
import * as repo from './auth.repository.ts'
import { ROLES, toAuthUser, type AuthUser, type PublicUser } from './auth.service.ts'

/** What an admin sees of an account: the public fields, whether it may sign in, and when it was made. */
export interface AdminUser extends PublicUser {
  is_active: boolean
  date_joined: string
}

export interface UserPage {
  count: number
  next: string | null
  previous: string | null
  results: Array<AdminUser | PublicUser>
}

const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/

export function toAdminUser(row: UserRow): AdminUser {
  return { ...toAuthUser(row), is_active: row.is_active === 1, date_joined: row.created_at }
}

/** DRF's BooleanField inputs (JSON booleans, 1/0, and the usual words, as query strings send them). */
function parseBoolean(value: unknown): boolean | undefined {
  if (value === true || value === 1) return true
  if (value === false || value === 0) return false
  if (typeof value !== 'string') return undefined
  const word = value.trim().toLowerCase()
  if (['true', '1', 'yes', 'on', 't', 'y'].includes(word)) return true
  if (['false', '0', 'no', 'off', 'f', 'n'].includes(word)) return false
  return undefined
}

const isAdmin = (actor: AuthUser | null): boolean => actor?.role === 'admin'

export class UsersService {
  private readonly db: Kysely<Database>
  private readonly revoker: Revoker | undefined

  constructor(deps: { db: Kysely<Database>; revoker?: Revoker }) {
    this.db = deps.db
    this.revoker = deps.revoker
  }

  /**
   * GET /auth/users/: admins list every account, filtered by `role`, `unit_number`, `is_active`;
   * anyone else gets a list holding only themselves (Djoser's HIDE_USERS). Paged with `?limit=&offset=`.
   */
  async list(actor: AuthUser, query: Record<string, unknown>, page: Page | undefined, pageUrl: (offset: number) => string): Promise<Array<AdminUser | PublicUser> | UserPage> {
    if (!isAdmin(actor)) {
      const self = await this.mine(actor)
      return page ? { count: 1, next: null, previous: null, results: page.offset === 0 ? [self] : [] } : [self]
    }
    const fields = new FieldReader(query)
    const filter: repo.UserFilter = {}
    const role = fields.string('role', { required: false, max: 20 })
    if (role !== undefined) {
      if (ROLES.includes(role as Role)) filter.role = role as Role
      else fields.fail('role', `Select a valid choice. ${shortRepr(role)} is not one of the available choices.`)
    }
    const unit = fields.string('unit_number', { required: false, max: 50 })
    if (unit !== undefined) filter.unitNumber = unit
    if (query.is_active !== undefined) {
      const active = parseBoolean(query.is_active)
      if (active === undefined) fields.fail('is_active', 'Must be a valid boolean.')
      else filter.isActive = active
    }
    fields.done()
    const rows = await repo.listUsers(this.db, filter, page)
    if (!page) return rows.map(toAdminUser)
    const count = await repo.countUsers(this.db, filter)
    return { count, ...pageLinks(page, count, pageUrl), results: rows.map(toAdminUser) }
  }

  /** GET /auth/users/{id}/: admins any account; others only their own (another id is "Not found.", as Djoser). */
  async get(actor: AuthUser, id: number): Promise<AdminUser | PublicUser> {
    if (!isAdmin(actor) && actor.id !== id) throw errors.notFound()
    const row = await repo.findUserById(this.db, id)
    if (!row) throw errors.notFound()
    return isAdmin(actor) ? toAdminUser(row) : toAuthUser(row)
  }

  /**
   * PATCH/PUT /auth/users/{id}/ (and /me/). Admins may change `email`, `role`, `unit_number` and
   * `is_active` of any account; others only their own `email` (the other fields are read-only for
   * them, and ignored as DRF ignores read-only fields). An admin cannot demote or deactivate their own
   * account (the last admin could lock everyone out). A role or unit change disconnects the user's
   * live sockets (their rooms were granted under the old role; they reconnect with the new one);
   * deactivation revokes every token too.
   */
  async update(actor: AuthUser, id: number, body: unknown): Promise<AdminUser | PublicUser> {
    if (!isAdmin(actor) && actor.id !== id) throw errors.notFound()
    const row = await repo.findUserById(this.db, id)
    if (!row) throw errors.notFound()
    const payload = asObject(body)
    const fields = new FieldReader(payload)
    const changes: Parameters<typeof repo.updateUser>[2] = {}
    const email = fields.string('email', { required: false, max: 254, allowBlank: true, nullable: true })
    if (email !== undefined) {
      const trimmed = (email ?? '').trim()
      if (trimmed && !EMAIL_RE.test(trimmed)) fields.fail('email', MSG.email)
      else changes.email = trimmed
    }
    if (isAdmin(actor)) {
      const role = fields.string('role', { required: false, max: 20 })
      if (role !== undefined && !ROLES.includes(role as Role)) fields.fail('role', MSG.choice(role))
      else if (role !== undefined) changes.role = role as Role
      if (fields.has('unit_number')) {
        const unit = fields.string('unit_number', { required: false, max: 50, nullable: true, allowBlank: true })
        if (unit && !UNIT_NUMBER_RE.test(unit)) fields.fail('unit_number', 'Use 1–50 letters, digits, "-" or "_".')
        else changes.unit_number = unit || null
      }
      if (fields.has('is_active')) {
        const active = parseBoolean(payload.is_active)
        if (active === undefined) fields.fail('is_active', 'Must be a valid boolean.')
        else changes.is_active = active ? 1 : 0
      }
    }
    fields.done()
    const role = changes.role ?? row.role
    // Citizens belong to no unit; an officer must belong to one.
    if (role === 'citizen') changes.unit_number = null
    const unit = changes.unit_number !== undefined ? changes.unit_number : row.unit_number
    if (role === 'officer' && !unit) throw validationError({ unit_number: ['Officers must belong to a unit.'] })
    if (actor.id === id && ((changes.role !== undefined && changes.role !== row.role) || changes.is_active === 0)) {
      throw validationError({ non_field_errors: ['You cannot demote or deactivate your own account.'] })
    }
    const deactivated = changes.is_active === 0 && row.is_active === 1
    const regranted = role !== row.role || unit !== row.unit_number
    const updated = await this.db.transaction().execute(async (trx) => {
      const next = Object.keys(changes).length ? await repo.updateUser(trx, id, changes) : row
      // Its tokens go with the account: reactivating it later means signing in again.
      if (deactivated) await repo.deleteTokensOfUser(trx, id)
      return next
    })
    if (!updated) throw errors.notFound()
    if (deactivated) this.revoker?.revoke({ userId: id }, 'deactivated')
    else if (regranted) this.revoker?.revoke({ userId: id }, 'role_changed')
    return isAdmin(actor) ? toAdminUser(updated) : toAuthUser(updated)
  }

  /**
   * DELETE /auth/users/{id}/ (admins): deactivates the account rather than erasing it. The SOS it
   * raised, assigned or resolved keep pointing at it (the incident record must stay whole); it can no
   * longer sign in, its tokens are revoked, its sockets disconnected.
   */
  async deactivate(actor: AuthUser, id: number): Promise<void> {
    if (!isAdmin(actor)) throw errors.forbidden()
    await this.update(actor, id, { is_active: false })
  }

  private async mine(actor: AuthUser): Promise<PublicUser> {
    const row = await repo.findUserById(this.db, actor.id)
    if (!row) throw errors.invalidToken()
    return toAuthUser(row)
  }
}
