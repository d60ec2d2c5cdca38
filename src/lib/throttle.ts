// At most one call per interval; the calls in between are counted and handed to the next one. For log
// lines that an outage would otherwise repeat for every request.

export class Throttle {
  private last = -Infinity
  private skipped = 0

  constructor(private readonly intervalMs: number) {}

  /** Runs `fn(skipped)` unless it ran less than an interval ago (then only counts this call). */
  run(fn: (skipped: number) => void, now = Date.now()): void {
    if (now - this.last < this.intervalMs) {
      this.skipped += 1
      return
    }
    this.last = now
    const skipped = this.skipped
    this.skipped = 0
    fn(skipped)
  }
}
