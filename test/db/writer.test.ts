// The Writer: group commit on SQLite keeps each write atomic and isolated from the failures of its batch-mates.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createWriter } from '../../src/db/writer.ts'
import { buildTestApp } from '../helpers/app.ts'

test('concurrent writes commit together; a failing write rolls back alone', async (t) => {
  const { app } = await buildTestApp(t)
  const writer = createWriter(app.db, app.dbDialect)
  const insert = (key: string) => writer.run((trx) => trx.insertInto('app_settings').values({ key, value: 'v' }).execute())
  const failing = writer.run(async (trx) => {
    await trx.insertInto('app_settings').values({ key: 'half-written', value: 'v' }).execute()
    throw new Error('second statement failed')
  })
  const duplicate = writer.run((trx) => trx.insertInto('app_settings').values({ key: 'k1', value: 'again' }).execute())
  const [failed, dup, k1, k2, k3] = await Promise.allSettled([failing, duplicate, insert('k1'), insert('k2'), insert('k3')])
  assert.equal(failed.status, 'rejected')
  // Two writers of the same key: exactly one wins, whichever the database ordered first.
  assert.deepEqual([dup.status, k1.status].sort(), ['fulfilled', 'rejected'])
  assert.deepEqual([k2.status, k3.status], ['fulfilled', 'fulfilled'])
  const keys = (await app.db.selectFrom('app_settings').select('key').where('key', 'like', 'k%').orderBy('key').execute()).map((r) => r.key)
  assert.deepEqual(keys, ['k1', 'k2', 'k3'])
  const half = await app.db.selectFrom('app_settings').select('key').where('key', '=', 'half-written').execute()
  assert.deepEqual(half, [], 'the failed job left nothing behind')
})

test('hundreds of concurrent SOS creations all commit and each gets its own id', async (t) => {
  // On PostgreSQL the 300 wait for the pool's 20 connections; on a busy shared machine that wait can pass
  // the 2 s default, which would answer them 503 as in an outage (test/scale/postgres-outage.test.ts): here every one must queue and commit.
  const { app } = await buildTestApp(t, { sosCreateRateLimitPerMinute: 100_000, databaseConnectTimeoutMs: 60_000 })
  const responses = await Promise.all(
    Array.from({ length: 300 }, (_, i) =>
      app.inject({ method: 'POST', url: '/api/create-sos/', payload: { name: `n${i}`, initial_latitude: 1, initial_longitude: 2 } }),
    ),
  )
  const refused = responses.filter((r) => r.statusCode !== 201)
  assert.deepEqual(refused.map((r) => `${r.statusCode} ${r.body}`), [], 'every create was answered 201')
  const ids = new Set(responses.map((r) => r.json().sos_id))
  assert.equal(ids.size, 300)
  const count = await app.db.selectFrom('sos_requests').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()
  assert.equal(Number(count.n), 300)
})
