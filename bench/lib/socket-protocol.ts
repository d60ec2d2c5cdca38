// Messages between the bench parent and its socket worker processes (IPC, structured clone).
import type { ReceiverKind } from './receiver.ts'

/** Which server event a worker timestamps, the small code it is stored under, and what it is matched on. */
export interface RecordSpec {
  event: string
  code: number
  /**
   * `sos_id`: the payload's SOS id; `lat-seq`: the sequence number the bench encoded in the latitude;
   * `snapshot`: every `sos_id` in the payload's `sos` list (one receipt each).
   */
  key: 'sos_id' | 'lat-seq' | 'snapshot'
}

export interface SocketSpec {
  token?: string
  /** An event to emit (with an ack) once connected, e.g. join_sos_channel. */
  join?: { event: string; payload: unknown }
}

export interface ConnectRequest {
  cmd: 'connect'
  id: number
  urls: string[]
  specs: SocketSpec[]
  record: RecordSpec[]
  /** Global index of this worker's first socket. */
  baseIndex: number
  concurrency: number
  timeoutMs: number
  reconnection: boolean
  localAddress?: string
  maxReceipts: number
  /** What each socket is: socket.io-client, a lean Engine.IO receiver, or a raw WebSocket (bare servers). */
  receivers: ReceiverKind
}

export type WorkerRequest =
  | ConnectRequest
  | { cmd: 'reset' | 'count' | 'collect' | 'disconnect' | 'usage' | 'close'; id: number }
  | { cmd: 'reconnect'; id: number; startUs: number; timeoutMs: number }

export type WorkerReply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string }

export interface ConnectResult {
  connectMs: number[]
  joinMs: number[]
  failures: number
  errors: Record<string, number>
  connected: number
}

export interface Receipts {
  code: Uint8Array
  sock: Int32Array
  key: Float64Array
  t: Float64Array
  overflow: number
}

export interface ReconnectResult {
  reconnectMs: number[]
  missing: number
  /** Sockets with a join: time from the storm start until the join was acknowledged again. */
  rejoinMs: number[]
  rejoinFailures: number
}
