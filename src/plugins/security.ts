// Security headers (helmet) and CORS for the original dashboards' origins.
import cors from '@fastify/cors'
import helmet from '@fastify/helmet'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

export default fp(
  async function securityPlugin(app: FastifyInstance, opts: { corsOrigins: string[] }) {
    await app.register(helmet, {
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
