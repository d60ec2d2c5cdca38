// SMS through Twilio's Messages API, exactly as documented: POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json,
// form-encoded To/From/Body, HTTP basic auth with the account SID and auth token; 201 answers the Message with its `sid`.
import type { TwilioConfig } from '../config.ts'
import { networkFailure, parseRetryAfter, type SendResult } from './channel.ts'

export interface SmsMessage {
  to: string
  body: string
  /** Ours, stable across every try of this message (the outbox's message_id). */
  messageId: string
  /** 1 for the first try. */
  attempt: number
}

export interface SmsSender {
  send(message: SmsMessage): Promise<SendResult>
}

/**
 * Twilio's client. About duplicates: Twilio's Messages resource documents no idempotency key for creating
 * a message. So each request carries our stable message id as `Idempotency-Key` (the IETF header that
 * compatible gateways and our test provider use to drop a repeat; Twilio ignores it) and Twilio's own
 * documented `Attempt` parameter (the try number), and the returned `sid` is recorded. A process that dies
 * after Twilio's 201 but before the outbox row is marked sends that message once more after its lease.
 */
export class TwilioSms implements SmsSender {
  private readonly url: string
  private readonly authorization: string

  constructor(
    private readonly config: TwilioConfig,
    private readonly timeoutMs: number,
  ) {
    this.url = `${config.apiBase}/2010-04-01/Accounts/${encodeURIComponent(config.accountSid)}/Messages.json`
    this.authorization = `Basic ${Buffer.from(`${config.accountSid}:${config.authToken}`).toString('base64')}`
  }

  async send(message: SmsMessage): Promise<SendResult> {
    const form = new URLSearchParams({ To: message.to, Body: message.body, Attempt: String(message.attempt) })
    // A Messaging Service picks the sender itself; otherwise From is our number.
    if (this.config.from.startsWith('MG')) form.set('MessagingServiceSid', this.config.from)
    else form.set('From', this.config.from)
    let res: Response
    try {
      res = await fetch(this.url, {
        method: 'POST',
        headers: {
          authorization: this.authorization,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
          'idempotency-key': message.messageId,
        },
        body: form.toString(),
        redirect: 'manual',
        signal: AbortSignal.timeout(this.timeoutMs),
      })
    } catch (error) {
      return networkFailure(error)
    }
    const text = await res.text().catch(() => '')
    let body: { sid?: unknown; code?: unknown; message?: unknown } = {}
    try {
      body = JSON.parse(text) as typeof body
    } catch {
      // Twilio answers JSON; a proxy's HTML error page is judged by its status alone.
    }
    if (res.status === 200 || res.status === 201) {
      return { ok: true, providerRef: typeof body.sid === 'string' ? body.sid.slice(0, 64) : null }
    }
    const code = typeof body.code === 'number' || typeof body.code === 'string' ? ` (Twilio error ${String(body.code)})` : ''
    const detail = typeof body.message === 'string' ? `: ${body.message.slice(0, 200)}` : ''
    const reason = `SMS provider answered ${res.status}${code}${detail}`
    // Twilio's documented retryable answers: 429 Too Many Requests and 5xx; 408 is a timeout on the way.
    const retry = res.status === 429 || res.status === 408 || res.status >= 500
    return { ok: false, retry, reason, retryAfterMs: parseRetryAfter(res.headers.get('retry-after')) }
  }
}
