// Raw HTTP over a TCP socket, for attacks a well-behaved client cannot make: stalled or huge bodies sent with backpressure, broken request lines.
import { once } from 'node:events'
import net from 'node:net'

export interface RawAnswer {
  /** 0 when nothing (or no status line) came back. */
  status: number
  headers: Record<string, string>
  body: string
  /** The server closed the connection within the wait. */
  closed: boolean
  /** Milliseconds from connecting to the close (or to giving up). */
  elapsedMs: number
  /** Bytes the client had handed to the socket when the first answer byte arrived (undefined: no answer). */
  sentBeforeAnswer: number | undefined
  /** Bytes the client handed to the socket in all. */
  sent: number
  /** The client got through its whole body before any answer came. */
  finishedSending: boolean
}

/**
 * Sends `head`, then `body` chunk by chunk, waiting for 'drain' like a real client (so a server that
 * stops reading holds the client up), stops writing as soon as an answer arrives, and waits up to
 * `waitMs` for the server to close. A body that ends early is a stalled request.
 */
export async function rawRequest(apiUrl: string, head: string | Buffer, body: Iterable<Buffer> = [], waitMs = 10_000): Promise<RawAnswer> {
  const { hostname, port } = new URL(apiUrl)
  const socket = net.connect(Number(port), hostname)
  const started = Date.now()
  const received: Buffer[] = []
  let sent = 0
  let sentBeforeAnswer: number | undefined
  let closedAt: number | undefined
  socket.on('error', () => undefined) // EPIPE / ECONNRESET once the server hangs up mid-body: expected here
  let answered: (() => void) | undefined
  socket.on('data', (chunk: Buffer) => {
    sentBeforeAnswer ??= sent
    received.push(chunk)
    if (answerComplete(Buffer.concat(received).toString('latin1'))) answered?.()
  })
  const closed = new Promise<boolean>((resolve) => {
    socket.once('close', () => {
      closedAt = Date.now()
      resolve(true)
    })
    setTimeout(() => resolve(false), waitMs).unref()
    // Once a whole answer is in, a server that means to close does so at once: do not wait long for it.
    answered = () => setTimeout(() => resolve(false), 1000).unref()
  })
  await once(socket, 'connect')

  const write = async (chunk: Buffer): Promise<boolean> => {
    if (socket.destroyed || sentBeforeAnswer !== undefined) return false
    sent += chunk.length
    if (!socket.write(chunk)) await Promise.race([once(socket, 'drain').catch(() => undefined), closed])
    return !socket.destroyed
  }
  let finishedSending: boolean
  let didClose: boolean
  try {
    finishedSending = await write(typeof head === 'string' ? Buffer.from(head, 'latin1') : head)
    for (const chunk of body) {
      if (!(await write(chunk))) {
        finishedSending = false
        break
      }
    }
    finishedSending &&= sentBeforeAnswer === undefined
    didClose = await closed
  } finally {
    socket.destroy()
  }
  const elapsedMs = (closedAt ?? Date.now()) - started

  const text = Buffer.concat(received).toString('latin1')
  const split = text.indexOf('\r\n\r\n')
  const [statusLine = '', ...headerLines] = (split >= 0 ? text.slice(0, split) : text).split('\r\n')
  const headers: Record<string, string> = {}
  for (const line of headerLines) {
    const colon = line.indexOf(':')
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0)
  return { status, headers, body: split >= 0 ? text.slice(split + 4) : '', closed: didClose, elapsedMs, sentBeforeAnswer, sent, finishedSending }
}

/** Whether `text` holds a whole HTTP answer (headers, and the body its Content-Length announces). */
function answerComplete(text: string): boolean {
  const split = text.indexOf('\r\n\r\n')
  if (split < 0) return false
  const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, split))?.[1]
  return length === undefined || Buffer.byteLength(text.slice(split + 4), 'latin1') >= Number(length)
}

export interface StreamedFile {
  field?: string
  filename: string
  /** Bytes of the file; generated (repeating `fill`), never held in memory at once. */
  size: number
  /** Leading bytes (e.g. an image header); the rest is `fill`. */
  head?: Buffer
}

/**
 * A multipart body as a stream of chunks (64 KiB of one reused buffer at a time), so a test can send
 * hundreds of megabytes without allocating them. `length` is what Content-Length must say.
 */
export function multipartStream(fields: Array<[string, string]>, files: StreamedFile[]): { boundary: string; length: number; chunks: Iterable<Buffer> } {
  const boundary = `----raw${Math.random().toString(16).slice(2)}`
  const pieces: Array<Buffer | { size: number }> = []
  for (const [name, value] of fields) pieces.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`))
  for (const file of files) {
    pieces.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${file.field ?? 'images'}"; filename="${file.filename}"\r\nContent-Type: image/jpeg\r\n\r\n`,
      ),
    )
    const head = file.head ?? Buffer.alloc(0)
    pieces.push(head, { size: file.size - head.length }, Buffer.from('\r\n'))
  }
  pieces.push(Buffer.from(`--${boundary}--\r\n`))
  const length = pieces.reduce((sum, piece) => sum + (Buffer.isBuffer(piece) ? piece.length : piece.size), 0)
  const block = Buffer.alloc(64 * 1024, 0x41)
  function* chunks() {
    for (const piece of pieces) {
      if (Buffer.isBuffer(piece)) {
        if (piece.length > 0) yield piece
        continue
      }
      for (let left = piece.size; left > 0; left -= block.length) yield left >= block.length ? block : block.subarray(0, left)
    }
  }
  return { boundary, length, chunks: { [Symbol.iterator]: chunks } }
}

/** The request head of a multipart POST to the upload route. */
export const uploadHead = (boundary: string, length: number | 'chunked', headers: Record<string, string> = {}) =>
  `POST /api/upload-sos-images/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\n` +
  (length === 'chunked' ? 'Transfer-Encoding: chunked\r\n' : `Content-Length: ${length}\r\n`) +
  Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('') +
  '\r\n'
