// Operations endpoints: liveness, readiness (database reachable), and the Socket.IO event description.
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { sql } from 'kysely'
import { REALTIME_DESCRIPTION } from '../../realtime/description.ts'

export async function opsRoutes(app: FastifyInstance) {
  app.get('/health', {
    schema: { tags: ['ops'], summary: 'Liveness: the process answers', response: { 200: Type.Object({ status: Type.String() }) } },
    handler: async () => ({ status: 'ok' }),
  })

  app.get('/ready', {
    schema: { tags: ['ops'], summary: 'Readiness: the database answers', response: { 200: Type.Object({ status: Type.String() }), 503: Type.Object({ status: Type.String() }) } },
    handler: async (_request, reply) => {
      try {
        await sql`select 1`.execute(app.db)
        return { status: 'ready' }
      } catch {
        return reply.code(503).send({ status: 'unavailable' })
      }
    },
  })

  app.get('/api/realtime-schema/', {
    schema: { tags: ['ops'], summary: 'Machine-readable description of the Socket.IO events (port 8001)' },
    handler: async () => REALTIME_DESCRIPTION,
  })
}
