// OpenAPI document at /api/schema/ (generated from route schemas) and the interactive explorer at /api/docs/.
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { DetailError, StatusError, ValidationError } from '../lib/schemas.ts'

export default fp(
  async function docsPlugin(app: FastifyInstance, opts: { legacy: boolean }) {
    for (const schema of [DetailError, ValidationError, StatusError]) app.addSchema(schema)
    await app.register(swagger, {
      openapi: {
        openapi: '3.0.3',
        info: {
          title: 'NaariKavach API',
          version: '1.0.0',
          description:
            'Emergency SOS service: REST API (this document) and Socket.IO realtime events (see docs/realtime.md and ' +
            '/api/realtime-schema/). Authorize with `Token <key>` from POST /auth/token/login/, or with an SOS token ' +
            `from create-sos in the X-SOS-Token header.${opts.legacy ? ' LEGACY OPEN ACCESS MODE IS ON.' : ''}`,
        },
        components: {
          securitySchemes: {
            TokenAuth: {
              type: 'apiKey',
              in: 'header',
              name: 'Authorization',
              description: 'Enter `Token <key>` (the auth_token from /auth/token/login/).',
            },
            SosToken: {
              type: 'apiKey',
              in: 'header',
              name: 'X-SOS-Token',
              description: 'The sos_token returned by create-sos (victim device).',
            },
          },
        },
        tags: [
          { name: 'auth', description: 'Accounts and tokens (Djoser-compatible)' },
          { name: 'sos', description: 'SOS requests' },
          { name: 'media', description: 'SOS images' },
          { name: 'contacts', description: 'Trusted contacts, their messages (outbox states) and live-tracking links' },
          { name: 'share', description: 'The public live-tracking page a contact opens (no account: the link is the credential)' },
          { name: 'ops', description: 'Health and metadata' },
        ],
      },
      refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
    })
    await app.register(swaggerUi, {
      routePrefix: '/api/docs',
      // No CSP of its own: helmet's policy (plugins/security.ts) covers the explorer, and the built-in one
      // adds upgrade-insecure-requests (blank page over plain HTTP) and blocks the UI's inline styles.
      staticCSP: false,
      uiConfig: { persistAuthorization: true, docExpansion: 'list', deepLinking: true, tryItOutEnabled: true },
    })
    app.get('/api/schema/', { schema: { hide: true } }, async () => app.swagger())
  },
  { name: 'docs' },
)
