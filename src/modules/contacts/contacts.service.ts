// Trusted contacts: an account's list (CRUD), the contacts of each SOS (from the account, the create request, or
// added later with the SOS token), their alerts and closing messages written to the outbox inside the SOS's own
// transactions, and the messages' states.
import type { Kysely, Transaction } from 'kysely'
import type { ContactRow, Database, OutboxRow, SosContactRow, SosContactSource, SosRow } from '../../db/schema.ts'
import type { Writer } from '../../db/writer.ts'
import { AppError, errors } from '../../errors.ts'
import { asObject, parseId } from '../../lib/fields.ts'
import { nowIso } from '../../lib/time.ts'
import { cancelPending, enqueue, newMessageId, rowsOfSos, type OutboxInsert } from '../../notify/outbox.ts'
import type { RealtimePublisher } from '../../realtime/publisher.ts'
import { toUpdatedEvent } from '../sos/sos.lifecycle.service.ts'
import { isOpen } from '../sos/sos.lifecycle.ts'
import { appendEvent, eventActor, toEventDto } from '../sos/sos.log.ts'
import { hasNoCredential, type Actor } from '../sos/sos.policy.ts'
import * as sosRepo from '../sos/sos.repository.ts'
import { refuse, type RequestContext } from '../sos/sos.dto.ts'
import type { SosCreateExtension, SosCreateStep } from '../sos/sos.extensions.ts'
import type { SosService } from '../sos/sos.service.ts'
import { contactsPolicy } from '../share/share.policy.ts'
import type { ShareService } from '../share/share.service.ts'
import { contactListError, readContact, readContactList, tooMany, type ContactInput } from './contacts.fields.ts'
import { alertText, closingText } from './contacts.messages.ts'
import * as repo from './contacts.repository.ts'

export interface ContactDto {
  id: number
  name: string
  phone: string
  email: string | null
  priority: number
  created_at: string
  updated_at: string
}

export interface SosContactDto {
  id: number
  name: string
  phone: string
  email: string | null
  priority: number
  source: SosContactSource
  created_at: string
}

export interface NotificationDto {
  id: number
  channel: OutboxRow['channel']
  kind: OutboxRow['kind']
  /** The phone number (SMS) or URL (webhook). */
  recipient: string
  contact: string | null
  status: OutboxRow['status']
  attempts: number
  /** Why the last try failed (or why it was never sent). */
  reason: string | null
  /** When the next try is due (queued or failed), else null. */
  next_attempt_at: string | null
  sent_at: string | null
  /** The id the provider (or receiver) sees on every try: duplicates carry the same one. */
  message_id: string
  /** The provider's id of the sent message (Twilio's `sid`). */
  provider_message_id: string | null
  created_at: string
  updated_at: string
}

export interface ContactsOptions {
  db: Kysely<Database>
  writer: Writer
  publisher: RealtimePublisher
  sos: SosService
  share: ShareService
  /** Most contacts per account, and per SOS. */
  max: number
  graceSeconds: number
  timeZone: string
}

const toContactDto = (row: ContactRow): ContactDto => ({
  id: row.id,
  name: row.name,
  phone: row.phone,
  email: row.email,
  priority: row.priority,
  created_at: row.created_at,
  updated_at: row.updated_at,
})

const toSosContactDto = (row: SosContactRow): SosContactDto => ({
  id: row.id,
  name: row.name,
  phone: row.phone,
  email: row.email,
  priority: row.priority,
  source: row.source,
  created_at: row.created_at,
})

const duplicatePhone = () => new AppError(400, 'validation_error', 'phone: already a contact.', { phone: ['You already have a contact with this phone number.'] })

export class ContactsService {
  constructor(private readonly opts: ContactsOptions) {}

  // An account's own list.

  private account(actor: Actor) {
    if (!actor.user) throw errors.notAuthenticated()
    return actor.user
  }

  async list(actor: Actor): Promise<ContactDto[]> {
    return (await repo.contactsOf(this.opts.db, this.account(actor).id)).map(toContactDto)
  }

  async get(rawId: string | undefined, actor: Actor): Promise<ContactDto> {
    const user = this.account(actor)
    const id = parseId(rawId)
    const row = id === undefined ? undefined : await repo.findContact(this.opts.db, user.id, id)
    if (!row) throw errors.notFound()
    return toContactDto(row)
  }

  async create(body: unknown, actor: Actor): Promise<ContactDto> {
    const user = this.account(actor)
    const { contact, fields } = readContact(asObject(body))
    fields.done()
    const now = nowIso()
    const row = await this.opts.writer.run(async (trx) => {
      const existing = await repo.contactsOf(trx, user.id)
      if (existing.length >= this.opts.max) {
        throw new AppError(400, 'validation_error', 'Too many contacts.', { non_field_errors: [`An account may keep at most ${this.opts.max} contacts.`] })
      }
      if (existing.some((c) => c.phone === contact.phone)) throw duplicatePhone()
      const priority = contact.priority ?? Math.max(0, ...existing.map((c) => c.priority)) + 1
      return repo.insertContact(trx, { user_id: user.id, name: contact.name!, phone: contact.phone!, email: contact.email ?? null, priority, created_at: now, updated_at: now })
    })
    return toContactDto(row)
  }

  async update(rawId: string | undefined, body: unknown, actor: Actor): Promise<ContactDto> {
    const user = this.account(actor)
    const id = parseId(rawId)
    if (id === undefined) throw errors.notFound()
    const { contact, fields } = readContact(asObject(body), true)
    fields.done()
    const row = await this.opts.writer.run(async (trx) => {
      if (!(await repo.findContact(trx, user.id, id))) throw errors.notFound()
      if (contact.phone && (await repo.contactsOf(trx, user.id)).some((c) => c.phone === contact.phone && c.id !== id)) throw duplicatePhone()
      return repo.updateContact(trx, user.id, id, { ...contact, updated_at: nowIso() })
    })
    if (!row) throw errors.notFound()
    return toContactDto(row)
  }

  async remove(rawId: string | undefined, actor: Actor): Promise<void> {
    const user = this.account(actor)
    const id = parseId(rawId)
    if (id === undefined || !(await this.opts.writer.run((trx) => repo.deleteContact(trx, user.id, id)))) throw errors.notFound()
  }

  // The contacts of an SOS, and their messages.

  /** Raising an SOS: `contacts: [{name, phone}]` in the request, plus the signed-in citizen's own list. */
  readonly createExtension: SosCreateExtension = {
    prepare: (payload, actor): SosCreateStep => {
      const given = readContactList(payload.contacts, this.opts.max)
      const answer: Record<string, unknown> = {}
      if (given.errors) answer.contacts_rejected = given.errors
      return {
        answer,
        // An idempotent create's fingerprint covers the contacts only when the request named some.
        fingerprint: payload.contacts === undefined ? undefined : { contacts: given.contacts, rejected: given.errors },
        write: async (trx, sos, now) => {
          const fromAccount = actor.user ? await repo.contactsOf(trx, actor.user.id) : []
          const chosen = this.merge(fromAccount, given.contacts)
          if (chosen.dropped > 0) answer.contacts_rejected = [tooMany(this.opts.max)]
          const rows = await repo.insertSosContacts(trx, chosen.rows.map((c) => ({ ...c, sos_request_id: sos.id, created_at: now })))
          await this.enqueueAlerts(trx, sos, rows, now)
          // Only for a request that uses contacts: the original clients' answer keeps its exact shape.
          if (payload.contacts !== undefined || rows.length > 0) answer.contacts_count = rows.length
        },
        // A repeated Idempotency-Key: the contacts the first create stored, nothing enqueued again.
        replay: async (db, sos) => {
          const rows = (await repo.contactsOfSos(db, sos.id)).filter((c) => c.source !== 'added')
          const stored = new Set(rows.map((c) => c.phone))
          // A named contact the first create left out can only have been over the limit.
          if (given.contacts.some((c) => !stored.has(c.phone))) answer.contacts_rejected = [tooMany(this.opts.max)]
          if (payload.contacts !== undefined || rows.length > 0) answer.contacts_count = rows.length
        },
      }
    },
  }

  /** The account's contacts first (in priority order), then the request's, one per number, at most `max`. */
  private merge(fromAccount: ContactRow[], given: ContactInput[], already: SosContactRow[] = []) {
    const seen = new Set(already.map((c) => c.phone))
    const rows: Array<Omit<SosContactRow, 'id' | 'sos_request_id' | 'created_at'>> = []
    let dropped = 0
    let priority = Math.max(0, ...already.map((c) => c.priority))
    const add = (c: { name: string; phone: string; email: string | null }, source: SosContactSource, contactId: number | null) => {
      if (seen.has(c.phone)) return
      seen.add(c.phone)
      if (already.length + rows.length >= this.opts.max) {
        dropped += 1
        return
      }
      priority += 1
      rows.push({ contact_id: contactId, name: c.name, phone: c.phone, email: c.email, priority, source })
    }
    for (const c of fromAccount) add(c, 'account', c.id)
    for (const c of given) add(c, already.length > 0 ? 'added' : 'request', null)
    return { rows, dropped }
  }

  /**
   * One alert per contact, each with its own live-tracking link, due when the grace window ends
   * (CONTACT_GRACE_SECONDS after the SOS was raised; at once for contacts added after that).
   */
  private async enqueueAlerts(trx: Transaction<Database>, sos: SosRow, contacts: SosContactRow[], now: string): Promise<void> {
    const due = new Date(Math.max(Date.parse(now), Date.parse(sos.created_at) + this.opts.graceSeconds * 1000)).toISOString()
    const rows: OutboxInsert[] = []
    for (const contact of contacts) {
      const { row: link } = await this.opts.share.createLink(trx, sos.id, { sosContactId: contact.id, label: contact.name, createdBy: 'system' }, now)
      rows.push({
        sos_request_id: sos.id,
        channel: 'sms',
        kind: 'alert',
        message_id: newMessageId(),
        recipient: contact.phone,
        sos_contact_id: contact.id,
        share_link_id: link.id,
        follows_id: null,
        body: alertText(sos.name, sos.created_at, this.opts.timeZone),
        not_before: due,
      })
    }
    await enqueue(trx, rows, now)
  }

  /**
   * Closing an SOS: alerts nobody has started to send are cancelled (a pocket press cancelled within the
   * grace window alerts nobody); contacts whose alert went out (or is going out) get a closing message.
   */
  readonly closeExtension = async (trx: Transaction<Database>, sos: SosRow, status: 'resolved' | 'cancelled', now: string): Promise<void> => {
    await cancelPending(trx, sos.id, 'alert', `The SOS was ${status} before this alert was sent.`, now)
    const alerted = await trx.selectFrom('outbox').selectAll().where('sos_request_id', '=', sos.id).where('kind', '=', 'alert').where('status', 'in', ['sent', 'sending']).execute()
    await enqueue(
      trx,
      alerted.map((alert) => ({
        sos_request_id: sos.id,
        channel: 'sms' as const,
        kind: 'closing' as const,
        message_id: newMessageId(),
        recipient: alert.recipient,
        sos_contact_id: alert.sos_contact_id,
        share_link_id: alert.share_link_id,
        follows_id: alert.id,
        body: closingText(sos.name, status, now, this.opts.timeZone),
        not_before: now,
      })),
      now,
    )
  }

  private async sosFor(id: number, ctx: RequestContext, may: (actor: Actor, sos: SosRow) => boolean, payload?: Record<string, unknown>) {
    const token = payload?.sos_token
    const actor = typeof token === 'string' && !ctx.actor.sosToken ? { ...ctx.actor, sosToken: token } : ctx.actor
    if (hasNoCredential(actor)) throw errors.notAuthenticated()
    const sos = await this.opts.sos.load(id)
    if (!may(actor, sos)) throw refuse(actor)
    return { sos, actor }
  }

  /** GET /api/sos/{id}/contacts/: the victim, the owner, staff (numbers included: they may see them). */
  async ofSos(id: number, ctx: RequestContext): Promise<{ results: SosContactDto[] }> {
    const { sos } = await this.sosFor(id, ctx, contactsPolicy.read)
    return { results: (await repo.contactsOfSos(this.opts.db, sos.id)).map(toSosContactDto) }
  }

  /** POST /api/sos/{id}/contacts/ {contacts: [...]} (or one {name, phone}): the victim (SOS token) or the owner. */
  async addToSos(id: number, body: unknown, ctx: RequestContext): Promise<{ results: SosContactDto[] }> {
    const payload = asObject(body)
    const { sos, actor } = await this.sosFor(id, ctx, contactsPolicy.manage, payload)
    const single = payload.contacts === undefined && (payload.name !== undefined || payload.phone !== undefined)
    const given = readContactList(single ? [payload] : (payload.contacts ?? []), this.opts.max)
    if (given.errors) {
      if (single && Array.isArray(given.errors) && typeof given.errors[0] === 'object') throw new AppError(400, 'validation_error', 'Invalid contact.', given.errors[0] as Record<string, string[]>)
      throw contactListError(given.errors)
    }
    if (given.contacts.length === 0) throw contactListError(['This list may not be empty.'])
    if (!isOpen(sos.status)) throw errors.conflict(`This SOS is already ${sos.status}; contacts can no longer be added.`)
    const now = nowIso()
    const result = await this.opts.writer.run(async (trx) => {
      const already = await repo.contactsOfSos(trx, sos.id)
      const fresh = given.contacts.filter((c) => !already.some((a) => a.phone === c.phone))
      if (already.length + fresh.length > this.opts.max) throw contactListError([`An SOS may alert at most ${this.opts.max} contacts; it has ${already.length}.`])
      const chosen = this.merge([], fresh, already)
      const rows = await repo.insertSosContacts(trx, chosen.rows.map((c) => ({ ...c, sos_request_id: sos.id, created_at: now })))
      if (rows.length === 0) return { contacts: already }
      // Re-read inside the transaction: the SOS may have closed since the check above.
      const current = await sosRepo.findSosById(trx, sos.id)
      if (!current || !isOpen(current.status)) throw errors.conflict('This SOS is closed; contacts can no longer be added.')
      await this.enqueueAlerts(trx, current, rows, now)
      const event = await appendEvent(trx, sos.id, 'contacts_added', eventActor(actor, sos), now, { count: rows.length, names: rows.map((r) => r.name) })
      const updated = await sosRepo.findSosById(trx, sos.id)
      return { contacts: [...already, ...rows], row: updated!, event: toEventDto(event) }
    })
    if ('event' in result && result.row && result.event) this.opts.publisher.sosUpdated(result.row, toUpdatedEvent(result.row, result.event))
    return { results: result.contacts.map(toSosContactDto) }
  }

  /** GET /api/sos/{id}/notifications/: each message's state. The victim and owner see her contacts' SMS; staff also webhooks. */
  async notifications(id: number, ctx: RequestContext): Promise<{ sos_id: number; results: NotificationDto[] }> {
    const { sos, actor } = await this.sosFor(id, ctx, contactsPolicy.read)
    const rows = await rowsOfSos(this.opts.db, sos.id, contactsPolicy.readWebhooks(actor) ? undefined : 'sms', 1000)
    const names = new Map((await repo.contactsOfSos(this.opts.db, sos.id)).map((c) => [c.id, c.name]))
    return {
      sos_id: sos.id,
      results: rows.map((row) => ({
        id: row.id,
        channel: row.channel,
        kind: row.kind,
        recipient: row.recipient,
        contact: row.sos_contact_id === null ? null : (names.get(row.sos_contact_id) ?? null),
        status: row.status,
        attempts: row.attempts,
        reason: row.last_error,
        next_attempt_at: row.status === 'queued' || row.status === 'failed' ? row.not_before : null,
        sent_at: row.sent_at,
        message_id: row.message_id,
        provider_message_id: row.provider_ref,
        created_at: row.created_at,
        updated_at: row.updated_at,
      })),
    }
  }
}
