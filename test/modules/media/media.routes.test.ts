// The image rows of CONTRACT §2 over real HTTP: multipart upload (judged by bytes), listing, the files
// on disk, and who may fetch /media/… (signed expiring links, tokens, legacy open access).
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { test } from 'node:test'
import { buildTestApp } from '../../helpers/app.ts'
import { createSos, createUser, IMAGES, type TestUser } from '../../helpers/factories.ts'

interface Answer {
  status: number
  contentType: string | null
  bytes: Buffer
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any
}

async function answer(res: Response): Promise<Answer> {
  const bytes = Buffer.from(await res.arrayBuffer())
  const contentType = res.headers.get('content-type')
  const isJson = contentType?.startsWith('application/json') ?? false
  return { status: res.status, contentType, bytes, body: isJson && bytes.length ? JSON.parse(bytes.toString('utf8')) : undefined }
}

interface FilePart {
  data: Buffer
  filename: string
  type?: string
}

/**
 * A real multipart/form-data upload, as a browser or the phone app sends it: `sos_id` and `sos_token`
 * first (the server decides who is uploading before it reads any file), descriptions after the files.
 */
async function upload(
  apiUrl: string,
  fields: { sos_id?: string | number; descriptions?: string[]; sos_token?: string },
  files: FilePart[],
  headers: Record<string, string> = {},
): Promise<Answer> {
  const form = new FormData()
  if (fields.sos_id !== undefined) form.append('sos_id', String(fields.sos_id))
  if (fields.sos_token !== undefined) form.append('sos_token', fields.sos_token)
  for (const file of files) form.append('images', new Blob([new Uint8Array(file.data)], { type: file.type ?? 'application/octet-stream' }), file.filename)
  for (const description of fields.descriptions ?? []) form.append('descriptions', description)
  return answer(await fetch(`${apiUrl}/api/upload-sos-images/`, { method: 'POST', body: form, headers }))
}

/** The `Authorization: Token …` header of a user. */
const authed = (user: TestUser): Record<string, string> => ({ authorization: `Token ${user.token}` })

const get = async (url: string, headers: Record<string, string> = {}) => answer(await fetch(url, { headers }))

const UUID_FILE = /^\/media\/sos_images\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.(png|jpg|gif|webp)$/
const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
/** The original's image fields, plus the SHA-256 of the stored bytes (evidence integrity). */
const IMAGE_KEYS = ['description', 'id', 'image', 'image_url', 'sha256', 'sos_request', 'uploaded_at']
const NOT_PROVIDED = { detail: 'Authentication credentials were not provided.' }
const FORBIDDEN = { detail: 'You do not have permission to perform this action.' }
const NOT_AN_IMAGE = 'Upload a valid image. The file you uploaded was either not an image or a corrupted image.'

/** Where an `image` media path lives on disk. */
const onDisk = (mediaRoot: string, image: string) => path.join(mediaRoot, image.replace(/^\/media\//, ''))

test('upload: several images with repeated descriptions, i-th description to i-th image; files stored under generated names', async (t) => {
  const { app, apiUrl, config } = await buildTestApp(t)
  const sos = await createSos(app)

  const res = await upload(
    apiUrl,
    { sos_id: sos.sos_id, descriptions: ['the street sign', 'the car', 'the driver'] },
    [
      { data: IMAGES.png, filename: 'sign.png', type: 'image/png' },
      { data: IMAGES.jpg, filename: 'car.jpg', type: 'image/jpeg' },
      { data: IMAGES.gif, filename: 'driver.gif', type: 'image/gif' },
    ],
    { 'x-sos-token': sos.sos_token },
  )
  assert.equal(res.status, 201, res.bytes.toString())
  assert.deepEqual(Object.keys(res.body).sort(), ['message', 'status', 'uploaded_images'], 'no partial_errors when everything was stored')
  assert.equal(res.body.status, 'success')
  assert.equal(res.body.message, 'Successfully uploaded 3 image(s)')
  const images = res.body.uploaded_images as Array<Record<string, unknown>>
  assert.equal(images.length, 3)

  const expected = [
    { ext: 'png', description: 'the street sign', bytes: IMAGES.png },
    { ext: 'jpg', description: 'the car', bytes: IMAGES.jpg },
    { ext: 'gif', description: 'the driver', bytes: IMAGES.gif },
  ]
  for (const [i, image] of images.entries()) {
    assert.deepEqual(Object.keys(image).sort(), IMAGE_KEYS)
    assert.ok(Number.isInteger(image.id))
    assert.equal(image.sos_request, sos.sos_id)
    assert.match(String(image.image), UUID_FILE)
    assert.ok(String(image.image).endsWith(`.${expected[i].ext}`), `image ${i} is the ${expected[i].ext}`)
    assert.equal(image.description, expected[i].description)
    assert.match(String(image.uploaded_at), ISO_MS)
    assert.ok(String(image.image_url).startsWith(`${apiUrl}${String(image.image)}?`), 'image_url is the absolute, signed URL of the same path')
    assert.match(new URL(String(image.image_url)).search, /^\?expires=\d+&signature=[0-9a-f]{64}$/)
    // The bytes on disk are exactly the uploaded bytes, under MEDIA_ROOT/sos_images/<uuid>.<ext>.
    assert.deepEqual(await fs.readFile(onDisk(config.mediaRoot, String(image.image))), expected[i].bytes)
  }
  assert.equal(new Set(images.map((image) => image.image)).size, 3, 'every file gets its own name')
  assert.deepEqual((await fs.readdir(path.join(config.mediaRoot, 'sos_images'))).length, 3)
})

test('upload: images are judged by their bytes, not their name or declared type', async (t) => {
  const { app, apiUrl, config } = await buildTestApp(t)
  const sos = await createSos(app)
  const cases: Array<[keyof typeof IMAGES, FilePart, string]> = [
    ['png', { data: IMAGES.png, filename: 'holiday.jpg', type: 'image/jpeg' }, 'image/png'],
    ['jpg', { data: IMAGES.jpg, filename: 'scan.pdf', type: 'application/pdf' }, 'image/jpeg'],
    ['gif', { data: IMAGES.gif, filename: 'notes.txt', type: 'text/plain' }, 'image/gif'],
    ['webp', { data: IMAGES.webp, filename: 'noextension', type: 'application/octet-stream' }, 'image/webp'],
  ]
  for (const [ext, file, contentType] of cases) {
    const res = await upload(apiUrl, { sos_id: sos.sos_id, sos_token: sos.sos_token }, [file])
    assert.equal(res.status, 201, `${ext}: ${res.bytes.toString()}`)
    const [image] = res.body.uploaded_images
    assert.ok(image.image.endsWith(`.${ext}`), `${file.filename} is stored as .${ext}`)
    assert.deepEqual(await fs.readFile(onDisk(config.mediaRoot, image.image)), file.data)
    const served = await get(image.image_url)
    assert.equal(served.status, 200)
    assert.equal(served.contentType, contentType)
    assert.deepEqual(served.bytes, file.data)
  }
})

test('upload: a text file named x.png is refused; mixed valid and invalid files give 201 with partial_errors', async (t) => {
  const { app, apiUrl, config } = await buildTestApp(t)
  const staff = await createUser(app, 'dispatcher')
  const sos = await createSos(app)
  const text = Buffer.from('this is not an image, only words\n')

  const onlyText = await upload(apiUrl, { sos_id: sos.sos_id, sos_token: sos.sos_token }, [{ data: text, filename: 'x.png', type: 'image/png' }])
  assert.equal(onlyText.status, 400)
  assert.equal(onlyText.body.status, 'error')
  assert.equal(typeof onlyText.body.message, 'string')
  assert.deepEqual(onlyText.body.errors, [{ file: 'x.png', error: NOT_AN_IMAGE }])
  const stored = await fs.readdir(path.join(config.mediaRoot, 'sos_images')).catch(() => [])
  assert.deepEqual(stored, [], 'nothing was written to disk')

  const mixed = await upload(
    apiUrl,
    { sos_id: sos.sos_id, sos_token: sos.sos_token, descriptions: ['looks like a photo', 'the real photo'] },
    [
      { data: text, filename: 'x.png', type: 'image/png' },
      { data: IMAGES.png, filename: 'real.png', type: 'image/png' },
    ],
  )
  assert.equal(mixed.status, 201)
  assert.equal(mixed.body.status, 'success')
  assert.equal(mixed.body.message, 'Successfully uploaded 1 image(s)')
  assert.equal(mixed.body.uploaded_images.length, 1)
  assert.equal(mixed.body.uploaded_images[0].description, 'the real photo', 'the description of the 2nd file stays with the 2nd file')
  assert.deepEqual(mixed.body.partial_errors, [{ file: 'x.png', error: NOT_AN_IMAGE }])

  const list = await get(`${apiUrl}/api/get-sos-images/${sos.sos_id}/`, authed(staff))
  assert.equal(list.body.count, 1, 'only the valid image is stored')
})

test('upload: a file over the size cap is refused by name, the others are stored', async (t) => {
  const { app, apiUrl, config } = await buildTestApp(t, { imageMaxBytes: 1024 })
  const sos = await createSos(app)
  // A real PNG header followed by padding: an image by its bytes, but larger than the cap.
  const big = Buffer.concat([IMAGES.png, Buffer.alloc(4096)])

  const mixed = await upload(apiUrl, { sos_id: sos.sos_id, sos_token: sos.sos_token, descriptions: ['too big', 'fits'] }, [
    { data: big, filename: 'big.png', type: 'image/png' },
    { data: IMAGES.gif, filename: 'small.gif', type: 'image/gif' },
  ])
  assert.equal(mixed.status, 201, mixed.bytes.toString())
  assert.equal(mixed.body.message, 'Successfully uploaded 1 image(s)')
  assert.equal(mixed.body.uploaded_images[0].description, 'fits')
  assert.deepEqual(mixed.body.partial_errors, [{ file: 'big.png', error: `File is larger than the ${config.imageMaxBytes} byte limit.` }])
  assert.deepEqual(await fs.readdir(path.join(config.mediaRoot, 'sos_images')), [path.basename(mixed.body.uploaded_images[0].image)])

  const onlyBig = await upload(apiUrl, { sos_id: sos.sos_id, sos_token: sos.sos_token }, [{ data: big, filename: 'big.png', type: 'image/png' }])
  assert.equal(onlyBig.status, 400)
  assert.equal(onlyBig.body.status, 'error')
  assert.deepEqual(onlyBig.body.errors, [{ file: 'big.png', error: `File is larger than the ${config.imageMaxBytes} byte limit.` }])
})

test('upload errors: no sos_id, no image, unknown SOS, no credentials, another SOS\'s token', async (t) => {
  const { app, apiUrl } = await buildTestApp(t)
  const sos = await createSos(app)
  const other = await createSos(app)
  const png = { data: IMAGES.png, filename: 'a.png', type: 'image/png' }

  const noId = await upload(apiUrl, { sos_token: sos.sos_token }, [png])
  assert.equal(noId.status, 400)
  assert.deepEqual(noId.body, { status: 'error', message: 'SOS ID is required' })

  const noImage = await upload(apiUrl, { sos_id: sos.sos_id, sos_token: sos.sos_token, descriptions: ['nothing attached'] }, [])
  assert.equal(noImage.status, 400)
  assert.deepEqual(noImage.body, { status: 'error', message: 'At least one image is required' })

  const unknown = await upload(apiUrl, { sos_id: 999_999, sos_token: sos.sos_token }, [png])
  assert.equal(unknown.status, 404)
  assert.deepEqual(unknown.body, { status: 'error', message: 'SOS request not found' })

  const anonymous = await upload(apiUrl, { sos_id: sos.sos_id }, [png])
  assert.equal(anonymous.status, 401)
  assert.deepEqual(anonymous.body, NOT_PROVIDED)

  const wrongToken = await upload(apiUrl, { sos_id: sos.sos_id }, [png], { 'x-sos-token': other.sos_token })
  assert.equal(wrongToken.status, 403)
  assert.deepEqual(wrongToken.body, FORBIDDEN)

  const citizen = await createUser(app, 'citizen')
  const notOwner = await upload(apiUrl, { sos_id: sos.sos_id }, [png], authed(citizen))
  assert.equal(notOwner.status, 403)
  assert.deepEqual(notOwner.body, FORBIDDEN)
})

test('GET /api/get-sos-images/{id}/: newest first with a count, for staff, owner and token holder only', async (t) => {
  const { app, apiUrl } = await buildTestApp(t)
  const owner = await createUser(app, 'citizen')
  const sos = await createSos(app, {}, owner)
  const first = await upload(apiUrl, { sos_id: sos.sos_id, descriptions: ['first'] }, [{ data: IMAGES.png, filename: 'a.png' }], authed(owner))
  const second = await upload(
    apiUrl,
    { sos_id: sos.sos_id, descriptions: ['second', 'third'] },
    [
      { data: IMAGES.jpg, filename: 'b.jpg' },
      { data: IMAGES.gif, filename: 'c.gif' },
    ],
    authed(owner),
  )
  assert.equal(first.status, 201)
  assert.equal(second.status, 201)
  const uploadedIds = [...first.body.uploaded_images, ...second.body.uploaded_images].map((image: { id: number }) => image.id)

  const staff = await createUser(app, 'officer', 'UNIT003')
  for (const headers of [authed(staff), authed(owner), { 'x-sos-token': sos.sos_token }]) {
    const res = await get(`${apiUrl}/api/get-sos-images/${sos.sos_id}/`, headers)
    assert.equal(res.status, 200)
    assert.deepEqual(Object.keys(res.body).sort(), ['count', 'images', 'message', 'sos_id', 'status'])
    assert.equal(res.body.status, 'success')
    assert.equal(res.body.message, 'Images fetched successfully')
    assert.equal(res.body.sos_id, sos.sos_id)
    assert.equal(res.body.count, 3)
    assert.deepEqual(
      res.body.images.map((image: { id: number }) => image.id),
      [...uploadedIds].reverse(),
      'newest first',
    )
    assert.deepEqual(res.body.images.map((image: { description: string }) => image.description), ['third', 'second', 'first'])
    for (const image of res.body.images) assert.deepEqual(Object.keys(image).sort(), IMAGE_KEYS)
  }

  const noSlash = await get(`${apiUrl}/api/get-sos-images/${sos.sos_id}`, authed(staff))
  assert.equal(noSlash.status, 200)
  assert.equal(noSlash.body.count, 3)

  const unknown = await get(`${apiUrl}/api/get-sos-images/999999/`, authed(staff))
  assert.equal(unknown.status, 404)
  assert.deepEqual(unknown.body, { status: 'error', message: 'SOS request not found' })

  const anonymous = await get(`${apiUrl}/api/get-sos-images/${sos.sos_id}/`)
  assert.equal(anonymous.status, 401)
  assert.deepEqual(anonymous.body, NOT_PROVIDED)

  const stranger = await createUser(app, 'citizen')
  const forbidden = await get(`${apiUrl}/api/get-sos-images/${sos.sos_id}/`, authed(stranger))
  assert.equal(forbidden.status, 403)
  assert.deepEqual(forbidden.body, FORBIDDEN)
})

test('GET /media/…: the signed image_url works over HTTP; bare, tampered or foreign requests are refused; tokens that may read the SOS work', async (t) => {
  const { app, apiUrl } = await buildTestApp(t)
  const sos = await createSos(app)
  const other = await createSos(app)
  const res = await upload(apiUrl, { sos_id: sos.sos_id, sos_token: sos.sos_token }, [{ data: IMAGES.png, filename: 'a.png', type: 'image/png' }])
  const image = res.body.uploaded_images[0] as { image: string; image_url: string }

  const signed = await get(image.image_url)
  assert.equal(signed.status, 200)
  assert.equal(signed.contentType, 'image/png')
  assert.deepEqual(signed.bytes, IMAGES.png)

  const bare = await get(`${apiUrl}${image.image}`)
  assert.equal(bare.status, 401)
  assert.deepEqual(bare.body, NOT_PROVIDED)
  assert.equal(bare.bytes.includes(IMAGES.png), false)

  const url = new URL(image.image_url)
  const signature = url.searchParams.get('signature')!
  const flipped = `${signature[0] === 'a' ? 'b' : 'a'}${signature.slice(1)}`
  const tampered = await get(`${apiUrl}${image.image}?expires=${url.searchParams.get('expires')}&signature=${flipped}`)
  assert.equal(tampered.status, 401)
  assert.deepEqual(tampered.body, NOT_PROVIDED)
  const longerLife = await get(`${apiUrl}${image.image}?expires=${Number(url.searchParams.get('expires')) + 86_400}&signature=${signature}`)
  assert.equal(longerLife.status, 401, 'the expiry is covered by the signature')

  // The signature of this file does not open another file.
  const second = await upload(apiUrl, { sos_id: sos.sos_id, sos_token: sos.sos_token }, [{ data: IMAGES.gif, filename: 'b.gif' }])
  const otherImage = second.body.uploaded_images[0] as { image: string }
  const reused = await get(`${apiUrl}${otherImage.image}${url.search}`)
  assert.equal(reused.status, 401)

  // Without a signature, credentials that may read the SOS open the file; others do not.
  const staff = await createUser(app, 'dispatcher')
  const asStaff = await get(`${apiUrl}${image.image}`, authed(staff))
  assert.equal(asStaff.status, 200)
  assert.equal(asStaff.contentType, 'image/png')
  assert.deepEqual(asStaff.bytes, IMAGES.png)

  const asVictim = await get(`${apiUrl}${image.image}`, { 'x-sos-token': sos.sos_token })
  assert.equal(asVictim.status, 200)
  assert.deepEqual(asVictim.bytes, IMAGES.png)

  const otherVictim = await get(`${apiUrl}${image.image}`, { 'x-sos-token': other.sos_token })
  assert.equal(otherVictim.status, 403)
  assert.deepEqual(otherVictim.body, FORBIDDEN)

  const citizen = await createUser(app, 'citizen')
  const stranger = await get(`${apiUrl}${image.image}`, authed(citizen))
  assert.equal(stranger.status, 403)
  assert.deepEqual(stranger.body, FORBIDDEN)

  const missing = await get(`${apiUrl}/media/sos_images/${crypto.randomUUID()}.png`, authed(staff))
  assert.equal(missing.status, 404)
})

test('GET /media/…: a correctly signed link stops working once it has expired', async (t) => {
  // A known signing key lets the test sign links itself: one valid, one past its expiry.
  const signingKey = crypto.randomBytes(32).toString('hex')
  const { app, apiUrl } = await buildTestApp(t, { mediaSigningKey: signingKey, mediaUrlTtlSeconds: 10 })
  const sos = await createSos(app)
  const res = await upload(apiUrl, { sos_id: sos.sos_id, sos_token: sos.sos_token }, [{ data: IMAGES.jpg, filename: 'a.jpg' }])
  const image = res.body.uploaded_images[0] as { image: string; image_url: string }
  const relative = image.image.replace(/^\/media\//, '')
  const link = (expires: number) =>
    `${apiUrl}${image.image}?expires=${expires}&signature=${crypto.createHmac('sha256', signingKey).update(`${relative}:${expires}`).digest('hex')}`
  const now = Math.floor(Date.now() / 1000)

  // The server's own link carries the configured lifetime.
  const issuedExpiry = Number(new URL(image.image_url).searchParams.get('expires'))
  assert.ok(issuedExpiry > now && issuedExpiry <= now + 11, 'image_url expires after MEDIA_URL_TTL_SECONDS')

  const valid = await get(link(now + 60))
  assert.equal(valid.status, 200, 'a link signed with the key is accepted while it is valid')
  assert.deepEqual(valid.bytes, IMAGES.jpg)

  const expired = await get(link(now - 60))
  assert.equal(expired.status, 401)
  assert.deepEqual(expired.body, NOT_PROVIDED)
  assert.equal(expired.bytes.includes(IMAGES.jpg), false)
})

test('legacy mode: image_url is the bare media URL and the file is served openly, as the original did', async (t) => {
  const { app, apiUrl } = await buildTestApp(t, { legacyOpenAccess: true })
  const sos = await createSos(app)
  // The original phone app uploads with only the SOS id.
  const res = await upload(apiUrl, { sos_id: sos.sos_id, descriptions: ['evidence'] }, [{ data: IMAGES.png, filename: 'a.png', type: 'image/png' }])
  assert.equal(res.status, 201)
  const image = res.body.uploaded_images[0] as { image: string; image_url: string }
  assert.match(image.image, UUID_FILE)
  assert.equal(image.image_url, `${apiUrl}${image.image}`)

  const open = await get(image.image_url)
  assert.equal(open.status, 200)
  assert.equal(open.contentType, 'image/png')
  assert.deepEqual(open.bytes, IMAGES.png)
})

test('the SOS object\'s images field carries the same image shape, with a working signed link', async (t) => {
  const { app, apiUrl } = await buildTestApp(t)
  const sos = await createSos(app)
  const res = await upload(apiUrl, { sos_id: sos.sos_id, sos_token: sos.sos_token, descriptions: ['the lane'] }, [{ data: IMAGES.webp, filename: 'a.webp' }])
  const uploaded = res.body.uploaded_images[0]

  const staff = await createUser(app, 'dispatcher')
  for (const headers of [authed(staff), { 'x-sos-token': sos.sos_token }]) {
    const read = await get(`${apiUrl}/api/sos/${sos.sos_id}/`, headers)
    assert.equal(read.status, 200)
    assert.equal(read.body.images.length, 1)
    const image = read.body.images[0]
    assert.deepEqual(Object.keys(image).sort(), IMAGE_KEYS)
    assert.deepEqual({ ...image, image_url: undefined }, { ...uploaded, image_url: undefined })
    assert.ok(image.image_url.startsWith(`${apiUrl}${uploaded.image}?`))
    const served = await get(image.image_url)
    assert.equal(served.status, 200)
    assert.equal(served.contentType, 'image/webp')
    assert.deepEqual(served.bytes, IMAGES.webp)
  }
})
