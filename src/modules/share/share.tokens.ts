// Live-tracking link tokens: derived from the server's key and a random per-link salt, stored only as a SHA-256
// hash. Deriving (rather than storing) lets the outbox put the same link in every try of a message.
import crypto from 'node:crypto'
import { sha256Hex } from '../../lib/secrets.ts'

/** 256-bit HMAC output in base64url: 43 characters. */
export const SHARE_TOKEN_RE = /^[A-Za-z0-9_-]{43}$/

export class ShareTokens {
  private readonly key: Buffer

  /**
   * @param serverKey the media signing key (MEDIA_SIGNING_KEY, or the one kept in the database). A sub-key is
   *   derived from it, so a media signature can never serve as a link token or the other way round.
   */
  constructor(serverKey: string) {
    this.key = crypto.createHmac('sha256', serverKey).update('naarikavach share-link tokens v1').digest()
  }

  newSalt(): string {
    return crypto.randomBytes(16).toString('hex')
  }

  token(salt: string): string {
    return crypto.createHmac('sha256', this.key).update(salt).digest('base64url')
  }

  hash(token: string): string {
    return sha256Hex(token)
  }
}
