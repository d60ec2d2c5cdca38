// Queries built and compiled once, then run with new parameters. Kysely otherwise rebuilds its
// operation tree and recompiles the same SQL on every call: ~11 % of the CPU of a location update
// (docs/BENCHMARKS.md). Used for the few statements on the hottest paths only.
import type { Compilable, CompiledQuery, Kysely } from 'kysely'
import type { Database } from './schema.ts'

type Db = Kysely<Database>

/** Stands in for argument `index` while the query is built; found again among the compiled parameters. */
class Slot {
  constructor(readonly index: number) {}
}

interface Template<R> {
  compiled: CompiledQuery<R>
  /** For each SQL parameter: the argument it comes from, or a constant of the query itself. */
  sources: Array<number | { constant: unknown }>
}

/**
 * `prepared((db, id: number) => db.selectFrom('t').selectAll().where('id', '=', id))` returns a
 * function `(db, id) => Promise<rows>`. `build` must use each argument only as a value (never to
 * choose columns, tables or the query's shape), since it runs once, with placeholders.
 */
export function prepared<Args extends unknown[], R>(build: (db: Db, ...args: Args) => Compilable<R>): (db: Db, ...args: Args) => Promise<R[]> {
  // Keyed by the dialect adapter: one per database, shared by its transactions, so SQLite and
  // PostgreSQL (or two test databases) each get their own SQL.
  const templates = new WeakMap<object, Template<R>>()
  return async (db, ...args) => {
    const adapter = db.getExecutor().adapter
    let template = templates.get(adapter)
    if (!template) {
      const compiled = build(db, ...(args.map((_, i) => new Slot(i)) as Args)).compile()
      const sources = compiled.parameters.map((p) => (p instanceof Slot ? p.index : { constant: p }))
      if (new Set(sources.filter((s) => typeof s === 'number')).size !== args.length) {
        throw new Error(`prepared query does not use each of its ${args.length} arguments once as a value: ${compiled.sql}`)
      }
      template = { compiled, sources }
      templates.set(adapter, template)
    }
    const parameters = template.sources.map((s) => (typeof s === 'number' ? args[s] : s.constant))
    return (await db.executeQuery<R>({ ...template.compiled, parameters })).rows
  }
}
