// Test helper: real `naarikavach serve` processes (one node, or a WORKERS=N cluster) on free ports, with
// their log lines, accounts made as the CLI makes them, a write load that records every 2xx, and the
// check that every acknowledged write is in the database.
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import http from 'node:http'
import net from 'node:net'
import path from 'node:path'
import type { TestContext } from 'node:test'
import { openDatabase } from '../../src/db/dialect.ts'
import type { Role } from '../../src/db/schema.ts'
import { AuthService } from '../../src/modules/auth/auth.service.ts'

const ROOT = path.resolve(import.meta.dirname, '../..')
const BIN = path.join(ROOT, 'bin', 'naarikavach.js')

export async function freePort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

export interface ServeProcess {
  child: ChildProcess
  port: number
  socketPort: number
  apiUrl: string
  socketUrl: string
  /** stdout (JSON log lines) and stderr so far. */
  stdout(): string
  stderr(): string
  /** Parsed JSON log lines so far. */
  logs(): Array<Record<string, unknown>>
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/**
 * Spawns `node bin/naarikavach.js serve` with `env` (on top of this process's environment) on free
 * loopback ports, and waits until /ready answers and the Socket.IO port accepts. Killed after the test.
 */
export async function spawnServe(t: TestContext, env: Record<string, string>, opts: { waitReady?: boolean } = {}): Promise<ServeProcess> {
  const port = await freePort()
  const socketPort = await freePort()
  const child = spawn(process.execPath, [BIN, 'serve'], {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port), SOCKET_PORT: String(socketPort), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exited
    }
  })
  const proc: ServeProcess = {
    child,
    port,
    socketPort,
    apiUrl: `http://127.0.0.1:${port}`,
    socketUrl: `http://127.0.0.1:${socketPort}`,
    stdout: () => stdout,
    stderr: () => stderr,
    logs: () =>
      stdout.split('\n').flatMap((line) => {
        try {
          return line.startsWith('{') ? [JSON.parse(line) as Record<string, unknown>] : []
        } catch {
          return []
        }
      }),
    exited,
  }
  if (opts.waitReady === false) return proc
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`server exited (${child.exitCode ?? child.signalCode}) during start:\n${stderr}\n${stdout.slice(-4000)}`)
    const ready = await fetch(`${proc.apiUrl}/ready`).then((r) => r.ok, () => false)
    if (ready && (await accepts(socketPort))) return proc
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  child.kill('SIGKILL')
  throw new Error(`server did not become ready within 30 s:\n${stderr}\n${stdout.slice(-4000)}`)
}

export interface Account {
  id: number
  username: string
  token: string
}

let accounts = 0

/** An account with a token, made directly in the database as `naarikavach create-user` makes it. */
export async function createAccount(databaseUrl: string, role: Role, unitNumber: string | null = null): Promise<Account> {
  const handle = openDatabase(databaseUrl)
  try {
    const auth = new AuthService({ db: handle.db, passwordHashCost: 10 })
    const username = `${role}_${process.pid}_${++accounts}`
    const user = await auth.createUser({ username, password: 'Correct-Horse-Battery-9', role, unitNumber })
    return { id: user.id, username, token: await auth.issueToken(user.id) }
  } finally {
    await handle.db.destroy()
  }
}

export interface HttpAnswer {
  status: number
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any
  headers: http.IncomingHttpHeaders
}

/** One HTTP request, optionally from a given loopback source address (fetch cannot choose it). */
export function request(url: string, opts: { method?: string; headers?: Record<string, string>; json?: unknown; body?: Buffer; localAddress?: string } = {}): Promise<HttpAnswer> {
  const payload = opts.json !== undefined ? Buffer.from(JSON.stringify(opts.json)) : opts.body
  const headers: Record<string, string> = { ...(opts.json !== undefined ? { 'content-type': 'application/json' } : {}), ...opts.headers }
  if (payload) headers['content-length'] = String(payload.length)
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers, localAddress: opts.localAddress, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let body: unknown = text
        try {
          body = text ? JSON.parse(text) : undefined
        } catch {
          // not JSON
        }
        resolve({ status: res.statusCode ?? 0, body, headers: res.headers })
      })
      res.on('error', reject)
    })
    req.setTimeout(15_000, () => req.destroy(new Error(`no answer from ${url} within 15 s`)))
    req.on('error', reject)
    req.end(payload)
  })
}

/** What the server acknowledged (2xx), and when the answer arrived (ms, performance.now()). */
export interface Acked {
  sos: Map<number, { room_id: string; token: string; at: number }>
  /** location id → its SOS, its latitude (unique per update: it identifies the event) and when it was answered. */
  locations: Map<number, { sosId: number; latitude: number; at: number }>
}

export const newAcked = (): Acked => ({ sos: new Map(), locations: new Map() })

/** Unique latitudes, so every location event can be matched to its request. */
let latitudeSeq = 0
export const nextLatitude = () => 10 + ++latitudeSeq / 1e4

/**
 * Closed-loop writers against `api` until `stop.done`: creates SOS (up to `maxSos`) and sends their
 * locations (plus, with `extra`, up to `extra.max` locations for that SOS), recording every 2xx. Refused or cut requests are not recorded:
 * a request that was not answered may or may not have been applied.
 */
export async function driveWrites(
  api: string,
  acked: Acked,
  stop: { done: boolean },
  opts: { writers?: number; maxSos?: number; pauseMs?: number; extra?: { sosId: number; token: string; max: number } } = {},
): Promise<void> {
  const mine: Array<{ id: number; token: string }> = []
  let extraSent = 0
  const worker = async (n: number) => {
    let i = 0
    while (!stop.done) {
      i += 1
      if (opts.pauseMs) await new Promise((resolve) => setTimeout(resolve, opts.pauseMs))
      try {
        const create = mine.length === 0 || (i % 3 === 0 && acked.sos.size < (opts.maxSos ?? 200))
        if (create) {
          const res = await fetch(`${api}/api/create-sos/`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ name: `load-${n}-${i}`, initial_latitude: 12.5, initial_longitude: 77.5 }),
          })
          if (res.status === 201) {
            const body = (await res.json()) as { sos_id: number; room_id: string; sos_token: string }
            acked.sos.set(body.sos_id, { room_id: body.room_id, token: body.sos_token, at: performance.now() })
            mine.push({ id: body.sos_id, token: body.sos_token })
          } else await res.arrayBuffer()
        } else {
          const toExtra = opts.extra !== undefined && i % 2 === 0 && extraSent < opts.extra.max
          if (toExtra) extraSent += 1
          const target = toExtra ? opts.extra! : mine[i % mine.length]
          const sosId = 'sosId' in target ? target.sosId : target.id
          const latitude = nextLatitude()
          const res = await fetch(`${api}/api/update-location/`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-sos-token': target.token },
            body: JSON.stringify({ sos_request: sosId, latitude, longitude: 77.5 }),
          })
          if (res.status === 201) {
            const body = (await res.json()) as { location: { id: number } }
            acked.locations.set(body.location.id, { sosId, latitude, at: performance.now() })
          } else await res.arrayBuffer()
        }
      } catch {
        // Cut mid-request (a node was killed): no answer, so nothing was acknowledged.
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    }
  }
  await Promise.all(Array.from({ length: opts.writers ?? 4 }, (_, n) => worker(n)))
}

/** Every acknowledged SOS and location is stored (with its room id / SOS); nothing is orphaned or doubled. */
export async function assertStored(databaseUrl: string, acked: Acked): Promise<void> {
  const { db } = openDatabase(databaseUrl)
  try {
    const rows = await db.selectFrom('sos_requests').select(['id', 'room_id']).execute()
    const byId = new Map(rows.map((r) => [r.id, r]))
    for (const [id, { room_id }] of acked.sos) assert.equal(byId.get(id)?.room_id, room_id, `acknowledged SOS ${id} is stored with its room id`)
    assert.equal(new Set(rows.map((r) => r.room_id)).size, rows.length, 'no duplicate room ids')
    const locations = await db.selectFrom('location_updates').select(['id', 'sos_request_id', 'latitude']).execute()
    const stored = new Map(locations.map((l) => [l.id, l]))
    for (const [id, { sosId, latitude }] of acked.locations) {
      assert.equal(stored.get(id)?.sos_request_id, sosId, `acknowledged location ${id} is stored for SOS ${sosId}`)
      assert.equal(Number(stored.get(id)?.latitude), latitude, `acknowledged location ${id} has its latitude`)
    }
    assert.ok(locations.every((l) => byId.has(l.sos_request_id)), 'no location without its SOS')
  } finally {
    await db.destroy()
  }
}
