// Writes go through a Writer. On SQLite, concurrent writes share one transaction and one fsync
// (group commit); every caller still gets its answer only after the COMMIT that contains its write.
import { CompiledQuery, type Kysely, type Transaction } from 'kysely'
import type { DialectName } from './dialect.ts'
import type { Database } from './schema.ts'

export type Work<T> = (trx: Transaction<Database>) => Promise<T>

export interface Writer {
  /** Runs `work` atomically; resolves (or rejects) only after its transaction has committed (or rolled back). */
  run<T>(work: Work<T>): Promise<T>
}

/** PostgreSQL: one transaction per write; the server overlaps commits from the pool's connections itself. */
export class TransactionWriter implements Writer {
  private readonly db: Kysely<Database>

  constructor(db: Kysely<Database>) {
    this.db = db
  }

  run<T>(work: Work<T>): Promise<T> {
    return this.db.transaction().execute(work)
  }
}

const SAVEPOINT = CompiledQuery.raw('savepoint "job"')
const RELEASE = CompiledQuery.raw('release "job"')
const ROLLBACK_TO = CompiledQuery.raw('rollback to "job"')

interface Job {
  work: Work<unknown>
  resolve(value: unknown): void
  reject(error: unknown): void
}

/**
 * SQLite with synchronous=FULL pays one fsync per COMMIT (~1.5 ms here), which alone would cap writes
 * near 650/s. Writes that arrive while a batch is being committed wait for the next batch; each job runs
 * inside its own SAVEPOINT, so a failing job is rolled back alone and the others still commit.
 * Jobs must use only the transaction they are given (the single SQLite connection is held meanwhile).
 */
export class GroupCommitWriter implements Writer {
  private readonly db: Kysely<Database>
  private readonly maxBatch: number
  private queue: Job[] = []
  private running = false

  constructor(db: Kysely<Database>, maxBatch = 512) {
    this.db = db
    this.maxBatch = maxBatch
  }

  run<T>(work: Work<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work: work as Work<unknown>, resolve: resolve as (value: unknown) => void, reject })
      if (!this.running) {
        this.running = true
        // setImmediate: let the requests already read from the sockets in this turn join the batch.
        setImmediate(() => void this.drain())
      }
    })
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      await this.commitBatch(this.queue.splice(0, this.maxBatch))
    }
    this.running = false
  }

  private async commitBatch(jobs: Job[]): Promise<void> {
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = []
    let trx
    try {
      trx = await this.db.startTransaction().execute()
    } catch (error) {
      for (const job of jobs) job.reject(error)
      return
    }
    try {
      for (const job of jobs) {
        // The same statements as trx.savepoint('job') & co., without a new transaction object per job.
        await trx.executeQuery(SAVEPOINT)
        try {
          const value = await job.work(trx)
          await trx.executeQuery(RELEASE)
          outcomes.push({ ok: true, value })
        } catch (error) {
          await trx.executeQuery(ROLLBACK_TO)
          await trx.executeQuery(RELEASE)
          outcomes.push({ ok: false, error })
        }
      }
      await trx.commit().execute()
    } catch (error) {
      // The batch itself failed (disk full, I/O error): nothing in it committed, so every job fails.
      await trx.rollback().execute().catch(() => undefined)
      for (const job of jobs) job.reject(error)
      return
    }
    jobs.forEach((job, i) => {
      const outcome = outcomes[i]
      if (outcome.ok) job.resolve(outcome.value)
      else job.reject(outcome.error)
    })
  }
}

export function createWriter(db: Kysely<Database>, dialect: DialectName): Writer {
  return dialect === 'sqlite' ? new GroupCommitWriter(db) : new TransactionWriter(db)
}
