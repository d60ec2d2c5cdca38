// Upload attacks over real HTTP (issue 14): anonymous uploads refused before their bodies are read,
// a cap on the whole request, polyglots and truncated images, per-SOS and per-IP quotas, IMAGE_MAX_FILES.
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import path from 'node:path'
import { test } from 'node:test'
import { buildTestApp } from '../../helpers/app.ts'
import { createSos, createUser, IMAGES, multipart } from '../../helpers/factories.ts'
import { multipartStream, rawRequest, uploadHead } from '../../helpers/raw-http.ts'

const MIB = 1024 * 1024
const NOT_PROVIDED = { detail: 'Authentication credentials were not provided.' }
const NOT_AN_IMAGE = 'Upload a valid image. The file you uploaded was either not an image or a corrupted image.'
const HTML = Buffer.from('<html><body><script>fetch("/api/get-all-sos/").then(r=>r.text()).then(alert)</script></body></html>\n')

/** A valid PNG of about `size` bytes: the 1×1 fixture with a tEXt chunk before IDAT (CRC computed). */
function pngOfSize(size: number): Buffer {
  const text = Buffer.concat([Buffer.from('Comment\0'), Buffer.alloc(Math.max(0, size - IMAGES.png.length - 20), 0x61)])
  const body = Buffer.concat([Buffer.from('tEXt'), text])
  let c = ~0
  for (const byte of body) {
    c ^= byte
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  }
  const head = Buffer.alloc(4)
  head.writeUInt32BE(text.length)
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(~c >>> 0)
  return Buffer.concat([IMAGES.png.subarray(0, 33), head, body, crc, IMAGES.png.subarray(33)])
}

/** An upload through fetch (a real client), fields first as the docs require. */
async function upload(apiUrl: string, fields: Array<[string, string]>, files: Array<{ data: Buffer; filename: string }>, headers: Record<string, string> = {}) {
  const form = new FormData()
  for (const [name, value] of fields) form.append(name, value)
  for (const file of files) form.append('images', new Blob([new Uint8Array(file.data)]), file.filename)
  const res = await fetch(`${apiUrl}/api/upload-sos-images/`, { method: 'POST', body: form, headers })
  const text = await res.text()
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined }
}

/** Files under MEDIA_ROOT, temp files included. */
async function mediaFiles(root: string): Promise<string[]> {
  const names = await fs.readdir(root, { recursive: true }).catch(() => [] as string[])
  const files: string[] = []
  for (const name of names) if ((await fs.stat(path.join(root, String(name)))).isFile()) files.push(String(name))
  return files.sort()
}

async function imageRows(app: Awaited<ReturnType<typeof buildTestApp>>['app']) {
  const row = await app.db.selectFrom('sos_images').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()
  return Number(row.n)
}

test('anonymous 10 × 5 MiB uploads are refused at the first file part, before their bodies are read, and memory stays flat', async (t) => {
  const { app, apiUrl, config } = await buildTestApp(t)
  const sos = await createSos(app)
  const sockets: Array<{ bytesRead: number }> = []
  app.server.on('connection', (socket) => sockets.push(socket))

  // The review's attack: 8 anonymous requests at once, each 10 parts of just under 5 MiB (50 MiB).
  const attack = () => {
    const form = multipartStream(
      [['sos_id', String(sos.sos_id)]],
      Array.from({ length: 10 }, (_, i) => ({ filename: `p${i}.jpg`, size: 5 * MIB - 1024, head: IMAGES.jpg.subarray(0, 4) })),
    )
    return rawRequest(apiUrl, uploadHead(form.boundary, form.length), form.chunks, 30_000).then((answer) => ({ ...answer, total: form.length }))
  }
  global.gc?.()
  const before = process.memoryUsage()
  let peakRss = before.rss
  let peakBuffers = before.arrayBuffers
  const sampler = setInterval(() => {
    const now = process.memoryUsage()
    peakRss = Math.max(peakRss, now.rss)
    peakBuffers = Math.max(peakBuffers, now.arrayBuffers)
  }, 20)
  const answers = await Promise.all(Array.from({ length: 8 }, attack))
  clearInterval(sampler)
  t.diagnostic(
    `sent before the answer: ${answers.map((a) => a.sentBeforeAnswer).join(', ')} of ${answers[0].total}; server read ${sockets.map((s) => s.bytesRead).join(', ')}; ` +
      `peak growth: rss ${((peakRss - before.rss) / MIB).toFixed(1)} MiB, buffers ${((peakBuffers - before.arrayBuffers) / MIB).toFixed(1)} MiB`,
  )

  for (const answer of answers) {
    assert.equal(answer.status, 401, answer.body)
    assert.deepEqual(JSON.parse(answer.body), NOT_PROVIDED)
    assert.equal(answer.headers.connection, 'close', 'the rest of the body will not be read, and the answer says so')
    assert.equal(answer.finishedSending, false, 'the server answered before the client had sent its body')
    assert.ok(answer.sentBeforeAnswer! < answer.total / 2, `answered after ${answer.sentBeforeAnswer} of ${answer.total} bytes had been sent`)
    assert.ok(answer.closed, 'the server closed the connection')
  }
  // The server process itself read only a few socket buffers of each 50 MiB body.
  for (const socket of sockets) assert.ok(socket.bytesRead < 8 * MIB, `the server read ${socket.bytesRead} bytes of a refused upload`)
  // Generous bounds (the app runs in this process): buffering the bodies would take 400 MB.
  assert.ok(peakBuffers - before.arrayBuffers < 64 * MIB, `Buffer memory grew by ${(peakBuffers - before.arrayBuffers) / MIB} MiB`)
  assert.ok(peakRss - before.rss < 150 * MIB, `RSS grew by ${(peakRss - before.rss) / MIB} MiB`)
  assert.equal(await imageRows(app), 0)
  assert.deepEqual(await mediaFiles(config.mediaRoot), [], 'not even a temp file was written')

  // The server is fine afterwards, and an allowed upload still works.
  const ok = await upload(apiUrl, [['sos_id', String(sos.sos_id)]], [{ data: IMAGES.png, filename: 'a.png' }], { 'x-sos-token': sos.sos_token })
  assert.equal(ok.status, 201)
})

test('a wrong token, another SOS, an unknown SOS: refused before the files are read; a sos_token after the files does not count', async (t) => {
  const { app, apiUrl, config } = await buildTestApp(t)
  const sos = await createSos(app)
  const other = await createSos(app)
  const send = (fields: Array<[string, string]>, headers: Record<string, string> = {}) => {
    const form = multipartStream(fields, [{ filename: 'big.jpg', size: 40 * MIB, head: IMAGES.jpg.subarray(0, 4) }])
    return rawRequest(apiUrl, uploadHead(form.boundary, form.length, headers), form.chunks, 30_000)
  }
  const cases: Array<[string, Awaited<ReturnType<typeof send>>, number, unknown]> = [
    ['other SOS token (header)', await send([['sos_id', String(sos.sos_id)]], { 'X-SOS-Token': other.sos_token }), 403, { detail: 'You do not have permission to perform this action.' }],
    ['other SOS token (field)', await send([['sos_id', String(sos.sos_id)], ['sos_token', other.sos_token]]), 403, { detail: 'You do not have permission to perform this action.' }],
    ['invalid API token', await send([['sos_id', String(sos.sos_id)]], { Authorization: 'Token 0000000000000000000000000000000000000000' }), 401, { detail: 'Invalid token.' }],
    ['unknown SOS', await send([['sos_id', '999999']], { 'X-SOS-Token': sos.sos_token }), 404, { status: 'error', message: 'SOS request not found' }],
    ['no sos_id before the file', await send([], { 'X-SOS-Token': sos.sos_token }), 400, { status: 'error', message: 'SOS ID is required' }],
  ]
  for (const [name, answer, status, body] of cases) {
    assert.equal(answer.status, status, `${name}: ${answer.body}`)
    assert.deepEqual(JSON.parse(answer.body), body, name)
    assert.equal(answer.finishedSending, false, `${name}: answered before the 40 MiB body was sent`)
    assert.equal(answer.headers.connection, 'close', name)
  }

  // One huge field before any file (busboy would read and discard it whole): refused after 1 MiB.
  const bigField = multipartStream([['sos_id', String(sos.sos_id)], ['descriptions', 'x'.repeat(30 * MIB)]], [{ filename: 'a.png', size: 1024 }])
  const fieldAnswer = await rawRequest(apiUrl, uploadHead(bigField.boundary, bigField.length), bigField.chunks, 30_000)
  assert.equal(fieldAnswer.status, 413)
  assert.deepEqual(JSON.parse(fieldAnswer.body), { status: 'error', message: 'More than 1048576 bytes of form data before the first file.' })
  assert.equal(fieldAnswer.finishedSending, false)

  // The body sos_token only counts before the first file: after it, it cannot authorize what was already arriving.
  const late = multipart({ sos_id: String(sos.sos_id) }, [{ filename: 'a.png', data: IMAGES.png }])
  const tail = Buffer.from(`--${late.headers['content-type'].split('boundary=')[1]}--\r\n`)
  const withLateToken = Buffer.concat([
    late.payload.subarray(0, late.payload.length - tail.length),
    Buffer.from(`--${late.headers['content-type'].split('boundary=')[1]}\r\nContent-Disposition: form-data; name="sos_token"\r\n\r\n${sos.sos_token}\r\n`),
    tail,
  ])
  const lateRes = await fetch(`${apiUrl}/api/upload-sos-images/`, { method: 'POST', headers: late.headers, body: withLateToken })
  assert.equal(lateRes.status, 401)
  assert.deepEqual(await lateRes.json(), NOT_PROVIDED)
  assert.equal(await imageRows(app), 0)
  assert.deepEqual(await mediaFiles(config.mediaRoot), [])
})

test('legacy mode: anyone may upload by SOS id alone, streamed to disk like any other upload', async (t) => {
  const { app, apiUrl, config } = await buildTestApp(t, { legacyOpenAccess: true })
  const sos = await createSos(app)
  const res = await upload(apiUrl, [['sos_id', String(sos.sos_id)]], [
    { data: IMAGES.jpg, filename: 'a.jpg' },
    { data: Buffer.concat([IMAGES.gif, HTML]), filename: 'b.gif' },
  ])
  assert.equal(res.status, 201)
  assert.equal(res.body.uploaded_images.length, 1)
  assert.deepEqual(res.body.partial_errors, [{ file: 'b.gif', error: NOT_AN_IMAGE }], 'the checks stay on in legacy mode')
  assert.deepEqual(await mediaFiles(config.mediaRoot), [res.body.uploaded_images[0].image.replace('/media/', '')])
})

test('the whole request is capped: by Content-Length before reading, and by counting a chunked body', async (t) => {
  const { app, apiUrl, config } = await buildTestApp(t, { uploadMaxRequestBytes: 256 * 1024 })
  const sos = await createSos(app)
  const tooBig = { status: 'error', message: 'The upload is larger than the 262144 byte limit.' }

  const declared = multipartStream([['sos_id', String(sos.sos_id)]], [{ filename: 'a.png', size: 20 * MIB }])
  const early = await rawRequest(apiUrl, uploadHead(declared.boundary, declared.length, { 'X-SOS-Token': sos.sos_token }), declared.chunks)
  assert.equal(early.status, 413)
  assert.deepEqual(JSON.parse(early.body), tooBig)
  assert.equal(early.finishedSending, false)
  assert.equal(early.headers.connection, 'close')

  // Chunked: no length up front. Small valid images first (kept in temp files), then too much.
  const parts = multipart({ sos_id: String(sos.sos_id) }, [
    { filename: 'a.png', data: IMAGES.png },
    { filename: 'b.png', data: Buffer.concat([IMAGES.png.subarray(0, 33), Buffer.alloc(4 * MIB)]) },
  ])
  const chunked = function* () {
    for (let i = 0; i < parts.payload.length; i += 16 * 1024) {
      const piece = parts.payload.subarray(i, i + 16 * 1024)
      yield Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')])
    }
    yield Buffer.from('0\r\n\r\n')
  }
  const counted = await rawRequest(apiUrl, uploadHead(parts.headers['content-type'].split('boundary=')[1], 'chunked', { 'X-SOS-Token': sos.sos_token }), chunked())
  assert.equal(counted.status, 413, counted.body)
  assert.deepEqual(JSON.parse(counted.body), tooBig)
  assert.equal(counted.finishedSending, false)
  assert.equal(await imageRows(app), 0, 'nothing of a refused request is stored, not even its valid first image')
  assert.deepEqual(await mediaFiles(config.mediaRoot), [], 'and no temp file is left')
})

test('polyglots and truncated images are refused over HTTP; nothing of them is stored or served', async (t) => {
  const { app, apiUrl, config } = await buildTestApp(t)
  const sos = await createSos(app)
  const files = [
    { data: Buffer.concat([IMAGES.jpg, HTML]), filename: 'jpeg-then-html.jpg' },
    { data: Buffer.concat([IMAGES.gif, HTML]), filename: 'gif-then-html.gif' },
    { data: Buffer.concat([IMAGES.png, HTML]), filename: 'png-then-html.png' },
    { data: Buffer.concat([IMAGES.webp, HTML]), filename: 'webp-then-html.webp' },
    { data: Buffer.concat([Buffer.from('GIF89a'), HTML]), filename: 'gif-prefix.gif' },
    { data: Buffer.concat([Buffer.from('ffd8ffe0', 'hex'), HTML]), filename: 'jpeg-prefix.jpg' },
    { data: IMAGES.jpg.subarray(0, IMAGES.jpg.length - 2), filename: 'no-eoi.jpg' },
    { data: IMAGES.png.subarray(0, IMAGES.png.length - 12), filename: 'no-iend.png' },
    { data: IMAGES.gif.subarray(0, IMAGES.gif.length - 1), filename: 'no-trailer.gif' },
    { data: IMAGES.webp.subarray(0, IMAGES.webp.length - 4), filename: 'short.webp' },
  ]
  const res = await upload(apiUrl, [['sos_id', String(sos.sos_id)]], files, { 'x-sos-token': sos.sos_token })
  assert.equal(res.status, 400)
  assert.equal(res.body.message, 'No valid images were uploaded')
  assert.deepEqual(
    res.body.errors,
    files.map((file) => ({ file: file.filename, error: NOT_AN_IMAGE })),
  )
  // Beside a real image, each is reported in partial_errors and the real one is stored.
  const mixed = await upload(apiUrl, [['sos_id', String(sos.sos_id)]], [files[0], { data: IMAGES.jpg, filename: 'real.jpg' }], { 'x-sos-token': sos.sos_token })
  assert.equal(mixed.status, 201)
  assert.deepEqual(mixed.body.partial_errors, [{ file: 'jpeg-then-html.jpg', error: NOT_AN_IMAGE }])
  const served = await fetch(mixed.body.uploaded_images[0].image_url)
  assert.deepEqual(Buffer.from(await served.arrayBuffer()), IMAGES.jpg)
  assert.deepEqual(await mediaFiles(config.mediaRoot), [mixed.body.uploaded_images[0].image.replace('/media/', '')])
})

test('IMAGE_MAX_FILES: the first files are stored, the rest are reported in partial_errors', async (t) => {
  const { app, apiUrl } = await buildTestApp(t, { imageMaxFiles: 2 })
  const sos = await createSos(app)
  const res = await upload(
    apiUrl,
    [['sos_id', String(sos.sos_id)], ['descriptions', 'one'], ['descriptions', 'two'], ['descriptions', 'three']],
    [
      { data: IMAGES.png, filename: '1.png' },
      { data: IMAGES.jpg, filename: '2.jpg' },
      { data: IMAGES.gif, filename: '3.gif' },
      { data: IMAGES.webp, filename: '4.webp' },
    ],
    { 'x-sos-token': sos.sos_token },
  )
  assert.equal(res.status, 201, JSON.stringify(res.body))
  assert.equal(res.body.message, 'Successfully uploaded 2 image(s)')
  assert.deepEqual(res.body.uploaded_images.map((image: { description: string }) => image.description), ['one', 'two'])
  assert.deepEqual(res.body.partial_errors, [
    { file: '3.gif', error: 'Too many files: at most 2 images per upload.' },
    { file: '4.webp', error: 'Too many files: at most 2 images per upload.' },
  ])
  assert.equal(await imageRows(app), 2)
})

test('per-SOS quota (count and bytes, from the database): what fits is stored, the rest reported, then 413 before reading', async (t) => {
  const { app, apiUrl, config } = await buildTestApp(t, { sosImagesMaxFiles: 3, sosImagesMaxBytes: 4096 })
  const sos = await createSos(app)
  const token = { 'x-sos-token': sos.sos_token }
  const full = { status: 'error', message: 'This SOS has reached its image limit (3 images, 4096 bytes).' }

  const first = await upload(apiUrl, [['sos_id', String(sos.sos_id)]], [{ data: pngOfSize(1500), filename: 'a.png' }, { data: pngOfSize(1500), filename: 'b.png' }], token)
  assert.equal(first.status, 201)
  // 3000 bytes used: the next 1500-byte image would pass 4096; a small one still fits the byte quota.
  const second = await upload(apiUrl, [['sos_id', String(sos.sos_id)]], [{ data: pngOfSize(1500), filename: 'c.png' }, { data: IMAGES.png, filename: 'd.png' }], token)
  assert.equal(second.status, 201, JSON.stringify(second.body))
  assert.equal(second.body.uploaded_images.length, 1)
  assert.deepEqual(second.body.partial_errors, [{ file: 'c.png', error: full.message }])
  // Three images now: the count quota is used up, and the next upload is refused whole, before its body.
  const body = multipartStream([['sos_id', String(sos.sos_id)]], [{ filename: 'e.png', size: 20 * MIB }])
  const refused = await rawRequest(apiUrl, uploadHead(body.boundary, body.length, { 'X-SOS-Token': sos.sos_token }), body.chunks)
  assert.equal(refused.status, 413)
  assert.deepEqual(JSON.parse(refused.body), full)
  assert.equal(refused.finishedSending, false)
  assert.equal(await imageRows(app), 3)
  assert.equal((await mediaFiles(config.mediaRoot)).length, 3)

  // Two racing uploads to a fresh SOS with room for one: the database decides, exactly one is stored.
  const { app: app2, apiUrl: api2 } = await buildTestApp(t, { sosImagesMaxFiles: 1 })
  const race = await createSos(app2)
  const both = await Promise.all(
    [0, 1].map(() => upload(api2, [['sos_id', String(race.sos_id)]], [{ data: IMAGES.png, filename: 'x.png' }], { 'x-sos-token': race.sos_token })),
  )
  assert.deepEqual(both.map((r) => r.status).sort(), [201, 400])
  assert.equal(await imageRows(app2), 1)
})

test('per-IP hourly quota (count and bytes) for anonymous and citizen uploads; staff are exempt', async (t) => {
  const { app, apiUrl } = await buildTestApp(t, { uploadIpFilesPerHour: 3, uploadIpBytesPerHour: 1024 * 1024 })
  const sos = await createSos(app)
  const owner = await createUser(app, 'citizen')
  const mine = await createSos(app, {}, owner)
  const token = { 'x-sos-token': sos.sos_token }
  const limit = 'Upload limit for this address reached (3 images, 1048576 bytes per hour).'

  const first = await upload(apiUrl, [['sos_id', String(sos.sos_id)]], [{ data: IMAGES.png, filename: 'a.png' }, { data: IMAGES.gif, filename: 'b.gif' }], token)
  assert.equal(first.status, 201)
  // A signed-in citizen from the same address shares the address's allowance.
  const second = await upload(apiUrl, [['sos_id', String(mine.sos_id)]], [{ data: IMAGES.jpg, filename: 'c.jpg' }, { data: IMAGES.webp, filename: 'd.webp' }], { authorization: `Token ${owner.token}` })
  assert.equal(second.status, 201)
  assert.equal(second.body.uploaded_images.length, 1)
  assert.deepEqual(second.body.partial_errors, [{ file: 'd.webp', error: limit }])
  const third = await upload(apiUrl, [['sos_id', String(sos.sos_id)]], [{ data: IMAGES.png, filename: 'e.png' }], token)
  assert.equal(third.status, 429)
  assert.deepEqual({ ...third.body, retry_after: undefined }, { status: 'error', message: limit, retry_after: undefined })
  assert.ok(third.body.retry_after > 0 && third.body.retry_after <= 3600)
  assert.equal(third.headers.get('retry-after'), String(third.body.retry_after))

  // A dispatcher at the same address (a control room behind one NAT) is not held by it.
  const dispatcher = await createUser(app, 'dispatcher')
  const staff = await upload(apiUrl, [['sos_id', String(sos.sos_id)]], [{ data: IMAGES.png, filename: 'f.png' }], { authorization: `Token ${dispatcher.token}` })
  assert.equal(staff.status, 201)

  // Bytes: a fresh app where two 600 KiB images fit a 1 MiB hourly allowance only once.
  const { app: app2, apiUrl: api2 } = await buildTestApp(t, { uploadIpBytesPerHour: 1024 * 1024 })
  const other = await createSos(app2)
  const big = pngOfSize(600 * 1024)
  const bytes = await upload(api2, [['sos_id', String(other.sos_id)]], [{ data: big, filename: 'g.png' }, { data: big, filename: 'h.png' }], { 'x-sos-token': other.sos_token })
  assert.equal(bytes.status, 201)
  assert.equal(bytes.body.uploaded_images.length, 1)
  assert.deepEqual(bytes.body.partial_errors, [{ file: 'h.png', error: 'Upload limit for this address reached (100 images, 1048576 bytes per hour).' }])
})
