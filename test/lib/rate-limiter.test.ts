// The shared budget limiter: fixed windows in memory and in Redis agree; a refused hit costs nothing;
// an unreachable or hung Redis never refuses (it counts on the node instead) and never hangs.
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import net from 'node:net'
import { test, type TestContext } from 'node:test'
import { Redis, type RedisOptions } from 'ioredis'
import { clientKey, MemoryRateLimiter, RedisRateLimiter, type RateLimiter } from '../../src/lib/rate-limiter.ts'

const REDIS_URL = process.env.TEST_REDIS_URL
const MINUTE = { max: 3, windowMs: 60_000 }
const HOUR = { max: 5, windowMs: 3_600_000 }

/** A limiter on its own ioredis client (options as the app's, shorter timeouts); its test keys are deleted after. */
async function redisLimiter(t: TestContext, url: string, options: RedisOptions = {}, prefix = `nk_test_${crypto.randomBytes(6).toString('hex')}:limits:`) {
  const redis = new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 500, commandTimeout: 300, lazyConnect: true, ...options })
  redis.on('error', () => undefined)
  t.after(async () => {
    if (redis.status === 'ready' && url === REDIS_URL) {
      const keys = await redis.keys(`${prefix}*`)
      if (keys.length) await redis.del(...keys)
    }
    redis.disconnect()
  })
  await redis.connect().catch(() => undefined)
  const errors: unknown[] = []
  const limiter = new RedisRateLimiter({ redis, prefix, onError: (err) => errors.push(err) })
  return { redis, limiter, errors }
}

async function assertBudgetSemantics(limiter: RateLimiter) {
  const results = []
  for (let i = 0; i < 5; i++) results.push(await limiter.consume('ip:198.51.100.1', [MINUTE, HOUR]))
  assert.deepEqual(results.map((r) => r.allowed), [true, true, true, false, false])
  for (const refused of results.slice(3)) assert.ok(refused.retryAfterSeconds >= 59 && refused.retryAfterSeconds <= 60, `minute window: ${refused.retryAfterSeconds}`)
  // Another key has its own budget.
  assert.equal((await limiter.consume('ip:198.51.100.2', [MINUTE, HOUR])).allowed, true)
}

test('memory: a fixed window per key; refused hits are not counted; windows end', async () => {
  const limiter = new MemoryRateLimiter()
  await assertBudgetSemantics(limiter)
  // Refused attempts cost nothing: after the minute, the hour window has counted only the 3 allowed.
  const t0 = Date.now()
  assert.equal(limiter.consumeSync('k', [MINUTE, HOUR], t0).allowed, true)
  for (let i = 0; i < 10; i++) limiter.consumeSync('k', [MINUTE, HOUR], t0)
  const later = t0 + 61_000
  assert.equal(limiter.consumeSync('k', [MINUTE, HOUR], later).allowed, true, '4th of the hour')
  assert.equal(limiter.consumeSync('k', [MINUTE, HOUR], later).allowed, true, '5th of the hour')
  const capped = limiter.consumeSync('k', [MINUTE, HOUR], later)
  assert.equal(capped.allowed, false, 'the hour cap holds although the minute has room')
  assert.ok(capped.retryAfterSeconds > 3000, `hour window: ${capped.retryAfterSeconds}`)
})

test('redis: the same semantics, shared by two limiters (two nodes)', { skip: !REDIS_URL && 'needs TEST_REDIS_URL' }, async (t) => {
  const prefix = `nk_test_${crypto.randomBytes(6).toString('hex')}:limits:`
  const nodeA = await redisLimiter(t, REDIS_URL!, {}, prefix)
  const nodeB = await redisLimiter(t, REDIS_URL!, {}, prefix)
  await assertBudgetSemantics(nodeA.limiter)
  assert.equal((await nodeA.limiter.consume('acct:1', [MINUTE])).allowed, true)
  assert.equal((await nodeB.limiter.consume('acct:1', [MINUTE])).allowed, true)
  assert.equal((await nodeA.limiter.consume('acct:1', [MINUTE])).allowed, true)
  assert.equal((await nodeB.limiter.consume('acct:1', [MINUTE])).allowed, false, 'node B sees node A\'s hits')
  assert.deepEqual([...nodeA.errors, ...nodeB.errors], [], 'Redis answered every call')
})

test('redis unreachable: nothing is refused because of it; the node counts on its own', async (t) => {
  // A port with nothing listening.
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  await new Promise((resolve) => server.close(resolve))
  const { limiter, errors } = await redisLimiter(t, `redis://127.0.0.1:${port}`)
  const first = await limiter.consume('ip:203.0.113.9', [MINUTE])
  assert.equal(first.allowed, true, 'allowed while Redis is down')
  assert.ok(errors.length >= 1, 'the outage is reported')
  // Degraded, not gone: a flood is still bounded on this node.
  const more = await Promise.all(Array.from({ length: 5 }, () => limiter.consume('ip:203.0.113.9', [MINUTE])))
  assert.deepEqual(more.map((r) => r.allowed), [true, true, false, false, false])
})

test('redis hung (accepts, never answers): the call gives up within its command timeout and allows', async (t) => {
  const sockets = new Set<net.Socket>()
  const blackHole = net.createServer((socket) => sockets.add(socket))
  await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve))
  t.after(() => {
    for (const socket of sockets) socket.destroy()
    blackHole.close()
  })
  const port = (blackHole.address() as net.AddressInfo).port
  // No ready check, so the client believes it is connected and sends the script into the void.
  const { limiter, redis } = await redisLimiter(t, `redis://127.0.0.1:${port}`, { enableReadyCheck: false })
  assert.equal(redis.status, 'ready')
  const started = Date.now()
  const decision = await limiter.consume('ip:203.0.113.10', [MINUTE])
  assert.equal(decision.allowed, true)
  assert.ok(Date.now() - started < 5000, 'answered well within a generous bound (command timeout 300 ms)')
})

test('client keys: IPv4-mapped IPv6 is IPv4; IPv6 counts per /64', () => {
  assert.equal(clientKey('127.0.0.1'), '127.0.0.1')
  assert.equal(clientKey('::ffff:198.51.100.7'), '198.51.100.7')
  assert.equal(clientKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64')
  assert.equal(clientKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64')
  assert.equal(clientKey('2001:db8::5'), '2001:db8:0:0::/64')
  assert.equal(clientKey('::1'), '0:0:0:0::/64')
  assert.equal(clientKey(undefined), 'unknown')
})
