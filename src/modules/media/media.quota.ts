// Per-client-IP upload allowance (images and bytes per hour), kept in this process's memory.

export interface Allowance {
  files: number
  bytes: number
  /** Seconds until the current window ends and the allowance is whole again. */
  retryAfterSeconds: number
}

/**
 * Fixed hourly windows, like the other in-memory limits: cheap, forgets everything each window, and
 * at most twice the allowance across a window boundary. Per node: N nodes allow N times as much
 * (the per-SOS quota, kept in the database, is exact across nodes).
 */
export class HourlyUploadQuota {
  private used = new Map<string, { files: number; bytes: number }>()
  private windowStart = Date.now()
  private readonly maxFiles: number
  private readonly maxBytes: number
  private readonly windowMs: number

  constructor(maxFiles: number, maxBytes: number, windowMs = 3600_000) {
    this.maxFiles = maxFiles
    this.maxBytes = maxBytes
    this.windowMs = windowMs
  }

  private roll(now: number) {
    if (now - this.windowStart >= this.windowMs) {
      this.used = new Map()
      this.windowStart = now
    }
  }

  remaining(ip: string, now = Date.now()): Allowance {
    this.roll(now)
    const used = this.used.get(ip) ?? { files: 0, bytes: 0 }
    return {
      files: Math.max(0, this.maxFiles - used.files),
      bytes: Math.max(0, this.maxBytes - used.bytes),
      retryAfterSeconds: Math.max(1, Math.ceil((this.windowStart + this.windowMs - now) / 1000)),
    }
  }

  /** Counts one file of `bytes` for `ip`: the window it was counted in, or null (nothing counted) when it does not fit. */
  take(ip: string, bytes: number, now = Date.now()): number | null {
    const left = this.remaining(ip, now)
    if (left.files < 1 || left.bytes < bytes) return null
    const used = this.used.get(ip) ?? { files: 0, bytes: 0 }
    this.used.set(ip, { files: used.files + 1, bytes: used.bytes + bytes })
    return this.windowStart
  }

  /** Gives back a file that was counted but not stored (refused later, or the commit failed). */
  giveBack(ip: string, bytes: number, window: number) {
    const used = this.used.get(ip)
    if (!used || window !== this.windowStart) return // counted in a window that is already gone
    this.used.set(ip, { files: Math.max(0, used.files - 1), bytes: Math.max(0, used.bytes - bytes) })
  }
}
