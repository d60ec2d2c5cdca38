// Process shell: config → buildApp → listen on the API and realtime ports; graceful shutdown on signals.
// With WORKERS=N (N > 1) this process is the cluster primary: it migrates once, forks N workers that
// share the API port (the cluster's round robin) and hands each Socket.IO connection to a worker with
// @socket.io/sticky, so every request of one polling session reaches the same worker.
import type { SendHandle } from 'node:child_process'
import cluster, { type Worker } from 'node:cluster'
import http from 'node:http'
import os from 'node:os'
import { setupMaster } from '@socket.io/sticky'
import { pino } from 'pino'
import { buildApp, LOG_REDACT } from './app.ts'
import type { Config } from './config.ts'
import { openDatabase } from './db/dialect.ts'
import { migrateToLatest } from './db/migrator.ts'

/** How long a draining process may take before it gives up (a worker), or its workers are killed (the primary). */
const SHUTDOWN_TIMEOUT_MS = 10_000
/** A worker that lived shorter than this before dying counts as failing at start, and is restarted later each time. */
const WORKER_STABLE_MS = 10_000
const READY = 'naarikavach:ready'
const NOT_READY = 1_000_000_000

export async function startServer(config: Config): Promise<void> {
  if (config.workers > 1 && cluster.isPrimary) return startPrimary(config)
  return startNode(config, cluster.isWorker ? cluster.worker : undefined)
}

/** One serving process: the whole server (WORKERS=1), or one worker of the cluster. */
async function startNode(config: Config, worker: Worker | undefined): Promise<void> {
  // A connection the primary handed over while this worker's Socket.IO server did not exist yet (only
  // possible in a race with the primary's readiness bookkeeping) waits here and is replayed once it does.
  const early: Array<[unknown, SendHandle]> = []
  const hold = (message: unknown, handle: SendHandle) => early.push([message, handle])
  if (worker) process.on('message', hold)

  const app = await buildApp(
    // The primary has already migrated; a restarted worker must not race the others for the lock.
    worker ? { ...config, autoMigrate: false } : config,
    worker ? { logger: { level: config.logLevel, base: { pid: process.pid, hostname: os.hostname(), worker: worker.id } } } : {},
  )
  let closing = false
  const shutdown = async (signal: string) => {
    if (closing) return
    closing = true
    app.log.info({ signal }, 'shutting down: finishing in-flight requests')
    // Stop taking new work, let accepted requests finish (they answer only after commit), then close the DB.
    const timer = setTimeout(() => {
      app.log.error(`shutdown took longer than ${SHUTDOWN_TIMEOUT_MS / 1000} s; exiting`)
      process.exit(1)
    }, SHUTDOWN_TIMEOUT_MS)
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
    // In a worker this joins the primary's listening socket (node:cluster shares it, round robin).
    const apiAddress = await app.listen({ port: config.port, host: config.host, backlog: 4096 })
    if (worker) {
      // The primary owns the Socket.IO port and passes each connection on (sticky sessions).
      app.realtime.acceptFromPrimary()
      process.off('message', hold)
      for (const [message, handle] of early.splice(0)) process.emit('message', message, handle)
      process.send?.({ type: READY })
      app.log.info({ api: apiAddress }, 'worker is up')
    } else {
      const socketPort = await app.realtime.listen(config.socketPort, config.host)
      app.log.info({ api: apiAddress, socketPort, docs: `${apiAddress}/api/docs/` }, 'NaariKavach is up')
    }
  } catch (err) {
    app.log.error({ err }, 'could not start')
    await app.close().catch(() => undefined)
    process.exit(1)
  }
}

/** The cluster primary: migrations, the sticky Socket.IO listener, and N workers kept alive until a signal. */
async function startPrimary(config: Config): Promise<void> {
  const log = pino({ level: config.logLevel, redact: LOG_REDACT, base: { pid: process.pid, hostname: os.hostname(), role: 'primary' } })
  const fail = (msg: string, err?: unknown): never => {
    log.fatal({ err }, msg)
    process.exit(1)
  }

  // Once, before any worker exists, so N workers never race for the migration lock at start.
  if (config.autoMigrate) {
    const handle = openDatabase(config.databaseUrl)
    try {
      const applied = await migrateToLatest(handle.db)
      if (applied.length > 0) log.info({ applied }, 'migrations applied')
    } catch (err) {
      fail('migration failed; not starting', err)
    } finally {
      await handle.db.destroy().catch(() => undefined)
    }
  }

  let closing = false
  const started = new Map<number, number>() // worker id → when it was forked
  const ready = new Set<number>()
  let failures = 0 // consecutive workers that died soon after starting

  const fork = (): Worker => {
    const worker = cluster.fork() as Worker & { clientsCount?: number }
    started.set(worker.id, Date.now())
    // @socket.io/sticky (least-connection) picks the worker with the lowest `clientsCount`, and a fresh
    // worker (0) would be picked at once, before it can take connections (a hand-over it receives before
    // its Socket.IO server exists is lost, and that client waits out its 20 s connect timeout). A large
    // head start keeps it last in line until it is ready; connections it did get are still counted.
    worker.clientsCount = NOT_READY
    worker.on('message', (message: unknown) => {
      if ((message as { type?: string } | null)?.type !== READY) return
      ready.add(worker.id)
      worker.clientsCount = (worker.clientsCount ?? NOT_READY) - NOT_READY
      log.info({ worker: worker.id, workerPid: worker.process.pid }, 'worker ready')
    })
    return worker
  }

  // The Socket.IO port: the primary reads the first bytes of each connection and hands it to the worker
  // that owns its Engine.IO session (`sid=`), or to the worker with the fewest connections.
  const socketServer = http.createServer()
  // With no worker ready (every one died at once), refuse at once rather than hand a connection to a
  // worker still loading, which would drop it: the client retries in a second instead of timing out.
  socketServer.on('connection', (socket) => {
    if (ready.size === 0) socket.destroy()
  })
  setupMaster(socketServer, { loadBalancingMethod: 'least-connection' })
  // @socket.io/sticky 2 passes request bytes to the workers as Buffers over IPC; with the default JSON
  // serialization they arrive as plain objects and every hand-over fails (the client sees an empty reply).
  cluster.setupPrimary({ serialization: 'advanced' })

  const shutdown = (signal: string) => {
    if (closing) return
    closing = true
    log.info({ signal }, 'shutting down: draining every worker')
    if (socketServer.listening) socketServer.close()
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => Boolean(w))
    let clean = true
    let left = workers.length
    const timer = setTimeout(() => {
      log.error(`workers still running after ${(SHUTDOWN_TIMEOUT_MS + 5000) / 1000} s; killing them`)
      for (const worker of workers) worker.process.kill('SIGKILL')
      process.exit(1)
    }, SHUTDOWN_TIMEOUT_MS + 5000)
    timer.unref()
    if (left === 0) process.exit(0)
    for (const worker of workers) {
      worker.once('exit', (code) => {
        if (code !== 0) clean = false
        if (--left === 0) {
          log.info({ clean }, 'every worker has stopped')
          process.exit(clean ? 0 : 1)
        }
      })
      // Each worker drains like a single server would (its own SIGTERM handler above).
      worker.process.kill('SIGTERM')
    }
  }
  process.on('SIGINT', () => shutdown('SIGINT'))
  process.on('SIGTERM', () => shutdown('SIGTERM'))

  log.info({ workers: config.workers }, 'starting workers')
  const initial = Array.from({ length: config.workers }, fork)
  await new Promise<void>((resolve) => {
    const onExit = (worker: Worker, code: number | null, signal: string | null) => {
      if (closing) return
      if (!ready.has(worker.id) && initial.includes(worker)) {
        cluster.off('exit', onExit)
        for (const other of Object.values(cluster.workers ?? {})) other?.process.kill('SIGTERM')
        fail(`worker ${worker.id} exited during start (code ${code}, signal ${signal}); see its log above`)
      }
    }
    cluster.on('exit', onExit)
    const check = setInterval(() => {
      if (initial.every((w) => ready.has(w.id))) {
        clearInterval(check)
        cluster.off('exit', onExit)
        resolve()
      }
    }, 20)
  })

  if (closing) return

  // From now on a worker that dies is replaced; one that keeps dying right after start is retried ever
  // more slowly (up to 30 s apart), so a broken dependency does not become a fork storm.
  cluster.on('exit', (worker, code, signal) => {
    ready.delete(worker.id)
    const lived = Date.now() - (started.get(worker.id) ?? Date.now())
    started.delete(worker.id)
    if (closing) {
      log.info({ worker: worker.id, workerPid: worker.process.pid, code, signal }, 'worker stopped')
      return
    }
    failures = lived < WORKER_STABLE_MS ? failures + 1 : 0
    const delay = failures <= 1 ? 0 : Math.min(30_000, 1000 * 2 ** (failures - 2))
    log.error({ worker: worker.id, workerPid: worker.process.pid, code, signal, livedMs: lived, restartInMs: delay }, 'worker died; starting a replacement')
    setTimeout(() => {
      if (!closing) fork()
    }, delay)
  })

  try {
    await new Promise<void>((resolve, reject) => {
      socketServer.once('error', reject)
      // A reconnect storm brings thousands of SYNs at once; Node's default backlog (511) drops them.
      socketServer.listen({ port: config.socketPort, host: config.host, backlog: 4096 }, () => {
        socketServer.off('error', reject)
        resolve()
      })
    })
  } catch (err) {
    closing = true
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM')
    fail('could not listen on the Socket.IO port', err)
  }
  const socketAddress = socketServer.address()
  log.info(
    { api: `http://${config.host}:${config.port}`, socketPort: typeof socketAddress === 'object' && socketAddress ? socketAddress.port : config.socketPort, workers: config.workers },
    'NaariKavach is up',
  )
}
