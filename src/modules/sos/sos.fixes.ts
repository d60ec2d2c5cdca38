// One location fix as a phone sends it: coordinates, optional accuracy, and the phone's own time
// (`recorded_at`), validated with DRF's semantics and messages; shared by update-location and the batch.
import type { FieldReader} from '../../lib/fields.ts';
import { MSG } from '../../lib/fields.ts'
import { COORDS } from './sos.dto.ts'

/** Largest accepted `accuracy`, in metres (a coarse cell-tower fix is a few kilometres). */
export const MAX_ACCURACY_M = 100_000

/** Earliest accepted `recorded_at`: anything before is a broken clock or epoch seconds sent as milliseconds. */
const EARLIEST_MS = Date.UTC(2000, 0, 1)

const ISO_RE = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?:([Zz])|([+-])(\d{2}):?(\d{2}))$/

export const RECORDED_AT_FORMAT =
  'Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]](Z|+HH:MM|-HH:MM), or epoch milliseconds.'

export interface Fix {
  latitude: number
  longitude: number
  accuracy: number | null
  /** The phone's time of the fix, normalized to ISO 8601 UTC with milliseconds; undefined when not sent. */
  recordedAt: string | undefined
}

export interface FixRules {
  /** Seconds a `recorded_at` may lie ahead of the server's clock (the phone's clock running fast). */
  clockSkewSeconds: number
  /** The server's clock, in epoch ms, when the request arrived. */
  now: number
}

/**
 * Parses ISO 8601 with an explicit offset (`Z` or ±HH:MM): a phone's local time without one is ambiguous
 * by hours, so it is refused rather than guessed. Fractions beyond milliseconds are truncated.
 */
export function parseIsoTime(text: string): number | undefined {
  const m = ISO_RE.exec(text.trim())
  if (!m) return undefined
  const [year, month, day, hour, minute] = [m[1], m[2], m[3], m[4], m[5]].map(Number)
  const second = m[6] === undefined ? 0 : Number(m[6])
  const ms = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, '0'))
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined
  const local = Date.UTC(year, month - 1, day, hour, minute, second, ms)
  // Date.UTC rolls 30 February over into March: a day the month does not have is an invalid date.
  if (new Date(local).getUTCDate() !== day) return undefined
  let offsetMinutes = 0
  if (!m[8]) {
    const hours = Number(m[10])
    const minutes = Number(m[11])
    if (hours > 23 || minutes > 59) return undefined
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (hours * 60 + minutes)
  }
  return local - offsetMinutes * 60_000
}

/** `recorded_at` as epoch ms: an ISO 8601 string with offset, or a whole number of epoch milliseconds. */
function readRecordedAt(fields: FieldReader, rules: FixRules, required: boolean): string | undefined {
  const field = 'recorded_at'
  const value = fields.value(field)
  if (value === undefined || value === null) {
    if (!required) return undefined
    return fields.fail(field, value === null ? MSG.null : MSG.required)
  }
  let ms: number | undefined
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) return fields.fail(field, 'Epoch milliseconds must be a whole number.')
    ms = value
  } else if (typeof value === 'string') {
    ms = parseIsoTime(value)
  }
  if (ms === undefined) return fields.fail(field, RECORDED_AT_FORMAT)
  if (ms < EARLIEST_MS) return fields.fail(field, 'Ensure this value is on or after 2000-01-01T00:00:00Z (epoch milliseconds, not seconds).')
  if (ms > rules.now + rules.clockSkewSeconds * 1000) {
    return fields.fail(field, `Ensure this value is not in the future (at most ${rules.clockSkewSeconds} seconds ahead of the server's clock).`)
  }
  return new Date(ms).toISOString()
}

/** Reads a fix into `fields` (its errors are `fields.errors`); `recorded_at` is required in a batch. */
export function readFix(fields: FieldReader, rules: FixRules, opts: { requireRecordedAt: boolean }): Fix {
  const latitude = fields.number('latitude', COORDS.latitude)
  const longitude = fields.number('longitude', COORDS.longitude)
  // null means "the phone does not know", as absent.
  const accuracy = fields.value('accuracy') === null ? undefined : fields.number('accuracy', { required: false, min: 0, max: MAX_ACCURACY_M })
  const recordedAt = readRecordedAt(fields, rules, opts.requireRecordedAt)
  return { latitude: latitude!, longitude: longitude!, accuracy: accuracy ?? null, recordedAt }
}
