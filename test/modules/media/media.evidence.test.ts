// Evidence integrity (issue 10): every stored image carries the SHA-256 of its bytes, a phone may send the hash
// it computed (a mismatch refuses that file), and each upload is an event in the incident log (who, when, which hash).
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { test } from 'node:test'
import { buildTestApp } from '../../helpers/app.ts'
import { auth, createSos, createUser, IMAGES, multipart } from '../../helpers/factories.ts'
import { collect, connect, emitAck, settle } from '../../helpers/sockets.ts'

const sha256 = (bytes: Buffer) => crypto.createHash('sha256').update(bytes).digest('hex')

test('uploads carry their SHA-256; a phone-sent hash that does not match refuses that file; each image is a logged event', async (t) => {
  const { app, socketUrl, config } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  const sos = await createSos(app)
  const control = await connect(t, socketUrl, dispatcher.token)
  assert.equal((await emitAck(control, 'join_sos_channel', {})).ok, true)
  const heard = collect<{ sos_id: number; kind: string; seq: number }>(control, 'sos_updated')

  // The i-th sha256 belongs to the i-th file: the PNG's is right, the JPEG's is the hash of other bytes.
  const form = multipart(
    { sos_id: String(sos.sos_id), sha256: [sha256(IMAGES.png), sha256(Buffer.from('not these bytes')), ''] },
    [
      { filename: 'street.png', data: IMAGES.png },
      { filename: 'tampered.jpg', data: IMAGES.jpg },
      { filename: 'nohash.gif', data: IMAGES.gif },
    ],
  )
  const res = await app.inject({ method: 'POST', url: '/api/upload-sos-images/', headers: { ...form.headers, 'x-sos-token': sos.sos_token }, payload: form.payload })
  assert.equal(res.statusCode, 201, res.body)
  const body = res.json()
  assert.deepEqual(body.uploaded_images.map((i: { sha256: string }) => i.sha256).sort(), [sha256(IMAGES.png), sha256(IMAGES.gif)].sort())
  assert.deepEqual(body.partial_errors, [{ file: 'tampered.jpg', error: 'SHA-256 mismatch: the bytes received are not the ones the phone hashed.' }])

  // What is on disk is what the hash says, and the file is never replaced.
  for (const image of body.uploaded_images as Array<{ image: string; sha256: string }>) {
    const stored = await fs.readFile(path.join(config.mediaRoot, image.image.replace(/^\/media\//, '')))
    assert.equal(sha256(stored), image.sha256)
  }
  // Every read shows the hashes.
  const listed = (await app.inject({ method: 'GET', url: `/api/get-sos-images/${sos.sos_id}/`, headers: auth(dispatcher) })).json()
  assert.deepEqual(listed.images.map((i: { sha256: string }) => i.sha256).sort(), [sha256(IMAGES.png), sha256(IMAGES.gif)].sort())
  const read = (await app.inject({ method: 'GET', url: `/api/sos/${sos.sos_id}/`, headers: auth(dispatcher) })).json()
  assert.equal(read.images.length, 2)
  assert.ok(read.images.every((i: { sha256: string }) => /^[0-9a-f]{64}$/.test(i.sha256)))

  // Chain of custody: one image_added event per stored image, by the victim's device, with its hash.
  const log = (await app.inject({ method: 'GET', url: `/api/sos/${sos.sos_id}/events/`, headers: auth(dispatcher) })).json().results as Array<{ kind: string; by: { kind: string }; data: { sha256: string; image_id: number; size_bytes: number } }>
  const added = log.filter((e) => e.kind === 'image_added')
  assert.equal(added.length, 2)
  assert.deepEqual(added.map((e) => e.by.kind), ['sos_token', 'sos_token'])
  assert.deepEqual(added.map((e) => e.data.sha256).sort(), [sha256(IMAGES.png), sha256(IMAGES.gif)].sort())
  assert.deepEqual(added.map((e) => e.data.image_id).sort(), body.uploaded_images.map((i: { id: number }) => i.id).sort())
  for (let i = 0; i < 50 && !heard.some((e) => e.kind === 'image_added'); i++) await settle(20)
  assert.ok(heard.some((e) => e.sos_id === sos.sos_id && e.kind === 'image_added'), 'the control room hears it live')
})

test('a malformed sha256 refuses only its file; a lone mismatching file is a 400 and stores nothing', async (t) => {
  const { app } = await buildTestApp(t)
  const sos = await createSos(app)
  const upload = async (fields: Record<string, string | string[]>, files: Array<{ filename: string; data: Buffer }>) => {
    const form = multipart({ sos_id: String(sos.sos_id), ...fields }, files)
    return app.inject({ method: 'POST', url: '/api/upload-sos-images/', headers: { ...form.headers, 'x-sos-token': sos.sos_token }, payload: form.payload })
  }
  const mixed = await upload({ sha256: ['xyz', sha256(IMAGES.png).toUpperCase()] }, [{ filename: 'a.png', data: IMAGES.png }, { filename: 'b.png', data: IMAGES.png }])
  assert.equal(mixed.statusCode, 201, mixed.body)
  assert.deepEqual(mixed.json().partial_errors, [{ file: 'a.png', error: 'sha256 must be 64 hexadecimal digits.' }])
  assert.equal(mixed.json().uploaded_images.length, 1, 'upper-case hex is the same hash')

  const before = await app.db.selectFrom('sos_images').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()
  const alone = await upload({ sha256: sha256(IMAGES.gif) }, [{ filename: 'c.png', data: IMAGES.png }])
  assert.equal(alone.statusCode, 400)
  assert.equal(alone.json().message, 'No valid images were uploaded')
  const after = await app.db.selectFrom('sos_images').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()
  assert.equal(Number(after.n), Number(before.n))
  const events = await app.db.selectFrom('sos_events').select('kind').where('sos_request_id', '=', sos.sos_id).execute()
  assert.deepEqual(events.map((e) => e.kind), ['created', 'image_added'], 'only the stored image was logged')
})
