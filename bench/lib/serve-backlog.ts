// EXPERIMENT ONLY (`--listen-backlog N`): the real app from src/app.ts, listening with a chosen TCP accept
// backlog on both ports instead of Node's default 511, to test whether the reconnect storm is limited by
// the accept queue. Everything else is what `naarikavach serve` does; src/ is not changed.
import { buildApp } from '../../src/app.ts'
import { createConfig } from '../../src/config.ts'

const backlog = Number(process.env.BENCH_LISTEN_BACKLOG ?? 511)
// A chosen backlog needs Node's listener: uWS (uSockets) listens with a fixed backlog of its own.
const config = { ...createConfig(process.env), realtimeEngine: 'ws' as const }
const app = await buildApp(config)
await app.listen({ port: config.port, host: config.host, backlog })
await new Promise<void>((resolve, reject) => {
  const httpServer = app.realtime.httpServer!
  httpServer.once('error', reject)
  httpServer.listen({ port: config.socketPort, host: config.host, backlog }, () => resolve())
})
const stop = () => {
  app.close().then(
    () => process.exit(0),
    () => process.exit(1),
  )
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
