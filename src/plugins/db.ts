// Database plugin: opens SQLite or PostgreSQL from DATABASE_URL (with its pool limits and timeouts),
// migrates, and closes on shutdown.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Kysely } from 'kysely'
import { openDatabase, type DialectName, type PoolStats, type QueryObservation } from '../db/dialect.ts'
import { migrateToLatest } from '../db/migrator.ts'
import type { Database } from '../db/schema.ts'

declare module 'fastify' {
  interface FastifyInstance {
    db: Kysely<Database>
    dbDialect: DialectName
    /** The PostgreSQL pool's connections right now (null on SQLite). */
    dbPool: () => PoolStats | null
  }
}

export interface DbPluginOptions {
  databaseUrl: string
  autoMigrate: boolean
  poolMax: number
  connectTimeoutMs: number
  statementTimeoutMs: number
  onQuery?: (query: QueryObservation) => void
}

export default fp(
  async function dbPlugin(app: FastifyInstance, opts: DbPluginOptions) {
    const handle = openDatabase(opts.databaseUrl, {
      onIdleError: (err) => app.log.warn({ err }, 'database connection lost (idle); it will be replaced'),
      onQuery: opts.onQuery,
      poolMax: opts.poolMax,
      connectTimeoutMs: opts.connectTimeoutMs,
      statementTimeoutMs: opts.statementTimeoutMs,
    })
    app.decorate('db', handle.db)
    app.decorate('dbDialect', handle.dialect)
    app.decorate('dbPool', () => handle.poolStats())
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
