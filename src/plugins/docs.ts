// OpenAPI document at /api/schema/ (generated from route schemas), the interactive explorer at /api/docs/,
// and the AsyncAPI document of the Socket.IO events at /api/asyncapi.json.
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { DetailError, StatusError, ValidationError } from '../lib/schemas.ts'
import { buildAsyncApiDocument } from '../realtime/asyncapi.ts'

export default fp(
  async function docsPlugin(app: FastifyInstance, opts: { legacy: boolean; socketPort: number }) {
    for (const schema of [DetailError, ValidationError, StatusError]) app.addSchema(schema)
    await app.register(swagger, {
      openapi: {
        openapi: '3.0.3',
        info: {
          title: 'NaariKavach API',
          version: '1.0.0',
          description:
            'Emergency SOS service: REST API (this document) and Socket.IO realtime events (the AsyncAPI 3 document at ' +
            '/api/asyncapi.json; see docs/realtime.md). Authorize with `Token <key>` from POST /auth/token/login/, or with an SOS token ' +
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
          { name: 'units', description: 'Units: who is free and where, nearest units for an SOS, officers\' position reports' },
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

    // Static for the life of the process: built once, from the same schemas the socket handlers document.
    const asyncApi = buildAsyncApiDocument({ socketPort: opts.socketPort, legacy: opts.legacy })
    app.get('/api/asyncapi.json', {
      schema: { tags: ['ops'], summary: 'AsyncAPI 3.0 document of every Socket.IO event (port SOCKET_PORT); open it in AsyncAPI Studio' },
      handler: async () => asyncApi,
    })
  },
  { name: 'docs' },
)
