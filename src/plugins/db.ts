// Database plugin: opens SQLite or PostgreSQL from DATABASE_URL, migrates, and closes on shutdown.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Kysely } from 'kysely'
import { openDatabase, type DialectName } from '../db/dialect.ts'
import { migrateToLatest } from '../db/migrator.ts'
import type { Database } from '../db/schema.ts'

declare module 'fastify' {
  interface FastifyInstance {
    db: Kysely<Database>
    dbDialect: DialectName
  }
}

export default fp(
  async function dbPlugin(app: FastifyInstance, opts: { databaseUrl: string; autoMigrate: boolean }) {
    const handle = openDatabase(opts.databaseUrl, (err) => app.log.warn({ err }, 'database connection lost (idle); it will be replaced'))
    app.decorate('db', handle.db)
    app.decorate('dbDialect', handle.dialect)
    app.addHook('onClose', async () => {
      await handle.db.destroy()
    })
    if (opts.autoMigrate) {
      const applied = await migrateToLatest(handle.db)
      app.log.info({ database: handle.description, applied }, 'database ready')
    }
  },
  { name: 'db' },
)
