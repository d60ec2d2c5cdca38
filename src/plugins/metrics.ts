// Prometheus metrics at /metrics: process defaults, HTTP requests by route and status, live sockets.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Registry
  }
}

export default fp(
  async function metricsPlugin(app: FastifyInstance, opts: { socketCount: () => number }) {
    // One registry per app (not prom-client's global one), so several apps in one process do not clash.
    const registry = new Registry()
    collectDefaultMetrics({ register: registry, prefix: 'naarikavach_' })
    const requests = new Counter({
      name: 'naarikavach_http_requests_total',
      help: 'HTTP requests by method, route and status code',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    })
    const duration = new Histogram({
      name: 'naarikavach_http_request_duration_seconds',
      help: 'HTTP request duration by route',
      labelNames: ['route'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    })
    new Gauge({
      name: 'naarikavach_socket_connections',
      help: 'Socket.IO connections open on this node',
      registers: [registry],
      collect() {
        this.set(opts.socketCount())
      },
    })
    app.decorate('metrics', registry)

    app.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url ?? 'unmatched'
      requests.inc({ method: request.method, route, status: reply.statusCode })
      duration.observe({ route }, reply.elapsedTime / 1000)
    })

    app.get('/metrics', { schema: { tags: ['ops'], summary: 'Prometheus metrics', hide: false } }, async (_request, reply) => {
      reply.type(registry.contentType)
      return registry.metrics()
    })
  },
  { name: 'metrics' },
)
