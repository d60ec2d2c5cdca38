// The absolute base of the links the API builds (image_url, page links): PUBLIC_URL, or a validated Host.
import type { FastifyRequest } from 'fastify'
import { AppError } from '../errors.ts'

/** A DNS name or IPv4 address, or a bracketed IPv6 address, with an optional port. */
const HOST_RE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]{2,45}\])(?::(\d{1,5}))?$/

/** Whether a Host header value can stand in an absolute URL (as Django's get_host() validates it). */
export function isUsableHost(host: string): boolean {
  const match = HOST_RE.exec(host)
  if (!match || host.length > 255) return false
  return match[1] === undefined || Number(match[1]) <= 65535
}

/**
 * `PUBLIC_URL`, or `<protocol>://<Host>` from the request; a Host that cannot make a link (empty,
 * `a b`, `x:99999`) is the client's error: 400, as Django answers a disallowed host.
 */
export function baseUrlOf(request: FastifyRequest, publicUrl: string | undefined): string {
  if (publicUrl) return publicUrl
  const host = request.host
  if (!isUsableHost(host)) throw new AppError(400, 'bad_request', 'Invalid Host header.')
  return `${request.protocol === 'https' ? 'https' : 'http'}://${host}`
}

/** The same path and query on `baseUrl`, with `changes` applied to the query (DRF's next/previous links). */
export function linkTo(request: FastifyRequest, baseUrl: string, changes: Record<string, string>): string {
  // Parsed against a fixed origin: the request target only contributes its path and query, never a host.
  const target = new URL(request.url, 'http://localhost')
  for (const [key, value] of Object.entries(changes)) target.searchParams.set(key, value)
  return `${baseUrl}${target.pathname}${target.search}`
}
