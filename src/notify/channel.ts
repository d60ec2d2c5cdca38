// What every notification channel answers, and the retry schedule the outbox applies to failures.

/** The outcome of one delivery attempt. */
export type SendResult =
  | { ok: true; providerRef: string | null }
  | {
      ok: false
      /** Worth trying again (timeouts, 429, 5xx); false: the receiver refused this message for good. */
      retry: boolean
      /** For people (the notifications list): never a secret, never logged as is. */
      reason: string
      /** The receiver asked for this wait (Retry-After). */
      retryAfterMs?: number
    }

export interface Backoff {
  baseMs: number
  maxMs: number
}

/**
 * Exponential backoff with "equal jitter": the n-th retry waits between half and all of
 * min(max, base × 2^(n-1)), so retries of many messages spread out yet never come back at once, and
 * never sooner than half the step. A receiver's Retry-After is honoured (up to the cap).
 */
export function retryDelayMs(attempt: number, backoff: Backoff, retryAfterMs?: number, random: () => number = Math.random): number {
  const step = Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.max(0, attempt - 1))
  const jittered = step / 2 + random() * (step / 2)
  return Math.round(Math.min(backoff.maxMs, Math.max(jittered, retryAfterMs ?? 0)))
}

/** Seconds or an HTTP date (RFC 9110 Retry-After), as milliseconds. */
export function parseRetryAfter(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000
  const at = Date.parse(header)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}

/** A network failure or timeout as a retryable result (the message may or may not have arrived). */
export function networkFailure(error: unknown): SendResult {
  const name = error instanceof Error ? error.name : ''
  const reason = name === 'TimeoutError' || name === 'AbortError' ? 'timed out waiting for the receiver' : 'could not reach the receiver'
  return { ok: false, retry: true, reason }
}
