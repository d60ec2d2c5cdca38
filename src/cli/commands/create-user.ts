// `naarikavach create-user`: create any account (the only way to make the first admin).
import type { Config } from '../../config.ts'
import { openDatabase } from '../../db/dialect.ts'
import { migrateToLatest } from '../../db/migrator.ts'
import type { Role } from '../../db/schema.ts'
import { AppError } from '../../errors.ts'
import { AuthService } from '../../modules/auth/auth.service.ts'

export interface CreateUserArgs {
  username?: string
  password?: string
  role?: string
  'unit-number'?: string
  email?: string
  token?: boolean
}

export async function createUserCommand(config: Config, args: CreateUserArgs): Promise<number> {
  if (!args.username || !args.password) {
    console.error('create-user needs --username and --password')
    return 2
  }
  const handle = openDatabase(config.databaseUrl, { connectTimeoutMs: config.databaseConnectTimeoutMs })
  try {
    await migrateToLatest(handle.db)
    const auth = new AuthService({ db: handle.db, passwordHashCost: config.passwordHashCost })
    const user = await auth.createUser({
      username: args.username,
      password: args.password,
      email: args.email,
      role: (args.role ?? 'citizen') as Role,
      unitNumber: args['unit-number'] ?? null,
    })
    console.log(user.id)
    if (args.token) console.log(await auth.issueToken(user.id))
    return 0
  } catch (error) {
    if (error instanceof AppError) {
      console.error(`Could not create the user: ${JSON.stringify(error.body)}`)
      return 1
    }
    throw error
  } finally {
    await handle.db.destroy()
  }
}
