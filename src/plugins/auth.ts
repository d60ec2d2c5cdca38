// Request identity: `Authorization: Token|Bearer <key>` → request.actor.user; `X-SOS-Token` → actor.sosToken.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { errors } from '../errors.ts'
import type { AuthService } from '../modules/auth/auth.service.ts'
import type { Actor } from '../modules/sos/sos.policy.ts'
import { extractToken } from '../realtime/middleware.ts'

declare module 'fastify' {
  interface FastifyRequest {
    actor: Actor
    /** The API token presented with this request (needed by logout). */
    apiToken: string | null
  }
}

export default fp(
  async function authPlugin(app: FastifyInstance, opts: { auth: AuthService; legacy: boolean }) {
    app.decorateRequest('actor', null as unknown as Actor)
    app.decorateRequest('apiToken', null)

    app.addHook('onRequest', async (request: FastifyRequest) => {
      const header = request.headers.authorization
      const sosHeader = request.headers['x-sos-token']
      const sosToken = typeof sosHeader === 'string' && sosHeader.length > 0 ? sosHeader : null
      request.actor = { user: null, sosToken, legacy: opts.legacy }
      if (!header) return
      const token = /^\s*(Token|Bearer)\s+\S+\s*$/i.test(header) ? extractToken(header) : null
      // Like DRF: a header in another scheme (e.g. Basic) is ignored; a bad Token/Bearer key is 401.
      if (!token) {
        if (/^\s*(Token|Bearer)\b/i.test(header)) throw errors.invalidToken()
        return
      }
      const user = await opts.auth.authenticate(token)
      if (!user) throw errors.invalidToken()
      request.actor.user = user
      request.apiToken = token
    })
  },
  { name: 'auth', dependencies: ['db'] },
)
