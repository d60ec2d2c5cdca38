// Running an incident: acknowledge, dispatch, accept, arrive, resolve, cancel. Each step is one transaction
// (a conditional UPDATE that decides races + its event in the log), then `sos_updated` after the commit.
import type { Kysely } from 'kysely'
import type { Database, SosRow, SosUpdate } from '../../db/schema.ts'
import type { Work, Writer } from '../../db/writer.ts'
import { AppError, errors } from '../../errors.ts'
import { asObject, FieldReader } from '../../lib/fields.ts'
import { nowIso } from '../../lib/time.ts'
import type { LogEvent, SosUpdatedEvent } from '../../realtime/contract.ts'
import type { RealtimePublisher } from '../../realtime/publisher.ts'
import { readUnitNumber, refuse, toAssignmentDto, type RequestContext, type SosDto } from './sos.dto.ts'
import { allowedFrom, flagsFor, illegalMessage, isOpen, OUTCOMES, targetOf, type LifecycleAction } from './sos.lifecycle.ts'
import type { SosCloseExtension } from './sos.extensions.ts'
import { appendEvent, eventActor, toEventDto, type EventActor, type EventKind } from './sos.log.ts'
import { hasNoCredential, sosPolicy, type Actor } from './sos.policy.ts'
import * as repo from './sos.repository.ts'

/** What the lifecycle needs from the SOS reads (implemented by SosService). */
export interface SosReads {
  load(id: number, notFound?: AppError): Promise<SosRow>
  expand(rows: SosRow[], baseUrl: string): Promise<SosDto[]>
}

export interface EscalationTimes {
  /** Seconds an SOS may stay unacknowledged before it is escalated (0: never). */
  escalateAfterSeconds: number
  /** Seconds a dispatched unit has to accept before a dispatcher is told (0: never). */
  unitAcceptSeconds: number
}

const ACTION_KIND: Record<LifecycleAction, EventKind> = {
  acknowledge: 'acknowledged',
  assign: 'assigned',
  accept: 'accepted',
  arrive: 'arrived',
  resolve: 'resolved',
  cancel: 'cancelled',
}

const SOS_NOT_FOUND_LEGACY = () => new AppError(404, 'not_found', 'SOS not found', { error: 'SOS not found' })

/** The moment `seconds` from `now` (ISO), or null when that timer is off. */
export function after(now: string, seconds: number): string | null {
  return seconds > 0 ? new Date(Date.parse(now) + seconds * 1000).toISOString() : null
}

/** The live `sos_updated` payload for a row after its event. */
export function toUpdatedEvent(row: SosRow, event: LogEvent): SosUpdatedEvent {
  return {
    sos_id: row.id,
    seq: event.seq,
    cursor: event.cursor,
    kind: event.kind,
    status: row.status,
    unit_number_dispatched: row.unit_number_dispatched,
    acknowledged_flag: row.acknowledged_flag,
    by: event.by,
    at: event.at,
  }
}

export class SosLifecycle {
  private readonly db: Kysely<Database>
  private readonly writer: Writer
  private readonly publisher: RealtimePublisher
  private readonly reads: SosReads
  private readonly times: EscalationTimes
  private readonly closeExtensions: SosCloseExtension[] = []

  constructor(deps: { db: Kysely<Database>; writer: Writer; publisher: RealtimePublisher; reads: SosReads; times: EscalationTimes }) {
    this.db = deps.db
    this.writer = deps.writer
    this.publisher = deps.publisher
    this.reads = deps.reads
    this.times = deps.times
  }

  /**
   * One step of the state machine in one transaction: the conditional UPDATE (only from the statuses
   * `action` allows, so a racing step loses cleanly) and its event; then `sos_updated` after the commit.
   */
  private async step(
    sos: SosRow,
    action: LifecycleAction,
    by: EventActor,
    changes: (now: string) => SosUpdate,
    data: Record<string, unknown>,
    opts: { unitFreeOr?: string; taken?: () => AppError; extra?: (trx: Parameters<Work<unknown>>[0], now: string) => Promise<unknown> } = {},
  ): Promise<{ row: SosRow; event: LogEvent; extra: unknown }> {
    const to = targetOf(action)
    const result = await this.writer.run(async (trx) => {
      // The clock is read once this transaction holds the SOS row: a location update that committed
      // while this step waited for the lock then never carries a later time than the step (a close
      // would otherwise look older than points stored before it).
      await repo.lockSos(trx, sos.id)
      const now = nowIso()
      const updated = await repo.updateSosIfStatus(trx, sos.id, allowedFrom(action), { status: to, ...flagsFor(to), ...changes(now), updated_at: now }, { unitFreeOr: opts.unitFreeOr })
      if (!updated) {
        const current = await repo.findSosById(trx, sos.id)
        if (current && opts.taken && allowedFrom(action).includes(current.status)) throw opts.taken()
        throw errors.conflict(illegalMessage(action, current?.status ?? sos.status))
      }
      const extra = opts.extra ? await opts.extra(trx, now) : undefined
      const event = await appendEvent(trx, sos.id, ACTION_KIND[action], by, now, data)
      return { row: { ...updated, last_seq: event.seq }, event: toEventDto(event), extra }
    })
    this.publisher.sosUpdated(result.row, toUpdatedEvent(result.row, result.event), sos.unit_number_dispatched)
    return result
  }

  private async answer(status: string, row: SosRow, ctx: RequestContext) {
    return { status, sos: (await this.reads.expand([row], ctx.baseUrl))[0] }
  }

  async acknowledge(id: number, ctx: RequestContext) {
    // Staff only: an SOS token is no account, so it is 401 whether sent as header or body (as resolve()).
    if (!ctx.actor.user) throw errors.notAuthenticated()
    const sos = await this.reads.load(id)
    if (!sosPolicy.acknowledge(ctx.actor)) throw errors.forbidden()
    const { row } = await this.step(sos, 'acknowledge', eventActor(ctx.actor), (now) => ({ acknowledged_at: now, next_escalation_at: null, escalation_level: 0 }), {})
    return this.answer('SOS acknowledged successfully', row, ctx)
  }

  async assignOfficer(body: unknown, actor: Actor) {
    // Accounts only: as in DRF, the permission check comes before the body is looked at.
    if (!actor.user) throw errors.notAuthenticated()
    const fields = new FieldReader(asObject(body))
    const sosId = fields.pk('sos_request')
    const officerName = fields.string('officer_name', { max: 255 })
    const unitNumber = readUnitNumber(fields, 'unit_number')
    fields.done()
    const sos = await repo.findSosById(this.db, sosId!)
    if (!sos) throw new AppError(400, 'validation_error', 'Unknown SOS.', { sos_request: [`Invalid pk "${sosId}" - object does not exist.`] })
    if (!sosPolicy.assign(actor, sos, unitNumber!)) throw errors.forbidden()
    if (!isOpen(sos.status)) throw errors.conflict(`This SOS is ${sos.status}; officers can no longer be assigned.`)

    const { extra } = await this.step(
      sos,
      'assign',
      eventActor(actor),
      // A new dispatch starts the unit's clock again: it has UNIT_ACCEPT_SECONDS to accept.
      (now) => ({ unit_number_dispatched: unitNumber!, dispatched_at: now, accepted_at: null, arrived_at: null, escalation_level: 0, next_escalation_at: after(now, this.times.unitAcceptSeconds) }),
      { unit_number: unitNumber!, officer_name: officerName!, previous_unit: sos.unit_number_dispatched },
      {
        // An officer claiming an SOS: only while no other unit has it (decided by the UPDATE itself).
        unitFreeOr: sosPolicy.assignNeedsFreeSos(actor) ? unitNumber! : undefined,
        taken: () => errors.forbidden(),
        extra: (trx, at) => repo.insertAssignment(trx, { sos_request_id: sos.id, officer_name: officerName!, unit_number: unitNumber!, assigned_by: actor.user?.id ?? null, assigned_at: at }),
      },
    )
    return { status: 'Officer assigned successfully', officer: toAssignmentDto(extra as Awaited<ReturnType<typeof repo.insertAssignment>>) }
  }

  /** POST /api/sos/{id}/accept/: the dispatched unit says "we are on our way". */
  async accept(id: number, ctx: RequestContext) {
    const sos = await this.unitStep(id, ctx)
    const { row } = await this.step(sos, 'accept', eventActor(ctx.actor), (now) => ({ accepted_at: now, next_escalation_at: null }), { unit_number: sos.unit_number_dispatched })
    return this.answer('SOS accepted', row, ctx)
  }

  /** POST /api/sos/{id}/arrive/: the dispatched unit is on scene. */
  async arrive(id: number, ctx: RequestContext) {
    const sos = await this.unitStep(id, ctx)
    const { row } = await this.step(sos, 'arrive', eventActor(ctx.actor), (now) => ({ arrived_at: now, next_escalation_at: null }), { unit_number: sos.unit_number_dispatched })
    return this.answer('Arrival recorded', row, ctx)
  }

  /** Accept/arrive: officers of the unit the SOS is dispatched to (legacy: any signed-in user). */
  private async unitStep(id: number, ctx: RequestContext): Promise<SosRow> {
    if (!ctx.actor.user) throw errors.notAuthenticated()
    const sos = await this.reads.load(id)
    if (!sosPolicy.actForUnit(ctx.actor, sos)) throw errors.forbidden()
    return sos
  }

  async resolve(id: number, body: unknown, ctx: RequestContext) {
    if (!ctx.actor.user) throw errors.notAuthenticated()
    const sos = await this.reads.load(id, SOS_NOT_FOUND_LEGACY())
    if (!sosPolicy.resolve(ctx.actor, sos)) throw errors.forbidden()
    const fields = new FieldReader(asObject(body))
    const outcome = fields.choice('outcome', OUTCOMES)
    const note = fields.string('note', { required: false, max: 2000, allowBlank: true, nullable: true })
    fields.done()
    const { row } = await this.close(sos, 'resolve', ctx.actor, { outcome: outcome ?? null, resolution_note: note || null }, { outcome: outcome ?? null, note: note || null })
    return this.answer('SOS marked as resolved successfully', row, ctx)
  }

  /** A false alarm, called off by the victim's device (SOS token) or account, or a dispatcher. */
  async cancel(id: number, body: unknown, ctx: RequestContext) {
    const payload = asObject(body)
    const token = payload.sos_token
    const actor = typeof token === 'string' && !ctx.actor.sosToken ? { ...ctx.actor, sosToken: token } : ctx.actor
    if (hasNoCredential(actor)) throw errors.notAuthenticated()
    const sos = await this.reads.load(id)
    if (!sosPolicy.cancel(actor, sos)) throw refuse(actor)
    const fields = new FieldReader(payload)
    const reason = fields.string('reason', { required: false, max: 500, allowBlank: true, nullable: true })
    fields.done()
    const { row } = await this.close(sos, 'cancel', actor, { cancel_reason: reason || null }, { reason: reason || null })
    return this.answer('SOS cancelled successfully', row, ctx)
  }

  /** Another module's part of closing an SOS (trusted contacts' closing messages), run inside the close transaction. */
  addCloseExtension(extension: SosCloseExtension): void {
    this.closeExtensions.push(extension)
  }

  private async close(sos: SosRow, action: 'resolve' | 'cancel', actor: Actor, changes: SosUpdate, data: Record<string, unknown>) {
    const status = action === 'resolve' ? 'resolved' : 'cancelled'
    const extra = async (trx: Parameters<Work<unknown>>[0], now: string) => {
      for (const extension of this.closeExtensions) await extension(trx, sos, status, now)
    }
    const result = await this.step(sos, action, eventActor(actor, sos), (now) => ({ ...changes, closed_at: now, next_escalation_at: null }), data, { extra })
    // The original phone app listens for this one.
    this.publisher.sosClosed(result.row, action === 'resolve' ? 'resolved' : 'cancelled')
    return result
  }
}
