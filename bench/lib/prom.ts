// Reads a Prometheus histogram from a /metrics text, subtracts two scrapes, and estimates its percentiles,
// so a scenario can say how long each broadcast took on the server (naarikavach_realtime_broadcast_seconds).

export interface HistogramScrape {
  /** Cumulative counts per upper bound (seconds), ascending, +Inf last. */
  buckets: Array<[le: number, count: number]>
  sum: number
  count: number
}

/** The histogram `name` with these labels (besides `le`), or null when the text has none. */
export function readHistogram(text: string, name: string, labels: Record<string, string>): HistogramScrape | null {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`)
  const has = (labelText: string) => want.every((l) => labelText.includes(l))
  const buckets: Array<[number, number]> = []
  let sum: number | null = null
  let count: number | null = null
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const m = /^(\w+)\{([^}]*)\} ([0-9.e+-]+|NaN)$/.exec(line)
    if (!m || !has(m[2])) continue
    const value = Number(m[3])
    if (m[1] === `${name}_bucket`) {
      const le = /le="([^"]+)"/.exec(m[2])?.[1]
      if (le) buckets.push([le === '+Inf' ? Infinity : Number(le), value])
    } else if (m[1] === `${name}_sum`) sum = value
    else if (m[1] === `${name}_count`) count = value
  }
  if (sum === null || count === null || buckets.length === 0) return null
  buckets.sort((a, b) => a[0] - b[0])
  return { buckets, sum, count }
}

/** What happened between two scrapes (an absent `before` is an empty histogram). */
export function histogramDelta(before: HistogramScrape | null, after: HistogramScrape): HistogramScrape {
  if (!before) return after
  return {
    buckets: after.buckets.map(([le, n], i) => [le, n - (before.buckets[i]?.[1] ?? 0)]),
    sum: after.sum - before.sum,
    count: after.count - before.count,
  }
}

export interface HistogramSummary {
  n: number
  /** Exact (sum / count), ms. */
  meanMs: number
  /** Interpolated linearly inside the bucket that holds the rank, ms (a bucket's resolution, not a sample). */
  p50Ms: number
  p90Ms: number
  p99Ms: number
  /** The upper bound of the highest non-empty bucket, ms: the maximum is at most this. */
  maxAtMostMs: number
  /** Share of observations at or below `withinMs` (exact when `withinMs` is a bucket bound). */
  shareWithin: number
  withinMs: number
}

export function summarizeHistogram(h: HistogramScrape, withinMs: number): HistogramSummary {
  const n = h.count
  const r = (x: number) => Math.round(x * 1000) / 1000
  const quantile = (q: number) => {
    const rank = q * n
    let lowerLe = 0
    let lowerCount = 0
    for (const [le, cum] of h.buckets) {
      if (cum >= rank) {
        if (!Number.isFinite(le)) return lowerLe
        const inBucket = cum - lowerCount
        return inBucket > 0 ? lowerLe + ((rank - lowerCount) / inBucket) * (le - lowerLe) : le
      }
      lowerLe = le
      lowerCount = cum
    }
    return lowerLe
  }
  let maxAtMost = 0
  let lowerCount = 0
  for (const [le, cum] of h.buckets) {
    if (cum > lowerCount) maxAtMost = le
    lowerCount = cum
  }
  const within = h.buckets.find(([le]) => le >= withinMs / 1000)
  return {
    n,
    meanMs: n > 0 ? r((h.sum / n) * 1000) : 0,
    p50Ms: n > 0 ? r(quantile(0.5) * 1000) : 0,
    p90Ms: n > 0 ? r(quantile(0.9) * 1000) : 0,
    p99Ms: n > 0 ? r(quantile(0.99) * 1000) : 0,
    maxAtMostMs: n > 0 ? (Number.isFinite(maxAtMost) ? r(maxAtMost * 1000) : Infinity) : 0,
    shareWithin: n > 0 && within ? r(within[1] / n) : 0,
    withinMs: within ? r(within[0] * 1000) : withinMs,
  }
}
