// Child process of `limits`: a bare Fastify 5 server on a free loopback port whose two routes answer what
// ours answer (same status, headers and body, from bench/limits/sample.ts) and do nothing else: no
// database, no auth, no validation, no rate limit, no logger. Fastify still parses the JSON body, as a
// real route must. Asked for its port over IPC (bench/lib/child.ts).
import Fastify from 'fastify'
import { serveRequests } from '../lib/child.ts'
import type { SampledAnswer } from './sample.ts'

const app = Fastify({ logger: false })
let started: Promise<number> | undefined

function route(path: string, sampled: SampledAnswer): void {
  // The body as an object, so Fastify serializes it on every answer as it does for ours.
  const body = JSON.parse(sampled.body) as unknown
  app.post(path, async (_request, reply) => {
    reply.code(sampled.status).headers(sampled.headers)
    return body
  })
}

serveRequests({
  start: (msg) => {
    started ??= (async () => {
      route('/api/create-sos/', msg.create as SampledAnswer)
      route('/api/update-location/', msg.update as SampledAnswer)
      await app.listen({ port: 0, host: '127.0.0.1' })
      const address = app.server.address()
      return typeof address === 'object' && address ? address.port : 0
    })()
    return started
  },
})
