// The command line of CONTRACT §6, as an operator runs it: the real `bin/naarikavach.js` in a child
// process with its configuration in the environment (migrate, create-user, serve + SIGTERM).
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { test, type TestContext } from 'node:test'
import { buildTestApp, freshDatabaseUrl } from '../helpers/app.ts'
import { BIN, ROOT } from '../helpers/cli.ts'
import { connect } from '../helpers/sockets.ts'

/** A guard against a hung child (a failure, never a timing assertion). */
const CHILD_DEADLINE_MS = 60_000

interface Workspace {
  dir: string
  databaseUrl: string
  env: NodeJS.ProcessEnv
}

/** A temporary directory and database, and the environment an operator would set for them. */
async function workspace(t: TestContext): Promise<Workspace> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'naarikavach-cli-'))
  t.after(() => fs.rm(dir, { recursive: true, force: true }))
  const databaseUrl = await freshDatabaseUrl(t, dir)
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    MEDIA_ROOT: path.join(dir, 'media'),
    PASSWORD_HASH_COST: '10',
    REDIS_URL: '',
    LEGACY_OPEN_ACCESS: 'false',
    LOG_LEVEL: 'warn',
  }
  return { dir, databaseUrl, env }
}

/** Starts the CLI; the child is killed after the test if it is still running. */
function start(t: TestContext, args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> } {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`naarikavach ${args.join(' ')} did not finish within ${CHILD_DEADLINE_MS} ms\n${stdout}\n${stderr}`))
    }, CHILD_DEADLINE_MS)
    child.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  return { child, done }
}

const run = (t: TestContext, args: string[], env: NodeJS.ProcessEnv) => start(t, args, env).done

const lines = (text: string) => text.split('\n').map((line) => line.trim()).filter(Boolean)

/** A port that was free a moment ago (the OS picks it). */
async function freePort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

test('migrate exits 0, and a second run is idempotent', async (t) => {
  const { env } = await workspace(t)
  const first = await run(t, ['migrate'], env)
  assert.equal(first.code, 0, first.stderr)
  assert.match(first.stdout, /Applied: /)

  const second = await run(t, ['migrate'], env)
  assert.equal(second.code, 0, second.stderr)
  assert.match(second.stdout, /Already up to date/)
})

test('migrate against an unreachable PostgreSQL exits non-zero with a message', async (t) => {
  const { env } = await workspace(t)
  const res = await run(t, ['migrate'], { ...env, DATABASE_URL: 'postgres://nobody@127.0.0.1:1/x' })
  assert.notEqual(res.code, 0)
  assert.match(res.stderr, /Migration failed/)
})

test('create-user --role admin --token prints the id, then a token that works against the API on the same database', async (t) => {
  const { env, databaseUrl } = await workspace(t)
  const res = await run(t, ['create-user', '--username', 'first_admin', '--password', 'Control-Room-Key-77', '--role', 'admin', '--email', 'admin@example.org', '--token'], env)
  assert.equal(res.code, 0, res.stderr)
  const out = lines(res.stdout)
  assert.ok(out.length >= 2, res.stdout)
  const id = Number(out[0])
  assert.ok(Number.isInteger(id) && id > 0, `first line is the id: ${out[0]}`)
  const token = out[out.length - 1]
  assert.match(token, /^[0-9a-f]{40}$/, 'the last line is the token')

  const { apiUrl } = await buildTestApp(t, { databaseUrl })
  const me = await fetch(`${apiUrl}/auth/users/me/`, { headers: { authorization: `Token ${token}` } })
  assert.equal(me.status, 200)
  assert.deepEqual(await me.json(), { id, username: 'first_admin', email: 'admin@example.org', role: 'admin', unit_number: null })

  // The admin can do admin things, e.g. create an officer over REST.
  const officer = await fetch(`${apiUrl}/auth/users/`, {
    method: 'POST',
    headers: { authorization: `Token ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'si_ravi', password: 'Patrol-Unit-Key-55', re_password: 'Patrol-Unit-Key-55', role: 'officer', unit_number: 'UNIT011' }),
  })
  assert.equal(officer.status, 201)

  // Without --token only the id is printed.
  const plain = await run(t, ['create-user', '--username', 'citizen_one', '--password', 'Lantern-Night-Walk-3'], env)
  assert.equal(plain.code, 0, plain.stderr)
  assert.deepEqual(lines(plain.stdout).length, 1)
  assert.match(lines(plain.stdout)[0], /^\d+$/)
})

test('create-user refuses bad input with a non-zero exit and a message', async (t) => {
  const { env } = await workspace(t)
  const badRole = await run(t, ['create-user', '--username', 'boss', '--password', 'Control-Room-Key-77', '--role', 'superuser'], env)
  assert.notEqual(badRole.code, 0)
  assert.match(badRole.stderr, /superuser/)
  assert.match(badRole.stderr, /not a valid choice/)
  assert.equal(badRole.stdout.trim(), '', 'no id is printed for a user that was not created')

  const officerWithoutUnit = await run(t, ['create-user', '--username', 'si_anil', '--password', 'Control-Room-Key-77', '--role', 'officer'], env)
  assert.notEqual(officerWithoutUnit.code, 0)
  assert.match(officerWithoutUnit.stderr, /unit/i)

  const weakPassword = await run(t, ['create-user', '--username', 'weak', '--password', '12345678', '--role', 'dispatcher'], env)
  assert.notEqual(weakPassword.code, 0)
  assert.match(weakPassword.stderr, /entirely numeric/)

  const missing = await run(t, ['create-user', '--username', 'nopass'], env)
  assert.notEqual(missing.code, 0)
  assert.match(missing.stderr, /--password/)

  const created = await run(t, ['create-user', '--username', 'dup', '--password', 'Control-Room-Key-77', '--role', 'dispatcher'], env)
  assert.equal(created.code, 0, created.stderr)
  const duplicate = await run(t, ['create-user', '--username', 'dup', '--password', 'Control-Room-Key-77', '--role', 'dispatcher'], env)
  assert.notEqual(duplicate.code, 0)
  assert.match(duplicate.stderr, /already exists/)

  const unknown = await run(t, ['frobnicate'], env)
  assert.notEqual(unknown.code, 0)
  assert.match(unknown.stderr, /Unknown command/)
})

test('serve answers /health on PORT and Socket.IO on SOCKET_PORT, then exits 0 on SIGTERM', async (t) => {
  const { env } = await workspace(t)
  const admin = await run(t, ['create-user', '--username', 'ops_admin', '--password', 'Control-Room-Key-77', '--role', 'admin', '--token'], env)
  assert.equal(admin.code, 0, admin.stderr)
  const token = lines(admin.stdout).at(-1)!

  const port = await freePort()
  let socketPort = await freePort()
  while (socketPort === port) socketPort = await freePort()
  const server = start(t, ['serve'], { ...env, PORT: String(port), SOCKET_PORT: String(socketPort), HOST: '127.0.0.1' })
  let exited = false
  void server.done.then(() => (exited = true), () => (exited = true))

  // Wait until the API answers (or the process dies).
  const apiUrl = `http://127.0.0.1:${port}`
  let health: Response | undefined
  const deadline = Date.now() + CHILD_DEADLINE_MS
  while (!health && !exited && Date.now() < deadline) {
    health = await fetch(`${apiUrl}/health`).catch(() => undefined)
    if (!health) await new Promise((resolve) => setTimeout(resolve, 100))
  }
  assert.ok(health, `serve did not answer /health${exited ? ` (exited: ${JSON.stringify(await server.done)})` : ''}`)
  assert.equal(health.status, 200)
  assert.deepEqual(await health.json(), { status: 'ok' })

  // The token made by the CLI authenticates both the REST API and the socket handshake.
  const me = await fetch(`${apiUrl}/auth/users/me/`, { headers: { authorization: `Token ${token}` } })
  assert.equal(me.status, 200)
  assert.equal((await me.json()).role, 'admin')
  const socket = await connect(t, `http://127.0.0.1:${socketPort}`, token)
  assert.equal(socket.connected, true)

  server.child.kill('SIGTERM')
  const result = await server.done
  assert.equal(result.code, 0, `exit after SIGTERM: ${JSON.stringify(result)}`)
  await assert.rejects(fetch(`${apiUrl}/health`), 'the API port is closed after shutdown')
})

test('serve with WORKERS=2 is refused at start unless it has PostgreSQL and Redis, with a configuration error', async (t) => {
  const { dir, env } = await workspace(t)
  const sqlite = `sqlite:${path.join(dir, 'workers.sqlite3')}`
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ DATABASE_URL: sqlite, REDIS_URL: 'redis://127.0.0.1:6379' }, /DATABASE_URL is SQLite\./],
    [{ DATABASE_URL: 'postgres://nobody@127.0.0.1:1/x', REDIS_URL: '' }, /REDIS_URL is unset\./],
    [{ DATABASE_URL: sqlite, REDIS_URL: '' }, /DATABASE_URL is SQLite and REDIS_URL is unset\./],
  ]
  for (const [settings, reason] of cases) {
    const res = await run(t, ['serve'], { ...env, ...settings, WORKERS: '2', PORT: '0', SOCKET_PORT: '0', HOST: '127.0.0.1' })
    assert.equal(res.code, 1, JSON.stringify(res))
    assert.match(res.stderr, /^Configuration error: WORKERS=2 needs PostgreSQL and Redis \(DATABASE_URL=postgres:\/\/… and REDIS_URL=redis:\/\/…\)/m)
    assert.match(res.stderr, reason)
    assert.equal(res.stdout, '', 'refused before anything starts')
  }
  const bad = await run(t, ['serve'], { ...env, WORKERS: 'two' })
  assert.equal(bad.code, 1)
  assert.match(bad.stderr, /Configuration error: WORKERS must be a whole number, got "two"/)
  await assert.rejects(fs.stat(path.join(dir, 'workers.sqlite3')), 'no database was created')
})
