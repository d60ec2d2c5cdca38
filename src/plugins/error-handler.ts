// The one error handler: AppError → its DRF-shaped body; framework errors → 4xx; a database outage → 503
// "try again" with Retry-After; anything else → a masked 500.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { AppError, knownError } from '../errors.ts'
import type { Throttle } from '../lib/throttle.ts'

function send(reply: FastifyReply, status: number, body: Record<string, unknown>) {
  // Pre-serialized: error bodies have several legacy shapes, so they bypass the routes' response schemas.
  return reply.code(status).type('application/json; charset=utf-8').send(JSON.stringify(body))
}

/** Fastify's own 4xx errors (bad JSON, body too large, wrong content type) in DRF's words. */
function frameworkError(error: FastifyError): AppError | null {
  const status = error.statusCode ?? 500
  if (status >= 500) return null
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new AppError(400, 'parse_error', `JSON parse error - ${error.message}`)
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError(413, 'payload_too_large', 'Request body is too large.')
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AppError(415, 'unsupported_media_type', 'Unsupported media type in request.')
    case 'FST_ERR_RATE_LIMIT_EXCEEDED':
      return new AppError(429, 'throttled', error.message || 'Request was throttled.')
    case 'FST_REQ_FILE_TOO_LARGE':
      return new AppError(413, 'payload_too_large', 'Uploaded file is too large.', { status: 'error', message: 'Uploaded file is too large.' })
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return new AppError(415, 'unsupported_media_type', 'Expected a multipart/form-data request.', { status: 'error', message: 'Expected a multipart/form-data request.' })
    default:
      if (status === 429) return new AppError(429, 'throttled', 'Request was throttled.')
      if (error.code?.startsWith('FST_') || status < 500) return new AppError(status, 'bad_request', error.message.slice(0, 300))
      return null
  }
}

/**
 * Fastify's `frameworkErrors` option: errors raised before routing (a path with broken %-encoding,
 * an over-long path parameter), which never reach setErrorHandler, rendered in the same shapes.
 */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const status = error.statusCode ?? 500
  if (status >= 500) {
    request.log.error({ err: error }, 'unhandled error')
    return send(reply, 500, { detail: 'A server error occurred.' })
  }
  request.log.info({ code: error.code, status }, 'request refused')
  return send(reply, status, { detail: status === 414 ? 'Request URL is too long.' : 'Malformed request URL.' })
}

export default fp(
  async function errorHandler(app: FastifyInstance, opts: { outageLog: Throttle }) {
    app.setErrorHandler((error: FastifyError, request, reply) => {
      const known = knownError(error) ?? frameworkError(error)
      if (known) {
        request.log.info({ code: known.code, status: known.status }, 'request refused')
        // An outage fails every request: one warning (with the driver's error) per interval, not one each.
        if (known.status === 503) opts.outageLog.run((skipped) => request.log.warn({ err: error, skipped }, 'database unavailable: requests are answered 503 (this line repeats at most every 10 s)'))
        if (known.retryAfter !== undefined) reply.header('retry-after', String(known.retryAfter))
        return send(reply, known.status, known.body)
      }
      request.log.error({ err: error }, 'unhandled error')
      return send(reply, 500, { detail: 'A server error occurred.' })
    })

    app.setNotFoundHandler((request, reply) => send(reply, 404, { detail: 'Not found.' }))
  },
  { name: 'error-handler' },
)
