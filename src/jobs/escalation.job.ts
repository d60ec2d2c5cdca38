// Escalation, driven from the database: an SOS nobody acknowledged, or a unit that did not accept in time, is
// escalated once per step (a conditional UPDATE claims each step), so restarts and several nodes never double it.
import type { Kysely } from 'kysely'
import type { Database, SosRow } from '../db/schema.ts'
import type { Writer } from '../db/writer.ts'
import { nowIso } from '../lib/time.ts'
import type { SosEscalatedEvent } from '../realtime/contract.ts'
import type { RealtimePublisher } from '../realtime/publisher.ts'
import { after, toUpdatedEvent } from '../modules/sos/sos.lifecycle.service.ts'
import { appendEvent, SYSTEM_ACTOR, toEventDto } from '../modules/sos/sos.log.ts'
import * as repo from '../modules/sos/sos.repository.ts'

export interface EscalationJobOptions {
  db: Kysely<Database>
  writer: Writer
  publisher: RealtimePublisher
  /** Seconds between repeated escalations of one SOS (with a rising level). */
  repeatSeconds: number
  /** How often to look for due escalations. */
  checkMs: number
  log: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void }
  /** Counts each escalation sent (for metrics). */
  onEscalated?: (reason: SosEscalatedEvent['reason']) => void
}

/** At most this many SOS are escalated per check; the rest wait for the next one (a second later). */
const BATCH = 100

export class EscalationJob {
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined

  constructor(private readonly opts: EscalationJobOptions) {}

  start(): void {
    this.timer ??= setInterval(() => void this.tick(), this.opts.checkMs)
    this.timer.unref()
  }

  /** Stops the timer and waits for a check in progress, so nothing is written after the database closes. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    await this.running
  }

  /** One check; overlapping ticks are skipped (a slow database never stacks them). */
  tick(): Promise<void> {
    if (this.running) return this.running
    this.running = this.escalateDue()
      .catch((err: unknown) => this.opts.log.error({ err }, 'escalation check failed; retrying on the next tick'))
      .finally(() => {
        this.running = undefined
      })
    return this.running
  }

  private async escalateDue(): Promise<void> {
    const now = nowIso()
    for (const sos of await repo.dueEscalations(this.opts.db, now, BATCH)) await this.escalate(sos, now)
  }

  private async escalate(sos: SosRow, now: string): Promise<void> {
    const reason: SosEscalatedEvent['reason'] = sos.status === 'active' ? 'unacknowledged' : 'unit_not_responding'
    const since = reason === 'unacknowledged' ? sos.created_at : (sos.dispatched_at ?? sos.created_at)
    const waitingSeconds = Math.max(0, Math.round((Date.parse(now) - Date.parse(since)) / 1000))
    const level = sos.escalation_level + 1
    const unit = reason === 'unit_not_responding' ? sos.unit_number_dispatched ?? undefined : undefined
    const result = await this.opts.writer.run(async (trx) => {
      const claimed = await repo.claimEscalation(trx, sos, after(now, this.opts.repeatSeconds)!, now)
      if (!claimed) return undefined // another node (or an acknowledge, accept or close) got there first
      const event = await appendEvent(trx, sos.id, 'escalated', SYSTEM_ACTOR, now, { level, reason, waiting_seconds: waitingSeconds, ...(unit && { unit_number: unit }) })
      return { row: { ...claimed, last_seq: event.seq }, event: toEventDto(event) }
    })
    if (!result) return
    this.opts.log.warn({ sos_id: sos.id, level, reason, waiting_seconds: waitingSeconds }, 'SOS escalated')
    this.opts.publisher.sosEscalated({ sos_id: sos.id, seq: result.event.seq, cursor: result.event.cursor, level, reason, waiting_seconds: waitingSeconds, ...(unit && { unit_number: unit }) })
    this.opts.publisher.sosUpdated(result.row, toUpdatedEvent(result.row, result.event))
    this.opts.onEscalated?.(reason)
  }
}
