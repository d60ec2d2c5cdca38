// Crash safety: a real server process under concurrent create-SOS and location traffic is killed with
// SIGKILL at several moments; after each restart on the same database every 2xx answer is still there.
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { openDatabase } from '../../src/db/dialect.ts'
import { dialect, freshDatabaseUrl } from '../helpers/app.ts'

const ROOT = path.resolve(import.meta.dirname, '../..')

async function freePort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

async function startServer(env: Record<string, string>): Promise<{ child: ChildProcess; api: string }> {
  const port = await freePort()
  const socketPort = await freePort()
  const child = spawn(process.execPath, ['bin/naarikavach.js', 'serve'], {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port), SOCKET_PORT: String(socketPort), HOST: '127.0.0.1', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  const api = `http://127.0.0.1:${port}`
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`)
    const ok = await fetch(`${api}/ready`).then((r) => r.ok, () => false)
    if (ok) return { child, api }
    await new Promise((r) => setTimeout(r, 100))
  }
  child.kill('SIGKILL')
  throw new Error('server did not become ready')
}

interface Acked {
  sos: Map<number, { room_id: string; token: string }>
  locations: Map<number, number>
}

/** Closed-loop clients that record every request that was answered 2xx, until the server dies. */
async function drive(api: string, acked: Acked, stop: { dead: boolean }): Promise<void> {
  const worker = async (n: number) => {
    let i = 0
    while (!stop.dead) {
      i += 1
      try {
        const mine = [...acked.sos.entries()].filter(([id]) => id % 4 === n % 4)
        if (mine.length === 0 || i % 3 === 0) {
          const res = await fetch(`${api}/api/create-sos/`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ name: `crash-${n}-${i}`, initial_latitude: 12 + n / 100, initial_longitude: 77 }),
          })
          if (res.status === 201) {
            const body = (await res.json()) as { sos_id: number; room_id: string; sos_token: string }
            acked.sos.set(body.sos_id, { room_id: body.room_id, token: body.sos_token })
          }
        } else {
          const [id, { token }] = mine[i % mine.length]
          const res = await fetch(`${api}/api/update-location/`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-sos-token': token },
            body: JSON.stringify({ sos_request: id, latitude: 12.5, longitude: 77.5 }),
          })
          if (res.status === 201) {
            const body = (await res.json()) as { location: { id: number } }
            acked.locations.set(body.location.id, id)
          }
        }
      } catch {
        // Connection refused or reset: the server was killed; in-flight requests have no answer.
      }
    }
  }
  await Promise.all(Array.from({ length: 8 }, (_, n) => worker(n)))
}

test('every acknowledged write survives SIGKILL, with no orphans or duplicates', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'naarikavach-crash-'))
  t.after(() => fs.rm(dir, { recursive: true, force: true }))
  const databaseUrl = await freshDatabaseUrl(t, dir)
  const env = {
    DATABASE_URL: databaseUrl,
    MEDIA_ROOT: path.join(dir, 'media'),
    PASSWORD_HASH_COST: '10',
    SOS_CREATE_RATE_LIMIT_PER_MINUTE: '1000000',
  }
  const acked: Acked = { sos: new Map(), locations: new Map() }
  // Fixed kill moments (ms after traffic starts): reproducible in CI, spread over warm-up and steady state.
  const killAfter = [150, 700, 400, 1100]
  for (const delay of killAfter) {
    const { child, api } = await startServer(env)
    const stop = { dead: false }
    const traffic = drive(api, acked, stop)
    await new Promise((r) => setTimeout(r, delay))
    child.kill('SIGKILL')
    await new Promise((resolve) => child.once('exit', resolve))
    stop.dead = true
    await traffic
  }
  assert.ok(acked.sos.size > 0, 'some SOS were acknowledged before the kills')

  // Restart once more: the server must come up on the crashed database and answer.
  const { child } = await startServer(env)
  child.kill('SIGTERM')
  await new Promise((resolve) => child.once('exit', resolve))

  const { db } = openDatabase(databaseUrl)
  try {
    await checkStored(db, acked)
  } finally {
    await db.destroy()
  }
  t.diagnostic(`${dialect}: ${acked.sos.size} SOS and ${acked.locations.size} locations acknowledged across ${killAfter.length} kills`)
})

async function checkStored(db: ReturnType<typeof openDatabase>['db'], acked: Acked): Promise<void> {
  const rows = await db.selectFrom('sos_requests').select(['id', 'room_id', 'sos_token_hash']).execute()
  const byId = new Map(rows.map((r) => [r.id, r]))
  for (const [id, { room_id }] of acked.sos) {
    assert.equal(byId.get(id)?.room_id, room_id, `acknowledged SOS ${id} is stored with its room id`)
  }
  assert.equal(new Set(rows.map((r) => r.room_id)).size, rows.length, 'no duplicate room ids')
  assert.ok(rows.every((r) => /^[0-9a-f-]{36}$/.test(r.room_id) && r.sos_token_hash.length === 64), 'no SOS without its room id or token hash')

  const locations = await db.selectFrom('location_updates').select(['id', 'sos_request_id']).execute()
  const locationIds = new Map(locations.map((l) => [l.id, l.sos_request_id]))
  for (const [id, sosId] of acked.locations) assert.equal(locationIds.get(id), sosId, `acknowledged location ${id} is stored`)
  assert.ok(locations.every((l) => byId.has(l.sos_request_id)), 'no location without its SOS')
}

test('SIGTERM under load: the process drains and exits 0; nothing it answered is lost', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'naarikavach-term-'))
  t.after(() => fs.rm(dir, { recursive: true, force: true }))
  const databaseUrl = await freshDatabaseUrl(t, dir)
  const env = { DATABASE_URL: databaseUrl, MEDIA_ROOT: path.join(dir, 'media'), PASSWORD_HASH_COST: '10', SOS_CREATE_RATE_LIMIT_PER_MINUTE: '1000000' }
  const { child, api } = await startServer(env)
  const acked: Acked = { sos: new Map(), locations: new Map() }
  const stop = { dead: false }
  const traffic = drive(api, acked, stop)
  await new Promise((r) => setTimeout(r, 500))
  child.kill('SIGTERM')
  const code = await new Promise((resolve) => child.once('exit', resolve))
  stop.dead = true
  await traffic
  assert.equal(code, 0, 'graceful shutdown exits 0')
  const { db } = openDatabase(databaseUrl)
  try {
    await checkStored(db, acked)
  } finally {
    await db.destroy()
  }
})
