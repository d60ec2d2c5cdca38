// SQL for users and API tokens. Every function takes the Kysely instance or a transaction first.
import type { Kysely } from 'kysely'
import { prepared } from '../../db/prepared.ts'
import type { Database, NewUser, Role, UserRow } from '../../db/schema.ts'

type Db = Kysely<Database>

export function findUserByUsername(db: Db, username: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst()
}

export function findUserById(db: Db, id: number): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst()
}

export async function insertUser(db: Db, user: NewUser): Promise<UserRow> {
  return db.insertInto('users').values(user).returningAll().executeTakeFirstOrThrow()
}

export async function insertToken(db: Db, userId: number, tokenHash: string, createdAt: string): Promise<void> {
  await db.insertInto('api_tokens').values({ user_id: userId, token_hash: tokenHash, created_at: createdAt }).execute()
}

// Runs for every authenticated request and socket handshake: prepared once.
const activeUserByTokenHash = prepared((db, tokenHash: string) =>
  db.selectFrom('api_tokens').innerJoin('users', 'users.id', 'api_tokens.user_id').selectAll('users').where('api_tokens.token_hash', '=', tokenHash).where('users.is_active', '=', 1),
)

export async function findActiveUserByTokenHash(db: Db, tokenHash: string): Promise<UserRow | undefined> {
  return (await activeUserByTokenHash(db, tokenHash))[0]
}

export async function deleteToken(db: Db, tokenHash: string): Promise<number> {
  const result = await db.deleteFrom('api_tokens').where('token_hash', '=', tokenHash).executeTakeFirst()
  return Number(result.numDeletedRows)
}

export interface UserFilter {
  role?: Role
  unitNumber?: string
  isActive?: boolean
}

function filtered(db: Db, filter: UserFilter) {
  let query = db.selectFrom('users')
  if (filter.role) query = query.where('role', '=', filter.role)
  if (filter.unitNumber) query = query.where('unit_number', '=', filter.unitNumber)
  if (filter.isActive !== undefined) query = query.where('is_active', '=', filter.isActive ? 1 : 0)
  return query
}

export function listUsers(db: Db, filter: UserFilter, page?: { limit: number; offset: number }): Promise<UserRow[]> {
  let query = filtered(db, filter).selectAll().orderBy('id')
  if (page) query = query.limit(page.limit).offset(page.offset)
  return query.execute()
}

export async function countUsers(db: Db, filter: UserFilter): Promise<number> {
  const row = await filtered(db, filter).select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow()
  return Number(row.count)
}

export function updateUser(db: Db, id: number, changes: Partial<Pick<UserRow, 'email' | 'role' | 'unit_number' | 'is_active' | 'password_hash'>>): Promise<UserRow | undefined> {
  return db.updateTable('users').set(changes).where('id', '=', id).returningAll().executeTakeFirst()
}

/** Deletes every token of a user, except (when given) the one with hash `keepHash`. */
export async function deleteTokensOfUser(db: Db, userId: number, keepHash?: string): Promise<number> {
  let query = db.deleteFrom('api_tokens').where('user_id', '=', userId)
  if (keepHash) query = query.where('token_hash', '!=', keepHash)
  const result = await query.executeTakeFirst()
  return Number(result.numDeletedRows)
}

/** The active users behind these token hashes, with the hash each was found by. */
export function activeUsersByTokenHashes(db: Db, tokenHashes: string[]): Promise<Array<UserRow & { token_hash: string }>> {
  return db
    .selectFrom('api_tokens')
    .innerJoin('users', 'users.id', 'api_tokens.user_id')
    .selectAll('users')
    .select('api_tokens.token_hash')
    .where('api_tokens.token_hash', 'in', tokenHashes)
    .where('users.is_active', '=', 1)
    .execute()
}
