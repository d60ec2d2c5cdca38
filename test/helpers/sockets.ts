// Socket helpers: real socket.io-client connections, waiting for events, acks, and "nothing arrived" checks.
import type { TestContext } from 'node:test'
import { io, type Socket } from 'socket.io-client'

export type ClientSocket = Socket

/** Connects (optionally with an API token in the handshake) and resolves on `connection_established`. */
export async function connect(t: TestContext, url: string, token?: string, extra: Record<string, unknown> = {}): Promise<ClientSocket> {
  const socket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false, auth: token ? { token, ...extra } : extra })
  t.after(() => {
    socket.disconnect()
  })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('connect timeout')), 5000)
    socket.once('connection_established', () => {
      clearTimeout(timer)
      resolve()
    })
    socket.once('connect_error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
  })
  return socket
}

/** Resolves with the next `event` payload; rejects after `ms` (a failure, not a timing assertion). */
export function next<T = unknown>(socket: ClientSocket, event: string, ms = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, handler)
      reject(new Error(`no "${event}" within ${ms} ms`))
    }, ms)
    const handler = (payload: T) => {
      clearTimeout(timer)
      resolve(payload)
    }
    socket.once(event, handler)
  })
}

/** Collects every `event` payload from now on. */
export function collect<T = unknown>(socket: ClientSocket, event: string): T[] {
  const items: T[] = []
  socket.on(event, (payload: T) => items.push(payload))
  return items
}

export interface AckResponse {
  ok: boolean
  data?: Record<string, unknown>
  error?: { code: string; message: string; fields?: Record<string, string[]> }
}

export function emitAck(socket: ClientSocket, event: string, payload?: unknown): Promise<AckResponse> {
  return socket.timeout(5000).emitWithAck(event, payload) as Promise<AckResponse>
}

/** Waits a short while to show that nothing arrived (used only for "must not receive" checks). */
export const settle = (ms = 300) => new Promise((resolve) => setTimeout(resolve, ms))
