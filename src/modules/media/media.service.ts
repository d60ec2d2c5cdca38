// SOS images: uploads (caller decided before any file byte is read, streamed to disk, judged by structure, within quotas), listing, and access to the files.
import type { Readable } from 'node:stream'
import { finished } from 'node:stream/promises'
import type { Kysely } from 'kysely'
import type { Database, SosRow } from '../../db/schema.ts'
import type { Writer } from '../../db/writer.ts'
import { AppError, errors } from '../../errors.ts'
import { parseId } from '../../lib/fields.ts'
import { clientKey } from '../../lib/rate-limiter.ts'
import { nowIso } from '../../lib/time.ts'
import { isStaff } from '../auth/auth.service.ts'
import type { LogEvent } from '../../realtime/contract.ts'
import type { RealtimePublisher } from '../../realtime/publisher.ts'
import { toUpdatedEvent } from '../sos/sos.lifecycle.service.ts'
import { appendEvent, eventActor, toEventDto, type EventActor } from '../sos/sos.log.ts'
import { hasNoCredential, sosPolicy, type Actor } from '../sos/sos.policy.ts'
import { refuse, type ImageDto, type RequestContext, type SosService } from '../sos/sos.service.ts'
import { checkImage, type ImageInfo } from './media.formats.ts'
import * as repo from './media.repository.ts'
import { HourlyUploadQuota } from './media.quota.ts'
import { CONTENT_TYPES, MEDIA_FILE_RE, type IncomingFile, type MediaStore } from './media.store.ts'

/** The form fields that came before the first file: the only ones that may decide who is uploading. */
export interface UploadFields {
  sosId: string | undefined
  sosToken: string | undefined
}

export interface UploadLimits {
  /** One image, in bytes (IMAGE_MAX_BYTES). */
  maxBytes: number
  /** Images per request (IMAGE_MAX_FILES); more are reported in partial_errors. */
  maxFiles: number
  /** Images and bytes one SOS may hold (SOS_IMAGES_MAX_FILES / _BYTES). */
  sosMaxFiles: number
  sosMaxBytes: number
  /** Images and bytes one client IP (not staff) may upload per hour (UPLOAD_IP_FILES_PER_HOUR / _BYTES_PER_HOUR). */
  ipFilesPerHour: number
  ipBytesPerHour: number
}

export interface PartialError {
  file: string
  error: string
}

const NOT_AN_IMAGE = 'Upload a valid image. The file you uploaded was either not an image or a corrupted image.'

const statusError = (status: number, message: string, extra: Record<string, unknown> = {}, retryAfter?: number) =>
  new AppError(
    status,
    status === 404 ? 'not_found' : status === 413 ? 'payload_too_large' : status === 429 ? 'throttled' : 'validation_error',
    message,
    { status: 'error', message, ...extra },
    retryAfter,
  )

/** A file name safe to echo back in an error (no paths, no control characters). */
function displayName(filename: string): string {
  return (filename.split(/[\\/]/).pop() ?? '').replace(/[^\w.\- ]/g, '_').slice(0, 100) || 'file'
}

function sosIdOf(fields: UploadFields): number {
  const raw = fields.sosId?.trim()
  if (!raw) throw statusError(400, 'SOS ID is required')
  const id = parseId(raw)
  if (id === undefined) throw statusError(400, 'SOS ID must be a positive integer')
  return id
}

interface Accepted extends ImageInfo {
  /** Position among the request's image parts: the i-th `descriptions` value belongs to it. */
  index: number
  name: string
  file: IncomingFile
  size: number
  /** The per-IP window this file was counted in; null when the uploader is staff (not counted). */
  ipWindow: number | null
  /** Set once the file has been moved into place. */
  path?: string
}

/**
 * One upload request, after its caller was allowed: receives its image parts one at a time, keeps
 * the ones that are images and fit the limits, and stores them in one transaction. Every temp or
 * moved file is deleted again unless its row was committed.
 */
export class UploadSession {
  private readonly deps: { store: MediaStore; writer: Writer; publisher: RealtimePublisher; ipQuota: HourlyUploadQuota; limits: UploadLimits }
  private readonly sos: SosRow
  /** Who is uploading, for the incident log. */
  private readonly by: EventActor
  private readonly ip: string
  private readonly countsForIp: boolean
  private readonly accepted: Accepted[] = []
  private readonly refusals: Array<PartialError & { index: number }> = []
  private parts = 0
  /** What this SOS may still take, from its quota use when the upload began, less what this request accepted. */
  private sosFilesLeft: number
  private sosBytesLeft: number

  constructor(
    deps: UploadSession['deps'],
    init: { sos: SosRow; by: EventActor; ip: string; countsForIp: boolean; sosFilesLeft: number; sosBytesLeft: number },
  ) {
    this.deps = deps
    this.sos = init.sos
    this.by = init.by
    this.ip = init.ip
    this.countsForIp = init.countsForIp
    this.sosFilesLeft = init.sosFilesLeft
    this.sosBytesLeft = init.sosBytesLeft
  }

  private refuse(index: number, filename: string, error: string) {
    this.refusals.push({ index, file: displayName(filename), error })
  }

  /** Reads one image part to its end; it is kept only if it is an image within every limit. */
  async receive(filename: string, source: Readable, signal: AbortSignal): Promise<void> {
    const { limits, store, ipQuota } = this.deps
    const index = this.parts++
    if (index >= limits.maxFiles) {
      // Accept the first IMAGE_MAX_FILES and report the rest, as the docs say, rather than fail them all.
      source.resume()
      await finished(source, { signal })
      return this.refuse(index, filename, `Too many files: at most ${limits.maxFiles} images per upload.`)
    }
    const ipLeft = this.countsForIp ? ipQuota.remaining(this.ip) : { files: Infinity, bytes: Infinity, retryAfterSeconds: 0 }
    if (this.sosFilesLeft < 1 || ipLeft.files < 1) {
      source.resume()
      await finished(source, { signal })
      return this.refuse(index, filename, this.sosFilesLeft < 1 ? this.sosQuotaMessage() : this.ipQuotaMessage())
    }
    const room = Math.min(limits.maxBytes, this.sosBytesLeft, ipLeft.bytes)
    const { file, tooLarge } = await store.receive(source, room, signal)
    let kept = false
    try {
      signal.throwIfAborted()
      if (tooLarge || (source as Readable & { truncated?: boolean }).truncated) {
        const why =
          room === limits.maxBytes
            ? `File is larger than the ${limits.maxBytes} byte limit.`
            : room === this.sosBytesLeft
              ? this.sosQuotaMessage()
              : this.ipQuotaMessage()
        return this.refuse(index, filename, why)
      }
      const image = await checkImage(file)
      if (!image.ok) return this.refuse(index, filename, NOT_AN_IMAGE)
      const ipWindow = this.countsForIp ? ipQuota.take(this.ip, file.size) : null
      if (this.countsForIp && ipWindow === null) return this.refuse(index, filename, this.ipQuotaMessage())
      this.accepted.push({ index, name: displayName(filename), file, size: file.size, ipWindow, ext: image.ext, contentType: image.contentType, width: image.width, height: image.height })
      this.sosFilesLeft -= 1
      this.sosBytesLeft -= file.size
      kept = true
    } finally {
      if (!kept) await file.discard()
    }
  }

  private sosQuotaMessage() {
    const { sosMaxFiles, sosMaxBytes } = this.deps.limits
    return `This SOS has reached its image limit (${sosMaxFiles} images, ${sosMaxBytes} bytes).`
  }

  private ipQuotaMessage() {
    const { ipFilesPerHour, ipBytesPerHour } = this.deps.limits
    return `Upload limit for this address reached (${ipFilesPerHour} images, ${ipBytesPerHour} bytes per hour).`
  }

  /** Moves the accepted files into place and commits their rows, re-checking the SOS quota under its row lock. */
  async commit(descriptions: string[], baseUrl: string, digests: string[] = []) {
    const { store, writer } = this.deps
    const { sosMaxFiles, sosMaxBytes } = this.deps.limits
    try {
      if (this.parts === 0) throw statusError(400, 'At least one image is required')
      // Chain of custody: a file the phone gave a hash for must be exactly those bytes.
      for (const file of [...this.accepted]) {
        const claimed = digests[file.index]?.trim().toLowerCase()
        if (!claimed) continue
        if (!/^[0-9a-f]{64}$/.test(claimed)) this.refuse(file.index, file.name, 'sha256 must be 64 hexadecimal digits.')
        else if (claimed !== file.file.sha256()) this.refuse(file.index, file.name, 'SHA-256 mismatch: the bytes received are not the ones the phone hashed.')
        else continue
        await this.drop([file])
      }
      if (this.accepted.length === 0) throw statusError(400, 'No valid images were uploaded', { errors: this.partialErrors() })
      for (const file of this.accepted) file.path = await store.keep(file.file, file.ext)
      const uploadedAt = nowIso()
      const { rows, over, last } = await writer.run(async (trx) => {
        // Another request may have stored images since this one began: the database decides.
        if (!(await repo.lockSos(trx, this.sos.id))) throw statusError(404, 'SOS request not found')
        const usage = await repo.imageUsage(trx, this.sos.id)
        const fit: Accepted[] = []
        const over: Accepted[] = []
        for (const file of this.accepted) {
          if (usage.files + 1 <= sosMaxFiles && usage.bytes + file.size <= sosMaxBytes) {
            usage.files += 1
            usage.bytes += file.size
            fit.push(file)
          } else over.push(file)
        }
        const rows = await repo.insertImages(
          trx,
          fit.map((file) => ({
            sos_request_id: this.sos.id,
            image: file.path!,
            content_type: file.contentType,
            size_bytes: file.size,
            description: (descriptions[file.index] ?? '').slice(0, 1000),
            uploaded_at: uploadedAt,
            sha256: file.file.sha256(),
          })),
        )
        // Each image is an event in the log, committed with it: who, when, which hash.
        let last: { row: SosRow; event: LogEvent } | undefined
        for (const row of rows) {
          const event = await appendEvent(trx, this.sos.id, 'image_added', this.by, uploadedAt, { image_id: row.id, sha256: row.sha256, size_bytes: row.size_bytes, content_type: row.content_type })
          last = { row: { ...this.sos, last_seq: event.seq }, event: toEventDto(event) }
        }
        return { rows, over, last }
      })
      // Committed files are no longer this request's to delete, whatever happens next.
      this.accepted.splice(0, this.accepted.length, ...over)
      for (const file of over) this.refuse(file.index, file.name, this.sosQuotaMessage())
      await this.drop(over)
      if (rows.length === 0) throw statusError(400, 'No valid images were uploaded', { errors: this.partialErrors() })
      if (last) this.deps.publisher.sosUpdated(last.row, toUpdatedEvent(last.row, last.event))
      const uploaded: ImageDto[] = rows.map((row) => store.describe(row, baseUrl))
      const errors = this.partialErrors()
      return {
        status: 'success',
        message: `Successfully uploaded ${uploaded.length} image(s)`,
        uploaded_images: uploaded,
        ...(errors.length > 0 && { partial_errors: errors }),
      }
    } catch (error) {
      // Nothing committed: leave no file behind, and give the per-IP allowance back.
      await this.abort()
      throw error
    }
  }

  /** Deletes every file of this request that has not been committed (temp or moved). */
  async abort() {
    await this.drop(this.accepted.splice(0))
  }

  private async drop(files: Accepted[]) {
    for (const file of files) {
      if (file.ipWindow !== null) this.deps.ipQuota.giveBack(this.ip, file.size, file.ipWindow)
      const index = this.accepted.indexOf(file)
      if (index >= 0) this.accepted.splice(index, 1)
      await file.file.discard()
      if (file.path) await this.deps.store.remove([file.path])
    }
  }

  private partialErrors(): PartialError[] {
    return this.refusals.sort((a, b) => a.index - b.index).map(({ file, error }) => ({ file, error }))
  }
}

export class MediaService {
  private readonly db: Kysely<Database>
  private readonly writer: Writer
  private readonly store: MediaStore
  private readonly sos: SosService
  private readonly limits: UploadLimits
  private readonly ipQuota: HourlyUploadQuota
  private readonly publisher: RealtimePublisher

  constructor(deps: { db: Kysely<Database>; writer: Writer; store: MediaStore; sos: SosService; publisher: RealtimePublisher; limits: UploadLimits }) {
    this.db = deps.db
    this.publisher = deps.publisher
    this.writer = deps.writer
    this.store = deps.store
    this.sos = deps.sos
    this.limits = deps.limits
    this.ipQuota = new HourlyUploadQuota(deps.limits.ipFilesPerHour, deps.limits.ipBytesPerHour)
  }

  /**
   * Decides an upload from its headers and the fields before its first file, before any file byte
   * is read: the SOS must exist, the caller may add to it, and it and the caller's IP have room left.
   */
  async startUpload(fields: UploadFields, actor: Actor, clientIp: string): Promise<UploadSession> {
    // Keyed as the other per-address limits are: IPv4-mapped as IPv4, IPv6 by its /64.
    const ip = clientKey(clientIp)
    const sosId = sosIdOf(fields)
    const withToken = !actor.sosToken && fields.sosToken ? { ...actor, sosToken: fields.sosToken } : actor
    // No credential at all is 401 before the lookup, so sequential ids do not reveal which SOS exist.
    if (!actor.legacy && hasNoCredential(withToken)) throw errors.notAuthenticated()
    const sos = await this.sos.load(sosId, statusError(404, 'SOS request not found'))
    if (!sosPolicy.contribute(withToken, sos)) throw refuse(withToken)

    const { sosMaxFiles, sosMaxBytes } = this.limits
    const usage = await repo.imageUsage(this.db, sos.id)
    // Refused whole when nothing could fit, so not one byte of the files is read.
    if (usage.files >= sosMaxFiles || usage.bytes >= sosMaxBytes) {
      throw statusError(413, `This SOS has reached its image limit (${sosMaxFiles} images, ${sosMaxBytes} bytes).`)
    }
    // Staff are exempt: a control room behind one address must not lock itself out of evidence uploads.
    const countsForIp = !isStaff(actor.user)
    if (countsForIp) {
      const left = this.ipQuota.remaining(ip)
      if (left.files < 1 || left.bytes < 1) {
        const message = `Upload limit for this address reached (${this.limits.ipFilesPerHour} images, ${this.limits.ipBytesPerHour} bytes per hour).`
        throw statusError(429, message, { retry_after: left.retryAfterSeconds }, left.retryAfterSeconds)
      }
    }
    return new UploadSession(
      { store: this.store, writer: this.writer, publisher: this.publisher, ipQuota: this.ipQuota, limits: this.limits },
      { sos, by: eventActor(withToken, sos), ip, countsForIp, sosFilesLeft: sosMaxFiles - usage.files, sosBytesLeft: sosMaxBytes - usage.bytes },
    )
  }

  /** The answer to a form that ended without any file part, in the order the checks always had. */
  formWithoutFiles(fields: UploadFields): AppError {
    try {
      sosIdOf(fields)
    } catch (error) {
      return error as AppError
    }
    return statusError(400, 'At least one image is required')
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
