// Crash safety of the outbox: a real `naarikavach serve` process is killed with SIGKILL after it claimed an
// alert and handed it to the provider, but before it could record the answer. Restarted on the same
// database, it sends the message again once the lease has run out: delivered, with at most one duplicate,
// which carries the same message id (and the same text and link), so the provider drops it.
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { freshDatabaseUrl } from '../helpers/app.ts'
import { eventually, startFakeTwilio, TWILIO_FROM, TWILIO_SID, TWILIO_TOKEN } from '../helpers/providers.ts'

const ROOT = path.resolve(import.meta.dirname, '../..')

async function freePort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

async function serve(env: Record<string, string>, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['bin/naarikavach.js', 'serve'], {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port), SOCKET_PORT: String(await freePort()), HOST: '127.0.0.1', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`)
    if (await fetch(`http://127.0.0.1:${port}/ready`).then((r) => r.ok, () => false)) return child
    await new Promise((r) => setTimeout(r, 100))
  }
  child.kill('SIGKILL')
  throw new Error('server did not become ready')
}

const killed = (child: ChildProcess) => new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', resolve)))

test('SIGKILL between claim and mark: delivered after a restart, at most one duplicate with the same message id', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'naarikavach-outbox-crash-'))
  t.after(() => fs.rm(dir, { recursive: true, force: true }))
  // The provider takes the first request but its answer never comes back (the process dies meanwhile).
  const twilio = await startFakeTwilio(t, ['accept-then-hang'])
  const port = await freePort()
  const env = {
    DATABASE_URL: await freshDatabaseUrl(t, dir),
    MEDIA_ROOT: path.join(dir, 'media'),
    PASSWORD_HASH_COST: '10',
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    SMS_PROVIDER: 'twilio',
    TWILIO_ACCOUNT_SID: TWILIO_SID,
    TWILIO_AUTH_TOKEN: TWILIO_TOKEN,
    TWILIO_FROM,
    TWILIO_API_BASE: twilio.base,
    CONTACT_GRACE_SECONDS: '0',
    OUTBOX_CHECK_MS: '50',
    OUTBOX_LEASE_SECONDS: '2',
    OUTBOX_SEND_TIMEOUT_MS: '1500',
  }
  const first = await serve(env, port)
  t.after(() => first.kill('SIGKILL'))
  const res = await fetch(`http://127.0.0.1:${port}/api/create-sos/`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Asha', initial_latitude: 12.97, initial_longitude: 77.59, contacts: [{ name: 'Ravi', phone: '+919812345678' }] }),
  })
  assert.equal(res.status, 201)
  const sos = (await res.json()) as { sos_id: number; sos_token: string }
  await twilio.waitFor(1)
  first.kill('SIGKILL')
  await killed(first)

  const second = await serve(env, port)
  t.after(() => second.kill('SIGKILL'))
  const notes = await eventually(async () => {
    const answer = await fetch(`http://127.0.0.1:${port}/api/sos/${sos.sos_id}/notifications/`, { headers: { 'x-sos-token': sos.sos_token } })
    const body = (await answer.json()) as { results: Array<{ status: string; attempts: number; message_id: string }> }
    return body.results[0]?.status === 'sent' && body.results
  }, 15_000, 'the alert is sent after the restart')
  assert.equal(twilio.requests.length, 2, 'one duplicate request, no more')
  const [before, after] = twilio.requests
  assert.equal(after.idempotencyKey, before.idempotencyKey, 'the duplicate carries the same message id')
  assert.equal(after.idempotencyKey, notes[0].message_id)
  assert.equal(after.form.get('Body'), before.form.get('Body'), 'the same text and the same link')
  assert.ok(after.at - before.at >= 1500, 'sent again only after the lease ran out')
  assert.equal(twilio.delivered.size, 1, 'the provider dropped the repeat by its message id')
  assert.equal(notes[0].attempts, 2)
  second.kill('SIGTERM')
  assert.equal(await killed(second), 0)
})
