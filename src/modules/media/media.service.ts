// SOS images: upload (judged by bytes, size-capped, stored durably), listing, and access to the files.
import type { Kysely } from 'kysely'
import type { Database } from '../../db/schema.ts'
import type { Writer } from '../../db/writer.ts'
import { AppError, errors } from '../../errors.ts'
import { parseId } from '../../lib/fields.ts'
import { nowIso } from '../../lib/time.ts'
import { hasNoCredential, sosPolicy, type Actor } from '../sos/sos.policy.ts'
import { refuse, type ImageDto, type RequestContext, type SosService } from '../sos/sos.service.ts'
import * as repo from './media.repository.ts'
import { CONTENT_TYPES, MEDIA_FILE_RE, sniffImage, type MediaStore } from './media.store.ts'

export interface UploadedFile {
  filename: string
  bytes: Buffer
  /** True when the file was cut at the size limit. */
  truncated: boolean
}

export interface UploadForm {
  sosId: string | undefined
  descriptions: string[]
  sosToken: string | undefined
  files: UploadedFile[]
}

const statusError = (status: number, message: string, extra: Record<string, unknown> = {}) =>
  new AppError(status, status === 404 ? 'not_found' : 'validation_error', message, { status: 'error', message, ...extra })

/** A file name safe to echo back in an error (no paths, no control characters). */
function displayName(filename: string): string {
  return (filename.split(/[\\/]/).pop() ?? '').replace(/[^\w.\- ]/g, '_').slice(0, 100) || 'file'
}

export class MediaService {
  private readonly db: Kysely<Database>
  private readonly writer: Writer
  private readonly store: MediaStore
  private readonly sos: SosService
  private readonly maxBytes: number

  constructor(deps: { db: Kysely<Database>; writer: Writer; store: MediaStore; sos: SosService; maxBytes: number }) {
    this.db = deps.db
    this.writer = deps.writer
    this.store = deps.store
    this.sos = deps.sos
    this.maxBytes = deps.maxBytes
  }

  async upload(form: UploadForm, actor: Actor, baseUrl: string) {
    if (form.sosId === undefined || form.sosId.trim() === '') throw statusError(400, 'SOS ID is required')
    const sosId = parseId(form.sosId.trim())
    if (sosId === undefined) throw statusError(400, 'SOS ID must be a positive integer')
    if (form.files.length === 0) throw statusError(400, 'At least one image is required')
    const sos = await this.sos.load(sosId, statusError(404, 'SOS request not found'))
    const withToken = !actor.sosToken && form.sosToken ? { ...actor, sosToken: form.sosToken } : actor
    if (!sosPolicy.contribute(withToken, sos)) throw refuse(withToken)

    const partialErrors: { file: string; error: string }[] = []
    const saved: { path: string; contentType: string; size: number; description: string }[] = []
    try {
      for (const [index, file] of form.files.entries()) {
        const name = displayName(file.filename)
        if (file.truncated) {
          partialErrors.push({ file: name, error: `File is larger than the ${this.maxBytes} byte limit.` })
          continue
        }
        const kind = sniffImage(file.bytes)
        if (!kind) {
          partialErrors.push({ file: name, error: 'Upload a valid image. The file you uploaded was either not an image or a corrupted image.' })
          continue
        }
        const description = (form.descriptions[index] ?? '').slice(0, 1000)
        saved.push({ path: await this.store.save(file.bytes, kind), contentType: kind.contentType, size: file.bytes.length, description })
      }
      if (saved.length === 0) throw statusError(400, 'No valid images were uploaded', { errors: partialErrors })
      const uploadedAt = nowIso()
      const rows = await this.writer.run((trx) =>
        repo.insertImages(
          trx,
          saved.map((file) => ({
            sos_request_id: sos.id,
            image: file.path,
            content_type: file.contentType,
            size_bytes: file.size,
            description: file.description,
            uploaded_at: uploadedAt,
          })),
        ),
      )
      const uploaded: ImageDto[] = rows.map((row) => this.store.describe(row, baseUrl))
      return {
        status: 'success',
        message: `Successfully uploaded ${uploaded.length} image(s)`,
        uploaded_images: uploaded,
        ...(partialErrors.length > 0 && { partial_errors: partialErrors }),
      }
    } catch (error) {
      // Nothing committed: leave no orphan files behind.
      await this.store.remove(saved.map((file) => file.path))
      throw error
    }
  }

  async list(rawId: string | undefined, ctx: RequestContext) {
    const id = parseId(rawId)
    const notFound = statusError(404, 'SOS request not found')
    if (id === undefined) throw notFound
    // No credential at all is 401 before the lookup, so sequential ids do not reveal which SOS exist.
    if (!ctx.actor.legacy && hasNoCredential(ctx.actor)) throw errors.notAuthenticated()
    const sos = await this.sos.load(id, notFound)
    if (!sosPolicy.readImages(ctx.actor, sos)) throw refuse(ctx.actor)
    const images = (await repo.imagesOf(this.db, sos.id)).map((row) => this.store.describe(row, ctx.baseUrl))
    return { status: 'success', message: 'Images fetched successfully', sos_id: sos.id, count: images.length, images }
  }

  /** Decides whether a media file may be served: legacy, a valid signature, or a reader of its SOS. */
  async authorizeFile(file: string, query: { expires?: unknown; signature?: unknown }, actor: Actor) {
    const notFound = new AppError(404, 'not_found', 'Not found.')
    if (!MEDIA_FILE_RE.test(file)) throw notFound
    const relative = `sos_images/${file}`
    const row = await repo.findImageByPath(this.db, relative)
    if (!row) throw notFound
    const result = { absolutePath: this.store.absolute(relative), contentType: CONTENT_TYPES[file.split('.').pop() ?? ''] ?? row.content_type }
    if (actor.legacy || this.store.verify(relative, query.expires, query.signature)) return result
    const sos = await this.sos.load(row.sos_request_id, notFound)
    if (!sosPolicy.readImages(actor, sos)) throw refuse(actor)
    return result
  }
}
