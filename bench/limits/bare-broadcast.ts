// The broadcast limit: one bare broadcast server (bench/limits/bare-broadcast-server.ts, a child process)
// with N receivers in one room, in the same socket worker processes as our fanout's; B broadcasts of our
// new_sos bytes, one at a time. Per broadcast: the server's own event-loop figures and the time from just
// before its send call until the first and the last receiver had it (CLOCK_MONOTONIC in every process).
import path from 'node:path'
import { BenchChild } from '../lib/child.ts'
import { SocketPool } from '../lib/socket-pool.ts'
import { Samples, nowUs, round, sleep, type Summary } from '../lib/stats.ts'
import type { BareKind } from './bare-broadcast-server.ts'

export const BARE_KIND_LABELS: Record<BareKind, string> = {
  'ws-raw': 'ws, no Socket.IO (pre-framed send loop)',
  'uws-raw': 'uWS, no Socket.IO (app.publish)',
  'sio-ws': 'bare Socket.IO on ws',
  'sio-uws': 'bare Socket.IO on uWS (attachApp)',
}

export interface BareBroadcastOptions {
  sockets: number
  broadcasts: number
  clientProcs: number
  connectConcurrency: number
}

export interface BareBroadcastResult {
  kind: BareKind
  sockets: number
  connected: number
  connectS: number
  /** Whether Socket.IO's encoding of the sampled payload gives back our server's frame byte for byte. */
  sameBytes: boolean
  frameBytes: number
  broadcasts: number
  delivered: number
  expected: number
  /** Synchronous time of the send call (ms). */
  syncMs: Summary
  /** From before the send until a setImmediate queued right after it ran (ms). */
  immediateMs: Summary
  /** The server's event-loop busy time from the send until every receiver had it (ms). */
  busyMs: Summary
  /** Its longest stall over the same span, seen by a 1 ms timer (ms). */
  loopMaxMs: Summary
  firstMs: Summary
  lastMs: Summary
  rssPerSocketKb: number
}

interface Sent {
  t0Us: number
  syncMs: number
  immediateMs: number
  bytes: number
}

export async function measureBareBroadcast(kind: BareKind, frame: string, opts: BareBroadcastOptions): Promise<BareBroadcastResult> {
  const child = new BenchChild(`bare ${kind} server`, path.join(import.meta.dirname, 'bare-broadcast-server.ts'), { BARE_KIND: kind })
  let pool: SocketPool | undefined
  try {
    const { port, sameBytes } = await child.call<{ port: number; sameBytes: boolean }>('start', { frame })
    const raw = kind.endsWith('-raw')
    const rss0 = (await child.call<{ rssKb: number }>('usage')).rssKb
    pool = new SocketPool(opts.clientProcs)
    const connected = await pool.connect({
      urls: [`http://127.0.0.1:${port}`],
      specs: Array.from({ length: opts.sockets }, () => (raw ? {} : { join: { event: 'join_sos_channel', payload: {} } })),
      record: [{ event: 'new_sos', code: 0, key: 'sos_id' }],
      concurrency: opts.connectConcurrency,
      timeoutMs: 20_000,
      reconnection: false,
      receivers: raw ? 'raw' : 'lean',
    })
    const n = connected.connected
    await waitUntil(async () => (await child.call<number>('sockets')) >= n, 10_000)
    const rss1 = (await child.call<{ rssKb: number }>('usage')).rssKb
    console.log(`${BARE_KIND_LABELS[kind]} (pid ${child.pid}): ${n.toLocaleString('en-US')}/${opts.sockets.toLocaleString('en-US')} receivers in ${round(connected.wallMs / 1000, 2)} s${connected.failures ? ` (${connected.failures} failures ${JSON.stringify(connected.errors)})` : ''}`)

    // Two broadcasts first, so JIT and first-use costs are not in the figures.
    for (let w = 0; w < 2; w++) {
      await child.call('broadcast', { sosId: 900_000 + w })
      await waitUntil(async () => (await pool!.count()).receipts >= n * (w + 1), 10_000)
      await child.call('settle')
      await sleep(50)
    }
    await pool.reset()
    const sent = new Map<number, Sent>()
    const busy = new Samples()
    const loopMax = new Samples()
    for (let b = 0; b < opts.broadcasts; b++) {
      const id = b + 1
      sent.set(id, await child.call<Sent>('broadcast', { sosId: id }))
      await waitUntil(async () => (await pool!.count()).receipts >= n * id, 10_000)
      const settled = await child.call<{ busyMs: number; loopMaxMs: number }>('settle')
      busy.add(settled.busyMs)
      loopMax.add(settled.loopMaxMs)
      // Quiet time before the next send: the delay timer ticks again, so the next stall is recorded whole.
      await sleep(50)
    }
    const { parts } = await pool.collect()
    const perId = new Map<number, { first: number; last: number; n: number }>()
    for (const part of parts) {
      for (let i = 0; i < part.t.length; i++) {
        const s = sent.get(part.key[i])
        if (!s) continue
        const ms = (part.t[i] - s.t0Us) / 1000
        const agg = perId.get(part.key[i]) ?? { first: Infinity, last: 0, n: 0 }
        agg.first = Math.min(agg.first, ms)
        agg.last = Math.max(agg.last, ms)
        agg.n += 1
        perId.set(part.key[i], agg)
      }
    }
    const first = new Samples()
    const last = new Samples()
    let delivered = 0
    for (const agg of perId.values()) {
      first.add(agg.first)
      last.add(agg.last)
      delivered += agg.n
    }
    const sync = new Samples()
    const immediate = new Samples()
    for (const s of sent.values()) {
      sync.add(s.syncMs)
      immediate.add(s.immediateMs)
    }
    return {
      kind,
      sockets: opts.sockets,
      connected: n,
      connectS: round(connected.wallMs / 1000, 2),
      sameBytes,
      frameBytes: [...sent.values()][0]?.bytes ?? Buffer.byteLength(frame),
      broadcasts: opts.broadcasts,
      delivered,
      expected: n * opts.broadcasts,
      syncMs: sync.summary(),
      immediateMs: immediate.summary(),
      busyMs: busy.summary(),
      loopMaxMs: loopMax.summary(),
      firstMs: first.summary(),
      lastMs: last.summary(),
      rssPerSocketKb: n > 0 ? round((rss1 - rss0) / n, 1) : 0,
    }
  } finally {
    await pool?.close()
    await child.stop()
  }
}

/** Polls every 5 ms (a broadcast's figures are in milliseconds) until `check` holds or `timeoutMs` passes. */
async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = nowUs() + timeoutMs * 1000
  while (nowUs() < deadline) {
    if (await check()) return true
    await sleep(5)
  }
  return false
}
