// Token generation: pooled CSPRNG bytes must still give unique, full-length tokens across pool refills.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { newApiToken, newSosToken } from '../../src/lib/secrets.ts'

test('SOS and API tokens are unique and full-length across many pool refills', () => {
  const sos = new Set<string>()
  const api = new Set<string>()
  // 4096-byte pool: 20,000 tokens of 32 + 20 bytes refill it ~250 times.
  for (let i = 0; i < 20_000; i++) {
    const s = newSosToken()
    const a = newApiToken()
    assert.match(s, /^[A-Za-z0-9_-]{43}$/, '256 bits, base64url')
    assert.match(a, /^[0-9a-f]{40}$/, '160 bits, hex')
    sos.add(s)
    api.add(a)
  }
  assert.equal(sos.size, 20_000)
  assert.equal(api.size, 20_000)
})

test('consecutive tokens share no bytes (each pool byte is handed out once)', () => {
  const a = Buffer.from(newSosToken(), 'base64url')
  const b = Buffer.from(newSosToken(), 'base64url')
  assert.equal(a.length, 32)
  assert.notDeepEqual(a, b)
  // Roughly uniform: over 2,000 tokens (64,000 bytes) every byte value turns up.
  const seen = new Set<number>()
  for (let i = 0; i < 2000; i++) for (const byte of Buffer.from(newSosToken(), 'base64url')) seen.add(byte)
  assert.equal(seen.size, 256)
})
