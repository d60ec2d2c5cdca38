// Factories: users with tokens, SOS requests, and small valid image files, all created through the real app.
import type { FastifyInstance } from 'fastify'
import type { Role } from '../../src/db/schema.ts'

export interface TestUser {
  id: number
  username: string
  token: string
  role: Role
  unit_number: string | null
}

let counter = 0

/** Creates an account directly through the auth service (as the CLI does) and issues a token. */
export async function createUser(app: FastifyInstance, role: Role = 'citizen', unitNumber: string | null = null): Promise<TestUser> {
  counter += 1
  const username = `${role}_${process.pid}_${counter}`
  const user = await app.services.auth.createUser({
    username,
    password: 'Correct-Horse-Battery-9',
    role,
    unitNumber: role === 'officer' ? (unitNumber ?? 'UNIT001') : unitNumber,
  })
  const token = await app.services.auth.issueToken(user.id)
  return { id: user.id, username, token, role, unit_number: user.unit_number }
}

export const auth = (user: { token: string } | null | undefined) => (user ? { authorization: `Token ${user.token}` } : {})

export interface CreatedSos {
  sos_id: number
  room_id: string
  sos_token: string
}

export async function createSos(app: FastifyInstance, body: Record<string, unknown> = {}, user?: TestUser): Promise<CreatedSos> {
  const res = await app.inject({
    method: 'POST',
    url: '/api/create-sos/',
    headers: auth(user),
    payload: { name: 'Asha', sos_type: 0, initial_latitude: 12.9716, initial_longitude: 77.5946, ...body },
  })
  if (res.statusCode !== 201) throw new Error(`create-sos failed: ${res.statusCode} ${res.body}`)
  return res.json()
}

/**
 * Smallest complete files of each accepted type (the server walks their whole structure): each is a
 * real 1×1 image that decodes in a browser. JPEG: baseline grayscale, built by hand (SOI, DQT, SOF0,
 * one-code DC and AC Huffman tables, SOS, one entropy byte, EOI). PNG: one RGBA pixel, real CRCs and
 * zlib stream. GIF: 1×1 GIF89a. WebP: a lossy (VP8) 1×1 key frame.
 */
export const IMAGES = {
  png: Buffer.from(
    '89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63b82997fc1f000588025a7ba50efb0000000049454e44ae426082',
    'hex',
  ),
  jpg: Buffer.from(
    'ffd8' +
      'ffdb004300' + '01'.repeat(64) +
      'ffc0000b080001000101011100' +
      'ffc4001400' + '01' + '00'.repeat(15) + '00' +
      'ffc4001410' + '01' + '00'.repeat(15) + '00' +
      'ffda000801010000003f00' + '3f' +
      'ffd9',
    'hex',
  ),
  gif: Buffer.from('474946383961010001000000002c00000000010001000002024401003b', 'hex'),
  webp: Buffer.from('UklGRiIAAABXRUJQVlA4IBYAAAAwAQCdASoBAAEADsD+JaQAA3AAAAAA', 'base64'),
}

/** A multipart body built by hand (no extra dependency), for app.inject. */
export function multipart(
  fields: Record<string, string | string[]>,
  files: { field?: string; filename: string; contentType?: string; data: Buffer }[],
): { payload: Buffer; headers: Record<string, string> } {
  const boundary = `----naarikavach${Math.random().toString(16).slice(2)}`
  const chunks: Buffer[] = []
  for (const [name, value] of Object.entries(fields)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${v}\r\n`))
    }
  }
  for (const file of files) {
    chunks.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${file.field ?? 'images'}"; filename="${file.filename}"\r\n` +
          `Content-Type: ${file.contentType ?? 'application/octet-stream'}\r\n\r\n`,
      ),
      file.data,
      Buffer.from('\r\n'),
    )
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`))
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } }
}
