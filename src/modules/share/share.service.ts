// Live-tracking links: made per contact (inside the alert's transaction) or by the victim, opened by anyone who
// holds one (read-only, one SOS), revoked by the victim or owner; "I'm on my way" is an event in the incident log.
import type { Kysely, Transaction } from 'kysely'
import type { ActorKind, Database, LocationRow, ShareLinkRow, SosRow } from '../../db/schema.ts'
import type { Writer } from '../../db/writer.ts'
import { AppError, errors } from '../../errors.ts'
import { asObject, FieldReader, parseId } from '../../lib/fields.ts'
import { nowIso } from '../../lib/time.ts'
import type { EventActor } from '../../realtime/contract.ts'
import type { RealtimePublisher } from '../../realtime/publisher.ts'
import { toUpdatedEvent } from '../sos/sos.lifecycle.service.ts'
import { isOpen } from '../sos/sos.lifecycle.ts'
import { appendEvent, eventActor, toEventDto } from '../sos/sos.log.ts'
import { hasNoCredential, type Actor } from '../sos/sos.policy.ts'
import * as sosRepo from '../sos/sos.repository.ts'
import { refuse, type RequestContext } from '../sos/sos.dto.ts'
import type { SosService } from '../sos/sos.service.ts'
import { contactsPolicy } from './share.policy.ts'
import * as repo from './share.repository.ts'
import { SHARE_TOKEN_RE, type ShareTokens } from './share.tokens.ts'

export interface SharePosition {
  lat: number
  lng: number
  /** Metres, when the phone reported it. */
  accuracy: number | null
  at: string
}

/** What the public page shows: no internal ids, no phone numbers, nothing but this one SOS. */
export interface ShareState {
  name: string
  status: SosRow['status']
  open: boolean
  raised_at: string
  closed_at: string | null
  /** After this moment positions are no longer shown (null while the SOS is open). */
  positions_until: string | null
  positions_hidden: boolean
  /** Oldest first: the track so far; the last one is where she was last seen. */
  positions: SharePosition[]
  truncated: boolean
  link: { for: string; expires_at: string; on_the_way_at: string | null }
  map: { tile_url: string; attribution: string }
  /** The server's clock, so the page can tell a position's age without trusting the phone's clock. */
  server_time: string
}

export interface ShareLinkDto {
  id: number
  label: string
  /** The contact it was made for (null: added by hand). */
  contact: string | null
  status: 'active' | 'revoked' | 'expired'
  created_at: string
  expires_at: string
  revoked_at: string | null
  on_the_way_at: string | null
}

export interface ShareOptions {
  db: Kysely<Database>
  writer: Writer
  publisher: RealtimePublisher
  sos: SosService
  tokens: ShareTokens
  ttlHours: number
  afterCloseMinutes: number
  positionsLimit: number
  /** Most links one SOS may have (contacts' and hand-made together). */
  maxLinks: number
  map: { tileUrl: string; attribution: string }
}

const CONTACT_ACTOR: EventActor = { kind: 'contact', user_id: null, role: null }

/** A link that no longer opens anything: 410 with no data. */
export const linkGone = () => new AppError(410, 'gone', 'This link has expired or was revoked.')
const linkUnknown = () => new AppError(404, 'not_found', 'Not found.')

export const linkStatus = (link: Pick<ShareLinkRow, 'revoked_at' | 'expires_at'>, now = nowIso()): ShareLinkDto['status'] =>
  link.revoked_at ? 'revoked' : link.expires_at <= now ? 'expired' : 'active'

export const toPosition = (row: Pick<LocationRow, 'latitude' | 'longitude' | 'accuracy' | 'timestamp'>): SharePosition => ({
  lat: row.latitude,
  lng: row.longitude,
  accuracy: row.accuracy,
  at: row.timestamp,
})

export class ShareService {
  constructor(private readonly opts: ShareOptions) {}

  /** Makes a link inside the caller's transaction; returns the token (shown or sent once, never stored). */
  async createLink(trx: Transaction<Database>, sosId: number, link: { sosContactId: number | null; label: string; createdBy: ActorKind; ttlHours?: number }, now: string) {
    const salt = this.opts.tokens.newSalt()
    const token = this.opts.tokens.token(salt)
    const expires = new Date(Date.parse(now) + (link.ttlHours ?? this.opts.ttlHours) * 3600_000).toISOString()
    const row = await repo.insertLink(trx, {
      sos_request_id: sosId,
      sos_contact_id: link.sosContactId,
      label: link.label,
      token_hash: this.opts.tokens.hash(token),
      token_salt: salt,
      created_by: link.createdBy,
      created_at: now,
      expires_at: expires,
      revoked_at: null,
      on_the_way_at: null,
    })
    return { row, token }
  }

  /** The token of a stored link, derived again (for a message's retry). */
  tokenOf(link: Pick<ShareLinkRow, 'token_salt'>): string {
    return this.opts.tokens.token(link.token_salt)
  }

  url(baseUrl: string, token: string): string {
    return `${baseUrl}/t/${token}`
  }

  /** The link and its SOS for a token; 404 unknown, 410 revoked or expired. */
  async open(token: string): Promise<{ link: ShareLinkRow; sos: SosRow }> {
    if (!SHARE_TOKEN_RE.test(token)) throw linkUnknown()
    const link = await repo.findByHash(this.opts.db, this.opts.tokens.hash(token))
    if (!link) throw linkUnknown()
    if (linkStatus(link) !== 'active') throw linkGone()
    const sos = await sosRepo.findSosById(this.opts.db, link.sos_request_id)
    if (!sos) throw linkUnknown()
    return { link, sos }
  }

  /** When the page stops showing positions: SHARE_LINK_AFTER_CLOSE_MINUTES after the close. */
  positionsUntil(sos: SosRow): string | null {
    if (isOpen(sos.status) || !sos.closed_at) return null
    return new Date(Date.parse(sos.closed_at) + this.opts.afterCloseMinutes * 60_000).toISOString()
  }

  async state(link: ShareLinkRow, sos: SosRow): Promise<ShareState> {
    const now = nowIso()
    const until = this.positionsUntil(sos)
    const hidden = until !== null && until <= now
    let positions: SharePosition[] = []
    let truncated = false
    if (!hidden) {
      const recent = await sosRepo.recentLocations(this.opts.db, sos.id, this.opts.positionsLimit)
      truncated = recent.truncated
      // Where the SOS was raised is the start of the track (and the only position until the phone sends more).
      const start: SharePosition = { lat: sos.initial_latitude, lng: sos.initial_longitude, accuracy: null, at: sos.created_at }
      positions = [...(truncated ? [] : [start]), ...recent.rows.map(toPosition)]
    }
    return {
      name: sos.name,
      status: sos.status,
      open: isOpen(sos.status),
      raised_at: sos.created_at,
      closed_at: sos.closed_at,
      positions_until: until,
      positions_hidden: hidden,
      positions,
      truncated,
      link: { for: link.label, expires_at: link.expires_at, on_the_way_at: link.on_the_way_at },
      map: { tile_url: this.opts.map.tileUrl, attribution: this.opts.map.attribution },
      server_time: now,
    }
  }

  /** POST /t/{token}/on-my-way: once per link, while the SOS is open; the control room sees it live. */
  async onMyWay(token: string): Promise<{ on_the_way_at: string }> {
    const { link, sos } = await this.open(token)
    if (link.on_the_way_at) return { on_the_way_at: link.on_the_way_at }
    if (!isOpen(sos.status)) throw errors.conflict(`This SOS is already ${sos.status}.`)
    const now = nowIso()
    const result = await this.opts.writer.run(async (trx) => {
      const marked = await repo.markOnTheWay(trx, link.id, now)
      if (!marked) return undefined // pressed twice at once: the first press made the event
      const event = await appendEvent(trx, sos.id, 'contact_on_the_way', CONTACT_ACTOR, now, { contact: link.label, share_link: link.id })
      const row = await sosRepo.findSosById(trx, sos.id)
      return { row: row!, event: toEventDto(event) }
    })
    if (!result) return { on_the_way_at: (await repo.findById(this.opts.db, link.id))?.on_the_way_at ?? now }
    this.opts.publisher.sosUpdated(result.row, toUpdatedEvent(result.row, result.event))
    return { on_the_way_at: now }
  }

  // Management by the victim (SOS token) or the owner account.

  private async managed(id: number, ctx: RequestContext, body?: Record<string, unknown>): Promise<{ sos: SosRow; actor: Actor }> {
    const token = body?.sos_token
    const actor = typeof token === 'string' && !ctx.actor.sosToken ? { ...ctx.actor, sosToken: token } : ctx.actor
    if (hasNoCredential(actor)) throw errors.notAuthenticated()
    const sos = await this.opts.sos.load(id)
    if (!contactsPolicy.manage(actor, sos)) throw refuse(actor)
    return { sos, actor }
  }

  async list(id: number, ctx: RequestContext): Promise<{ results: ShareLinkDto[] }> {
    const { sos } = await this.managed(id, ctx)
    const now = nowIso()
    const rows = await repo.linksOfSos(this.opts.db, sos.id)
    return { results: rows.map((row) => this.toDto(row, row.contact_name, now)) }
  }

  /** POST /api/sos/{id}/share-links/ {label, ttl_hours?}: a link by hand (the URL is in this answer only). */
  async add(id: number, body: unknown, ctx: RequestContext): Promise<ShareLinkDto & { url: string }> {
    const payload = asObject(body)
    const { sos, actor } = await this.managed(id, ctx, payload)
    const fields = new FieldReader(payload)
    const label = fields.string('label', { max: 255 })
    const ttlHours = fields.integer('ttl_hours', { required: false, min: 1, max: this.opts.ttlHours })
    fields.done()
    if (!isOpen(sos.status)) throw errors.conflict(`This SOS is already ${sos.status}; no new links can be made.`)
    if ((await repo.countLinks(this.opts.db, sos.id)) >= this.opts.maxLinks) {
      throw new AppError(400, 'validation_error', 'Too many links.', { non_field_errors: [`An SOS may have at most ${this.opts.maxLinks} links; revoke one first.`] })
    }
    const now = nowIso()
    const by = eventActor(actor, sos)
    const result = await this.opts.writer.run(async (trx) => {
      const made = await this.createLink(trx, sos.id, { sosContactId: null, label: label!, createdBy: by.kind, ttlHours }, now)
      const event = await appendEvent(trx, sos.id, 'share_link_added', by, now, { share_link: made.row.id, label: label! })
      const sosRow = await sosRepo.findSosById(trx, sos.id)
      return { link: made.row, token: made.token, sosRow: sosRow!, event: toEventDto(event) }
    })
    this.opts.publisher.sosUpdated(result.sosRow, toUpdatedEvent(result.sosRow, result.event))
    return { ...this.toDto(result.link, null, now), url: this.url(ctx.baseUrl, result.token) }
  }

  async revoke(id: number, rawLinkId: string | undefined, ctx: RequestContext): Promise<void> {
    const { sos, actor } = await this.managed(id, ctx)
    const linkId = parseId(rawLinkId)
    // A link of another SOS is "not found" here, exactly like one that does not exist.
    if (linkId === undefined) throw errors.notFound()
    const now = nowIso()
    const result = await this.opts.writer.run(async (trx) => {
      const revoked = await repo.revoke(trx, sos.id, linkId, now)
      if (!revoked) {
        const existing = await repo.findById(trx, linkId)
        if (!existing || existing.sos_request_id !== sos.id) throw errors.notFound()
        return undefined // already revoked: nothing changes
      }
      const event = await appendEvent(trx, sos.id, 'share_link_revoked', eventActor(actor, sos), now, { share_link: linkId, label: revoked.label })
      const row = await sosRepo.findSosById(trx, sos.id)
      return { row: row!, event: toEventDto(event) }
    })
    if (result) this.opts.publisher.sosUpdated(result.row, toUpdatedEvent(result.row, result.event))
  }

  toDto(row: ShareLinkRow, contact: string | null, now = nowIso()): ShareLinkDto {
    return {
      id: row.id,
      label: row.label,
      contact,
      status: linkStatus(row, now),
      created_at: row.created_at,
      expires_at: row.expires_at,
      revoked_at: row.revoked_at,
      on_the_way_at: row.on_the_way_at,
    }
  }
}
