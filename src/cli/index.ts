// The `naarikavach` command line: serve | migrate | create-user | users | backup. Each command is imported only when used.
import { parseArgs } from 'node:util'
import { ConfigError, createConfig } from '../config.ts'

const USAGE = `Usage: naarikavach <command> [options]

Commands:
  serve                      Start the REST API (PORT, default 8000) and Socket.IO (SOCKET_PORT, default 8001)
  migrate                    Apply database migrations and exit
  create-user --username U --password P --role citizen|officer|dispatcher|admin
              [--unit-number N] [--email E] [--token]
                             Create an account; prints its id (and with --token a new API token, last line)
  users list [--role R] [--unit-number N] [--active true|false] [--json]
                             List accounts
  users disable|enable <username>
                             Deactivate (tokens revoked, live sockets dropped on every node) or reactivate an account
  users set-role <username> --role R [--unit-number N]
                             Change an account's role or unit (its live sockets reconnect with the new rights)
  backup --to <file>         Online copy of the SQLite database (PostgreSQL: use pg_dump)

Configuration comes from the environment (see README.md, .env.example).`

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    console.log(USAGE)
    return command ? 0 : 2
  }
  const config = createConfig(process.env)
  switch (command) {
    case 'serve': {
      const { startServer } = await import('../server.ts')
      await startServer(config)
      return -1
    }
    case 'migrate': {
      const { migrateCommand } = await import('./commands/migrate.ts')
      return migrateCommand(config)
    }
    case 'create-user': {
      const { values } = parseArgs({
        args: rest,
        options: {
          username: { type: 'string' },
          password: { type: 'string' },
          role: { type: 'string', default: 'citizen' },
          'unit-number': { type: 'string' },
          email: { type: 'string' },
          token: { type: 'boolean', default: false },
        },
        strict: true,
      })
      const { createUserCommand } = await import('./commands/create-user.ts')
      return createUserCommand(config, values)
    }
    case 'users': {
      const { values, positionals } = parseArgs({
        args: rest,
        options: {
          role: { type: 'string' },
          'unit-number': { type: 'string' },
          active: { type: 'string' },
          json: { type: 'boolean', default: false },
        },
        allowPositionals: true,
        strict: true,
      })
      const { usersCommand } = await import('./commands/users.ts')
      return usersCommand(config, { ...values, action: positionals[0], username: positionals[1] })
    }
    case 'backup': {
      const { values } = parseArgs({ args: rest, options: { to: { type: 'string' } }, strict: true })
      const { backupCommand } = await import('./commands/backup.ts')
      return backupCommand(config, values)
    }
    default:
      console.error(`Unknown command "${command}".\n\n${USAGE}`)
      return 2
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code)
  },
  (error: unknown) => {
    console.error(error instanceof ConfigError ? `Configuration error: ${error.message}` : error instanceof Error ? error.message : error)
    process.exit(1)
  },
)
