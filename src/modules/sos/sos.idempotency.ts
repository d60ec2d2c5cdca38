// Retry-safe creates: validating an Idempotency-Key, hashing it with its caller's scope, and deriving the SOS
// token again from the key on a replay, so that neither the key nor the token is ever stored.
import crypto from 'node:crypto'
import { AppError } from '../../errors.ts'
import type { FieldReader } from '../../lib/fields.ts'
import { sha256Hex } from '../../lib/secrets.ts'
import type { Actor } from './sos.policy.ts'

/** An Idempotency-Key: 8–255 visible ASCII characters (no spaces, no control characters). */
export const IDEMPOTENCY_KEY_RE = /^[\x21-\x7e]{8,255}$/

/** The key as the client sent it, and the field that carried it (for the error message). */
export interface IdempotencyInput {
  value: unknown
  /** `Idempotency-Key` (the REST header) or `client_request_id` (the socket payload). */
  field: string
}

/** The checked key, its hash (the table's primary key) and the hash of the request it belongs to. */
export interface IdempotencyClaim {
  key: string
  keyHash: string
  requestHash: string
}

/** Reads a key into `fields` (errors join the body's in one DRF 400); undefined when none was sent. */
export function readIdempotencyKey(fields: FieldReader, input: IdempotencyInput | undefined): string | undefined {
  if (!input || input.value === undefined || input.value === null) return undefined
  const { value, field } = input
  // Two Idempotency-Key headers arrive as an array: which one was meant is anyone's guess.
  if (Array.isArray(value)) return fields.fail(field, 'Send one key, not several.')
  if (typeof value !== 'string') return fields.fail(field, 'Not a valid string.')
  if (!IDEMPOTENCY_KEY_RE.test(value)) {
    return fields.fail(field, 'Use 8 to 255 visible ASCII characters (no spaces); a random UUID v4 is recommended.')
  }
  return value
}

/**
 * The caller a key belongs to: an account's keys are its own, and every caller without an account shares
 * one scope ("anonymous"). That is why a key must be unguessable: with the exact body, it replays the answer.
 */
export function idempotencyScope(actor: Actor): string {
  return actor.user ? `user:${actor.user.id}` : 'anonymous'
}

/** The stored form of a key: SHA-256 over (operation, scope, key). */
export function claimFor(actor: Actor, key: string, request: unknown): IdempotencyClaim {
  return {
    key,
    keyHash: sha256Hex(`create_sos\n${idempotencyScope(actor)}\n${key}`),
    // The request after validation (trimmed name, numbers parsed, sos_type defaulted), so that the same
    // request sent once as "12.97" and once as 12.97 is one request.
    requestHash: sha256Hex(JSON.stringify(request)),
  }
}

/** A fresh per-row salt (128 random bits, hex). */
export function newTokenSalt(): string {
  return crypto.randomBytes(16).toString('hex')
}

/**
 * The SOS token of a keyed create: HMAC-SHA256(key, salt ‖ room_id), base64url, the same format as
 * newSosToken() (32 bytes). Only the client holds the key, so only a repeat of the request recovers it;
 * the room_id (a random UUID fixed before the INSERT) binds it to one SOS row.
 */
export function deriveSosToken(key: string, salt: string, roomId: string): string {
  return crypto.createHmac('sha256', key).update(`${salt}\n${roomId}`).digest('base64url')
}

export const idempotencyConflict = () =>
  new AppError(422, 'idempotency_conflict', 'This idempotency key was already used with a different request; use a new key for a new request.')
