// The password-hashing queue: bounded concurrency, registrations never take the last slot, logins go
// first, and a full lane is refused at once with 429 + Retry-After.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { AppError } from '../../src/errors.ts'
import { HashQueue, type HashLane } from '../../src/lib/hash-queue.ts'

/** A task that runs until released, recording when it started. */
function gate(log: string[], name: string) {
  let release!: () => void
  const done = new Promise<void>((resolve) => (release = resolve))
  return { task: async () => { log.push(name); await done; return name }, release }
}

const tick = () => new Promise((resolve) => setImmediate(resolve))

test('registrations hold at most concurrency - 1 slots, so a login always finds one', async () => {
  const queue = new HashQueue({ concurrency: 2, queueLimit: 10 })
  const log: string[] = []
  const regs = Array.from({ length: 4 }, (_, i) => gate(log, `reg${i}`))
  const running = regs.map((r) => queue.run('register', r.task))
  await tick()
  assert.deepEqual(log, ['reg0'], 'one registration runs, the others wait')
  const login = gate(log, 'login')
  const loginDone = queue.run('login', login.task)
  await tick()
  assert.deepEqual(log, ['reg0', 'login'], 'the login starts at once beside it')
  login.release()
  assert.equal(await loginDone, 'login')
  for (const r of regs) r.release()
  await Promise.all(running)
  assert.deepEqual(queue.stats(), { active: 0, waitingLogin: 0, waitingRegister: 0 })
})

test('a freed slot goes to a waiting login before a waiting registration', async () => {
  const queue = new HashQueue({ concurrency: 1, queueLimit: 10 })
  const log: string[] = []
  const first = gate(log, 'reg0')
  const order: Array<[HashLane, ReturnType<typeof gate>]> = [['register', gate(log, 'reg1')], ['login', gate(log, 'login1')], ['register', gate(log, 'reg2')], ['login', gate(log, 'login2')]]
  const all = [queue.run('register', first.task), ...order.map(([lane, g]) => queue.run(lane, g.task))]
  await tick()
  first.release()
  for (const [, g] of order) g.release()
  await Promise.all(all)
  assert.deepEqual(log, ['reg0', 'login1', 'login2', 'reg1', 'reg2'])
})

test('a full lane is refused at once with a 429 and a Retry-After; the other lane is unaffected', async () => {
  const queue = new HashQueue({ concurrency: 2, queueLimit: 1 })
  const log: string[] = []
  const regs = [gate(log, 'reg0'), gate(log, 'reg1')]
  const running = regs.map((r) => queue.run('register', r.task))
  await assert.rejects(queue.run('register', async () => 'never'), (error: unknown) => {
    assert.ok(error instanceof AppError)
    assert.equal(error.status, 429)
    assert.equal(error.code, 'throttled')
    assert.ok(Number.isInteger(error.retryAfter) && error.retryAfter! >= 1)
    return true
  })
  assert.equal(await queue.run('login', async () => 'login ok'), 'login ok')
  for (const r of regs) r.release()
  await Promise.all(running)
  assert.deepEqual(log, ['reg0', 'reg1'], 'the refused task never ran')
})
