// Prepared queries: compiled once per database, run with new arguments, in and out of transactions.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { prepared } from '../../src/db/prepared.ts'
import { createWriter } from '../../src/db/writer.ts'
import { buildTestApp } from '../helpers/app.ts'

test('a prepared query gives what the same builder query gives, for every argument, constants kept', async (t) => {
  const { app } = await buildTestApp(t)
  for (const [key, value] of [['a', 'x'], ['b', 'y'], ['c', 'x'], ['d', 'z']]) await app.db.insertInto('app_settings').values({ key, value }).execute()
  // One argument and one constant of the query's own (the IN list).
  const byValue = prepared((db, value: string) => db.selectFrom('app_settings').select('key').where('value', '=', value).where('key', 'in', ['a', 'b', 'c']).orderBy('key'))
  for (const value of ['x', 'y', 'z', 'x']) {
    const direct = await app.db.selectFrom('app_settings').select('key').where('value', '=', value).where('key', 'in', ['a', 'b', 'c']).orderBy('key').execute()
    assert.deepEqual(await byValue(app.db, value), direct, `value ${value}`)
  }
  assert.deepEqual((await byValue(app.db, 'x')).map((r) => r.key), ['a', 'c'])
  assert.deepEqual(await byValue(app.db, 'z'), [], 'the constant IN list still applies: d is not in it')
})

test('prepared writes run inside a writer transaction and roll back with it', async (t) => {
  const { app } = await buildTestApp(t)
  const writer = createWriter(app.db, app.dbDialect)
  const insert = prepared((db, key: string, value: string) => db.insertInto('app_settings').values({ key, value }).returningAll())
  const [row] = await writer.run((trx) => insert(trx, 'k1', 'v1'))
  assert.deepEqual(row, { key: 'k1', value: 'v1' })
  await assert.rejects(
    writer.run(async (trx) => {
      await insert(trx, 'k2', 'v2')
      throw new Error('later statement failed')
    }),
    /later statement failed/,
  )
  const keys = (await app.db.selectFrom('app_settings').select('key').where('key', 'like', 'k%').execute()).map((r) => r.key)
  assert.deepEqual(keys, ['k1'])
})

test('a query that does not use every argument as a value is refused', async (t) => {
  const { app } = await buildTestApp(t)
  const unused = prepared((db, _key: string) => db.selectFrom('app_settings').selectAll())
  await assert.rejects(unused(app.db, 'a'), /does not use each of its 1 arguments once as a value/)
})
