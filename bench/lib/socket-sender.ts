// The phones of `track --via socket`: one socket.io-client socket per SOS, in the load generator's own
// process, sending `update_location` with an acknowledgement, as the phone app does over Socket.IO.
// Shaped like HttpPool's request() so the open and closed loops of http-load.ts drive it unchanged.
import { io, type Socket } from 'socket.io-client'
import type { HttpResult } from './http-load.ts'
import { nowUs } from './stats.ts'

export interface SocketUpdate {
  /** Which phone (one per SOS) sends it. */
  phone: number
  payload: Record<string, unknown>
}

export class SocketSender {
  private readonly sockets: Socket[] = []
  private readonly timeoutMs: number

  constructor(urls: string[], phones: number, timeoutMs = 10_000) {
    this.timeoutMs = timeoutMs
    for (let i = 0; i < phones; i++) {
      this.sockets.push(io(urls[i % urls.length], { transports: ['websocket'], forceNew: true, reconnection: false, autoConnect: false }))
    }
  }

  /** Connects every phone; resolves once each has its `connection_established`, or rejects with why not. */
  async open(timeoutMs = 20_000): Promise<void> {
    await Promise.all(
      this.sockets.map(
        (socket, i) =>
          new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`phone socket ${i}: no connection_established within ${timeoutMs} ms`)), timeoutMs)
            socket.once('connection_established', () => {
              clearTimeout(timer)
              resolve()
            })
            socket.once('connect_error', (error: Error) => {
              clearTimeout(timer)
              reject(new Error(`phone socket ${i}: ${error.message}`))
            })
            socket.connect()
          }),
      ),
    )
  }

  /**
   * Emits one `update_location`; the acknowledgement `{ok: true}` counts as 201 (what REST answers for
   * the same update), a refusal as 400 with its code in `body`, no answer in time as an error.
   */
  request(update: SocketUpdate, intendedUs = nowUs()): Promise<HttpResult> {
    const socket = this.sockets[update.phone]
    const sentUs = nowUs()
    return new Promise((resolve) => {
      socket.timeout(this.timeoutMs).emit('update_location', update.payload, (error: Error | null, ack?: { ok?: boolean; code?: string }) => {
        const doneUs = nowUs()
        if (error) resolve({ status: 0, body: null, intendedUs, sentUs, doneUs, error: 'no acknowledgement' })
        else resolve({ status: ack?.ok ? 201 : 400, body: ack?.ok ? null : String(ack?.code ?? 'refused'), intendedUs, sentUs, doneUs })
      })
    })
  }

  close(): void {
    for (const socket of this.sockets) socket.disconnect()
  }
}
