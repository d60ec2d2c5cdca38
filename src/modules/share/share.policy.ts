// Who may see and manage an SOS's trusted contacts, their messages and live-tracking links.
import { isStaff } from '../auth/auth.service.ts'
import { holdsToken, isOwner, type Actor } from '../sos/sos.policy.ts'
import type { SosRow } from '../../db/schema.ts'

type SosAccess = Pick<SosRow, 'user_id' | 'sos_token_hash' | 'unit_number_dispatched'>

export const contactsPolicy = {
  /** Add contacts, list/add/revoke links: the victim's device (its SOS token) or the owner account. */
  manage: (actor: Actor, sos: SosAccess) => holdsToken(actor, sos) || isOwner(actor, sos),
  /** Read the contacts (with their numbers) and the messages' states: those, and staff. */
  read: (actor: Actor, sos: SosAccess) => contactsPolicy.manage(actor, sos) || isStaff(actor.user),
  /** Webhook deliveries are operations data: staff only. */
  readWebhooks: (actor: Actor) => isStaff(actor.user),
}
