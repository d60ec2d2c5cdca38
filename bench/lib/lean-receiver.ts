// A receiving socket that costs next to nothing: a raw WebSocket (the `ws` package) speaking Engine.IO v4 /
// Socket.IO v5 by hand. It answers the handshake and pings, acknowledges nothing it does not need to, and
// matches the events it records with a prefix compare and one small regex on the frame's bytes, never
// JSON.parse, so thousands fit in one process and the receivers are not what a fan-out measures.
// Protocol: https://socket.io/docs/v4/engine-io-protocol/ and https://socket.io/docs/v4/socket-io-protocol/
import WebSocket from 'ws'
import { nowUs, sleep } from './stats.ts'
import type { Receiver, ReceiverOptions } from './receiver.ts'
import type { RecordSpec } from './socket-protocol.ts'

/** `socket.io`: Engine.IO + Socket.IO framing (our server, bare Socket.IO); `raw`: plain frames (bare ws / uWS servers). */
export type LeanProtocol = 'socket.io' | 'raw'

interface Matcher {
  /** `42["<event>",` as bytes: an EVENT packet inside an Engine.IO MESSAGE. */
  prefix: Buffer
  spec: RecordSpec
}

const ESTABLISHED = Buffer.from('42["connection_established"')
const SOS_ID_FIELD = Buffer.from('"sos_id":')
const UPDATES_FIELD = Buffer.from('"updates":[')
const LATITUDE_FIELD = Buffer.from('"latitude":')
const SOS_ID = /"sos_id":(\d+)/g
/** An ACK packet: `43<id>[<payload>]`. */
const ACK = /^43(\d+)(\[.*\])$/s

/** ws:// URL of the Engine.IO websocket endpoint (socket.io) or of the server's root (raw). */
export function leanUrl(url: string, protocol: LeanProtocol): string {
  const u = new URL(url)
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:'
  if (protocol === 'socket.io') {
    u.pathname = '/socket.io/'
    u.search = '?EIO=4&transport=websocket'
  }
  return u.toString()
}

export class LeanReceiver implements Receiver {
  private ws: WebSocket | null = null
  private established = false
  private expecting = false
  private nextAck = 1
  private readonly acks = new Map<number, (payload: string) => void>()
  private readonly matchers: Matcher[]
  private readonly url: string

  constructor(
    private readonly opts: ReceiverOptions,
    private readonly protocol: LeanProtocol,
  ) {
    this.url = leanUrl(opts.url, protocol)
    this.matchers = opts.record.map((spec) => ({ prefix: Buffer.from(`42["${spec.event}",`), spec }))
  }

  get connected(): boolean {
    return this.established
  }

  async open(timeoutMs: number): Promise<string | null> {
    this.expecting = false
    const deadline = Date.now() + timeoutMs
    let delay = 1000
    for (;;) {
      const error = await this.attempt(deadline - Date.now())
      if (!error || !this.opts.reconnection || this.expecting) return error
      // socket.io-client's back-off (1 s doubling to 5 s, ±50 %), so a storm of retries spreads out the same way.
      const wait = Math.min(delay * (0.5 + Math.random()), deadline - Date.now())
      delay = Math.min(delay * 2, 5000)
      if (wait <= 0) return error
      await sleep(wait)
    }
  }

  /** One connection attempt: resolves null when established, else the error. */
  private attempt(timeoutMs: number): Promise<string | null> {
    if (timeoutMs <= 0) return Promise.resolve('timeout')
    return new Promise((resolve) => {
      let settled = false
      const ws = new WebSocket(this.url, {
        perMessageDeflate: false,
        skipUTF8Validation: true,
        handshakeTimeout: timeoutMs,
        ...(this.opts.localAddress ? { localAddress: this.opts.localAddress } : {}),
      })
      this.ws = ws
      const done = (error: string | null) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        if (error) ws.terminate()
        resolve(error)
      }
      const timer = setTimeout(() => done('timeout'), timeoutMs)
      ws.on('open', () => {
        if (this.protocol === 'raw') {
          this.established = true
          done(null)
        }
      })
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        if (isBinary) return
        const error = this.onFrame(ws, data)
        if (error !== undefined) done(error)
      })
      ws.on('error', (err) => done(err.message || 'error'))
      ws.on('close', () => {
        done('closed before connection_established')
        // A failed attempt's socket may close after the next attempt's opened: leave that one alone.
        if (this.ws !== ws) return
        const was = this.established
        this.established = false
        for (const answer of this.acks.values()) answer('closed')
        this.acks.clear()
        if (!was || this.expecting) return
        this.opts.sink.dropped('transport close')
        // Like socket.io-client with reconnection on: come back by itself (the run reports the drop).
        if (this.opts.reconnection) void this.open(60_000)
      })
    })
  }

  /** Handles one text frame; returns undefined, or null / an error once the connection is established or refused. */
  private onFrame(ws: WebSocket, data: Buffer): string | null | undefined {
    if (this.protocol === 'socket.io') {
      const type = data[0]
      if (type === 0x32 /* 2: ping */) {
        ws.send('3')
        return undefined
      }
      if (type === 0x30 /* 0: open */) {
        ws.send(this.opts.token ? `40${JSON.stringify({ token: this.opts.token })}` : '40')
        return undefined
      }
      if (type !== 0x34 /* 4: message */) return undefined
      if (data[1] === 0x34 /* 44: connect_error */) {
        return /"message":"([^"]*)"/.exec(data.toString('utf8'))?.[1] ?? 'connect_error'
      }
      if (data[1] === 0x33 /* 43: ack */) {
        const m = ACK.exec(data.toString('utf8'))
        if (!m) return undefined
        const answer = this.acks.get(Number(m[1]))
        this.acks.delete(Number(m[1]))
        answer?.(m[2])
        return undefined
      }
      if (!this.established && startsWith(data, ESTABLISHED)) {
        this.established = true
        return null
      }
    }
    const t = nowUs()
    for (const m of this.matchers) if (startsWith(data, m.prefix)) this.record(m.spec, data, t)
    return undefined
  }

  /** Finds the key in the frame's bytes: an indexOf and a few digits, no string of the whole frame. */
  private record(spec: RecordSpec, data: Buffer, t: number): void {
    const { sink, index } = this.opts
    sink.frame?.(spec.code, data)
    if (spec.key === 'sos_id') {
      const at = data.indexOf(SOS_ID_FIELD)
      if (at >= 0) sink.receipt(spec.code, index, digitsAt(data, at + SOS_ID_FIELD.length), t)
    } else if (spec.key === 'snapshot') {
      for (const m of data.toString('latin1').matchAll(SOS_ID)) sink.receipt(spec.code, index, Number(m[1]), t)
    } else if (data.indexOf(UPDATES_FIELD) < 0) {
      // A join's history replay ({updates: [...]}) is not a live update.
      const at = data.indexOf(LATITUDE_FIELD)
      if (at < 0) return
      const from = at + LATITUDE_FIELD.length
      let to = from
      while (to < data.length && data[to] !== 0x2c /* , */ && data[to] !== 0x7d /* } */) to++
      sink.receipt(spec.code, index, Math.round(Number(data.toString('latin1', from, to)) * 1e5), t)
    }
  }

  join(event: string, payload: unknown, timeoutMs: number): Promise<string | null> {
    const ws = this.ws
    if (!ws || !this.established) return Promise.resolve('not connected')
    const id = this.nextAck++
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.acks.delete(id)
        resolve('operation has timed out')
      }, timeoutMs)
      this.acks.set(id, (answer) => {
        clearTimeout(timer)
        if (answer === 'closed') return resolve('closed')
        // The only JSON.parse a lean receiver does: its own join's answer, once.
        const [ack] = JSON.parse(answer) as [{ ok: boolean; error?: { code: string } }]
        resolve(ack.ok ? null : (ack.error?.code ?? 'refused'))
      })
      ws.send(`42${id}${JSON.stringify([event, payload])}`)
    })
  }

  close(): void {
    this.expecting = true
    this.established = false
    const ws = this.ws
    if (!ws) return
    // 41: leave the namespace, as socket.io-client's disconnect() does, then close the WebSocket.
    if (this.protocol === 'socket.io' && ws.readyState === WebSocket.OPEN) ws.send('41')
    ws.close()
  }
}

/** The whole number written in ASCII digits at `at`. */
function digitsAt(data: Buffer, at: number): number {
  let n = 0
  for (let i = at; i < data.length; i++) {
    const c = data[i] - 0x30
    if (c < 0 || c > 9) break
    n = n * 10 + c
  }
  return n
}

function startsWith(data: Buffer, prefix: Buffer): boolean {
  return data.length >= prefix.length && data.compare(prefix, 0, prefix.length, 0, prefix.length) === 0
}
