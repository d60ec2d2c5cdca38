// `naarikavach backup --to <file>` as an operator runs it, while the server keeps taking SOS: the copy is
// consistent, and a server started on it (DATABASE_URL pointed at the file) has everything that was
// acknowledged before the backup began. On PostgreSQL the command says to use pg_dump, and fails.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import SQLite from 'better-sqlite3'
import { buildTestApp, dialect } from '../helpers/app.ts'
import { cliEnv, runCli } from '../helpers/cli.ts'
import { createUser } from '../helpers/factories.ts'
import { call } from '../helpers/http.ts'

const SOS = { name: 'Asha', sos_type: 0, initial_latitude: 12.97, initial_longitude: 77.59 }

test('backup while SOS keep arriving, then restore from the file: everything acknowledged before the backup is there', { skip: dialect !== 'sqlite' && 'SQLite only (PostgreSQL: next test)' }, async (t) => {
  const node = await buildTestApp(t, { sosCreateRateLimitPerMinute: 1_000_000 })
  const dispatcher = await createUser(node.app, 'dispatcher')
  const acknowledged: number[] = []
  let writing = true
  // Four clients creating SOS and streaming a location for each, until told to stop.
  const writers = Array.from({ length: 4 }, async () => {
    while (writing) {
      const res = await call(node.apiUrl, 'POST', '/api/create-sos/', { json: SOS })
      assert.equal(res.status, 201, res.text)
      const located = await call(node.apiUrl, 'POST', '/api/update-location/', { headers: { 'x-sos-token': res.body.sos_token }, json: { sos_request: res.body.sos_id, latitude: 12.98, longitude: 77.6 } })
      assert.equal(located.status, 201)
      acknowledged.push(res.body.sos_id)
    }
  })
  while (acknowledged.length < 40) await new Promise((resolve) => setTimeout(resolve, 20))

  const before = [...acknowledged]
  const file = path.join(node.dir, 'backups', 'nightly.sqlite3')
  const backup = await runCli(t, ['backup', '--to', file], cliEnv(node.config))
  const during = acknowledged.length - before.length
  writing = false
  await Promise.all(writers)
  assert.equal(backup.code, 0, backup.stderr)
  assert.match(backup.stdout, /^Backed up .* to .*nightly\.sqlite3/)
  assert.ok(during > 0, 'the server kept acknowledging SOS while the backup ran')
  assert.deepEqual(fs.readdirSync(path.dirname(file)), ['nightly.sqlite3'], 'one standalone file, nothing partial left beside it')
  const check = new SQLite(file, { readonly: true })
  assert.equal(check.pragma('integrity_check', { simple: true }), 'ok')
  check.close()

  // Restore: a server on the backup file.
  const restored = await buildTestApp(t, {}, { reuse: { databaseUrl: `sqlite:${file}`, dir: node.dir } })
  const all = await call(restored.apiUrl, 'GET', '/api/get-all-sos/', { user: dispatcher })
  assert.equal(all.status, 200, 'the accounts and their tokens are in the backup')
  const byId = new Map((all.body.data as Array<{ id: number; location_updates: unknown[] }>).map((s) => [s.id, s]))
  for (const id of before) {
    assert.ok(byId.has(id), `SOS ${id} was acknowledged before the backup and is in it`)
    assert.equal(byId.get(id)!.location_updates.length, 1, `SOS ${id} has its location`)
  }
  assert.ok(byId.size <= acknowledged.length + 4, 'nothing in the backup that was never written')
  // The restored server takes new SOS.
  assert.equal((await call(restored.apiUrl, 'POST', '/api/create-sos/', { json: SOS })).status, 201)
})

test('backup refuses bad targets and PostgreSQL, with a reason and a non-zero exit', async (t) => {
  const node = await buildTestApp(t)
  const env = cliEnv(node.config)
  const missing = await runCli(t, ['backup'], env)
  assert.equal(missing.code, 2)
  assert.match(missing.stderr, /--to/)
  if (dialect === 'postgres') {
    const res = await runCli(t, ['backup', '--to', path.join(node.dir, 'x.dump')], env)
    assert.equal(res.code, 1)
    assert.match(res.stderr, /pg_dump --format=custom/)
    return
  }
  const file = node.config.databaseUrl.replace(/^sqlite:/, '')
  const over = await runCli(t, ['backup', '--to', file], env)
  assert.equal(over.code, 1)
  assert.match(over.stderr, /over the database itself/)
  const memory = await runCli(t, ['backup', '--to', path.join(node.dir, 'm.sqlite3')], { ...env, DATABASE_URL: 'sqlite::memory:' })
  assert.equal(memory.code, 1)
  assert.match(memory.stderr, /in-memory/)
})
