// Secrets: random tokens, their SHA-256 digests, and scrypt password hashing (memory-hard).
import crypto from 'node:crypto'
import { promisify } from 'node:util'

const scrypt = promisify(crypto.scrypt) as (
  password: crypto.BinaryLike,
  salt: crypto.BinaryLike,
  keylen: number,
  options: crypto.ScryptOptions,
) => Promise<Buffer>

const KEY_LENGTH = 32

/**
 * Random bytes from the OS CSPRNG, drawn in 4 KB refills rather than one getrandom() syscall per token
 * (6.4 % of create-sos CPU; docs/BENCHMARKS.md) — what Node's own crypto.randomUUID() does. Every byte
 * is handed out once and the pool never leaves this module.
 */
const POOL_SIZE = 4096
const pool = Buffer.alloc(POOL_SIZE)
let poolOffset = POOL_SIZE

function randomBytes(n: number): Buffer {
  if (n > POOL_SIZE) return crypto.randomBytes(n)
  if (poolOffset + n > POOL_SIZE) {
    crypto.randomFillSync(pool)
    poolOffset = 0
  }
  const out = Buffer.from(pool.subarray(poolOffset, poolOffset + n)) // a copy: the pool is refilled in place
  pool.fill(0, poolOffset, poolOffset + n)
  poolOffset += n
  return out
}

/** An API token: 160 random bits as 40 hex characters, the same shape as DRF's authtoken. */
export function newApiToken(): string {
  return randomBytes(20).toString('hex')
}

/** An SOS token: 256 random bits, URL-safe. */
export function newSosToken(): string {
  return randomBytes(32).toString('base64url')
}

export function sha256Hex(value: string): string {
  return crypto.createHash('sha256').update(value, 'utf8').digest('hex')
}

/** Constant-time comparison of two hex digests of equal length. */
export function digestsEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'hex')
  const right = Buffer.from(b, 'hex')
  return left.length === right.length && left.length > 0 && crypto.timingSafeEqual(left, right)
}

/** Hash format: `scrypt$<log2N>$<r>$<p>$<salt b64>$<key b64>`, so the cost can rise without a migration. */
export async function hashPassword(password: string, log2N: number): Promise<string> {
  const salt = crypto.randomBytes(16)
  const N = 2 ** log2N
  const r = 8
  const p = 1
  const key = await scrypt(password, salt, KEY_LENGTH, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 })
  return ['scrypt', log2N, r, p, salt.toString('base64'), key.toString('base64')].join('$')
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$')
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false
  const log2N = Number(parts[1])
  const r = Number(parts[2])
  const p = Number(parts[3])
  const salt = Buffer.from(parts[4], 'base64')
  const expected = Buffer.from(parts[5], 'base64')
  const N = 2 ** log2N
  const key = await scrypt(password, salt, expected.length, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 })
  return crypto.timingSafeEqual(key, expected)
}

export function hmacHex(key: string, message: string): string {
  return crypto.createHmac('sha256', key).update(message).digest('hex')
}
