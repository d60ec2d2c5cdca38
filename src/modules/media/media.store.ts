// Image files on disk: type sniffing by magic bytes, durable writes, signed links that expire.
import crypto from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import type { ImageRow } from '../../db/schema.ts'
import { hmacHex } from '../../lib/secrets.ts'
import type { ImageDto, ImageLinks } from '../sos/sos.service.ts'

export const IMAGE_DIR = 'sos_images'
export const MEDIA_FILE_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.(jpg|png|gif|webp)$/

export interface ImageKind {
  ext: 'jpg' | 'png' | 'gif' | 'webp'
  contentType: string
}

/** Judges an image by its first bytes, never by its name or declared type. */
export function sniffImage(bytes: Buffer): ImageKind | null {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return { ext: 'jpg', contentType: 'image/jpeg' }
  if (bytes.length >= 8 && bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) {
    return { ext: 'png', contentType: 'image/png' }
  }
  const head6 = bytes.subarray(0, 6).toString('latin1')
  if (head6 === 'GIF87a' || head6 === 'GIF89a') return { ext: 'gif', contentType: 'image/gif' }
  if (bytes.length >= 12 && bytes.subarray(0, 4).toString('latin1') === 'RIFF' && bytes.subarray(8, 12).toString('latin1') === 'WEBP') {
    return { ext: 'webp', contentType: 'image/webp' }
  }
  return null
}

export const CONTENT_TYPES: Record<string, string> = { jpg: 'image/jpeg', png: 'image/png', gif: 'image/gif', webp: 'image/webp' }

/** Clock difference between nodes tolerated on a link's `expires` (a link minted on a node slightly ahead). */
export const LINK_CLOCK_SKEW_SECONDS = 60

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

  /** Writes a new image under a generated name and fsyncs it (and its directory) before returning. */
  async save(bytes: Buffer, kind: ImageKind): Promise<string> {
    const relative = `${IMAGE_DIR}/${crypto.randomUUID()}.${kind.ext}`
    const dir = path.join(this.root, IMAGE_DIR)
    await fs.mkdir(dir, { recursive: true })
    const handle = await fs.open(path.join(this.root, relative), 'wx', 0o640)
    try {
      await handle.writeFile(bytes)
      await handle.sync()
    } finally {
      await handle.close()
    }
    const dirHandle = await fs.open(dir, 'r')
    try {
      await dirHandle.sync()
    } finally {
      await dirHandle.close()
    }
    return relative
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
    }
  }
}
