// Shared TypeBox schemas: the error shapes of CONTRACT §2 and small helpers for documenting routes.
import { Type, type TSchema } from '@sinclair/typebox'

export const DetailError = Type.Object(
  { detail: Type.String({ description: 'What went wrong, for a person.' }) },
  { $id: 'DetailError', description: 'DRF-style error: authentication, permission, not found, conflict, throttling.' },
)

export const ValidationError = Type.Record(Type.String(), Type.Array(Type.String()), {
  $id: 'ValidationError',
  description: 'DRF-style validation error: each field (or `non_field_errors`) maps to its messages.',
})

export const StatusError = Type.Object(
  { status: Type.Literal('error'), message: Type.String() },
  { $id: 'StatusError', additionalProperties: true, description: 'The image endpoints\' error shape.' },
)

export const Id = Type.Integer({ minimum: 1, description: 'Integer id' })
export const Timestamp = Type.String({ format: 'date-time', description: 'ISO 8601 UTC, e.g. 2025-06-26T10:15:30.123Z' })

/** Standard error responses for a route, merged with its success responses. */
export function withErrors<T extends Record<number, TSchema>>(success: T, codes: number[] = [400, 401, 403, 404]): Record<number, TSchema> {
  const out: Record<number, TSchema> = { ...success }
  for (const code of codes) out[code] = code === 400 ? Type.Ref(ValidationError) : Type.Ref(DetailError)
  out[429] = Type.Ref(DetailError)
  // Any route that needs the database answers this while it is down (with Retry-After).
  out[503] = Type.Ref(DetailError)
  return out
}

/** Security requirement: an API token or (where allowed) an SOS token, or nothing. */
type Security = Array<Record<string, string[]>>
export const TOKEN_SECURITY: Security = [{ TokenAuth: [] }]
export const TOKEN_OR_SOS_SECURITY: Security = [{ TokenAuth: [] }, { SosToken: [] }, {}]
export const OPTIONAL_TOKEN_SECURITY: Security = [{ TokenAuth: [] }, {}]
