// AppError: every refusal the service makes, with its HTTP body (DRF's shapes) and its socket-ack form.

export type FieldErrors = Record<string, string[]>

export class AppError extends Error {
  readonly status: number
  readonly code: string
  /** The exact JSON body sent over HTTP (the contract has several DRF-era shapes). */
  readonly body: Record<string, unknown>
  /** Seconds until trying again makes sense (a throttled request): HTTP `Retry-After`, socket `retry_after`. */
  readonly retryAfter: number | undefined

  constructor(status: number, code: string, message: string, body?: Record<string, unknown>, retryAfter?: number) {
    super(message)
    this.name = 'AppError'
    this.status = status
    this.code = code
    this.body = body ?? { detail: message }
    this.retryAfter = retryAfter
  }

  /** The `{code, message}` object used in socket acknowledgements and `error` events. */
  toSocketError(): { code: string; message: string; fields?: FieldErrors; retry_after?: number } {
    if (this.code === 'validation_error') {
      return { code: this.code, message: this.message, fields: this.body as FieldErrors }
    }
    if (this.retryAfter !== undefined) return { code: this.code, message: this.message, retry_after: this.retryAfter }
    return { code: this.code, message: this.message }
  }
}

/** DRF's validation shape: `400 {"field": ["message"], "non_field_errors": [...]}`. */
export function validationError(fields: FieldErrors): AppError {
  const summary = Object.entries(fields)
    .map(([field, messages]) => `${field}: ${messages.join(' ')}`)
    .join('; ')
  return new AppError(400, 'validation_error', summary || 'Invalid input.', fields)
}

export const errors = {
  notAuthenticated: () => new AppError(401, 'not_authenticated', 'Authentication credentials were not provided.'),
  invalidToken: () => new AppError(401, 'authentication_failed', 'Invalid token.'),
  forbidden: () => new AppError(403, 'permission_denied', 'You do not have permission to perform this action.'),
  notFound: () => new AppError(404, 'not_found', 'Not found.'),
  conflict: (message: string) => new AppError(409, 'conflict', message),
  tooManyRequests: (message = 'Request was throttled.') => new AppError(429, 'throttled', message),
  /** DRF's Throttled wording (which the original's clients know), with the wait as Retry-After. */
  throttled: (seconds: number) =>
    new AppError(429, 'throttled', `Request was throttled. Expected available in ${seconds} second${seconds === 1 ? '' : 's'}.`, undefined, seconds),
}
