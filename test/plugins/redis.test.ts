// The Redis link of one node (src/plugins/redis.ts), against a private redis-server: a node starts
// without Redis, reports it in /ready and the metrics, logs it once (not per retry), and notices by
// itself when Redis comes and goes. Throttle: the outage log's "at most one line per interval".
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { test } from 'node:test'
import { Throttle } from '../../src/lib/throttle.ts'
import { buildTestApp } from '../helpers/app.ts'
import { createSos } from '../helpers/factories.ts'
import { PrivateRedis, REDIS_SERVER, until } from '../helpers/faults.ts'
import { requireProgram } from '../helpers/system.ts'

test('one node: starts without Redis, reports down/up in /ready and metrics, one log line per change', async (t) => {
  if (!requireProgram(t, REDIS_SERVER)) return
  const redis = await PrivateRedis.create(t)
  const node = await buildTestApp(t, { redisUrl: redis.url, redisPrefix: `nk_link_${crypto.randomBytes(6).toString('hex')}` }, { captureLogs: true })
  const ready = async () => (await node.app.inject({ method: 'GET', url: '/ready' })).json()
  assert.deepEqual(await ready(), { status: 'ready', database: 'up', redis: 'down' })
  await createSos(node.app) // 201 without Redis (the SOS budget counts on the node)
  // ioredis retries every ≤ 2 s on each of the four connections; the log does not.
  await new Promise((resolve) => setTimeout(resolve, 2500))
  const loud = () => node.logs.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.level >= 40)
  assert.equal(loud().length, 1, JSON.stringify(loud()))
  assert.match(loud()[0].msg, /^redis unavailable/)
  assert.equal(node.app.redis.status().state, 'down')
  assert.match(node.app.redis.status().error ?? '', /ECONNREFUSED/)

  await redis.start()
  await until('Redis up', async () => (await ready()).redis === 'up', 15_000)
  assert.match((await node.app.inject({ method: 'GET', url: '/metrics' })).body, /naarikavach_redis_up 1/)
  await redis.kill()
  await until('Redis down', async () => (await ready()).redis === 'down')
  await redis.start()
  await until('Redis up again', async () => (await ready()).redis === 'up', 15_000)
  assert.deepEqual(loud().map((l) => l.msg.split(':')[0]), ['redis unavailable', 'redis is back', 'redis unavailable', 'redis is back'])
  await createSos(node.app)
})

test('Throttle: at most one run per interval, counting the calls it skipped', () => {
  const throttle = new Throttle(10_000)
  const runs: number[] = []
  for (const now of [0, 1, 2, 9_999, 10_000, 10_001, 25_000]) throttle.run((skipped) => runs.push(skipped), now)
  assert.deepEqual(runs, [0, 3, 1])
})
