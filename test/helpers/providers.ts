// Local stand-ins for the external receivers, on 127.0.0.1: an HTTP server that speaks Twilio's Messages API
// (and records every request), and a webhook receiver. Tests script their answers (429, 5xx, 4xx, a hang).
import crypto from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { TestContext } from 'node:test'
import type { TwilioConfig } from '../../src/config.ts'

export const TWILIO_SID = `AC${'0123456789abcdef'.repeat(2)}`
export const TWILIO_TOKEN = 'test-auth-token-do-not-log-7f3a91'
export const TWILIO_FROM = '+15005550006'

export interface TwilioRequest {
  method: string
  path: string
  /** The decoded HTTP basic credentials. */
  basic: string
  contentType: string
  idempotencyKey: string | null
  form: URLSearchParams
  at: number
}

/**
 * One scripted answer: a status (with an optional Retry-After), 'hang' (never answer), or 'accept-then-hang'
 * (the provider takes the message, but its answer never arrives: the sender's crash-or-timeout case).
 */
export type Answer = number | { status: number; retryAfter?: string } | 'hang' | 'accept-then-hang'

/** Twilio's magic test number that is always refused as invalid (error 21211). */
export const INVALID_NUMBER = '+15005550001'

export interface FakeTwilio {
  /** TWILIO_API_BASE for the app. */
  base: string
  config: TwilioConfig
  requests: TwilioRequest[]
  /** Distinct messages the provider accepted (a repeat of an accepted Idempotency-Key is dropped). */
  delivered: Map<string, TwilioRequest>
  /** Answers for the next requests, in order; afterwards every request gets 201. */
  script: Answer[]
  /** Resolves when `n` requests have arrived. */
  waitFor(n: number, ms?: number): Promise<void>
}

export async function startFakeTwilio(t: TestContext, script: Answer[] = []): Promise<FakeTwilio> {
  const requests: TwilioRequest[] = []
  const delivered = new Map<string, TwilioRequest>()
  const hanging: http.ServerResponse[] = []
  const waiters: Array<{ n: number; resolve: () => void }> = []
  const fake = { requests, delivered, script } as FakeTwilio
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const auth = req.headers.authorization ?? ''
      const record: TwilioRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        basic: auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString() : '',
        contentType: String(req.headers['content-type'] ?? ''),
        idempotencyKey: typeof req.headers['idempotency-key'] === 'string' ? req.headers['idempotency-key'] : null,
        form: new URLSearchParams(Buffer.concat(chunks).toString()),
        at: Date.now(),
      }
      requests.push(record)
      for (const w of waiters.filter((w) => requests.length >= w.n)) w.resolve()
      const answer = record.form.get('To') === INVALID_NUMBER ? 400 : (fake.script.shift() ?? 201)
      if (answer === 'hang' || answer === 'accept-then-hang') {
        if (answer === 'accept-then-hang' && record.idempotencyKey) delivered.set(record.idempotencyKey, record)
        hanging.push(res)
        return
      }
      const { status, retryAfter } = typeof answer === 'number' ? { status: answer, retryAfter: undefined } : answer
      const json = (code: number, body: unknown, headers: Record<string, string> = {}) => res.writeHead(code, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body))
      if (record.basic !== `${TWILIO_SID}:${TWILIO_TOKEN}`) return json(401, { code: 20003, message: 'Authenticate', status: 401 })
      if (status === 201) {
        const key = record.idempotencyKey ?? crypto.randomUUID()
        const earlier = delivered.get(key)
        if (!earlier) delivered.set(key, record)
        const sid = `SM${crypto.createHash('md5').update(key).digest('hex')}`
        return json(201, { sid, status: 'queued', to: record.form.get('To'), from: record.form.get('From'), body: record.form.get('Body'), account_sid: TWILIO_SID })
      }
      if (status === 400) return json(400, { code: 21211, message: `The 'To' number ${record.form.get('To')} is not a valid phone number.`, more_info: 'https://www.twilio.com/docs/errors/21211', status: 400 })
      if (status === 429) return json(429, { code: 20429, message: 'Too Many Requests', status: 429 }, retryAfter ? { 'retry-after': retryAfter } : {})
      return json(status, { code: 20500, message: 'Service unavailable', status })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(async () => {
    for (const res of hanging) res.destroy()
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  fake.base = base
  fake.config = { provider: 'twilio', accountSid: TWILIO_SID, authToken: TWILIO_TOKEN, from: TWILIO_FROM, apiBase: base }
  fake.waitFor = (n, ms = 10_000) =>
    new Promise<void>((resolve, reject) => {
      if (requests.length >= n) return resolve()
      const timer = setTimeout(() => reject(new Error(`provider got ${requests.length} of ${n} requests within ${ms} ms`)), ms)
      waiters.push({ n, resolve: () => { clearTimeout(timer); resolve() } })
    })
  return fake
}

export interface WebhookDelivery {
  headers: http.IncomingHttpHeaders
  body: string
  at: number
}

export interface FakeReceiver {
  url: string
  deliveries: WebhookDelivery[]
  script: Answer[]
  waitFor(predicate: (deliveries: WebhookDelivery[]) => boolean, ms?: number): Promise<void>
}

export async function startWebhookReceiver(t: TestContext, script: Answer[] = []): Promise<FakeReceiver> {
  const deliveries: WebhookDelivery[] = []
  const receiver = { deliveries, script } as FakeReceiver
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      deliveries.push({ headers: req.headers, body: Buffer.concat(chunks).toString(), at: Date.now() })
      const answer = receiver.script.shift() ?? 204
      if (answer === 'hang' || answer === 'accept-then-hang') return
      res.writeHead(typeof answer === 'number' ? answer : answer.status).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/naarikavach`
  receiver.waitFor = async (predicate, ms = 10_000) => {
    const until = Date.now() + ms
    while (!predicate(deliveries)) {
      if (Date.now() > until) throw new Error(`webhook receiver: condition not met within ${ms} ms (${deliveries.length} deliveries)`)
      await new Promise((r) => setTimeout(r, 25))
    }
  }
  return receiver
}

/** Polls `check` until it returns a value (not undefined/false); a failure after `ms`. */
export async function eventually<T>(check: () => Promise<T | undefined | false> | T | undefined | false, ms = 10_000, what = 'condition'): Promise<T> {
  const until = Date.now() + ms
  for (;;) {
    const value = await check()
    if (value !== undefined && value !== false) return value as T
    if (Date.now() > until) throw new Error(`${what} not met within ${ms} ms`)
    await new Promise((r) => setTimeout(r, 25))
  }
}
