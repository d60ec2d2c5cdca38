// `naarikavach users list|disable|enable|set-role` as an operator runs it, against a running server's
// database: the same rules as the admin API, and the running server honours the change (tokens refused
// at once; sockets dropped at once through Redis, or at the next revalidation without it).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { buildTestApp } from '../helpers/app.ts'
import { cliEnv, runCli } from '../helpers/cli.ts'
import { createUser } from '../helpers/factories.ts'
import { until } from '../helpers/faults.ts'
import { call } from '../helpers/http.ts'
import { connect, emitAck } from '../helpers/sockets.ts'

test('users list, set-role, disable and enable change what a running server allows', async (t) => {
  const node = await buildTestApp(t, { socketRevalidateSeconds: 1 })
  const env = cliEnv(node.config)
  const officer = await createUser(node.app, 'officer', 'UNIT001')
  const citizen = await createUser(node.app, 'citizen')

  const list = await runCli(t, ['users', 'list'], env)
  assert.equal(list.code, 0, list.stderr)
  const [header, ...rows] = list.stdout.trim().split('\n')
  assert.match(header, /^id\s+username\s+role\s+unit_number\s+active\s+email\s+date_joined$/)
  assert.equal(rows.length, 2)
  assert.match(rows[0], new RegExp(`^${officer.id}\\s+${officer.username}\\s+officer\\s+UNIT001\\s+yes`))
  const json = await runCli(t, ['users', 'list', '--role', 'citizen', '--json'], env)
  assert.deepEqual(JSON.parse(json.stdout).map((u: { id: number }) => u.id), [citizen.id])

  // set-role: the officer moves to another unit; the live socket is dropped (it held UNIT001's room).
  const socket = await connect(t, node.socketUrl, officer.token)
  assert.equal((await emitAck(socket, 'join_officer_room', 'UNIT001')).ok, true)
  const moved = await runCli(t, ['users', 'set-role', officer.username, '--role', 'officer', '--unit-number', 'UNIT002'], env)
  assert.equal(moved.code, 0, moved.stderr)
  assert.match(moved.stdout, /Role officer, unit UNIT002\./)
  await until('the moved officer\'s socket to be dropped', () => !socket.connected, 10_000)
  assert.equal((await call(node.apiUrl, 'GET', '/auth/users/me/', { user: officer })).body.unit_number, 'UNIT002')

  const noUnit = await runCli(t, ['users', 'set-role', citizen.username, '--role', 'officer'], env)
  assert.equal(noUnit.code, 1)
  assert.match(noUnit.stderr, /Officers must belong to a unit/)

  // disable: the token is refused at once; enable: the password works again (old tokens stay revoked).
  const disabled = await runCli(t, ['users', 'disable', officer.username], env)
  assert.equal(disabled.code, 0, disabled.stderr)
  assert.match(disabled.stdout, /Deactivated; its tokens are revoked\. (Its live sockets were disconnected on every node|Running nodes drop its live sockets within SOCKET_REVALIDATE_SECONDS)/)
  assert.equal((await call(node.apiUrl, 'GET', '/auth/users/me/', { user: officer })).status, 401)
  const inactive = await runCli(t, ['users', 'list', '--active', 'false', '--json'], env)
  assert.deepEqual(JSON.parse(inactive.stdout).map((u: { id: number }) => u.id), [officer.id])
  const enabled = await runCli(t, ['users', 'enable', officer.username], env)
  assert.equal(enabled.code, 0, enabled.stderr)
  assert.equal((await call(node.apiUrl, 'POST', '/auth/token/login/', { json: { username: officer.username, password: 'Correct-Horse-Battery-9' } })).status, 200)

  const unknown = await runCli(t, ['users', 'disable', 'nobody_here'], env)
  assert.equal(unknown.code, 1)
  assert.match(unknown.stderr, /No account named "nobody_here"/)
  assert.equal((await runCli(t, ['users', 'frobnicate'], env)).code, 2)
  assert.equal((await runCli(t, ['users', 'disable'], env)).code, 2)
})
