// Security headers (helmet) and CORS for the original dashboards' origins.
import type { IncomingMessage, ServerResponse } from 'node:http'
import cors from '@fastify/cors'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import helmet, { type HelmetOptions } from 'helmet'

const HELMET_OPTIONS: HelmetOptions = {
  // The API explorer at /api/docs/ is the only HTML page; its assets are all served from here.
  contentSecurityPolicy: {
    directives: {
      defaultSrc: ["'self'"],
      imgSrc: ["'self'", 'data:', 'blob:'],
      styleSrc: ["'self'", "'unsafe-inline'"],
      scriptSrc: ["'self'"],
      // Off: the server is often reached over plain HTTP on a LAN address (http://<host>:8000), where
      // this directive makes browsers fetch the explorer's own assets over https and the page stays blank.
      upgradeInsecureRequests: null,
    },
  },
  crossOriginResourcePolicy: { policy: 'cross-origin' },
}

/**
 * helmet's headers do not vary per request here (no CSP nonces), so they are computed once. The
 * @fastify/helmet plugin rebuilt the whole helmet middleware on every request: 3.6–5.4 % of the CPU of
 * the hottest endpoints (docs/BENCHMARKS.md).
 */
function securityHeaders(): Record<string, string> {
  const headers: Record<string, string> = {}
  const recorder = {
    setHeader(name: string, value: string | number | readonly string[]) {
      headers[name.toLowerCase()] = String(value)
    },
    removeHeader(name: string) {
      delete headers[name.toLowerCase()]
    },
  }
  helmet(HELMET_OPTIONS)({} as IncomingMessage, recorder as unknown as ServerResponse, (err?: unknown) => {
    if (err) throw err
  })
  return headers
}

export default fp(
  async function securityPlugin(app: FastifyInstance, opts: { corsOrigins: string[] }) {
    const headers = securityHeaders()
    app.addHook('onRequest', (_request, reply, done) => {
      reply.headers(headers)
      done()
    })
    await app.register(cors, {
      origin: opts.corsOrigins.includes('*') ? true : opts.corsOrigins,
      credentials: true,
      allowedHeaders: ['Authorization', 'Content-Type', 'X-SOS-Token', 'Idempotency-Key'],
      methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    })
  },
  { name: 'security' },
)
