// A fixed-window counter per key (client IP, socket id): cheap, in memory, forgets everything each window.

export class FixedWindowLimiter {
  private counts = new Map<string, number>()
  private windowStart = Date.now()
  private readonly max: number
  private readonly windowMs: number

  constructor(max: number, windowMs: number) {
    this.max = max
    this.windowMs = windowMs
  }

  /** Counts one hit for `key`; false once the key has used up its allowance for this window. */
  hit(key: string, now = Date.now()): boolean {
    if (now - this.windowStart >= this.windowMs) {
      this.counts = new Map()
      this.windowStart = now
    }
    const count = (this.counts.get(key) ?? 0) + 1
    this.counts.set(key, count)
    return count <= this.max
  }
}
