// Handshake authentication: reads `auth.token` or an Authorization header and asks the injected verifier.
import type { Socket } from 'socket.io'
import { UNAVAILABLE_RETRY_AFTER_SECONDS } from '../errors.ts'
import { sha256Hex } from '../lib/secrets.ts'
import type { SocketIdentity } from './contract.ts'

export type TokenVerifier = (token: string) => Promise<SocketIdentity | null>

/** `Token abc` / `Bearer abc` / `abc` → `abc`. */
export function extractToken(raw: unknown): string | null {
  if (typeof raw !== 'string') return null
  const match = /^\s*(?:(?:Token|Bearer)\s+)?(\S+)\s*$/i.exec(raw)
  return match ? match[1] : null
}

export function handshakeAuth(verify: TokenVerifier) {
  return async (socket: Socket, next: (err?: Error) => void): Promise<void> => {
    const auth = (socket.handshake.auth ?? {}) as Record<string, unknown>
    const presented = extractToken(auth.token) ?? extractToken(socket.handshake.headers.authorization)
    socket.data.joinedRooms = new Set<string>()
    socket.data.tokenHash = null
    if (!presented) {
      socket.data.user = null
      return next()
    }
    try {
      const user = await verify(presented)
      if (!user) return next(new Error('Invalid token.'))
      socket.data.user = user
      // Only the hash is kept: it names the socket's revocation room and is what the database stores.
      socket.data.tokenHash = sha256Hex(presented)
      next()
    } catch {
      // The database is not answering: the client's connect_error says so (and that a retry makes sense).
      next(Object.assign(new Error('Authentication is unavailable, try again.'), { data: { code: 'unavailable', retry_after: UNAVAILABLE_RETRY_AFTER_SECONDS } }))
    }
  }
}
