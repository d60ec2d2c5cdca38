// Timestamps: the wire and storage format is ISO 8601 UTC with milliseconds.

export function nowIso(): string {
  return new Date().toISOString()
}
