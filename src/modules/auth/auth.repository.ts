// SQL for users and API tokens. Every function takes the Kysely instance or a transaction first.
import type { Kysely } from 'kysely'
import { prepared } from '../../db/prepared.ts'
import type { Database, NewUser, UserRow } from '../../db/schema.ts'

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
