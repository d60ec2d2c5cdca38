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
  /** A dependency (the database) cannot answer right now: "try again", never "bug". */
  unavailable: () => new AppError(503, 'unavailable', 'Service temporarily unavailable, try again.', undefined, UNAVAILABLE_RETRY_AFTER_SECONDS),
}

/** Retry-After of a 503: long enough for a database restart or failover to finish, short for a person in danger. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 5

// Failures that mean "the database (or the network to it) is not answering", not "this request is
// wrong" or "the code is wrong". They are recognised by the codes the drivers set, never by anything
// a client sent: Node's socket errors, PostgreSQL SQLSTATEs, SQLite's result codes, and the few
// messages node-postgres (pg, pg-pool) raises without a code.
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'ENOTFOUND', 'EAI_AGAIN'])
const POSTGRES_STATES = new Set([
  '57P01', // admin_shutdown: "terminating connection due to administrator command" (restart, failover, pg_terminate_backend)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: "the database system is starting up / shutting down"
  '57014', // query_canceled: statement_timeout expired
  '53300', // too_many_connections
  '53400', // configuration_limit_exceeded
  '25P03', // idle_in_transaction_session_timeout
])
const SQLITE_CODES = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|PROTOCOL)/
const PG_CONNECTION_MESSAGES = [
  'Connection terminated unexpectedly',
  'Connection terminated due to connection timeout',
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Query read timeout',
  'Client has encountered a connection error and is not queryable',
  'Client was closed and is not queryable',
  'Cannot use a pool after calling end on the pool',
  'driver has already been destroyed',
]

/**
 * Whether `error` (or an error it wraps as `cause`) is a database outage: connection refused, reset or
 * timed out, the server terminating sessions, a statement timeout. Such a request may succeed if retried.
 */
export function isUnavailable(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof AppError) return false
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string') {
      if (NETWORK_CODES.has(code) || POSTGRES_STATES.has(code) || SQLITE_CODES.test(code)) return true
      if (/^08/.test(code) && code.length === 5) return true // SQLSTATE class 08: connection exception
    }
    // node-postgres raises these as plain Errors: they are its own fixed texts, not data.
    if (e instanceof Error && typeof code !== 'string' && PG_CONNECTION_MESSAGES.some((m) => e.message.startsWith(m))) return true
    // A pg-pool connect timeout wraps the socket error; AggregateError (happy eyeballs) holds several.
    if (e instanceof AggregateError && e.errors.some(isUnavailable)) return true
  }
  return false
}

/**
 * The one translation of a failure into what a client is told: an AppError as it is, a database outage
 * as `503 unavailable` (with Retry-After), anything else null (a bug: a masked 500, logged in full).
 * Used by the HTTP error handler and the socket event wrapper alike.
 */
export function knownError(error: unknown): AppError | null {
  if (error instanceof AppError) return error
  if (isUnavailable(error)) return errors.unavailable()
  return null
}
