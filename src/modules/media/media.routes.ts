// HTTP routes for SOS images: multipart upload, listing, and the media files themselves.
import fs from 'node:fs'
import { Type, type TSchema } from '@sinclair/typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { AppError } from '../../errors.ts'
import { baseUrlOf } from '../../lib/base-url.ts'
import { TOKEN_OR_SOS_SECURITY, withErrors } from '../../lib/schemas.ts'
import type { MediaService, UploadForm } from './media.service.ts'

export interface MediaRouteOptions {
  media: MediaService
  publicUrl: string | undefined
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

/** Reads the whole multipart form: fields may arrive after the files, so files are buffered (size-capped). */
async function readForm(request: FastifyRequest): Promise<UploadForm> {
  if (!request.isMultipart()) {
    throw new AppError(415, 'unsupported_media_type', 'Expected a multipart/form-data request.', { status: 'error', message: 'Expected a multipart/form-data request.' })
  }
  const form: UploadForm = { sosId: undefined, descriptions: [], sosToken: undefined, files: [] }
  try {
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        if (part.fieldname !== 'images' && part.fieldname !== 'image') {
          part.file.resume()
          continue
        }
        const bytes = await part.toBuffer()
        form.files.push({ filename: part.filename ?? '', bytes, truncated: part.file.truncated })
        continue
      }
      const value = typeof part.value === 'string' ? part.value : String(part.value)
      if (part.fieldname === 'sos_id') form.sosId = value
      else if (part.fieldname === 'descriptions' || part.fieldname === 'description') form.descriptions.push(value)
      else if (part.fieldname === 'sos_token') form.sosToken = value
    }
  } catch (error) {
    // The multipart plugin's own limit errors carry a 4xx status; the parser's (no boundary, body cut
    // short) are plain Errors, yet they are the client's malformed body, not a server fault.
    if (error instanceof AppError || typeof (error as { statusCode?: unknown }).statusCode === 'number') throw error
    const message = 'Malformed multipart/form-data request.'
    throw new AppError(400, 'parse_error', message, { status: 'error', message })
  }
  return form
}

export async function mediaRoutes(app: FastifyInstance, opts: MediaRouteOptions) {
  const { media } = opts
  const baseUrl = (request: FastifyRequest) => baseUrlOf(request, opts.publicUrl)

  app.post('/api/upload-sos-images/', {
    schema: {
      tags: ['media'],
      summary: 'Upload images for an SOS (multipart: sos_id, images[], descriptions[])',
      description: 'JPEG, PNG, GIF or WebP, judged by their bytes. The i-th `descriptions` value describes the i-th file.',
      security: TOKEN_OR_SOS_SECURITY,
      consumes: ['multipart/form-data'],
      response: mediaErrors({ 201: ImagesResponse }, [400, 404, 413, 415]),
    },
    handler: async (request, reply) => reply.code(201).send(await media.upload(await readForm(request), request.actor, baseUrl(request))),
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
