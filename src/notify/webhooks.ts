// Signed webhooks per the Standard Webhooks specification (https://www.standardwebhooks.com): headers
// webhook-id, webhook-timestamp and webhook-signature = "v1," + base64(HMAC-SHA256(key, "id.timestamp.body")).
import crypto from 'node:crypto'
import { networkFailure, parseRetryAfter, type SendResult } from './channel.ts'

export interface WebhookMessage {
  url: string
  /** The JSON body, sent byte for byte as signed. */
  body: string
  /** `webhook-id`: the same on every retry, so a receiver drops repeats. */
  messageId: string
}

export interface WebhookSender {
  send(message: WebhookMessage): Promise<SendResult>
}

/** The signing key: the base64 after `whsec_` (the prefix is not part of the key). */
export function webhookKey(secret: string): Buffer {
  return Buffer.from(secret.replace(/^whsec_/, ''), 'base64')
}

/** The `webhook-signature` value for one delivery. */
export function signWebhook(key: Buffer, id: string, timestamp: number, body: string): string {
  return `v1,${crypto.createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`
}

export class StandardWebhooks implements WebhookSender {
  private readonly key: Buffer

  constructor(
    secret: string,
    private readonly timeoutMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.key = webhookKey(secret)
  }

  async send(message: WebhookMessage): Promise<SendResult> {
    // The timestamp is the attempt's (receivers reject old ones to stop replays); the id stays the same.
    const timestamp = Math.floor(this.now() / 1000)
    let res: Response
    try {
      res = await fetch(message.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'NaariKavach-Webhooks/1',
          'webhook-id': message.messageId,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signWebhook(this.key, message.messageId, timestamp, message.body),
        },
        body: message.body,
        // The spec counts a redirect as a failure: a receiver must answer at the configured URL.
        redirect: 'manual',
        signal: AbortSignal.timeout(this.timeoutMs),
      })
    } catch (error) {
      return networkFailure(error)
    }
    await res.arrayBuffer().catch(() => undefined)
    if (res.status >= 200 && res.status < 300) return { ok: true, providerRef: null }
    // Every other answer is retried (a receiver's 400 is often a clock or deploy problem on its side), except
    // 410 Gone: the receiver says this endpoint is no more.
    return { ok: false, retry: res.status !== 410, reason: `webhook receiver answered ${res.status}`, retryAfterMs: parseRetryAfter(res.headers.get('retry-after')) }
  }
}
