// The only place that branches on SQLite vs PostgreSQL: turns DATABASE_URL into a Kysely instance.
import fs from 'node:fs'
import path from 'node:path'
import SQLite from 'better-sqlite3'
import pg from 'pg'
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely'
import type { Database } from './schema.ts'

export type DialectName = 'sqlite' | 'postgres'

export interface DatabaseHandle {
  db: Kysely<Database>
  dialect: DialectName
  /** A human-readable description without credentials, for logs. */
  description: string
}

/** `sqlite:path`, `sqlite::memory:`, a bare `*.sqlite3` path, or `postgres://…`. */
export function sqliteFileFromUrl(url: string): string | null {
  if (/^postgres(ql)?:\/\//.test(url)) return null
  const file = url.replace(/^sqlite:(\/\/)?/, '')
  return file === ':memory:' || file === '' ? ':memory:' : file
}

/**
 * Kysely prepares every query anew; our queries are a few dozen fixed SQL strings, so keep their
 * prepared statements (better-sqlite3 statements are reusable; each runs synchronously to completion).
 */
function withStatementCache(sqlite: SQLite.Database, max = 500) {
  const cache = new Map<string, SQLite.Statement>()
  return {
    close: () => sqlite.close(),
    prepare: (sql: string) => {
      let statement = cache.get(sql)
      if (!statement) {
        statement = sqlite.prepare(sql)
        // Queries with IN (…) lists vary in shape; a bounded cache keeps them from growing it forever.
        if (cache.size >= max) cache.delete(cache.keys().next().value as string)
        cache.set(sql, statement)
      }
      return statement
    },
  }
}

/**
 * @param onIdleError called when PostgreSQL drops an idle pooled connection (server restart, failover,
 *   an administrator's terminate). Without a listener pg would throw it as an uncaught exception and
 *   end the process; the pool discards that client and the next query opens a new one.
 */
export function openDatabase(url: string, onIdleError: (error: Error) => void = () => undefined): DatabaseHandle {
  const file = sqliteFileFromUrl(url)
  if (file === null) {
    // pg returns BIGINT (count(*), bigserial) as text by default; our ids and counts fit a JS number.
    pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value))
    const pool = new pg.Pool({ connectionString: url, max: 20 })
    pool.on('error', onIdleError)
    const safe = new URL(url)
    safe.password = ''
    return {
      db: new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }),
      dialect: 'postgres',
      description: `postgres ${safe.host}${safe.pathname}`,
    }
  }
  if (file !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true })
  const sqlite = new SQLite(file)
  // WAL lets readers run beside the writer; synchronous=FULL fsyncs the WAL on every commit so
  // a 2xx really is on disk (NORMAL would lose the last commits on power loss).
  sqlite.pragma('journal_mode = WAL')
  sqlite.pragma('synchronous = FULL')
  sqlite.pragma('foreign_keys = ON')
  sqlite.pragma('busy_timeout = 5000')
  return {
    db: new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) }),
    dialect: 'sqlite',
    description: `sqlite ${file === ':memory:' ? ':memory:' : path.resolve(file)}`,
  }
}

/**
 * Whether `error` is a uniqueness violation of one constraint, on either database: PostgreSQL reports
 * SQLSTATE 23505 with the constraint's name, SQLite a SQLITE_CONSTRAINT_* code naming `table.column`.
 */
export function isUniqueViolation(error: unknown, target: { pgConstraint: string; sqliteColumn: string }): boolean {
  if (typeof error !== 'object' || error === null) return false
  const { code, constraint, message } = error as { code?: unknown; constraint?: unknown; message?: unknown }
  if (code === '23505') return constraint === target.pgConstraint
  return (
    (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') &&
    typeof message === 'string' &&
    message.includes(target.sqliteColumn)
  )
}
