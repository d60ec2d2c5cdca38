// The REST port's connection limits over raw TCP (issue 14): stalled and trickled bodies closed with a
// 408, Node's own 400/431 answers in the {detail} shape, and the total and per-address connection caps.
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'
import { buildTestApp } from '../helpers/app.ts'
import { createSos, IMAGES } from '../helpers/factories.ts'
import { rawRequest, uploadHead } from '../helpers/raw-http.ts'

const TIMED_OUT = { detail: 'The request was not received in time.' }
const jsonPost = (path: string, length: number) =>
  `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`

interface RawConnection {
  socket: net.Socket
  closed: Promise<void>
}

/**
 * Raw connections a test opens. `destroyAll()` belongs in the test's `finally`: the app's teardown
 * (registered first, so run first) waits for open connections, and one left open would hang it.
 */
function rawConnections(apiUrl: string) {
  const all: net.Socket[] = []
  const open = async (): Promise<RawConnection> => {
    const { hostname, port } = new URL(apiUrl)
    const socket = net.connect(Number(port), hostname)
    all.push(socket)
    socket.on('error', () => undefined)
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
    await new Promise<void>((resolve) => {
      socket.once('connect', () => resolve())
      socket.once('close', () => resolve())
    })
    return { socket, closed }
  }
  return { open, destroyAll: () => all.forEach((socket) => socket.destroy()) }
}

/** Whether the server closes `socket` within `ms`. */
const closesWithin = (closed: Promise<void>, ms: number) => Promise.race([closed.then(() => true), sleep(ms).then(() => false)])

/** GET /health over an already open raw socket. */
async function health(socket: net.Socket): Promise<string> {
  const answer = new Promise<string>((resolve) => {
    let text = ''
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1')
      if (text.includes('\r\n\r\n')) resolve(text.split('\r\n')[0])
    })
  })
  socket.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
  return Promise.race([answer, sleep(5000).then(() => 'no answer')])
}

test('a stalled JSON body (Content-Length 100, 1 byte sent) is answered 408 {detail} and closed', async (t) => {
  const { apiUrl } = await buildTestApp(t, { httpRequestTimeoutSeconds: 1, httpIdleTimeoutSeconds: 60 })
  const answer = await rawRequest(apiUrl, jsonPost('/api/create-sos/', 100), [Buffer.from('{')], 10_000)
  assert.equal(answer.closed, true, 'the server closed the stalled connection')
  assert.equal(answer.status, 408)
  assert.deepEqual(JSON.parse(answer.body), TIMED_OUT)
  assert.equal(answer.headers.connection, 'close')
  assert.ok(answer.elapsedMs >= 900 && answer.elapsedMs < 5000, `closed after ${answer.elapsedMs} ms`)
})

test('a body that stops arriving is closed by the idle timeout, long before the request timeout', async (t) => {
  const { apiUrl } = await buildTestApp(t, { httpRequestTimeoutSeconds: 60, httpIdleTimeoutSeconds: 1 })
  const answer = await rawRequest(apiUrl, jsonPost('/api/update-location/', 100), [Buffer.from('{"sos')], 10_000)
  assert.equal(answer.closed, true)
  assert.equal(answer.status, 408)
  assert.deepEqual(JSON.parse(answer.body), TIMED_OUT)
  assert.ok(answer.elapsedMs < 5000, `closed after ${answer.elapsedMs} ms`)
})

test('a trickled body (one byte every 300 ms, never idle) is still closed when its request time is up', async (t) => {
  const { apiUrl } = await buildTestApp(t, { httpRequestTimeoutSeconds: 2, httpIdleTimeoutSeconds: 1 })
  const connections = rawConnections(apiUrl)
  let text = ''
  let sent = 0
  let elapsed: number
  try {
    const { socket, closed } = await connections.open()
    const started = Date.now()
    socket.on('data', (chunk) => (text += chunk.toString('latin1')))
    socket.write(jsonPost('/api/create-sos/', 1000))
    while (!socket.destroyed && Date.now() - started < 8000) {
      socket.write(' ')
      sent += 1
      await sleep(300)
    }
    await Promise.race([closed, sleep(3000)])
    elapsed = Date.now() - started
  } finally {
    connections.destroyAll()
  }
  assert.match(text, /^HTTP\/1\.1 408 /)
  assert.deepEqual(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)), TIMED_OUT)
  assert.ok(elapsed >= 1900 && elapsed < 5000, `closed after ${elapsed} ms and ${sent} bytes`)
})

test('a stalled upload is closed after the upload timeout, and its temp file is removed', async (t) => {
  const { app, apiUrl, config } = await buildTestApp(t, { httpRequestTimeoutSeconds: 60, uploadTimeoutSeconds: 1, httpIdleTimeoutSeconds: 60 })
  const sos = await createSos(app)
  const boundary = 'stall'
  const head = uploadHead(boundary, 45 * 1024 * 1024, { 'X-SOS-Token': sos.sos_token })
  const firstBytes = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="sos_id"\r\n\r\n${sos.sos_id}\r\n`),
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="images"; filename="a.png"\r\n\r\n`),
    IMAGES.png.subarray(0, 40),
    Buffer.alloc(256 * 1024, 1),
  ])
  let tempSeen = false
  const watcher = setInterval(async () => {
    const names = await fs.readdir(path.join(config.mediaRoot, 'incoming')).catch(() => [])
    tempSeen ||= names.length > 0
  }, 50)
  const answer = await rawRequest(apiUrl, head, [firstBytes], 10_000)
  clearInterval(watcher)
  assert.equal(answer.closed, true)
  assert.equal(answer.status, 408)
  assert.deepEqual(JSON.parse(answer.body), TIMED_OUT)
  assert.ok(answer.elapsedMs < 5000, `closed after ${answer.elapsedMs} ms`)
  assert.ok(tempSeen, 'the upload was being streamed to a temp file')
  await sleep(200)
  assert.deepEqual(await fs.readdir(path.join(config.mediaRoot, 'incoming')), [], 'the half-written temp file is gone')
  const rows = await app.db.selectFrom('sos_images').selectAll().execute()
  assert.deepEqual(rows, [])
})

test('an upload gets its longer time: a slow but steady upload within UPLOAD_TIMEOUT_SECONDS succeeds', async (t) => {
  const { app, apiUrl } = await buildTestApp(t, { httpRequestTimeoutSeconds: 1, uploadTimeoutSeconds: 30, httpIdleTimeoutSeconds: 5 })
  const sos = await createSos(app)
  const boundary = 'steady'
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="sos_id"\r\n\r\n${sos.sos_id}\r\n`),
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="images"; filename="a.png"\r\n\r\n`),
    IMAGES.png,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ])
  const connections = rawConnections(apiUrl)
  let text = ''
  try {
    const { socket } = await connections.open()
    socket.on('data', (chunk) => (text += chunk.toString('latin1')))
    socket.write(uploadHead(boundary, body.length, { 'X-SOS-Token': sos.sos_token }))
    // 2.5 s in all, longer than the ordinary 1 s request time, never idle for 5 s.
    for (let i = 0; i < body.length; i += 64) {
      socket.write(body.subarray(i, i + 64))
      await sleep(2500 / Math.ceil(body.length / 64))
    }
    const deadline = Date.now() + 5000
    while (!text.includes('\r\n\r\n') && Date.now() < deadline) await sleep(20)
  } finally {
    connections.destroyAll()
  }
  assert.match(text, /^HTTP\/1\.1 201 /, text)
})

test('a client that stops reading its answer (a large image) is closed by the idle timeout', async (t) => {
  const { app, apiUrl } = await buildTestApp(t, { httpIdleTimeoutSeconds: 1, imageMaxBytes: 32 * 1024 * 1024 })
  const sos = await createSos(app)
  // A valid 24 MiB PNG (a large tEXt chunk): far more than the socket buffers hold.
  const text = Buffer.concat([Buffer.from('tEXtComment\0'), Buffer.alloc(24 * 1024 * 1024, 0x61)])
  let c = ~0
  for (const byte of text) {
    c ^= byte
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  }
  const length = Buffer.alloc(4)
  length.writeUInt32BE(text.length - 4)
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(~c >>> 0)
  const png = Buffer.concat([IMAGES.png.subarray(0, 33), length, text, crc, IMAGES.png.subarray(33)])
  const form = new FormData()
  form.append('sos_id', String(sos.sos_id))
  form.append('images', new Blob([new Uint8Array(png)]), 'big.png')
  const uploaded = await fetch(`${apiUrl}/api/upload-sos-images/`, { method: 'POST', body: form, headers: { 'x-sos-token': sos.sos_token } })
  assert.equal(uploaded.status, 201)
  const link = new URL(((await uploaded.json()) as { uploaded_images: Array<{ image_url: string }> }).uploaded_images[0].image_url)

  const serverSockets: net.Socket[] = []
  app.server.on('connection', (socket: net.Socket) => serverSockets.push(socket))
  const connections = rawConnections(apiUrl)
  try {
    const { socket } = await connections.open()
    socket.pause() // reads nothing: the answer backs up in the server's buffers
    socket.write(`GET ${link.pathname}${link.search} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)
    const deadline = Date.now() + 6000
    while (!serverSockets[0]?.destroyed && Date.now() < deadline) await sleep(100)
    assert.equal(serverSockets.length, 1)
    assert.equal(serverSockets[0].destroyed, true, 'the server gave up on a reader that stopped reading')
  } finally {
    connections.destroyAll()
  }
})

test('Node-level errors use the {detail} shape: a malformed request line (400) and oversized headers (431)', async (t) => {
  const { apiUrl } = await buildTestApp(t)
  const garbage = await rawRequest(apiUrl, 'NOT-HTTP \x01\x02\r\n\r\n')
  assert.equal(garbage.status, 400)
  assert.equal(garbage.headers['content-type'], 'application/json; charset=utf-8')
  assert.deepEqual(JSON.parse(garbage.body), { detail: 'Malformed HTTP request.' })
  assert.equal(garbage.closed, true)

  const badHeader = await rawRequest(apiUrl, 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header: x\r\n\r\n')
  assert.equal(badHeader.status, 400)
  assert.deepEqual(JSON.parse(badHeader.body), { detail: 'Malformed HTTP request.' })

  const huge = await rawRequest(apiUrl, `GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Filler: ${'a'.repeat(20 * 1024)}\r\n\r\n`)
  assert.equal(huge.status, 431)
  assert.deepEqual(JSON.parse(huge.body), { detail: 'Request header fields too large.' })
  assert.equal(huge.closed, true)

  // Both content-length and chunked: request smuggling material, refused by Node's parser.
  const smuggle = await rawRequest(apiUrl, 'POST /api/create-sos/ HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n')
  assert.equal(smuggle.status, 400)
  assert.deepEqual(JSON.parse(smuggle.body), { detail: 'Malformed HTTP request.' })
})

test('HTTP_MAX_CONNECTIONS_PER_IP: one address cannot hold more connections; others and later ones are fine', async (t) => {
  const { apiUrl } = await buildTestApp(t, { httpMaxConnectionsPerIp: 3 })
  const connections = rawConnections(apiUrl)
  try {
    const held = await Promise.all([0, 1, 2].map(() => connections.open()))
    const extra = await connections.open()
    assert.equal(await closesWithin(extra.closed, 2000), true, 'the fourth connection from one address is closed at once')
    for (const { closed } of held) assert.equal(await closesWithin(closed, 100), false, 'the first three stay open')
    assert.match(await health(held[0].socket), /^HTTP\/1\.1 200 /)
    held[1].socket.destroy()
    await held[1].closed
    await sleep(50)
    const later = await connections.open()
    assert.match(await health(later.socket), /^HTTP\/1\.1 200 /, 'a freed slot can be used again')
  } finally {
    connections.destroyAll()
  }
})

test('HTTP_MAX_CONNECTIONS_PER_IP is not applied with TRUST_PROXY (every connection comes from the balancer)', async (t) => {
  const { apiUrl } = await buildTestApp(t, { httpMaxConnectionsPerIp: 2, trustProxy: true })
  const connections = rawConnections(apiUrl)
  try {
    const held = await Promise.all([0, 1, 2, 3].map(() => connections.open()))
    for (const { socket, closed } of held) {
      assert.equal(await closesWithin(closed, 100), false)
      assert.match(await health(socket), /^HTTP\/1\.1 200 /)
    }
  } finally {
    connections.destroyAll()
  }
})

test('HTTP_MAX_CONNECTIONS caps the REST port as a whole', async (t) => {
  const { apiUrl } = await buildTestApp(t, { httpMaxConnections: 2, httpMaxConnectionsPerIp: 0 })
  const connections = rawConnections(apiUrl)
  try {
    const held = await Promise.all([0, 1].map(() => connections.open()))
    const extra = await connections.open()
    assert.equal(await closesWithin(extra.closed, 2000), true, 'the third connection is closed at once')
    assert.match(await health(held[0].socket), /^HTTP\/1\.1 200 /)
  } finally {
    connections.destroyAll()
  }
})

test('a request arriving on an open connection while the server shuts down gets 503 {detail}, the one in flight finishes', async (t) => {
  const { apiUrl, close } = await buildTestApp(t)
  const connections = rawConnections(apiUrl)
  let text = ''
  try {
    const { socket, closed } = await connections.open()
    socket.on('data', (chunk) => (text += chunk.toString('latin1')))
    const body = JSON.stringify({ name: 'Asha', initial_latitude: 12.97, initial_longitude: 77.59 })
    socket.write(jsonPost('/api/create-sos/', body.length) + body.slice(0, 10))
    await sleep(100)
    const closing = close()
    await sleep(100)
    // The rest of the first request, and a second one pipelined behind it.
    socket.write(body.slice(10) + 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
    await Promise.race([closed, sleep(5000)])
    connections.destroyAll()
    await closing
  } finally {
    connections.destroyAll()
  }
  const answers = text.split(/(?=HTTP\/1\.1 )/)
  assert.match(answers[0] ?? '', /^HTTP\/1\.1 201 /, 'the request in flight when shutdown began is answered')
  assert.match(answers[1] ?? '', /^HTTP\/1\.1 503 /, text)
  assert.match(answers[1], /connection: close/i)
  assert.deepEqual(JSON.parse(answers[1].slice(answers[1].indexOf('\r\n\r\n') + 4)), { detail: 'The server is shutting down; try again.' })
})
