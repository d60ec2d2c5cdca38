// Process shell: config → buildApp → listen on the API and realtime ports; graceful shutdown on signals.
import { buildApp } from './app.ts'
import type { Config } from './config.ts'

export async function startServer(config: Config): Promise<void> {
  const app = await buildApp(config)
  let closing = false
  const shutdown = async (signal: string) => {
    if (closing) return
    closing = true
    app.log.info({ signal }, 'shutting down: finishing in-flight requests')
    // Stop taking new work, let accepted requests finish (they answer only after commit), then close the DB.
    const timer = setTimeout(() => {
      app.log.error('shutdown took longer than 10 s; exiting')
      process.exit(1)
    }, 10_000)
    timer.unref()
    try {
      await app.close()
      process.exit(0)
    } catch (err) {
      app.log.error({ err }, 'error during shutdown')
      process.exit(1)
    }
  }
  process.on('SIGINT', () => void shutdown('SIGINT'))
  process.on('SIGTERM', () => void shutdown('SIGTERM'))

  try {
    const apiAddress = await app.listen({ port: config.port, host: config.host, backlog: 4096 })
    const socketPort = await app.realtime.listen(config.socketPort, config.host)
    app.log.info({ api: apiAddress, socketPort, docs: `${apiAddress}/api/docs/` }, 'NaariKavach is up')
  } catch (err) {
    app.log.error({ err }, 'could not start')
    await app.close().catch(() => undefined)
    process.exit(1)
  }
}
