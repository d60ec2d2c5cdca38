// Accounts and API tokens: Djoser-compatible registration, token login/logout, set_password, token
// verification, and the revocation of live sockets that logout and a password change imply.
import type { Kysely } from 'kysely'
import type { Database, Role, UserRow } from '../../db/schema.ts'
import { errors, validationError } from '../../errors.ts'
import { asObject, FieldReader, MSG, UNIT_NUMBER_RE } from '../../lib/fields.ts'
import { HashQueue } from '../../lib/hash-queue.ts'
import { hashPassword, newApiToken, sha256Hex, verifyPassword } from '../../lib/secrets.ts'
import { nowIso } from '../../lib/time.ts'
import type { Revoker } from '../../realtime/publisher.ts'
import { COMMON_PASSWORDS } from './common-passwords.ts'
import * as repo from './auth.repository.ts'

export const ROLES: Role[] = ['citizen', 'officer', 'dispatcher', 'admin']

/** The authenticated identity carried by a request or a socket. */
export interface AuthUser {
  id: number
  username: string
  email: string
  role: Role
  unit_number: string | null
}

export interface PublicUser {
  id: number
  username: string
  email: string
  role: Role
  unit_number: string | null
}

export function isStaff(user: AuthUser | null | undefined): boolean {
  return !!user && user.role !== 'citizen'
}

export function toAuthUser(row: UserRow): AuthUser {
  return { id: row.id, username: row.username, email: row.email, role: row.role, unit_number: row.unit_number }
}

export interface NewUserInput {
  username: string
  password: string
  email?: string
  role: Role
  unitNumber?: string | null
}

const USERNAME_RE = /^[\w.@+-]+$/
const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/

/** Django's password validators: length, numeric, common, similarity to username/email. */
export function passwordProblems(password: string, username: string, email = ''): string[] {
  const problems: string[] = []
  const lower = password.toLowerCase()
  // Django's message names the attribute by its verbose name ("username", "email address").
  const attributes: Array<[string, string]> = [['username', username], ['email address', email.split('@')[0] ?? ''], ['email address', email]]
  for (const [verboseName, attribute] of attributes) {
    const a = attribute.toLowerCase()
    if (a.length >= 3 && (lower.includes(a) || a.includes(lower) || similarity(lower, a) >= 0.7)) {
      problems.push(`The password is too similar to the ${verboseName}.`)
      break
    }
  }
  if ([...password].length < 8) problems.push('This password is too short. It must contain at least 8 characters.')
  if (COMMON_PASSWORDS.has(lower.trim())) problems.push('This password is too common.')
  if (/^\d+$/.test(password)) problems.push('This password is entirely numeric.')
  return problems
}

/** 2·LCS / (|a| + |b|): close to difflib's SequenceMatcher ratio, which Django uses. */
function similarity(a: string, b: string): number {
  if (!a.length || !b.length || a.length > 256 || b.length > 256) return 0
  let prev = new Array<number>(b.length + 1).fill(0)
  for (let i = 1; i <= a.length; i++) {
    const row = new Array<number>(b.length + 1).fill(0)
    for (let j = 1; j <= b.length; j++) {
      row[j] = a[i - 1] === b[j - 1] ? prev[j - 1] + 1 : Math.max(prev[j], row[j - 1])
    }
    prev = row
  }
  return (2 * prev[b.length]) / (a.length + b.length)
}

export class AuthService {
  private readonly db: Kysely<Database>
  private readonly hashCost: number
  private readonly hashing: HashQueue
  private readonly revoker: Revoker | undefined
  private dummyHash: Promise<string> | undefined

  /**
   * Without `hashing` (the CLI: one hash, no concurrent callers) hashes run one at a time, nothing refused.
   * `revoker` disconnects the live sockets of revoked tokens (the publisher; none in the CLI's create-user).
   */
  constructor(deps: { db: Kysely<Database>; passwordHashCost: number; hashing?: HashQueue; revoker?: Revoker }) {
    this.db = deps.db
    this.hashCost = deps.passwordHashCost
    this.hashing = deps.hashing ?? new HashQueue({ concurrency: 1, queueLimit: Infinity })
    this.revoker = deps.revoker
  }

  /** POST /auth/users/: citizens register themselves; only an admin may create staff accounts. */
  async register(body: unknown, actor: AuthUser | null): Promise<PublicUser> {
    const fields = new FieldReader(asObject(body))
    const username = fields.string('username', { max: 150 })
    const password = fields.string('password', { max: 128, trim: false })
    const rePassword = fields.string('re_password', { max: 128, trim: false })
    const email = fields.string('email', { required: false, max: 254, allowBlank: true, nullable: true }) ?? ''
    const role = (fields.string('role', { required: false, max: 20 }) ?? 'citizen') as Role
    const unitNumber = fields.string('unit_number', { required: false, max: 50, nullable: true, allowBlank: true }) || null
    fields.done()
    if (role !== 'citizen' && actor?.role !== 'admin') throw errors.forbidden()
    return this.createUser({ username: username!, password: password!, email, role, unitNumber }, rePassword!)
  }

  /** Creates a user after every check (used by registration, the admin API and the CLI). */
  async createUser(input: NewUserInput, rePassword: string = input.password): Promise<PublicUser> {
    const fieldErrors: Record<string, string[]> = {}
    const add = (field: string, message: string) => (fieldErrors[field] ??= []).push(message)
    const email = input.email?.trim() ?? ''
    if (!USERNAME_RE.test(input.username)) {
      add('username', 'Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.')
    }
    if (input.username.length > 150) add('username', MSG.maxLength(150))
    if (email && !EMAIL_RE.test(email)) add('email', MSG.email)
    if (!ROLES.includes(input.role)) add('role', MSG.choice(input.role))
    if (input.role === 'officer' && !input.unitNumber) add('unit_number', 'Officers must belong to a unit.')
    if (input.unitNumber && !UNIT_NUMBER_RE.test(input.unitNumber)) add('unit_number', 'Use 1–50 letters, digits, "-" or "_".')
    if (Object.keys(fieldErrors).length) throw validationError(fieldErrors)
    if (input.password !== rePassword) throw validationError({ non_field_errors: ["The two password fields didn't match."] })
    const problems = passwordProblems(input.password, input.username, email)
    if (problems.length) throw validationError({ password: problems })
    if (await repo.findUserByUsername(this.db, input.username)) {
      throw validationError({ username: ['A user with that username already exists.'] })
    }
    const passwordHash = await this.hashing.run('register', () => hashPassword(input.password, this.hashCost))
    try {
      const row = await repo.insertUser(this.db, {
        username: input.username,
        email,
        password_hash: passwordHash,
        role: input.role,
        unit_number: input.role === 'citizen' ? null : (input.unitNumber ?? null),
        is_active: 1,
        created_at: nowIso(),
      })
      return toAuthUser(row)
    } catch (error) {
      // Two registrations raced past the check above; the unique index decided.
      if (/unique|duplicate/i.test(String((error as Error).message))) {
        throw validationError({ username: ['A user with that username already exists.'] })
      }
      throw error
    }
  }

  /** POST /auth/token/login/: verifies the password and issues a new token. */
  async login(body: unknown): Promise<{ auth_token: string }> {
    const fields = new FieldReader(asObject(body))
    const username = fields.string('username', { max: 150 })
    const password = fields.string('password', { max: 128, trim: false })
    fields.done()
    const user = await repo.findUserByUsername(this.db, username!)
    // Hash even for an unknown user so response time does not reveal which usernames exist.
    const ok = user ? await this.hashing.run('login', () => verifyPassword(password!, user.password_hash)) : await this.burnHash(password!)
    if (!user || !ok || !user.is_active) {
      throw validationError({ non_field_errors: ['Unable to log in with provided credentials.'] })
    }
    return { auth_token: await this.issueToken(user.id) }
  }

  async issueToken(userId: number): Promise<string> {
    const token = newApiToken()
    await repo.insertToken(this.db, userId, sha256Hex(token), nowIso())
    return token
  }

  /** Revokes the token and disconnects the sockets opened with it, on every node (not the user's other sessions). */
  async logout(token: string): Promise<void> {
    const tokenHash = sha256Hex(token)
    await repo.deleteToken(this.db, tokenHash)
    this.revoker?.revoke({ tokenHash }, 'logout')
  }

  /**
   * POST /auth/users/set_password/ (Djoser): the caller's current password, the new one twice. Every
   * other token of the account is revoked and its sockets disconnected (a password is changed because
   * it may be known to someone else, who may hold a token made with it); the token making the change
   * stays signed in.
   */
  async setPassword(userId: number, currentToken: string, body: unknown): Promise<void> {
    const fields = new FieldReader(asObject(body))
    const current = fields.string('current_password', { max: 128, trim: false })
    const next = fields.string('new_password', { max: 128, trim: false })
    const again = fields.string('re_new_password', { max: 128, trim: false })
    fields.done()
    const user = await repo.findUserById(this.db, userId)
    if (!user || !user.is_active) throw errors.invalidToken()
    if (!(await this.hashing.run('login', () => verifyPassword(current!, user.password_hash)))) {
      throw validationError({ current_password: ['Invalid password.'] })
    }
    if (next !== again) throw validationError({ non_field_errors: ["The two password fields didn't match."] })
    const problems = passwordProblems(next!, user.username, user.email)
    if (problems.length) throw validationError({ new_password: problems })
    const passwordHash = await this.hashing.run('register', () => hashPassword(next!, this.hashCost))
    const keep = sha256Hex(currentToken)
    await this.db.transaction().execute(async (trx) => {
      await repo.updateUser(trx, userId, { password_hash: passwordHash })
      await repo.deleteTokensOfUser(trx, userId, keep)
    })
    this.revoker?.revoke({ userId, exceptTokenHash: keep }, 'password_changed')
  }

  /** The active identities behind these token hashes (socket revalidation); revoked ones are absent. */
  async identitiesByTokenHash(tokenHashes: string[]): Promise<Map<string, AuthUser>> {
    const found = new Map<string, AuthUser>()
    for (let i = 0; i < tokenHashes.length; i += 500) {
      for (const row of await repo.activeUsersByTokenHashes(this.db, tokenHashes.slice(i, i + 500))) found.set(row.token_hash, toAuthUser(row))
    }
    return found
  }

  /** Resolves a presented API token to its user, or null if it is unknown or revoked. */
  async authenticate(token: string): Promise<AuthUser | null> {
    if (!token || token.length > 200) return null
    const row = await repo.findActiveUserByTokenHash(this.db, sha256Hex(token))
    return row ? toAuthUser(row) : null
  }

  async me(userId: number): Promise<PublicUser> {
    const row = await repo.findUserById(this.db, userId)
    if (!row) throw errors.invalidToken()
    return toAuthUser(row)
  }

  private async burnHash(password: string): Promise<false> {
    // Forgotten if refused (queue full), so a later login makes it instead of failing forever.
    this.dummyHash ??= this.hashing.run('login', () => hashPassword('not-a-real-password', this.hashCost)).catch((error: unknown) => {
      this.dummyHash = undefined
      throw error
    })
    const dummy = await this.dummyHash
    await this.hashing.run('login', () => verifyPassword(password, dummy))
    return false
  }
}

