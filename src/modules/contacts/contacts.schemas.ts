// TypeBox schemas of the trusted-contact endpoints: contacts, an SOS's contacts, its messages and its links.
import { Type } from '@sinclair/typebox'
import { Id, Timestamp } from '../../lib/schemas.ts'

const Phone = Type.String({ description: 'E.164, e.g. +919812345678 (spaces, dashes and brackets are dropped; a leading 00 reads as +)', examples: ['+919812345678'] })
const Nullable = <T extends ReturnType<typeof Type.String>>(schema: T) => Type.Union([schema, Type.Null()])

export const ContactBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 255, description: 'How the victim names this person' }),
  phone: Phone,
  email: Type.Optional(Nullable(Type.String({ maxLength: 254 }))),
  priority: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, description: '1 is alerted first; default: after the others' })),
})

export const ContactPatch = Type.Partial(ContactBody)

export const Contact = Type.Object({
  id: Id,
  name: Type.String(),
  phone: Phone,
  email: Nullable(Type.String()),
  priority: Type.Integer(),
  created_at: Timestamp,
  updated_at: Timestamp,
})

export const ContactIdParams = Type.Object({ id: Type.String({ description: 'Contact id' }) })

export const SosContact = Type.Object({
  id: Id,
  name: Type.String(),
  phone: Phone,
  email: Nullable(Type.String()),
  priority: Type.Integer(),
  source: Type.Union(['account', 'request', 'added'].map((s) => Type.Literal(s)), { description: 'From the owner account, named in the create request, or added later' }),
  created_at: Timestamp,
})

export const SosContactInput = Type.Object({ name: Type.String({ minLength: 1, maxLength: 255 }), phone: Phone, email: Type.Optional(Nullable(Type.String({ maxLength: 254 }))) })

export const AddSosContactsBody = Type.Object({
  contacts: Type.Optional(Type.Array(SosContactInput, { description: 'At most CONTACTS_MAX per SOS in all' })),
  name: Type.Optional(Type.String({ description: 'Or one contact: name + phone' })),
  phone: Type.Optional(Phone),
  sos_token: Type.Optional(Type.String({ description: 'Or the X-SOS-Token header' })),
})

export const SosContactList = Type.Object({ results: Type.Array(SosContact) })

export const Notification = Type.Object({
  id: Id,
  channel: Type.Union([Type.Literal('sms'), Type.Literal('webhook')]),
  kind: Type.Union([Type.Literal('alert'), Type.Literal('closing'), Type.Literal('event')], { description: 'alert: the first message; closing: the SOS was resolved or called off; event: a webhook of one log event' }),
  recipient: Type.String({ description: 'The phone number (sms) or the receiver URL (webhook)' }),
  contact: Nullable(Type.String({ description: 'The contact\'s name' })),
  status: Type.Union(['queued', 'sending', 'sent', 'failed', 'dead', 'not_configured', 'cancelled'].map((s) => Type.Literal(s)), {
    description: 'queued (waiting for the grace window), sending, sent, failed (will be retried at next_attempt_at), dead (given up: see reason), not_configured (no provider), cancelled (the SOS closed first)',
  }),
  attempts: Type.Integer(),
  reason: Nullable(Type.String({ description: 'Why the last try failed, or why the message was not sent' })),
  next_attempt_at: Nullable(Timestamp),
  sent_at: Nullable(Timestamp),
  message_id: Type.String({ description: 'Stable across tries: a duplicate after a crash carries the same id' }),
  provider_message_id: Nullable(Type.String({ description: 'The provider\'s id (Twilio\'s sid)' })),
  created_at: Timestamp,
  updated_at: Timestamp,
})

export const NotificationList = Type.Object({ sos_id: Id, results: Type.Array(Notification) })

export const ShareLink = Type.Object({
  id: Id,
  label: Type.String({ description: 'Who the link is for' }),
  contact: Nullable(Type.String({ description: 'The contact it was made for (null: made by hand)' })),
  status: Type.Union([Type.Literal('active'), Type.Literal('revoked'), Type.Literal('expired')]),
  created_at: Timestamp,
  expires_at: Timestamp,
  revoked_at: Nullable(Timestamp),
  on_the_way_at: Nullable(Timestamp),
})

export const NewShareLink = Type.Intersect([ShareLink, Type.Object({ url: Type.String({ description: 'The link; shown in this answer only (the token is not stored)' }) })])
export const ShareLinkList = Type.Object({ results: Type.Array(ShareLink) })
export const ShareLinkBody = Type.Object({
  label: Type.String({ minLength: 1, maxLength: 255 }),
  ttl_hours: Type.Optional(Type.Integer({ minimum: 1, description: 'At most SHARE_LINK_TTL_HOURS (the default)' })),
  sos_token: Type.Optional(Type.String()),
})
export const ShareLinkParams = Type.Object({ id: Type.String({ description: 'SOS id' }), linkId: Type.String({ description: 'Link id' }) })
