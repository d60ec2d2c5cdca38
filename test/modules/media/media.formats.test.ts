// The structural image checks on their own: every accepted format walked to its end marker; truncations,
// polyglots (anything after the end), bad lengths/CRCs and zero or absurd dimensions refused.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { bufferSource, checkImage, MAX_IMAGE_SIDE } from '../../../src/modules/media/media.formats.ts'
import { IMAGES } from '../../helpers/factories.ts'

const check = (bytes: Buffer) => checkImage(bufferSource(bytes))
const HTML = Buffer.from('<html><body><script>alert(document.cookie)</script></body></html>\n')

function crc32(bytes: Buffer): number {
  let c = ~0
  for (const byte of bytes) {
    c ^= byte
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  }
  return ~c >>> 0
}

function pngChunk(type: string, data: Buffer, crc?: number): Buffer {
  const length = Buffer.alloc(4)
  length.writeUInt32BE(data.length)
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data])
  const sum = Buffer.alloc(4)
  sum.writeUInt32BE(crc ?? crc32(body))
  return Buffer.concat([length, body, sum])
}

/** The fixture PNG with another IHDR (dimensions), recomputed CRCs. */
function pngWithSize(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0)
  ihdr.writeUInt32BE(height, 4)
  ihdr.set([8, 6, 0, 0, 0], 8)
  const idat = IMAGES.png.subarray(33, IMAGES.png.length - 12)
  return Buffer.concat([IMAGES.png.subarray(0, 8), pngChunk('IHDR', ihdr), idat, pngChunk('IEND', Buffer.alloc(0))])
}

/** The fixture JPEG with another frame size in its SOF0. */
function jpegWithSize(width: number, height: number): Buffer {
  const bytes = Buffer.from(IMAGES.jpg)
  const sof = bytes.indexOf(Buffer.from([0xff, 0xc0]))
  bytes.writeUInt16BE(height, sof + 5)
  bytes.writeUInt16BE(width, sof + 7)
  return bytes
}

test('the fixtures: each format is recognised by its structure, with its dimensions', async () => {
  assert.deepEqual(await check(IMAGES.jpg), { ok: true, ext: 'jpg', contentType: 'image/jpeg', width: 1, height: 1 })
  assert.deepEqual(await check(IMAGES.png), { ok: true, ext: 'png', contentType: 'image/png', width: 1, height: 1 })
  assert.deepEqual(await check(IMAGES.gif), { ok: true, ext: 'gif', contentType: 'image/gif', width: 1, height: 1 })
  assert.deepEqual(await check(IMAGES.webp), { ok: true, ext: 'webp', contentType: 'image/webp', width: 1, height: 1 })
  // WebP lossless (VP8L) and a 640 × 480 JPEG header.
  const lossless = Buffer.from('UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==', 'base64')
  assert.deepEqual(await check(lossless), { ok: true, ext: 'webp', contentType: 'image/webp', width: 1, height: 1 })
  assert.deepEqual(await check(jpegWithSize(640, 480)), { ok: true, ext: 'jpg', contentType: 'image/jpeg', width: 640, height: 480 })
})

test('polyglots: HTML (or anything) after the end marker is refused, for every format', async () => {
  for (const [name, image] of Object.entries(IMAGES)) {
    for (const tail of [HTML, Buffer.from([0]), Buffer.from('PK\u0003\u0004 a zip directory')]) {
      const result = await check(Buffer.concat([image, tail]))
      assert.equal(result.ok, false, `${name} + ${JSON.stringify(tail.toString('latin1').slice(0, 10))}`)
    }
  }
  // The review's case: a JPEG or GIF prefix followed by a page, no real image at all.
  assert.equal((await check(Buffer.concat([Buffer.from('ffd8ffe0', 'hex'), HTML]))).ok, false)
  assert.equal((await check(Buffer.concat([Buffer.from('GIF89a'), HTML]))).ok, false)
  assert.equal((await check(Buffer.concat([IMAGES.png.subarray(0, 8), HTML]))).ok, false)
})

test('truncated files: every prefix of every fixture is refused', async () => {
  for (const [name, image] of Object.entries(IMAGES)) {
    for (let length = 0; length < image.length; length++) {
      const result = await check(image.subarray(0, length))
      assert.equal(result.ok, false, `${name} cut at ${length} of ${image.length} bytes`)
    }
  }
})

test('zero and absurd dimensions are refused', async () => {
  assert.equal((await check(pngWithSize(1, 1))).ok, true, 'the rebuilt PNG itself is fine')
  for (const [width, height] of [
    [0, 1],
    [1, 0],
    [MAX_IMAGE_SIDE + 1, 1],
    [100_000, 100_000],
    [20_000, 20_000],
  ]) {
    assert.equal((await check(pngWithSize(width, height))).ok, false, `PNG ${width} × ${height}`)
  }
  assert.equal((await check(jpegWithSize(0, 10))).ok, false, 'JPEG width 0')
  assert.equal((await check(jpegWithSize(10, 0))).ok, false, 'JPEG height 0 (DNL)')
  const gif = Buffer.from(IMAGES.gif)
  gif.writeUInt16LE(0, 6)
  assert.equal((await check(gif)).ok, false, 'GIF logical screen width 0')
})

test('PNG: every chunk CRC is checked, IHDR must come first and IEND last', async () => {
  const badCrc = Buffer.from(IMAGES.png)
  badCrc[badCrc.length - 13] ^= 0xff // last byte of the IDAT CRC
  assert.deepEqual(await check(badCrc), { ok: false, reason: 'bad CRC in PNG IDAT chunk' })
  const flipped = Buffer.from(IMAGES.png)
  flipped[45] ^= 0x01 // a byte of the compressed pixels: the IDAT CRC no longer matches
  assert.equal((await check(flipped)).ok, false)
  const idatFirst = Buffer.concat([IMAGES.png.subarray(0, 8), IMAGES.png.subarray(33, IMAGES.png.length - 12), IMAGES.png.subarray(8, 33), IMAGES.png.subarray(-12)])
  assert.equal((await check(idatFirst)).ok, false)
  const noIdat = Buffer.concat([IMAGES.png.subarray(0, 33), IMAGES.png.subarray(-12)])
  assert.equal((await check(noIdat)).ok, false)
  // HTML hidden in a well-formed ancillary chunk before IEND is still a PNG (served as image/png with nosniff).
  const withText = Buffer.concat([IMAGES.png.subarray(0, 33), pngChunk('tEXt', Buffer.concat([Buffer.from('Comment\0'), HTML])), IMAGES.png.subarray(33)])
  assert.equal((await check(withText)).ok, true)
})

test('JPEG: a segment walk to SOF and EOI; further complete JPEGs may follow (MPF / Ultra HDR), nothing else', async () => {
  assert.equal((await check(Buffer.concat([IMAGES.jpg, IMAGES.jpg]))).ok, true, 'a primary image followed by a gain map / preview')
  assert.equal((await check(Buffer.concat([IMAGES.jpg, IMAGES.jpg, HTML]))).ok, false)
  assert.equal((await check(Buffer.concat([IMAGES.jpg, Buffer.from('ffd8ff', 'hex'), HTML]))).ok, false, 'a fake second SOI')
  const noSof = Buffer.from('ffd8ffe000104a46494600010100000100010000ffdb004300' + '08'.repeat(64) + 'ffd9', 'hex')
  assert.equal((await check(noSof)).ok, false, 'no frame header: no dimensions')
  const overlong = Buffer.from(IMAGES.jpg)
  overlong.writeUInt16BE(0xffff, 4) // a DQT segment longer than the file
  assert.equal((await check(overlong)).ok, false)
})

test('GIF: the block walk must end with the trailer as the last byte', async () => {
  assert.equal((await check(IMAGES.gif.subarray(0, -1))).ok, false, 'no trailer')
  const noImage = Buffer.concat([IMAGES.gif.subarray(0, 13), Buffer.from([0x3b])])
  assert.equal((await check(noImage)).ok, false, 'a trailer but no image')
  const unknownBlock = Buffer.concat([IMAGES.gif.subarray(0, 13), Buffer.from([0x99]), IMAGES.gif.subarray(13)])
  assert.equal((await check(unknownBlock)).ok, false)
})

test('WebP: the RIFF length must equal the file length, and the first chunk must carry the size', async () => {
  const longer = Buffer.from(IMAGES.webp)
  longer.writeUInt32LE(longer.readUInt32LE(4) + 2, 4)
  assert.equal((await check(Buffer.concat([longer, Buffer.alloc(2)]))).ok, false, 'RIFF length covers the extra bytes, which are no chunk')
  assert.equal((await check(longer)).ok, false, 'RIFF length larger than the file')
  const oldFixture = Buffer.concat([Buffer.from('RIFF'), Buffer.from([26, 0, 0, 0]), Buffer.from('WEBPVP8L'), Buffer.alloc(14)])
  assert.equal((await check(oldFixture)).ok, false, 'a RIFF/WEBP header with no real VP8L data')
  const unknownFirst = Buffer.from(IMAGES.webp)
  unknownFirst.write('ABCD', 12, 'latin1')
  assert.equal((await check(unknownFirst)).ok, false)
})

test('not images at all', async () => {
  for (const bytes of [Buffer.alloc(0), Buffer.from('#!/bin/sh\nrm -rf /\n'), HTML, Buffer.alloc(4096)]) {
    assert.equal((await check(bytes)).ok, false)
  }
})
