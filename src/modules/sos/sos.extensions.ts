// What other modules (trusted contacts) add to raising and closing an SOS: their part runs inside the SOS's own
// transaction, so their rows (e.g. outbox messages) commit or roll back with the change that causes them.
import type { Kysely, Transaction } from 'kysely'
import type { Database, SosRow } from '../../db/schema.ts'
import type { Actor } from './sos.policy.ts'

export interface SosCreateStep {
  /** Inside the create transaction, after the SOS row and its `created` event are written. */
  write(trx: Transaction<Database>, sos: SosRow, now: string): Promise<void>
  /** Extra fields of the create answer. */
  answer?: Record<string, unknown>
  /**
   * This extension's fields, as read, for the fingerprint of an idempotent create (a repeat of the key with other
   * values is a conflict). Undefined when the request had none, so such requests keep the fingerprint they had.
   */
  fingerprint?: unknown
  /**
   * An idempotent repeat of a create that already happened (`write` never runs for it): fill `answer` again from
   * what the first create stored, so the repeat answers as the first time. It must write nothing.
   */
  replay?(db: Kysely<Database>, sos: SosRow): Promise<void>
}

export interface SosCreateExtension {
  /**
   * Reads this extension's fields of the create request, after the SOS's own fields are valid. It must not
   * throw for them: a person in danger is never refused because of an extra (it reports problems in `answer`).
   */
  prepare(payload: Record<string, unknown>, actor: Actor): SosCreateStep | undefined
}

/** Inside the resolve/cancel transaction, after the conditional UPDATE that closed the SOS. */
export type SosCloseExtension = (trx: Transaction<Database>, sos: SosRow, status: 'resolved' | 'cancelled', now: string) => Promise<void>
