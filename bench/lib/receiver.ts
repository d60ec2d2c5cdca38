// What a socket worker holds per socket, whatever speaks the protocol underneath: a socket.io-client
// socket (`client`), or a raw WebSocket speaking Engine.IO v4 / Socket.IO v5 by hand (`lean`, and `raw`
// for the bare servers of `limits`, which send plain frames without Engine.IO), so the receiving side
// costs as little as possible and is not what a run measures.
import { io, type Socket } from 'socket.io-client'
import { nowUs } from './stats.ts'
import type { RecordSpec } from './socket-protocol.ts'

export type ReceiverKind = 'client' | 'lean' | 'raw'

/** Where a receiver puts each matched event (the worker's receipt log) and reports an unexpected drop. */
export interface ReceiverSink {
  receipt(code: number, sock: number, key: number, t: number): void
  dropped(reason: string): void
  /** Lean receivers only: the raw frame of every recorded event (to capture the exact bytes a server sends). */
  frame?(code: number, data: Buffer): void
}

export interface ReceiverOptions {
  url: string
  /** Global index of the socket (stored with every receipt). */
  index: number
  token?: string
  record: RecordSpec[]
  /** Retry a failed connect (and reconnect after a drop) with socket.io-client's back-off: 1 s doubling to 5 s, ±50 %. */
  reconnection: boolean
  localAddress?: string
  sink: ReceiverSink
}

export interface Receiver {
  readonly connected: boolean
  /** Connects (retrying while `reconnection` allows); null once connection_established arrived, else why not. */
  open(timeoutMs: number): Promise<string | null>
  /** Emits `event` with an acknowledgement; null when it was answered `{ok: true}`, else the error code. */
  join(event: string, payload: unknown, timeoutMs: number): Promise<string | null>
  /** Disconnects on purpose (not a drop); open() connects again. */
  close(): void
}

/** The receiver of `kind`; `lean` and `raw` load the ws-based one lazily, so `client` runs need nothing else. */
export async function receiverFactory(kind: ReceiverKind): Promise<(opts: ReceiverOptions) => Receiver> {
  if (kind === 'client') return (opts) => new ClientReceiver(opts)
  const { LeanReceiver } = await import('./lean-receiver.ts')
  return (opts) => new LeanReceiver(opts, kind === 'raw' ? 'raw' : 'socket.io')
}

/** socket.io-client, websocket transport: what a real dashboard runs (and parses every event with JSON.parse). */
class ClientReceiver implements Receiver {
  private readonly socket: Socket
  private expecting = false

  constructor(opts: ReceiverOptions) {
    this.socket = io(opts.url, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: opts.reconnection,
      reconnectionDelay: 1000,
      reconnectionDelayMax: 5000,
      randomizationFactor: 0.5,
      autoConnect: false,
      auth: opts.token ? { token: opts.token } : {},
      ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
    } as Parameters<typeof io>[1])
    for (const spec of opts.record) {
      this.socket.on(spec.event, (payload: unknown) => {
        const t = nowUs()
        if (spec.key === 'snapshot') {
          const list = (payload as { sos?: unknown } | null)?.sos
          if (Array.isArray(list)) for (const item of list) if (typeof item?.sos_id === 'number') opts.sink.receipt(spec.code, opts.index, item.sos_id, t)
          return
        }
        const key = keyOf(spec, payload)
        if (key !== null) opts.sink.receipt(spec.code, opts.index, key, t)
      })
    }
    this.socket.on('disconnect', (reason) => {
      if (!this.expecting && reason !== 'io client disconnect') opts.sink.dropped(reason)
    })
  }

  get connected(): boolean {
    return this.socket.connected
  }

  open(timeoutMs: number): Promise<string | null> {
    this.expecting = false
    const socket = this.socket
    return new Promise((resolve) => {
      const timer = setTimeout(() => done('timeout'), timeoutMs)
      const onOk = () => done(null)
      const onErr = (err: Error) => {
        // With reconnection on, the manager retries by itself; only a final failure counts.
        if (!socket.io.opts.reconnection) done(err.message || 'connect_error')
      }
      function done(error: string | null) {
        clearTimeout(timer)
        socket.off('connection_established', onOk)
        socket.off('connect_error', onErr)
        if (error) socket.disconnect()
        resolve(error)
      }
      socket.once('connection_established', onOk)
      socket.on('connect_error', onErr)
      socket.connect()
    })
  }

  async join(event: string, payload: unknown, timeoutMs: number): Promise<string | null> {
    try {
      const ack = (await this.socket.timeout(timeoutMs).emitWithAck(event, payload)) as { ok: boolean; error?: { code: string } }
      return ack.ok ? null : (ack.error?.code ?? 'refused')
    } catch (err) {
      return (err as Error).message
    }
  }

  close(): void {
    this.expecting = true
    this.socket.disconnect()
  }
}

/** The number a payload is matched on: the SOS id, or the sequence number the bench encoded in the latitude. */
function keyOf(spec: RecordSpec, payload: unknown): number | null {
  if (typeof payload !== 'object' || payload === null) return null
  const p = payload as Record<string, unknown>
  if (spec.key === 'sos_id') return typeof p.sos_id === 'number' ? p.sos_id : null
  // A join's history replay ({updates: [...]}) is not a live update.
  if (typeof p.latitude !== 'number') return null
  return Math.round(p.latitude * 1e5)
}
