// The outbox dispatcher: claims due messages with a conditional UPDATE (a lease, so a node that dies mid-send
// only delays a message), sends each through its channel, and records the outcome (sent, a retry after an
// exponential backoff with jitter, dead after the last try, not_configured). It also turns new incident-log
// events into webhook messages, by a durable cursor.
import crypto from 'node:crypto'
import type { Kysely } from 'kysely'
import type { Database, OutboxRow } from '../db/schema.ts'
import type { Writer } from '../db/writer.ts'
import { nowIso } from '../lib/time.ts'
import { LINK_PLACEHOLDER } from '../modules/contacts/contacts.messages.ts'
import * as shareRepo from '../modules/share/share.repository.ts'
import type { ShareService } from '../modules/share/share.service.ts'
import { eventFeed, latestCursor, toEventDto } from '../modules/sos/sos.log.ts'
import { retryDelayMs, type Backoff, type SendResult } from '../notify/channel.ts'
import { claim, dueRows, enqueue, findRow, settle, type Outcome } from '../notify/outbox.ts'
import type { SmsSender } from '../notify/twilio.ts'
import type { WebhookSender } from '../notify/webhooks.ts'

export interface OutboxJobOptions {
  db: Kysely<Database>
  writer: Writer
  /** Undefined: SMS is not configured; messages become `not_configured`. */
  sms: SmsSender | undefined
  webhooks: { sender: WebhookSender; urls: string[] } | undefined
  share: ShareService
  /** The absolute base of the links in messages (PUBLIC_URL, or this node's own address). */
  linkBase: () => string
  checkMs: number
  maxAttempts: number
  backoff: Backoff
  leaseSeconds: number
  /** Sends in progress at once on this node. */
  maxInFlight?: number
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void; error(obj: object, msg: string): void }
  /** Counts each settled try (metrics). */
  onSettled?: (channel: OutboxRow['channel'], status: OutboxRow['status']) => void
}

/** The app_settings key of the webhook cursor: the last incident-log cursor turned into webhook messages. */
export const WEBHOOK_CURSOR_KEY = 'webhook_cursor'
const EVENTS_PER_TICK = 200

type Attempt = SendResult | { final: 'not_configured' | 'cancelled'; reason: string }

export class OutboxJob {
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined
  private readonly inFlight = new Set<Promise<void>>()
  private stopped = false

  constructor(private readonly opts: OutboxJobOptions) {}

  /** Starts the timer; with webhooks configured, first makes sure the webhook cursor exists (see below). */
  async start(): Promise<void> {
    if (this.opts.webhooks) await this.initWebhookCursor()
    this.stopped = false
    this.timer ??= setInterval(() => void this.tick(), this.opts.checkMs)
    this.timer.unref()
  }

  /** Stops claiming, then waits for the sends in progress (each bounded by the send timeout). */
  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    await this.running
    await Promise.all([...this.inFlight])
  }

  /** One pass; overlapping ticks are skipped. Resolves once this pass's claims are made (not sent). */
  tick(): Promise<void> {
    if (this.running) return this.running
    this.running = this.pass()
      .catch((err: unknown) => this.opts.log.error({ err }, 'outbox pass failed; retrying on the next tick'))
      .finally(() => {
        this.running = undefined
      })
    return this.running
  }

  /** Waits until every send started so far has settled (tests). */
  async drain(): Promise<void> {
    await this.tick()
    await Promise.all([...this.inFlight])
  }

  private async pass(): Promise<void> {
    if (this.opts.webhooks) await this.enqueueWebhookEvents()
    const free = (this.opts.maxInFlight ?? 16) - this.inFlight.size
    if (free <= 0 || this.stopped) return
    const now = nowIso()
    for (const row of await dueRows(this.opts.db, now, free)) {
      if (this.stopped) return
      const leaseUntil = new Date(Date.now() + this.opts.leaseSeconds * 1000).toISOString()
      const claimed = await this.opts.writer.run((trx) => claim(trx, row, leaseUntil, now))
      if (!claimed) continue // another node claimed it first
      const delivery = this.deliver(claimed).finally(() => this.inFlight.delete(delivery))
      this.inFlight.add(delivery)
    }
  }

  private async deliver(row: OutboxRow): Promise<void> {
    let result: Attempt
    try {
      result = await this.attempt(row)
    } catch (err) {
      this.opts.log.error({ err, outbox_id: row.id }, 'outbox send failed unexpectedly')
      result = { ok: false, retry: true, reason: 'internal error while sending' }
    }
    const now = nowIso()
    const outcome = this.outcome(row, result, now)
    const settled = await this.opts.writer.run((trx) => settle(trx, row, outcome, now)).catch((err: unknown) => {
      // The lease runs out and the row is tried again: at least once, never lost.
      this.opts.log.error({ err, outbox_id: row.id }, 'could not record an outbox outcome')
      return false
    })
    // Log ids and states only: never the recipient (a phone number) or the provider's text (it may quote one).
    const line = { outbox_id: row.id, message_id: row.message_id, channel: row.channel, kind: row.kind, attempt: row.attempts, status: outcome.status }
    if (outcome.status === 'sent') this.opts.log.info(line, 'message sent')
    else this.opts.log.warn(line, 'message not sent')
    if (settled) this.opts.onSettled?.(row.channel, outcome.status)
  }

  private outcome(row: OutboxRow, result: Attempt, now: string): Outcome {
    if ('final' in result) return { status: result.final, last_error: result.reason }
    if (result.ok) return { status: 'sent', provider_ref: result.providerRef, sent_at: now, last_error: null }
    if (result.retry && row.attempts < this.opts.maxAttempts) {
      const delay = retryDelayMs(row.attempts, this.opts.backoff, result.retryAfterMs)
      return { status: 'failed', last_error: result.reason, not_before: new Date(Date.parse(now) + delay).toISOString() }
    }
    const why = result.retry ? ` (gave up after ${row.attempts} tries)` : ''
    return { status: 'dead', last_error: `${result.reason}${why}` }
  }

  private async attempt(row: OutboxRow): Promise<Attempt> {
    if (row.channel === 'webhook') {
      if (!this.opts.webhooks) return { final: 'not_configured', reason: 'No webhook is configured (WEBHOOK_URLS).' }
      return this.opts.webhooks.sender.send({ url: row.recipient, body: row.body, messageId: row.message_id })
    }
    if (row.kind === 'closing' && row.follows_id !== null) {
      const alert = await findRow(this.opts.db, row.follows_id)
      if (alert?.status !== 'sent') return { final: 'cancelled', reason: 'The alert this message follows was never delivered.' }
    }
    if (!this.opts.sms) return { final: 'not_configured', reason: 'No SMS provider is configured (SMS_PROVIDER).' }
    let body = row.body
    if (body.includes(LINK_PLACEHOLDER)) {
      // The link's token is derived again (it is never stored), so every try carries the same link.
      const link = row.share_link_id === null ? undefined : await shareRepo.findById(this.opts.db, row.share_link_id)
      body = body.replace(LINK_PLACEHOLDER, link ? this.opts.share.url(this.opts.linkBase(), this.opts.share.tokenOf(link)) : '(link unavailable)')
    }
    return this.opts.sms.send({ to: row.recipient, body, messageId: row.message_id, attempt: row.attempts })
  }

  /**
   * Webhooks: every incident-log event, by cursor. Why a cursor and not a row written by each appendEvent
   * caller: the log already is the durable, ordered record of every change (on PostgreSQL appends commit in
   * cursor order), so reading it after a stored cursor misses nothing and needs no change in the many places
   * that append events (and none for kinds added later). Moving the cursor and inserting the webhook rows
   * happen in one transaction, conditioned on the cursor still being where this node read it: of several
   * nodes one moves it, the others' transactions insert nothing. The first run starts at the newest event
   * (a newly configured receiver is not sent the whole history).
   */
  private async enqueueWebhookEvents(): Promise<void> {
    const urls = this.opts.webhooks!.urls
    const stored = await this.opts.db.selectFrom('app_settings').select('value').where('key', '=', WEBHOOK_CURSOR_KEY).executeTakeFirst()
    if (!stored) return this.initWebhookCursor()
    const seen = stored.value
    const cursor = Number(seen)
    const events = await eventFeed(this.opts.db, cursor, EVENTS_PER_TICK)
    if (events.length === 0) return
    const now = nowIso()
    const last = events.at(-1)!.id
    await this.opts.writer.run(async (trx) => {
      const moved = await trx.updateTable('app_settings').set({ value: String(last) }).where('key', '=', WEBHOOK_CURSOR_KEY).where('value', '=', seen).executeTakeFirst()
      if (Number(moved.numUpdatedRows) === 0) return // another node took these events
      const rows = events.flatMap((row) => {
        const event = toEventDto(row)
        const body = JSON.stringify({ type: `sos.${event.kind}`, timestamp: event.at, data: event })
        return urls.map((url) => ({
          sos_request_id: event.sos_id,
          channel: 'webhook' as const,
          kind: 'event' as const,
          // Deterministic: the same event to the same receiver always has the same webhook-id.
          message_id: `msg_evt${event.cursor}_${crypto.createHash('sha256').update(url).digest('hex').slice(0, 10)}`,
          recipient: url,
          sos_contact_id: null,
          share_link_id: null,
          follows_id: null,
          body,
          not_before: now,
        }))
      })
      await enqueue(trx, rows, now)
    })
  }

  /**
   * The first time webhooks are configured, they start at the newest event (a new receiver is not sent the
   * whole history). Done before the app is ready, so every event of a request it serves is delivered. Of
   * several nodes starting at once, the first insert wins.
   */
  private async initWebhookCursor(): Promise<void> {
    const start = String(await latestCursor(this.opts.db))
    await this.opts.writer.run((trx) => trx.insertInto('app_settings').values({ key: WEBHOOK_CURSOR_KEY, value: start }).onConflict((oc) => oc.column('key').doNothing()).execute())
  }
}
