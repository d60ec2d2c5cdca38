// The only place that branches on SQLite vs PostgreSQL: turns DATABASE_URL into a Kysely instance.
import fs from 'node:fs'
import path from 'node:path'
import SQLite from 'better-sqlite3'
import pg from 'pg'
import { Kysely, PostgresDialect, SqliteDialect, type LogEvent, type PostgresPool, type PostgresPoolClient } from 'kysely'
import { isUnavailable } from '../errors.ts'
import type { Database } from './schema.ts'

export type DialectName = 'sqlite' | 'postgres'

export interface DatabaseHandle {
  db: Kysely<Database>
  dialect: DialectName
  /** A human-readable description without credentials, for logs. */
  description: string
  /** PostgreSQL: the pool's connections now; SQLite (one connection, no pool): null. */
  poolStats(): PoolStats | null
  /** SQLite: the database file's absolute path (null for `:memory:`); PostgreSQL: undefined. */
  sqliteFile?: string | null
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

export interface DatabaseOptions {
  /**
   * Called when PostgreSQL drops an idle pooled connection (server restart, failover, an
   * administrator's terminate). Without a listener pg would throw it as an uncaught exception and end
   * the process; the pool discards that client and the next query opens a new one.
   */
  onIdleError?: (error: Error) => void
  /** Told about every query with its duration (metrics). */
  onQuery?: (query: QueryObservation) => void
  /** PostgreSQL: most connections this process opens. */
  poolMax?: number
  /** PostgreSQL: how long a query waits for a connection (opening one, or a free one in a full pool). 0: forever. */
  connectTimeoutMs?: number
  /**
   * PostgreSQL: longest a statement may run (the server cancels it), and, one second later, how long
   * the client waits for any answer on a connection that went silent. 0: no limit.
   */
  statementTimeoutMs?: number
}

export interface QueryObservation {
  /** The statement's first keyword: select, insert, update, delete, begin, commit, … or other. */
  kind: string
  durationMs: number
  ok: boolean
}

export interface PoolStats {
  /** Connections open (idle or lent out). */
  total: number
  idle: number
  /** Queries waiting for a connection. */
  waiting: number
  max: number
}

const QUERY_KINDS = new Set(['select', 'insert', 'update', 'delete', 'with', 'begin', 'commit', 'rollback', 'savepoint', 'release', 'start', 'set', 'create', 'alter', 'drop'])

function queryKind(sqlText: string): string {
  const word = /^\s*([a-z]+)/i.exec(sqlText)?.[1]?.toLowerCase() ?? 'other'
  return QUERY_KINDS.has(word) ? word : 'other'
}

/**
 * The pool Kysely borrows connections from, with one rule added: a connection on which a query failed
 * because the connection itself broke or went silent (reset, "terminating connection", a client-side
 * read timeout) is destroyed when it is given back, never lent again. pg-pool already drops clients
 * whose socket has closed; a connection that merely stopped answering would otherwise return to the
 * pool and hang the next query too.
 */
function evictingPool(pool: pg.Pool): PostgresPool {
  return {
    connect: async () => {
      const client = await pool.connect()
      let broken: Error | undefined
      return {
        query: ((text: unknown, values?: unknown) => {
          if (typeof text !== 'string') return client.query(text as never)
          return client.query(text, values as unknown[]).catch((error: unknown) => {
            if (isUnavailable(error) && (error as { code?: string }).code !== '57014') broken = error as Error
            throw error
          })
        }) as unknown as PostgresPoolClient['query'],
        release: () => client.release(broken ?? false),
      }
    },
    end: () => pool.end(),
  }
}

export function openDatabase(url: string, options: DatabaseOptions = {}): DatabaseHandle {
  const file = sqliteFileFromUrl(url)
  const log = options.onQuery
    ? (event: LogEvent) => options.onQuery!({ kind: queryKind(event.query.sql), durationMs: event.queryDurationMillis, ok: event.level === 'query' })
    : undefined
  if (file === null) {
    // pg returns BIGINT (count(*), bigserial) as text by default; our ids and counts fit a JS number.
    pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value))
    const statementTimeout = options.statementTimeoutMs ?? 0
    const max = options.poolMax ?? 20
    const pool = new pg.Pool({
      connectionString: url,
      max,
      application_name: 'naarikavach',
      keepAlive: true,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 0,
      ...(statementTimeout > 0
        ? {
            statement_timeout: statementTimeout,
            // The server cancels a slow statement itself; this client-side limit is for a connection
            // that stopped answering altogether (a network cut), so it comes a little later.
            query_timeout: statementTimeout + 1000,
            // A transaction left open by a vanished client would hold its row locks: the server ends it.
            idle_in_transaction_session_timeout: Math.max(10_000, 2 * statementTimeout),
          }
        : {}),
    })
    pool.on('error', options.onIdleError ?? (() => undefined))
    const safe = new URL(url)
    safe.password = ''
    return {
      db: new Kysely<Database>({ dialect: new PostgresDialect({ pool: evictingPool(pool) }), log }),
      dialect: 'postgres',
      description: `postgres ${safe.host}${safe.pathname}`,
      poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max }),
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
    db: new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }), log }),
    dialect: 'sqlite',
    description: `sqlite ${file === ':memory:' ? ':memory:' : path.resolve(file)}`,
    poolStats: () => null,
    sqliteFile: file === ':memory:' ? null : path.resolve(file),
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
