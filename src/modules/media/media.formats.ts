// Structural image checks (JPEG, PNG, GIF, WebP) over a file on disk, read in small blocks: the type, the dimensions, and nothing after the end.
import zlib from 'node:zlib'

export type ImageExt = 'jpg' | 'png' | 'gif' | 'webp'

export interface ImageInfo {
  ext: ImageExt
  contentType: string
  width: number
  height: number
}

export type ImageCheck = ({ ok: true } & ImageInfo) | { ok: false; reason: string }

/** Random access to the bytes being judged: the temp file of an upload, or a Buffer in unit tests. */
export interface ByteSource {
  readonly size: number
  /** Fills `target` from `position` on; returns how many bytes were read. */
  read(target: Buffer, position: number): Promise<number>
}

export const bufferSource = (bytes: Buffer): ByteSource => ({
  size: bytes.length,
  read: async (target, position) => bytes.copy(target, 0, position, Math.min(bytes.length, position + target.length)),
})

/**
 * Dimensions no phone camera produces. A few bytes can claim 100000 × 100000 pixels (a decompression
 * bomb for whoever views it), so the header is not taken on trust: one side at most 40000 px (wide
 * phone panoramas reach ~30000), 250 megapixels in all (200 MP sensors exist).
 */
export const MAX_IMAGE_SIDE = 40_000
export const MAX_IMAGE_PIXELS = 250_000_000

class Malformed extends Error {}

function fail(reason: string): never {
  throw new Malformed(reason)
}

const BLOCK = 64 * 1024

/** Reads a ByteSource through one cached block, so walking small headers costs one read per 64 KiB. */
class Reader {
  readonly size: number
  private readonly source: ByteSource
  private block = Buffer.alloc(0)
  private blockStart = 0

  constructor(source: ByteSource) {
    this.source = source
    this.size = source.size
  }

  /** `length` bytes at `position` (at most one block); a read past the end is a truncated file. */
  async bytes(position: number, length: number): Promise<Buffer> {
    if (length > BLOCK) throw new RangeError('read larger than a block')
    if (position < 0 || position + length > this.size) fail('truncated')
    if (position < this.blockStart || position + length > this.blockStart + this.block.length) {
      const buffer = Buffer.alloc(Math.min(BLOCK, this.size - position))
      let filled = 0
      while (filled < buffer.length) {
        const n = await this.source.read(buffer.subarray(filled), position + filled)
        if (n <= 0) fail('truncated')
        filled += n
      }
      this.block = buffer
      this.blockStart = position
    }
    const start = position - this.blockStart
    return this.block.subarray(start, start + length)
  }

  async u8(position: number): Promise<number> {
    return (await this.bytes(position, 1))[0]
  }

  async u16be(position: number): Promise<number> {
    return (await this.bytes(position, 2)).readUInt16BE(0)
  }

  async u16le(position: number): Promise<number> {
    return (await this.bytes(position, 2)).readUInt16LE(0)
  }

  async u24le(position: number): Promise<number> {
    return (await this.bytes(position, 3)).readUIntLE(0, 3)
  }

  async u32be(position: number): Promise<number> {
    return (await this.bytes(position, 4)).readUInt32BE(0)
  }

  async u32le(position: number): Promise<number> {
    return (await this.bytes(position, 4)).readUInt32LE(0)
  }

  async ascii(position: number, length: number): Promise<string> {
    return (await this.bytes(position, length)).toString('latin1')
  }

  /** The position of the next `byte` at or after `from`, or -1 when the file has none. */
  async indexOf(byte: number, from: number): Promise<number> {
    for (let position = from; position < this.size; ) {
      const length = Math.min(BLOCK, this.size - position)
      const found = (await this.bytes(position, length)).indexOf(byte)
      if (found >= 0) return position + found
      position += length
    }
    return -1
  }

  /** CRC-32 (as PNG uses it) of `length` bytes at `position`. */
  async crc32(position: number, length: number): Promise<number> {
    let crc = 0
    for (let done = 0; done < length; ) {
      const n = Math.min(BLOCK, length - done)
      crc = crc32(await this.bytes(position + done, n), crc)
      done += n
    }
    return crc
  }
}

let crcTable: Uint32Array | undefined
/** zlib.crc32 where the runtime has it (Node ≥ 20.15); a table-driven fallback otherwise. */
function crc32(bytes: Buffer, seed: number): number {
  const native = (zlib as { crc32?: (data: Buffer, value?: number) => number }).crc32
  if (native) return native(bytes, seed)
  if (!crcTable) {
    crcTable = new Uint32Array(256)
    for (let n = 0; n < 256; n++) {
      let c = n
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
      crcTable[n] = c >>> 0
    }
  }
  let c = ~seed >>> 0
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]) & 0xff] ^ (c >>> 8)
  return ~c >>> 0
}

function checkDimensions(width: number, height: number) {
  if (width < 1 || height < 1) fail('zero dimension')
  if (width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE || width * height > MAX_IMAGE_PIXELS) fail('absurd dimensions')
}

/** The end marker must be the last byte: anything after it (HTML, a script, a zip) makes a polyglot. */
function expectEnd(r: Reader, position: number) {
  if (position !== r.size) fail('data after the end of the image')
}

const isSof = (marker: number) => marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc

/**
 * Phones append further complete JPEGs after the first one's EOI (MPF: Android "Ultra HDR" gain maps,
 * depth maps, previews), so those are allowed; anything else after an EOI is not.
 */
const MAX_CHAINED_JPEGS = 4

/** SOI, segments (length-prefixed) up to EOI, then nothing but further complete JPEGs up to the end. */
async function jpeg(r: Reader): Promise<{ width: number; height: number }> {
  const first = await jpegImage(r, 0)
  let position = first.end
  for (let chained = 0; position < r.size; chained++) {
    if (chained === MAX_CHAINED_JPEGS || (await r.u16be(position)) !== 0xffd8) fail('data after the end of the image')
    position = (await jpegImage(r, position)).end
  }
  expectEnd(r, position)
  return first
}

/** One JPEG from its SOI at `start`: the frame size, and the position just after its EOI. */
async function jpegImage(r: Reader, start: number): Promise<{ width: number; height: number; end: number }> {
  let position = start + 2
  let size: { width: number; height: number } | undefined
  let scans = 0
  for (;;) {
    if ((await r.u8(position)) !== 0xff) fail('expected a JPEG marker')
    let marker = await r.u8(++position)
    while (marker === 0xff) marker = await r.u8(++position) // fill bytes
    position += 1
    if (marker === 0xd9) {
      if (!size || scans === 0) fail('JPEG without a frame or a scan')
      return { ...size, end: position }
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue // TEM, RSTn: no length
    if (marker === 0x00 || marker === 0xd8) fail('unexpected JPEG marker')
    const length = await r.u16be(position)
    if (length < 2) fail('bad JPEG segment length')
    const end = position + length
    if (end > r.size) fail('truncated')
    if (isSof(marker)) {
      if (size) fail('second JPEG frame header')
      const components = length >= 8 ? await r.u8(position + 7) : 0
      if (length !== 8 + 3 * components || components === 0) fail('bad JPEG frame header')
      const height = await r.u16be(position + 3)
      const width = await r.u16be(position + 5)
      checkDimensions(width, height)
      size = { width, height }
    }
    position = end
    if (marker === 0xda) {
      if (!size) fail('JPEG scan before the frame header')
      scans += 1
      // Entropy-coded data: 0xFF is followed by 0x00 (a stuffed byte), RSTn, more fill, or the next marker.
      for (;;) {
        const ff = await r.indexOf(0xff, position)
        if (ff < 0) fail('truncated')
        const next = await r.u8(ff + 1)
        if (next === 0x00 || (next >= 0xd0 && next <= 0xd7)) position = ff + 2
        else if (next === 0xff) position = ff + 1
        else {
          position = ff
          break
        }
      }
    }
  }
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
const PNG_DEPTHS: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] }

/** Signature, IHDR first, every chunk's length and CRC, at least one IDAT, IEND last. */
async function png(r: Reader): Promise<{ width: number; height: number }> {
  let position = 8
  let size: { width: number; height: number } | undefined
  let sawData = false
  for (;;) {
    const length = await r.u32be(position)
    if (length > 0x7fffffff || position + 12 + length > r.size) fail('truncated')
    const type = await r.ascii(position + 4, 4)
    if (!/^[A-Za-z]{4}$/.test(type)) fail('bad PNG chunk type')
    const stored = await r.u32be(position + 8 + length)
    if ((await r.crc32(position + 4, 4 + length)) !== stored) fail(`bad CRC in PNG ${type} chunk`)
    if (!size) {
      if (type !== 'IHDR' || length !== 13) fail('PNG must start with IHDR')
      const width = await r.u32be(position + 8)
      const height = await r.u32be(position + 12)
      const depth = await r.u8(position + 16)
      const colour = await r.u8(position + 17)
      if (!PNG_DEPTHS[colour]?.includes(depth)) fail('bad PNG bit depth or colour type')
      checkDimensions(width, height)
      size = { width, height }
    } else if (type === 'IHDR') fail('second IHDR')
    if (type === 'IDAT') sawData = true
    position += 12 + length
    if (type === 'IEND') {
      if (length !== 0 || !sawData) fail('PNG without image data')
      expectEnd(r, position)
      return size
    }
  }
}

/** GIF sub-blocks: length-prefixed, ended by a zero length. Returns the position after the terminator. */
async function skipSubBlocks(r: Reader, position: number): Promise<number> {
  for (;;) {
    const length = await r.u8(position)
    position += 1 + length
    if (length === 0) return position
    if (position > r.size) fail('truncated')
  }
}

/** Header, logical screen, optional colour table, then image/extension blocks up to the trailer (0x3B, last). */
async function gif(r: Reader): Promise<{ width: number; height: number }> {
  const width = await r.u16le(6)
  const height = await r.u16le(8)
  checkDimensions(width, height)
  const packed = await r.u8(10)
  let position = 13 + (packed & 0x80 ? 3 * 2 ** ((packed & 0x07) + 1) : 0)
  let frames = 0
  for (;;) {
    const block = await r.u8(position)
    if (block === 0x3b) {
      if (frames === 0) fail('GIF without an image')
      expectEnd(r, position + 1)
      return { width, height }
    }
    if (block === 0x21) {
      await r.u8(position + 1) // the extension's label
      position = await skipSubBlocks(r, position + 2)
    } else if (block === 0x2c) {
      const frameWidth = await r.u16le(position + 5)
      const frameHeight = await r.u16le(position + 7)
      if (frameWidth === 0 || frameHeight === 0) fail('zero-sized GIF frame')
      const local = await r.u8(position + 9)
      position += 10 + (local & 0x80 ? 3 * 2 ** ((local & 0x07) + 1) : 0)
      const codeSize = await r.u8(position)
      if (codeSize < 1 || codeSize > 11) fail('bad GIF LZW code size')
      position = await skipSubBlocks(r, position + 1)
      frames += 1
    } else fail('unknown GIF block')
  }
}

/** RIFF length equal to the file's, then chunks (padded to even sizes) to the very end; the first is VP8, VP8L or VP8X. */
async function webp(r: Reader): Promise<{ width: number; height: number }> {
  if ((await r.u32le(4)) + 8 !== r.size) fail('RIFF length does not match the file length')
  let position = 12
  let size: { width: number; height: number } | undefined
  let sawImage = false
  while (position < r.size) {
    const fourcc = await r.ascii(position, 4)
    const length = await r.u32le(position + 4)
    const data = position + 8
    const end = data + length + (length % 2)
    if (end > r.size) fail('truncated')
    if (!size) {
      if (fourcc === 'VP8 ') {
        // A key frame: 3-byte frame tag (bit 0 clear), start code 9D 01 2A, 14-bit width and height.
        if (length < 10 || ((await r.u8(data)) & 0x01) !== 0) fail('bad VP8 frame')
        if ((await r.bytes(data + 3, 3)).compare(Buffer.from([0x9d, 0x01, 0x2a])) !== 0) fail('bad VP8 start code')
        size = { width: (await r.u16le(data + 6)) & 0x3fff, height: (await r.u16le(data + 8)) & 0x3fff }
        sawImage = true
      } else if (fourcc === 'VP8L') {
        // Signature 0x2F, then width-1 and height-1 in 14 bits each, and a version of 0.
        if (length < 5 || (await r.u8(data)) !== 0x2f) fail('bad VP8L signature')
        const bits = await r.u32le(data + 1)
        if (bits >>> 29 !== 0) fail('bad VP8L version')
        size = { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 }
        sawImage = true
      } else if (fourcc === 'VP8X') {
        if (length < 10) fail('bad VP8X header')
        size = { width: (await r.u24le(data + 4)) + 1, height: (await r.u24le(data + 7)) + 1 }
      } else fail('WebP must start with VP8, VP8L or VP8X')
      checkDimensions(size.width, size.height)
    } else if (fourcc === 'VP8 ' || fourcc === 'VP8L' || fourcc === 'ANMF') {
      sawImage = true
    }
    position = end
  }
  if (!size || !sawImage) fail('WebP without image data')
  return size
}

const KINDS: Array<{ ext: ImageExt; contentType: string; magic: (head: Buffer) => boolean; parse: (r: Reader) => Promise<{ width: number; height: number }> }> = [
  { ext: 'jpg', contentType: 'image/jpeg', magic: (h) => h[0] === 0xff && h[1] === 0xd8 && h[2] === 0xff, parse: jpeg },
  { ext: 'png', contentType: 'image/png', magic: (h) => h.subarray(0, 8).equals(PNG_SIGNATURE), parse: png },
  { ext: 'gif', contentType: 'image/gif', magic: (h) => ['GIF87a', 'GIF89a'].includes(h.subarray(0, 6).toString('latin1')), parse: gif },
  {
    ext: 'webp',
    contentType: 'image/webp',
    magic: (h) => h.subarray(0, 4).toString('latin1') === 'RIFF' && h.subarray(8, 12).toString('latin1') === 'WEBP',
    parse: webp,
  },
]

/**
 * Judges a file by its structure, never by its name or declared type: the format from its magic
 * bytes, then a walk of the whole file to its end marker, so a truncated file, a wrong length, a bad
 * CRC or anything appended after the end (an HTML/JS polyglot) is refused.
 */
export async function checkImage(source: ByteSource): Promise<ImageCheck> {
  const r = new Reader(source)
  try {
    if (r.size < 12) return { ok: false, reason: 'too short to be an image' }
    const head = await r.bytes(0, 12)
    const kind = KINDS.find((k) => k.magic(head))
    if (!kind) return { ok: false, reason: 'not a JPEG, PNG, GIF or WebP file' }
    const { width, height } = await kind.parse(r)
    return { ok: true, ext: kind.ext, contentType: kind.contentType, width, height }
  } catch (error) {
    if (error instanceof Malformed) return { ok: false, reason: error.message }
    throw error
  }
}
