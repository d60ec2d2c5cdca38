// Field validators with Django REST Framework's semantics and messages, shared by REST and sockets.
import { validationError, type FieldErrors } from '../errors.ts'

/** A unit number (`UNIT001`): 1–50 letters, digits, "-" or "_". One definition for REST, sockets and schemas. */
export const UNIT_NUMBER_PATTERN = '^[A-Za-z0-9_-]{1,50}$'
export const UNIT_NUMBER_RE = new RegExp(UNIT_NUMBER_PATTERN)

export const MSG = {
  required: 'This field is required.',
  null: 'This field may not be null.',
  blank: 'This field may not be blank.',
  number: 'A valid number is required.',
  integer: 'A valid integer is required.',
  string: 'Not a valid string.',
  email: 'Enter a valid email address.',
  notObject: (got: string) => `Invalid data. Expected a dictionary, but got ${got}.`,
  maxLength: (n: number) => `Ensure this field has no more than ${n} characters.`,
  maxValue: (n: number) => `Ensure this value is less than or equal to ${n}.`,
  minValue: (n: number) => `Ensure this value is greater than or equal to ${n}.`,
  choice: (value: unknown) => `"${String(value)}" is not a valid choice.`,
}

/** Python's type names as DRF prints them in "Expected a dictionary, but got X". */
export function pyTypeName(value: unknown): string {
  if (Array.isArray(value)) return 'list'
  if (value === null) return 'NoneType'
  if (typeof value === 'string') return 'str'
  if (typeof value === 'boolean') return 'bool'
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float'
  return typeof value
}

export type Payload = Record<string, unknown>

/**
 * Deepest nesting any request body or socket payload may have. Real ones are at most 3 levels deep; a
 * bound keeps hostile input (`[[[[…]]]]`, thousands deep) away from anything recursive downstream.
 */
export const MAX_PAYLOAD_DEPTH = 32

/** Whether `value` nests objects/arrays deeper than `max` levels. Iterative, so any depth is safe to check. */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]]
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!
    if (typeof item !== 'object' || item === null) continue
    if (depth > max) return true
    for (const child of Array.isArray(item) ? item : Object.values(item)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1])
    }
  }
  return false
}

export const TOO_DEEP = `Invalid data. Nested more than ${MAX_PAYLOAD_DEPTH} levels deep.`

/** The request body must be a plain object; anything else is DRF's non_field_errors. */
export function asObject(body: unknown): Payload {
  if (nestedDeeperThan(body, MAX_PAYLOAD_DEPTH)) throw validationError({ non_field_errors: [TOO_DEEP] })
  if (body === undefined || body === null || body === '') return {}
  if (typeof body !== 'object' || Array.isArray(body)) {
    throw validationError({ non_field_errors: [MSG.notObject(pyTypeName(body))] })
  }
  return body as Payload
}

/** Collects per-field errors; `done()` throws one DRF-shaped 400 if there were any. */
export class FieldReader {
  readonly errors: FieldErrors = {}
  private readonly body: Payload

  constructor(body: Payload) {
    this.body = body
  }

  fail(field: string, message: string): undefined {
    ;(this.errors[field] ??= []).push(message)
    return undefined
  }

  value(field: string): unknown {
    return this.has(field) ? this.body[field] : undefined
  }

  has(field: string): boolean {
    return Object.prototype.hasOwnProperty.call(this.body, field) && this.body[field] !== undefined
  }

  private present(field: string, required: boolean, nullable = false): unknown {
    if (!this.has(field)) return required ? this.fail(field, MSG.required) : undefined
    const value = this.body[field]
    if (value === null) return nullable ? undefined : this.fail(field, MSG.null)
    return value
  }

  /** DRF CharField: strings (numbers are turned into strings), trimmed, length-checked. */
  string(field: string, opts: { required?: boolean; max: number; allowBlank?: boolean; trim?: boolean; nullable?: boolean }): string | undefined {
    const value = this.present(field, opts.required ?? true, opts.nullable)
    if (value === undefined) return undefined
    let text: string
    if (typeof value === 'string') text = value
    else if (typeof value === 'number' && Number.isFinite(value)) text = String(value)
    else return this.fail(field, MSG.string)
    if (opts.trim ?? true) text = text.trim()
    if (text.includes('\u0000')) return this.fail(field, 'Null characters are not allowed.')
    if (text === '' && !opts.allowBlank) return this.fail(field, MSG.blank)
    if ([...text].length > opts.max) return this.fail(field, MSG.maxLength(opts.max))
    return text
  }

  /** DRF FloatField: numbers or numeric strings; must be finite and within [min, max]. */
  number(field: string, opts: { required?: boolean; min: number; max: number }): number | undefined {
    const value = this.present(field, opts.required ?? true)
    if (value === undefined) return undefined
    const parsed = toNumber(value)
    if (parsed === undefined || !Number.isFinite(parsed)) return this.fail(field, MSG.number)
    if (parsed > opts.max) return this.fail(field, MSG.maxValue(opts.max))
    if (parsed < opts.min) return this.fail(field, MSG.minValue(opts.min))
    return parsed
  }

  /** DRF IntegerField: integers or integer strings, within [min, max]. */
  integer(field: string, opts: { required?: boolean; min?: number; max?: number; message?: string }): number | undefined {
    const value = this.present(field, opts.required ?? true)
    if (value === undefined) return undefined
    const parsed = toInteger(value)
    if (parsed === undefined) return this.fail(field, opts.message ?? MSG.integer)
    if (opts.max !== undefined && parsed > opts.max) return this.fail(field, MSG.maxValue(opts.max))
    if (opts.min !== undefined && parsed < opts.min) return this.fail(field, MSG.minValue(opts.min))
    return parsed
  }

  /** DRF ChoiceField over integers (e.g. sos_type 0/1), accepting "1" as 1. */
  intChoice(field: string, choices: number[], fallback: number): number | undefined {
    if (!this.has(field)) return fallback
    const value = this.body[field]
    if (value === null) return this.fail(field, MSG.null)
    const parsed = toInteger(value)
    if (parsed === undefined || !choices.includes(parsed)) return this.fail(field, MSG.choice(shortRepr(value)))
    return parsed
  }

  /** DRF ChoiceField over strings; absent or null is undefined (an optional choice). */
  choice<T extends string>(field: string, choices: readonly T[]): T | undefined {
    if (!this.has(field) || this.body[field] === null) return undefined
    const value = this.body[field]
    if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) return this.fail(field, MSG.choice(shortRepr(value)))
    return value as T
  }

  /** A primary key of a related row (DRF PrimaryKeyRelatedField's messages). */
  pk(field: string): number | undefined {
    const value = this.present(field, true)
    if (value === undefined) return undefined
    if (typeof value !== 'number' && typeof value !== 'string') {
      return this.fail(field, `Incorrect type. Expected pk value, received ${pyTypeName(value)}.`)
    }
    const parsed = toInteger(value)
    if (parsed === undefined || parsed < 1 || parsed > 2_147_483_647) return this.fail(field, `Invalid pk "${String(value)}" - object does not exist.`)
    return parsed
  }

  done(): void {
    if (Object.keys(this.errors).length > 0) throw validationError(this.errors)
  }
}

/**
 * A short, bounded rendering of a client's value for an error message. Never serializes the value
 * whole: input is hostile, and its size and depth are the attacker's choice.
 */
export function shortRepr(value: unknown): string {
  if (Array.isArray(value)) return value.length === 0 ? '[]' : '[…]'
  if (typeof value === 'object' && value !== null) return Object.keys(value).length === 0 ? '{}' : '{…}'
  const text = String(value)
  return text.length > 50 ? `${text.slice(0, 50)}…` : text
}

function toNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return value
  if (typeof value === 'string' && /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(value)) return Number(value)
  return undefined
}

function toInteger(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : undefined
  if (typeof value === 'string' && /^\s*[+-]?\d{1,15}\s*$/.test(value)) return Number(value)
  return undefined
}

/** Parses an integer path parameter; anything else is "Not found." as in Django's router. */
export function parseId(raw: string | undefined): number | undefined {
  if (raw === undefined || !/^\d{1,10}$/.test(raw)) return undefined
  const id = Number(raw)
  return id >= 1 && id <= 2_147_483_647 ? id : undefined
}
