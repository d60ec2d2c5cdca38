// HTTP routes for SOS images: multipart upload (decided before the files are read, streamed to disk), listing, and the media files themselves.
import fs from 'node:fs'
import type { IncomingMessage } from 'node:http'
import type { Readable } from 'node:stream'
import { finished } from 'node:stream/promises'
import { Type, type TSchema } from '@sinclair/typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { AppError } from '../../errors.ts'
import { baseUrlOf } from '../../lib/base-url.ts'
import { TOKEN_OR_SOS_SECURITY, withErrors } from '../../lib/schemas.ts'
import type { MediaService, UploadFields, UploadSession } from './media.service.ts'

export interface MediaRouteOptions {
  media: MediaService
  publicUrl: string | undefined
  /** The whole multipart request, in bytes (UPLOAD_MAX_REQUEST_BYTES). */
  maxRequestBytes: number
  /** Time to receive the whole upload (UPLOAD_TIMEOUT_SECONDS), in ms. */
  receiveTimeoutMs: number
}

const ImagesResponse = Type.Object({
  status: Type.Literal('success'),
  message: Type.String(),
  uploaded_images: Type.Array(Type.Ref('SosImage')),
  partial_errors: Type.Optional(Type.Array(Type.Object({ file: Type.String(), error: Type.String() }))),
})

const ListResponse = Type.Object({
  status: Type.Literal('success'),
  message: Type.String(),
  sos_id: Type.Integer(),
  count: Type.Integer(),
  images: Type.Array(Type.Ref('SosImage')),
})

const mediaErrors = (success: Record<number, TSchema>, codes: number[]) => {
  const responses = withErrors(success, [401, 403])
  for (const code of codes) responses[code] = Type.Ref('StatusError')
  return responses
}

const uploadError = (status: number, code: string, message: string) => new AppError(status, code, message, { status: 'error', message })
const noop = () => undefined

/**
 * Form data allowed before the first file part, where the caller is not yet decided. The fields that
 * may come there (sos_id, sos_token, up to 40 descriptions of 4 KiB) fit many times over; without it,
 * one huge field would make the server read (and discard) a whole request for an anonymous caller.
 */
export const FORM_BEFORE_FILES_MAX_BYTES = 1024 * 1024

/**
 * Watches the raw request of one upload: counts its bytes against the cap (chunked bodies have no
 * Content-Length to check up front), and against FORM_BEFORE_FILES_MAX_BYTES until the first file,
 * and aborts everything waiting on the upload when either is passed.
 */
class UploadGuard {
  private readonly controller = new AbortController()
  private readonly raw: IncomingMessage
  private readonly max: number
  private received = 0
  private filesBegun = false
  private readonly onData = (chunk: Buffer) => {
    this.received += chunk.length
    if (this.received > this.max) this.fail(uploadError(413, 'payload_too_large', `The upload is larger than the ${this.max} byte limit.`))
    else if (!this.filesBegun && this.received > FORM_BEFORE_FILES_MAX_BYTES) {
      this.fail(uploadError(413, 'payload_too_large', `More than ${FORM_BEFORE_FILES_MAX_BYTES} bytes of form data before the first file.`))
    }
  }

  /** Call right after request.parts(): that pipes the request, and a 'data' listener added before it would take bytes from the parser. */
  constructor(raw: IncomingMessage, max: number) {
    this.raw = raw
    this.max = max
    raw.on('data', this.onData)
  }

  get signal(): AbortSignal {
    return this.controller.signal
  }

  /** The first file part has begun: from here on only the whole-request cap counts. */
  beginFiles() {
    this.filesBegun = true
  }

  /** Why the upload was stopped, if it was. */
  get reason(): AppError | undefined {
    return this.signal.aborted ? (this.signal.reason as AppError) : undefined
  }

  private fail(error: AppError) {
    if (this.signal.aborted) return
    this.dispose()
    // Stop reading: the answer goes out with Connection: close, so the rest of the body is never read.
    this.raw.pause()
    this.controller.abort(error)
  }

  /** `promise`, unless the upload is aborted first. */
  race<T>(promise: Promise<T>): Promise<T> {
    promise.catch(noop) // a parser that fails after we stopped listening must not be an unhandled rejection
    if (this.signal.aborted) return Promise.reject(this.signal.reason)
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(this.signal.reason)
      this.signal.addEventListener('abort', onAbort, { once: true })
      promise.then(
        (value) => {
          this.signal.removeEventListener('abort', onAbort)
          resolve(value)
        },
        (error) => {
          this.signal.removeEventListener('abort', onAbort)
          reject(error)
        },
      )
    })
  }

  dispose() {
    this.raw.removeListener('data', this.onData)
  }
}

/** Reads a part the upload does not keep (another field name) to its end, so the parser reaches the next one. */
async function drain(source: Readable, signal: AbortSignal) {
  source.resume()
  await finished(source, { signal })
}

/**
 * Reads the multipart form in order. Who is uploading is decided at the first file part, from the
 * headers and the fields before it, so a refused caller's files are never read; `sos_id` and
 * `sos_token` after that point cannot change the decision. Image parts stream to temp files one at a
 * time; `descriptions` may come before or after the files.
 */
async function receiveUpload(request: FastifyRequest, media: MediaService, opts: MediaRouteOptions, baseUrl: string) {
  if (!request.isMultipart()) throw uploadError(415, 'unsupported_media_type', 'Expected a multipart/form-data request.')
  const declared = Number(request.headers['content-length'])
  if (Number.isFinite(declared) && declared > opts.maxRequestBytes) {
    throw uploadError(413, 'payload_too_large', `The upload is larger than the ${opts.maxRequestBytes} byte limit.`)
  }
  const fields: UploadFields = { sosId: undefined, sosToken: undefined }
  const descriptions: string[] = []
  // The i-th `sha256` value is the SHA-256 (hex) the phone computed for the i-th image: checked, not trusted.
  const digests: string[] = []
  let session: UploadSession | undefined
  const parts = request.parts()
  const guard = new UploadGuard(request.raw, opts.maxRequestBytes)
  try {
    for (;;) {
      const step = await guard.race(parts.next())
      if (step.done) break
      const part = step.value
      if (part.type === 'field') {
        const value = typeof part.value === 'string' ? part.value : String(part.value)
        if (part.fieldname === 'descriptions' || part.fieldname === 'description') descriptions.push(value)
        else if (part.fieldname === 'sha256') digests.push(value)
        else if (!session && part.fieldname === 'sos_id') fields.sosId = value
        else if (!session && part.fieldname === 'sos_token') fields.sosToken = value
        continue
      }
      if (!session) {
        guard.beginFiles()
        session = await guard.race(media.startUpload(fields, request.actor, request.ip))
      }
      if (part.fieldname === 'images' || part.fieldname === 'image') await session.receive(part.filename ?? '', part.file, guard.signal)
      else await drain(part.file, guard.signal)
    }
  } catch (error) {
    await session?.abort()
    if (guard.reason) throw guard.reason
    // The multipart plugin's limit errors carry a 4xx status, disk errors a syscall (a server fault,
    // masked as a 500); the parser's own (no boundary, body cut short) are the client's malformed body.
    if (error instanceof AppError || typeof (error as { statusCode?: unknown }).statusCode === 'number' || (error as { syscall?: unknown }).syscall) throw error
    throw uploadError(400, 'parse_error', 'Malformed multipart/form-data request.')
  } finally {
    guard.dispose()
  }
  if (!session) throw media.formWithoutFiles(fields)
  return session.commit(descriptions, baseUrl, digests)
}

export async function mediaRoutes(app: FastifyInstance, opts: MediaRouteOptions) {
  const { media } = opts
  const baseUrl = (request: FastifyRequest) => baseUrlOf(request, opts.publicUrl)

  app.post('/api/upload-sos-images/', {
    schema: {
      tags: ['media'],
      summary: 'Upload images for an SOS (multipart: sos_id, images[], descriptions[])',
      description:
        'JPEG, PNG, GIF or WebP, judged by their structure. `sos_id` (and a body `sos_token`) must come before the first file: ' +
        'the caller is decided there, before any file is read. The i-th `descriptions` value describes the i-th file. ' +
        'The i-th `sha256` value (optional, 64 hex digits) is the SHA-256 the phone computed for the i-th file: a file whose bytes do not match is refused ' +
        '(in `partial_errors`). Every stored image carries its `sha256`, and each is an `image_added` event in the incident log.',
      security: TOKEN_OR_SOS_SECURITY,
      consumes: ['multipart/form-data'],
      response: mediaErrors({ 201: ImagesResponse }, [400, 404, 413, 415, 429]),
    },
    config: { receiveTimeoutMs: opts.receiveTimeoutMs },
    handler: async (request, reply) => reply.code(201).send(await receiveUpload(request, media, opts, baseUrl(request))),
  })

  app.get('/api/get-sos-images/:id/', {
    schema: {
      tags: ['media'],
      summary: 'The images of an SOS, newest first (staff, owner, SOS token holder)',
      security: TOKEN_OR_SOS_SECURITY,
      params: Type.Object({ id: Type.String() }),
      response: mediaErrors({ 200: ListResponse }, [404]),
    },
    handler: async (request) => media.list((request.params as { id: string }).id, { actor: request.actor, baseUrl: baseUrl(request) }),
  })

  app.get('/media/sos_images/:file', {
    schema: {
      tags: ['media'],
      summary: 'An image file: with a valid signed link, or with a token that may read its SOS',
      security: TOKEN_OR_SOS_SECURITY,
      params: Type.Object({ file: Type.String() }),
      querystring: Type.Object({ expires: Type.Optional(Type.String()), signature: Type.Optional(Type.String()) }),
    },
    handler: async (request, reply) => {
      const { file } = request.params as { file: string }
      const found = await media.authorizeFile(file, request.query as Record<string, unknown>, request.actor)
      const stat = await fs.promises.stat(found.absolutePath).catch(() => null)
      if (!stat) throw new AppError(404, 'not_found', 'Not found.')
      return reply
        .type(found.contentType)
        .header('content-length', stat.size)
        .header('cache-control', 'private, max-age=300')
        .header('x-content-type-options', 'nosniff')
        .header('content-disposition', 'inline')
        .send(fs.createReadStream(found.absolutePath))
    },
  })
}
