// `naarikavach users list|disable|enable|set-role`: account management from the command line, with the
// same rules as the admin API; revocations reach running nodes through Redis when REDIS_URL is set.
import { Redis } from 'ioredis'
import type { Config } from '../../config.ts'
import { openDatabase } from '../../db/dialect.ts'
import { migrateToLatest } from '../../db/migrator.ts'
import { AppError } from '../../errors.ts'
import type { AuthUser } from '../../modules/auth/auth.service.ts'
import { findUserByUsername } from '../../modules/auth/auth.repository.ts'
import { UsersService, type AdminUser } from '../../modules/auth/users.service.ts'
import { StreamRevoker } from '../../realtime/emitter.ts'

export interface UsersArgs {
  action?: string
  username?: string
  role?: string
  'unit-number'?: string
  active?: string
  json?: boolean
}

/**
 * Whoever can run the CLI against the database is its operator: the commands act as an admin that is
 * no account (id 0), so "an admin cannot demote or deactivate their own account" never applies.
 */
const OPERATOR: AuthUser = { id: 0, username: '(command line)', email: '', role: 'admin', unit_number: null }

export const USERS_USAGE = `naarikavach users list [--role R] [--unit-number N] [--active true|false] [--json]
naarikavach users disable <username>
naarikavach users enable <username>
naarikavach users set-role <username> --role citizen|officer|dispatcher|admin [--unit-number N]`

function table(users: AdminUser[]): string {
  const rows = [['id', 'username', 'role', 'unit_number', 'active', 'email', 'date_joined']]
  for (const u of users) rows.push([String(u.id), u.username, u.role, u.unit_number ?? '-', u.is_active ? 'yes' : 'no', u.email || '-', u.date_joined])
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)))
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd()).join('\n')
}

/** A Redis stream writer for the revocation messages, or null (no REDIS_URL, or Redis unreachable: said why). */
async function revokerFor(config: Config): Promise<{ revoker: StreamRevoker; redis: Redis } | null> {
  if (!config.redisUrl) return null
  const redis = new Redis(config.redisUrl, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 1, enableOfflineQueue: false, retryStrategy: () => null })
  redis.on('error', () => undefined)
  try {
    await redis.connect()
    return { revoker: new StreamRevoker(redis, config.redisPrefix), redis }
  } catch (error) {
    redis.disconnect()
    console.error(`Redis is unreachable (${(error as Error).message}): running nodes will drop the live sockets at their next revalidation instead.`)
    return null
  }
}

export async function usersCommand(config: Config, args: UsersArgs): Promise<number> {
  const { action } = args
  if (!action || !['list', 'disable', 'enable', 'set-role'].includes(action)) {
    console.error(`Usage:\n${USERS_USAGE}`)
    return 2
  }
  if (action !== 'list' && !args.username) {
    console.error(`users ${action} needs a username.\n\nUsage:\n${USERS_USAGE}`)
    return 2
  }
  if (action === 'set-role' && !args.role) {
    console.error('users set-role needs --role')
    return 2
  }
  const handle = openDatabase(config.databaseUrl, { connectTimeoutMs: config.databaseConnectTimeoutMs })
  let link: Awaited<ReturnType<typeof revokerFor>> = null
  try {
    await migrateToLatest(handle.db)
    if (action === 'list') {
      const query: Record<string, unknown> = {}
      if (args.role) query.role = args.role
      if (args['unit-number']) query.unit_number = args['unit-number']
      if (args.active !== undefined) query.is_active = args.active
      const users = (await new UsersService({ db: handle.db }).list(OPERATOR, query, undefined, () => '')) as AdminUser[]
      console.log(args.json ? JSON.stringify(users, null, 2) : table(users))
      return 0
    }
    const row = await findUserByUsername(handle.db, args.username!)
    if (!row) {
      console.error(`No account named "${args.username}".`)
      return 1
    }
    link = await revokerFor(config)
    const users = new UsersService({ db: handle.db, revoker: link?.revoker })
    const change: Record<string, unknown> =
      action === 'disable' ? { is_active: false } : action === 'enable' ? { is_active: true } : { role: args.role, ...(args['unit-number'] !== undefined ? { unit_number: args['unit-number'] } : {}) }
    const user = (await users.update(OPERATOR, row.id, change)) as AdminUser
    let reach = ''
    if (action !== 'enable') {
      if (link) {
        await link.revoker.flush()
        reach = ' Its live sockets were disconnected on every node.'
      } else {
        reach = ` Running nodes drop its live sockets within SOCKET_REVALIDATE_SECONDS (${config.socketRevalidateSeconds} s)${config.redisUrl ? '' : ' (no REDIS_URL to reach them at once)'}.`
      }
    }
    const what = action === 'disable' ? 'Deactivated; its tokens are revoked.' : action === 'enable' ? 'Activated; it signs in again with its password.' : `Role ${user.role}${user.unit_number ? `, unit ${user.unit_number}` : ''}.`
    console.log(`${user.username} (id ${user.id}): ${what}${reach}`)
    return 0
  } catch (error) {
    if (error instanceof AppError) {
      console.error(`Could not change the account: ${JSON.stringify(error.body)}`)
      return 1
    }
    throw error
  } finally {
    link?.redis.disconnect()
    await handle.db.destroy()
  }
}
