// Bounded concurrency for password hashing, with a lane for logins that registrations cannot fill.
import { errors } from '../errors.ts'

/**
 * `login`: checking a password (login, including the dummy check for an unknown user).
 * `register`: hashing a new password (self-registration, accounts made by an admin, the CLI).
 */
export type HashLane = 'login' | 'register'

export interface HashQueueOptions {
  /** Hashes running at once, on all lanes together. */
  concurrency: number
  /** Most hashes waiting per lane; one more is refused with 429 instead of waiting. */
  queueLimit: number
}

interface Waiter {
  start: () => void
}

/**
 * Why this exists: scrypt at the production cost takes ~0.3 s and 128 MiB, and runs on libuv's thread
 * pool, which also does every file write and fsync (image uploads) and dns.lookup. Unbounded, 16
 * concurrent registrations took every pool thread and 500 MB of memory: logins went from 0.45 s to
 * 4.5 s and an upload from 6 ms to 8.3 s. So:
 * - at most `concurrency` hashes run at once, fewer than the pool's threads (UV_THREADPOOL_SIZE,
 *   default 4; config.ts keeps it below), so file I/O always has a thread, and memory stays bounded;
 * - registrations may hold at most `concurrency - 1` of those slots (all of them only when there is a
 *   single slot), so a registration flood always leaves a slot that only logins use;
 * - a freed slot goes to a waiting login before a waiting registration;
 * - each lane's queue is bounded: when it is full the caller gets 429 with Retry-After at once, never
 *   an unbounded wait.
 */
export class HashQueue {
  private readonly concurrency: number
  private readonly registerSlots: number
  private readonly queueLimit: number
  private active = 0
  private activeRegister = 0
  private readonly waiting: Record<HashLane, Waiter[]> = { login: [], register: [] }
  /** Running average of one hash's duration, for Retry-After. */
  private averageMs = 300

  constructor(opts: HashQueueOptions) {
    this.concurrency = Math.max(1, opts.concurrency)
    this.registerSlots = Math.max(1, this.concurrency - 1)
    this.queueLimit = Math.max(0, opts.queueLimit)
  }

  /** Runs `task` when its lane has a slot; throws a 429 AppError if the lane's queue is full. */
  async run<T>(lane: HashLane, task: () => Promise<T>): Promise<T> {
    if (this.waiting[lane].length > 0 || !this.hasSlot(lane)) {
      if (this.waiting[lane].length >= this.queueLimit) {
        throw errors.throttled(this.retryAfterSeconds(lane))
      }
      await new Promise<void>((resolve) => this.waiting[lane].push({ start: resolve }))
    } else {
      this.take(lane)
    }
    const started = Date.now()
    try {
      return await task()
    } finally {
      this.averageMs = this.averageMs * 0.8 + (Date.now() - started) * 0.2
      this.active -= 1
      if (lane === 'register') this.activeRegister -= 1
      this.drain()
    }
  }

  /** Hashes running and waiting now (for tests and metrics). */
  stats() {
    return { active: this.active, waitingLogin: this.waiting.login.length, waitingRegister: this.waiting.register.length }
  }

  private hasSlot(lane: HashLane): boolean {
    return this.active < this.concurrency && (lane === 'login' || this.activeRegister < this.registerSlots)
  }

  private take(lane: HashLane) {
    this.active += 1
    if (lane === 'register') this.activeRegister += 1
  }

  private drain() {
    for (const lane of ['login', 'register'] as const) {
      while (this.waiting[lane].length > 0 && this.hasSlot(lane)) {
        this.take(lane)
        this.waiting[lane].shift()!.start()
      }
    }
  }

  private retryAfterSeconds(lane: HashLane): number {
    const slots = lane === 'login' ? this.concurrency : this.registerSlots
    return Math.max(1, Math.ceil(((this.waiting[lane].length + slots) * this.averageMs) / slots / 1000))
  }
}
