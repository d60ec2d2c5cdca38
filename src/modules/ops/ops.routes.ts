// Operations endpoints: liveness, readiness (the database answers; Redis's state reported beside it), and
// the Socket.IO event description.
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { sql } from 'kysely'
import { REALTIME_DESCRIPTION } from '../../realtime/description.ts'

export async function opsRoutes(app: FastifyInstance) {
  app.get('/health', {
    schema: { tags: ['ops'], summary: 'Liveness: the process answers', response: { 200: Type.Object({ status: Type.String() }) } },
    handler: async () => ({ status: 'ok' }),
  })

  const Readiness = Type.Object({
    status: Type.Union([Type.Literal('ready'), Type.Literal('unavailable')], { description: '`ready` (200) when the database answers, `unavailable` (503) when it does not' }),
    database: Type.Union([Type.Literal('up'), Type.Literal('down')], { description: 'Whether `select 1` answered within the database timeouts' }),
    redis: Type.Union(['up', 'down', 'connecting', 'disabled'].map((s) => Type.Literal(s)), {
      description: 'The Redis connections of this node. Not part of readiness: without Redis a node still takes every SOS; events reach only its own sockets meanwhile.',
    }),
  })
  app.get('/ready', {
    schema: {
      tags: ['ops'],
      summary: 'Readiness: the database answers (503 when not); Redis state reported, not required',
      response: { 200: Readiness, 503: Readiness },
    },
    handler: async (_request, reply) => {
      const redis = app.redis.state()
      try {
        await sql`select 1`.execute(app.db)
        return { status: 'ready', database: 'up', redis }
      } catch {
        return reply.code(503).send({ status: 'unavailable', database: 'down', redis })
      }
    },
  })

  app.get('/api/realtime-schema/', {
    schema: { tags: ['ops'], summary: 'Machine-readable description of the Socket.IO events (port 8001)' },
    handler: async () => REALTIME_DESCRIPTION,
  })
}
