// Image files on disk: uploads streamed to temp files and renamed into place when accepted, durable writes, signed links that expire.
import crypto from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { Writable, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { ImageRow } from '../../db/schema.ts'
import { hmacHex } from '../../lib/secrets.ts'
import type { ImageDto, ImageLinks } from '../sos/sos.service.ts'
import type { ByteSource, ImageExt } from './media.formats.ts'

export const IMAGE_DIR = 'sos_images'
/** Uploads in progress. A sibling of IMAGE_DIR (same file system, so a rename is atomic) that is never served. */
export const INCOMING_DIR = 'incoming'
export const MEDIA_FILE_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.(jpg|png|gif|webp)$/

export const CONTENT_TYPES: Record<string, string> = { jpg: 'image/jpeg', png: 'image/png', gif: 'image/gif', webp: 'image/webp' }

/** Clock difference between nodes tolerated on a link's `expires` (a link minted on a node slightly ahead). */
export const LINK_CLOCK_SKEW_SECONDS = 60

async function fsyncDir(dir: string) {
  const handle = await fs.open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** One uploaded file on its way in: a temp file under MEDIA_ROOT/incoming/, readable for judging. */
export class IncomingFile implements ByteSource {
  size = 0
  readonly tempPath: string
  private readonly handle: fs.FileHandle
  private closed = false
  /** The SHA-256 of every byte written, in order: the evidence hash, computed in the same pass as the write. */
  private readonly hash = crypto.createHash('sha256')
  private digest: string | undefined

  constructor(tempPath: string, handle: fs.FileHandle) {
    this.tempPath = tempPath
    this.handle = handle
  }

  async append(chunk: Buffer) {
    for (let written = 0; written < chunk.length; ) {
      const { bytesWritten } = await this.handle.write(chunk, written, chunk.length - written, this.size + written)
      written += bytesWritten
    }
    this.hash.update(chunk)
    this.size += chunk.length
  }

  /** Hex SHA-256 of the whole file (call once it is complete). */
  sha256(): string {
    this.digest ??= this.hash.digest('hex')
    return this.digest
  }

  async read(target: Buffer, position: number): Promise<number> {
    return (await this.handle.read(target, 0, target.length, position)).bytesRead
  }

  /**
   * fsyncs the file, moves it to `relative` under `root`, and fsyncs that directory. A hard link then
   * an unlink, not a rename: a link never replaces an existing file, so stored evidence is never
   * overwritten (EEXIST instead), whatever name comes up.
   */
  async keep(root: string, relative: string) {
    await this.handle.sync()
    await this.close()
    await fs.link(this.tempPath, path.join(root, relative))
    await fs.unlink(this.tempPath)
    await fsyncDir(path.dirname(path.join(root, relative)))
  }

  /** Closes and deletes the temp file (also after a failed write); never throws. */
  async discard() {
    await this.close().catch(() => undefined)
    await fs.rm(this.tempPath, { force: true }).catch(() => undefined)
  }

  private async close() {
    if (this.closed) return
    this.closed = true
    await this.handle.close()
  }
}

export class MediaStore implements ImageLinks {
  readonly root: string
  private readonly signingKey: string
  /** Keys that still verify (the previous one, during a rotation); links are signed with signingKey only. */
  private readonly verifyKeys: string[]
  private readonly ttlSeconds: number
  private readonly legacy: boolean

  constructor(opts: { root: string; signingKey: string; previousSigningKey?: string; ttlSeconds: number; legacy: boolean }) {
    this.root = opts.root
    this.signingKey = opts.signingKey
    this.verifyKeys = opts.previousSigningKey ? [opts.signingKey, opts.previousSigningKey] : [opts.signingKey]
    this.ttlSeconds = opts.ttlSeconds
    this.legacy = opts.legacy
  }

  /**
   * Streams `source` into a new temp file, keeping at most `maxBytes`: past that the rest is read and
   * dropped (the multipart parser must reach the next part) and `tooLarge` says so. The file is not
   * fsynced yet: only accepted files pay for that (keep). On any failure the temp file is deleted.
   */
  async receive(source: Readable, maxBytes: number, signal: AbortSignal): Promise<{ file: IncomingFile; tooLarge: boolean }> {
    await fs.mkdir(path.join(this.root, INCOMING_DIR), { recursive: true })
    const tempPath = path.join(this.root, INCOMING_DIR, `${crypto.randomUUID()}.part`)
    const file = new IncomingFile(tempPath, await fs.open(tempPath, 'wx+', 0o640))
    let tooLarge = false
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        if (tooLarge || file.size + chunk.length > maxBytes) {
          tooLarge = true
          return done()
        }
        file.append(chunk).then(() => done(), done)
      },
    })
    try {
      await pipeline(source, sink, { signal })
    } catch (error) {
      await file.discard()
      throw error
    }
    return { file, tooLarge }
  }

  /** Moves an accepted upload into place under a generated name (durably: file and directory fsynced). */
  async keep(file: IncomingFile, ext: ImageExt): Promise<string> {
    const relative = `${IMAGE_DIR}/${crypto.randomUUID()}.${ext}`
    await fs.mkdir(path.join(this.root, IMAGE_DIR), { recursive: true })
    await file.keep(this.root, relative)
    return relative
  }

  /**
   * Deletes temp files a crashed process left behind. Only old ones: with several nodes sharing
   * MEDIA_ROOT, a younger one may be another node's upload in progress.
   */
  async sweepIncoming(olderThanMs: number, now = Date.now()): Promise<number> {
    const dir = path.join(this.root, INCOMING_DIR)
    const names = await fs.readdir(dir).catch(() => [] as string[])
    let removed = 0
    for (const name of names) {
      const file = path.join(dir, name)
      const stat = await fs.stat(file).catch(() => null)
      if (stat?.isFile() && now - stat.mtimeMs > olderThanMs) {
        await fs.rm(file, { force: true })
        removed += 1
      }
    }
    return removed
  }

  async remove(paths: string[]): Promise<void> {
    await Promise.all(paths.map((p) => fs.rm(this.absolute(p), { force: true })))
  }

  absolute(relative: string): string {
    return path.join(this.root, relative)
  }

  /** `?expires=<unix seconds>&signature=<hmac>` for one media path. */
  sign(relative: string, now = Date.now()): string {
    const expires = Math.floor(now / 1000) + this.ttlSeconds
    return `expires=${expires}&signature=${hmacHex(this.signingKey, `${relative}:${expires}`)}`
  }

  /**
   * A link is good while `now ≤ expires ≤ now + TTL (+ skew)`: this server never mints a longer one, so
   * a far-future `expires` is a forgery (or a key leak) and is refused even with a valid signature.
   */
  verify(relative: string, expires: unknown, signature: unknown, now = Date.now()): boolean {
    if (typeof expires !== 'string' || typeof signature !== 'string' || !/^\d{1,12}$/.test(expires) || !/^[0-9a-f]{64}$/.test(signature)) return false
    const expiresMs = Number(expires) * 1000
    if (expiresMs < now || expiresMs > now + (this.ttlSeconds + LINK_CLOCK_SKEW_SECONDS) * 1000) return false
    const given = Buffer.from(signature, 'hex')
    let valid = false
    for (const key of this.verifyKeys) {
      valid = crypto.timingSafeEqual(Buffer.from(hmacHex(key, `${relative}:${expires}`), 'hex'), given) || valid
    }
    return valid
  }

  describe(row: ImageRow, baseUrl: string): ImageDto {
    const mediaPath = `/media/${row.image}`
    return {
      id: row.id,
      sos_request: row.sos_request_id,
      image: mediaPath,
      image_url: this.legacy ? `${baseUrl}${mediaPath}` : `${baseUrl}${mediaPath}?${this.sign(row.image)}`,
      description: row.description,
      uploaded_at: row.uploaded_at,
      sha256: row.sha256,
    }
  }
}
