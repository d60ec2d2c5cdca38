// Reading contacts from requests: E.164 phone numbers, optional email, priority, and lists of contacts with
// DRF's nested error shape (`{"contacts": [{}, {"phone": ["…"]}]}`).
import { AppError } from '../../errors.ts'
import { FieldReader, MSG, type Payload } from '../../lib/fields.ts'

/** E.164: "+", a country code that does not start with 0, at most 15 digits in all (ITU-T E.164). */
export const E164_RE = /^\+[1-9]\d{6,14}$/
const PHONE_MESSAGE = 'Enter a valid phone number in international E.164 form, e.g. +919812345678.'
const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/

export interface ContactInput {
  name: string
  phone: string
  email: string | null
  priority: number | undefined
}

/**
 * A phone number as E.164. People type "+91 98123-45678" or "0091 …": spaces, dashes, dots and brackets
 * are dropped and a leading 00 is read as +; what is left must be E.164 (no national numbers: the server
 * cannot know which country a number without a country code belongs to).
 */
export function readPhone(fields: FieldReader, field: string, required = true): string | undefined {
  const raw = fields.string(field, { max: 32, required })
  if (raw === undefined) return undefined
  const compact = raw.replace(/[\s\-.()]/g, '').replace(/^00/, '+')
  if (!E164_RE.test(compact)) return fields.fail(field, PHONE_MESSAGE)
  return compact
}

export function readEmail(fields: FieldReader, field: string): string | null | undefined {
  if (fields.has(field) && fields.value(field) === null) return null
  const raw = fields.string(field, { max: 254, required: false, allowBlank: true })
  if (raw === undefined) return undefined
  if (raw === '') return null
  if (!EMAIL_RE.test(raw)) return fields.fail(field, MSG.email)
  return raw.toLowerCase()
}

/** One contact object; `partial` for PATCH (every field optional). */
export function readContact(body: Payload, partial = false): { contact: Partial<ContactInput>; fields: FieldReader } {
  const fields = new FieldReader(body)
  const required = !partial
  const contact: Partial<ContactInput> = {}
  const name = fields.string('name', { max: 255, required })
  if (name !== undefined) contact.name = name
  const phone = readPhone(fields, 'phone', required)
  if (phone !== undefined) contact.phone = phone
  const email = readEmail(fields, 'email')
  if (email !== undefined) contact.email = email
  const priority = fields.integer('priority', { required: false, min: 1, max: 100 })
  if (priority !== undefined) contact.priority = priority
  return { contact, fields }
}

export type ContactListErrors = Array<Record<string, string[]>> | string[]

export interface ContactList {
  contacts: ContactInput[]
  /** DRF's shape for the `contacts` field: one error object per item (empty when fine), or a list-level message. */
  errors: ContactListErrors | null
}

export const tooMany = (max: number) => `Ensure this field has no more than ${max} elements.`

/**
 * Reads `contacts: [{name, phone, email?}]`. Items that fail are reported in place (DRF's ListSerializer
 * shape); more than `max` items is one list-level error. Repeated numbers count once.
 */
export function readContactList(value: unknown, max: number): ContactList {
  if (value === undefined || value === null) return { contacts: [], errors: null }
  if (!Array.isArray(value)) return { contacts: [], errors: [`Expected a list of items but got type "${typeof value === 'string' ? 'str' : typeof value}".`] }
  if (value.length > max) return { contacts: [], errors: [tooMany(max)] }
  const contacts: ContactInput[] = []
  const errors: Array<Record<string, string[]>> = []
  const seen = new Set<string>()
  let failed = false
  for (const item of value) {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      errors.push({ non_field_errors: ['Invalid data. Expected a dictionary.'] })
      failed = true
      continue
    }
    const { contact, fields } = readContact(item as Payload)
    if (Object.keys(fields.errors).length > 0) {
      errors.push(fields.errors)
      failed = true
      continue
    }
    errors.push({})
    if (seen.has(contact.phone!)) continue
    seen.add(contact.phone!)
    contacts.push({ name: contact.name!, phone: contact.phone!, email: contact.email ?? null, priority: contact.priority })
  }
  return { contacts, errors: failed ? errors : null }
}

export function contactListError(errors: ContactListErrors): AppError {
  return new AppError(400, 'validation_error', 'contacts: invalid contacts.', { contacts: errors })
}
