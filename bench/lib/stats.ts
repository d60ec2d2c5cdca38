// Latency samples, percentiles and the plain-text tables every scenario prints.

/** Microseconds on CLOCK_MONOTONIC, the same clock in every process on this machine (so workers can compare). */
export function nowUs(): number {
  return Number(process.hrtime.bigint() / 1000n)
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Polls `check` every 100 ms until it holds or `timeoutMs` passes; returns whether it held. */
export async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return true
    await sleep(100)
  }
  return false
}

export interface Summary {
  n: number
  min: number
  mean: number
  p50: number
  p90: number
  p95: number
  p99: number
  p999: number
  max: number
}

/** Latency samples in milliseconds, bounded so a long run cannot eat the machine's memory. */
export class Samples {
  private values: Float64Array
  private count = 0
  /** Samples offered after the buffer was full (reported, never silently dropped). */
  dropped = 0

  constructor(private readonly limit = 5_000_000) {
    this.values = new Float64Array(Math.min(limit, 65_536))
  }

  add(ms: number): void {
    if (this.count === this.values.length) {
      if (this.count >= this.limit) {
        this.dropped += 1
        return
      }
      const grown = new Float64Array(Math.min(this.limit, this.values.length * 2))
      grown.set(this.values)
      this.values = grown
    }
    this.values[this.count++] = ms
  }

  get size(): number {
    return this.count
  }

  summary(): Summary {
    const sorted = this.values.slice(0, this.count).sort()
    const n = sorted.length
    if (n === 0) return { n: 0, min: 0, mean: 0, p50: 0, p90: 0, p95: 0, p99: 0, p999: 0, max: 0 }
    // Nearest-rank percentile: the smallest sample with at least p% of the samples at or below it.
    const at = (p: number) => sorted[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))]
    let total = 0
    for (let i = 0; i < n; i++) total += sorted[i]
    return {
      n,
      min: round(sorted[0]),
      mean: round(total / n),
      p50: round(at(50)),
      p90: round(at(90)),
      p95: round(at(95)),
      p99: round(at(99)),
      p999: round(at(99.9)),
      max: round(sorted[n - 1]),
    }
  }
}

export const round = (x: number, digits = 3) => {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

/** A fixed-width table of latency summaries (ms). */
export function latencyTable(rows: Array<[string, Summary]>): string {
  const head = ['', 'n', 'p50', 'p95', 'p99', 'p99.9', 'max', 'mean']
  const body = rows.map(([label, s]) => [label, String(s.n), ...[s.p50, s.p95, s.p99, s.p999, s.max, s.mean].map(fmtMs)])
  return table([head, ...body])
}

export function fmtMs(ms: number): string {
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`
  if (ms >= 100) return `${ms.toFixed(0)} ms`
  if (ms >= 10) return `${ms.toFixed(1)} ms`
  return `${ms.toFixed(2)} ms`
}

export function table(rows: string[][]): string {
  const widths = rows[0].map((_, col) => Math.max(...rows.map((row) => (row[col] ?? '').length)))
  return rows.map((row) => row.map((cell, col) => (col === 0 ? cell.padEnd(widths[col]) : cell.padStart(widths[col]))).join('  ')).join('\n')
}

export const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US')
