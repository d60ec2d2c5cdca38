// The REST access matrix (CONTRACT §2 "who" column, §4): every SOS endpoint × every kind of caller,
// in secure mode (the default) and in legacy open-access mode, with the contract's exact bodies.
import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { buildTestApp } from '../../helpers/app.ts'
import { auth, createSos, createUser, IMAGES, multipart, type CreatedSos, type TestUser } from '../../helpers/factories.ts'

const NOT_PROVIDED = { detail: 'Authentication credentials were not provided.' }
const INVALID_TOKEN = { detail: 'Invalid token.' }
const FORBIDDEN = { detail: 'You do not have permission to perform this action.' }

const UNIT = 'UNIT_A'
const OTHER_UNIT = 'UNIT_B'

/** Everyone who may knock on an endpoint. */
const ACTORS = [
  'anonymous',
  'invalid API token',
  'citizen owner',
  'citizen non-owner',
  'SOS token (X-SOS-Token)',
  'SOS token (body sos_token)',
  'other SOS token (X-SOS-Token)',
  'other SOS token (body sos_token)',
  'officer of dispatched unit',
  'officer of another unit',
  'dispatcher',
  'admin',
] as const
type Actor = (typeof ACTORS)[number]

/** A GET/DELETE has no body, so a body `sos_token` cannot be presented. */
const NO_BODY = 'no body'
type Expected = number | typeof NO_BODY
type Matrix = Record<Actor, Expected>

interface World {
  app: FastifyInstance
  legacy: boolean
  owner: TestUser
  citizen: TestUser
  officerUnit: TestUser
  officerOther: TestUser
  dispatcher: TestUser
  admin: TestUser
  /** Another SOS (anonymous), whose token must never open the target. */
  other: CreatedSos
}

interface Target extends CreatedSos {
  /** Media path and signed (secure) / plain (legacy) link of the target's one image, when it has one. */
  image?: { path: string; url: string }
}

interface Credentials {
  headers: Record<string, string>
  bodyToken?: string
}

const token = (user: TestUser) => ({ authorization: `Token ${user.token}` })

function credentials(actor: Actor, w: World, target: Target): Credentials {
  switch (actor) {
    case 'anonymous':
      return { headers: {} }
    case 'invalid API token':
      return { headers: { authorization: `Token ${'0'.repeat(40)}` } }
    case 'citizen owner':
      return { headers: token(w.owner) }
    case 'citizen non-owner':
      return { headers: token(w.citizen) }
    case 'SOS token (X-SOS-Token)':
      return { headers: { 'x-sos-token': target.sos_token } }
    case 'SOS token (body sos_token)':
      return { headers: {}, bodyToken: target.sos_token }
    case 'other SOS token (X-SOS-Token)':
      return { headers: { 'x-sos-token': w.other.sos_token } }
    case 'other SOS token (body sos_token)':
      return { headers: {}, bodyToken: w.other.sos_token }
    case 'officer of dispatched unit':
      return { headers: token(w.officerUnit) }
    case 'officer of another unit':
      return { headers: token(w.officerOther) }
    case 'dispatcher':
      return { headers: token(w.dispatcher) }
    case 'admin':
      return { headers: token(w.admin) }
  }
}

/** A JSON body, with the actor's body token when it presents one. */
const json = (body: Record<string, unknown>, creds: Credentials) => (creds.bodyToken ? { ...body, sos_token: creds.bodyToken } : body)

async function buildWorld(t: TestContext, legacy: boolean): Promise<World> {
  const { app } = await buildTestApp(t, legacy ? { legacyOpenAccess: true } : {})
  return {
    app,
    legacy,
    owner: await createUser(app, 'citizen'),
    citizen: await createUser(app, 'citizen'),
    officerUnit: await createUser(app, 'officer', UNIT),
    officerOther: await createUser(app, 'officer', OTHER_UNIT),
    dispatcher: await createUser(app, 'dispatcher'),
    admin: await createUser(app, 'admin'),
    other: await createSos(app, { name: 'Someone else' }),
  }
}

/** An SOS raised by the owner's account; optionally dispatched to UNIT_A and/or carrying one image. */
async function newTarget(w: World, opts: { dispatched?: boolean; image?: boolean } = {}): Promise<Target> {
  const sos: Target = await createSos(w.app, { name: 'Asha' }, w.owner)
  if (opts.dispatched) {
    const res = await w.app.inject({
      method: 'POST',
      url: '/api/assign-officer/',
      headers: auth(w.admin),
      payload: { sos_request: sos.sos_id, officer_name: 'SI Meera', unit_number: UNIT },
    })
    assert.equal(res.statusCode, 201, res.body)
  }
  if (opts.image) {
    const form = multipart({ sos_id: String(sos.sos_id) }, [{ filename: 'scene.png', data: IMAGES.png }])
    const res = await w.app.inject({
      method: 'POST',
      url: '/api/upload-sos-images/',
      headers: { ...form.headers, 'x-sos-token': sos.sos_token },
      payload: form.payload,
    })
    assert.equal(res.statusCode, 201, res.body)
    const image = res.json().uploaded_images[0]
    sos.image = { path: image.image, url: image.image_url }
  }
  return sos
}

/** What an admin sees of an SOS (signed links vary by second, so they are left out). */
async function snapshot(w: World, id: number): Promise<unknown> {
  const res = await w.app.inject({ method: 'GET', url: `/api/sos/${id}/`, headers: auth(w.admin) })
  if (res.statusCode === 404) return 'gone'
  assert.equal(res.statusCode, 200, res.body)
  const sos = res.json()
  return { ...sos, images: sos.images.map((image: { image_url?: string }) => ({ ...image, image_url: undefined })) }
}

const ids = (list: { id: number }[]) => list.map((sos) => sos.id)

interface Endpoint {
  name: string
  /** 'fresh': the request changes the SOS for good (close, delete…), so each actor gets a new one. */
  target: 'shared' | 'fresh'
  dispatched?: boolean
  image?: boolean
  request(w: World, target: Target, creds: Credentials): InjectOptions
  /** What the caller checks in a successful answer. */
  success(res: LightMyRequestResponse, w: World, target: Target, actor: Actor): Promise<void> | void
  secure: Matrix
  legacy: Matrix
}

/** Citizens (and token holders) of §4's staff-only endpoints: 401 without an account, 403 with a citizen's. */
const STAFF_ONLY: Matrix = {
  anonymous: 401,
  'invalid API token': 401,
  'citizen owner': 403,
  'citizen non-owner': 403,
  'SOS token (X-SOS-Token)': 401,
  'SOS token (body sos_token)': 401,
  'other SOS token (X-SOS-Token)': 401,
  'other SOS token (body sos_token)': 401,
  'officer of dispatched unit': 200,
  'officer of another unit': 200,
  dispatcher: 200,
  admin: 200,
}

/** Legacy: "any authenticated user may list/assign/resolve"; an SOS token is no account. */
const ANY_ACCOUNT: Matrix = {
  ...STAFF_ONLY,
  'citizen owner': 200,
  'citizen non-owner': 200,
}

/** §2 reads of one SOS: staff, the owner, or the holder of that SOS's token. */
const SOS_READERS: Matrix = {
  anonymous: 401,
  'invalid API token': 401,
  'citizen owner': 200,
  'citizen non-owner': 403,
  'SOS token (X-SOS-Token)': 200,
  'SOS token (body sos_token)': NO_BODY,
  'other SOS token (X-SOS-Token)': 403,
  'other SOS token (body sos_token)': NO_BODY,
  'officer of dispatched unit': 200,
  'officer of another unit': 200,
  dispatcher: 200,
  admin: 200,
}

/** Legacy served images and media to anyone. */
const ANYONE_NO_BODY: Matrix = {
  ...SOS_READERS,
  anonymous: 200,
  'citizen non-owner': 200,
  'other SOS token (X-SOS-Token)': 200,
}

/** Location updates and uploads: the token holder, the owner, or staff. */
const CONTRIBUTORS: Matrix = {
  anonymous: 401,
  'invalid API token': 401,
  'citizen owner': 201,
  'citizen non-owner': 403,
  'SOS token (X-SOS-Token)': 201,
  'SOS token (body sos_token)': 201,
  'other SOS token (X-SOS-Token)': 403,
  'other SOS token (body sos_token)': 403,
  'officer of dispatched unit': 201,
  'officer of another unit': 201,
  dispatcher: 201,
  admin: 201,
}

/** Legacy: "anonymous location updates by sos_request id" (and uploads alike); a bad API token is still 401. */
const ANYONE_CONTRIBUTES: Matrix = Object.fromEntries(ACTORS.map((actor) => [actor, actor === 'invalid API token' ? 401 : 201])) as Matrix

/** PUT/PATCH/DELETE: admin only (legacy: the original's ModelViewSet let any account write). */
const ADMIN_ONLY = (ok: number): Matrix => ({
  ...STAFF_ONLY,
  'officer of dispatched unit': 403,
  'officer of another unit': 403,
  dispatcher: 403,
  admin: ok,
})
const ANY_ACCOUNT_WRITES = (ok: number, body: boolean): Matrix => ({
  ...STAFF_ONLY,
  'SOS token (body sos_token)': body ? 401 : NO_BODY,
  'other SOS token (body sos_token)': body ? 401 : NO_BODY,
  'citizen owner': ok,
  'citizen non-owner': ok,
  'officer of dispatched unit': ok,
  'officer of another unit': ok,
  dispatcher: ok,
  admin: ok,
})

const CANCELLERS: Matrix = {
  anonymous: 401,
  'invalid API token': 401,
  'citizen owner': 200,
  'citizen non-owner': 403,
  'SOS token (X-SOS-Token)': 200,
  'SOS token (body sos_token)': 200,
  'other SOS token (X-SOS-Token)': 403,
  'other SOS token (body sos_token)': 403,
  'officer of dispatched unit': 403,
  'officer of another unit': 403,
  dispatcher: 200,
  admin: 200,
}

function assertSosShape(sos: Record<string, unknown>, target: Target) {
  assert.equal(sos.id, target.sos_id)
  assert.equal(sos.room_id, target.room_id)
  for (const key of ['user', 'name', 'sos_type', 'status_flag', 'initial_latitude', 'initial_longitude', 'unit_number_dispatched', 'acknowledged_flag', 'created_at', 'updated_at', 'location_updates', 'officer_assignments', 'images', 'status']) {
    assert.ok(key in sos, `SOS has "${key}"`)
  }
  assert.equal('sos_token' in sos, false, 'the token is never read back')
  assert.equal('sos_token_hash' in sos, false)
}

const ENDPOINTS: Endpoint[] = [
  {
    name: 'GET /api/sos/',
    target: 'shared',
    request: (_w, _target, creds) => ({ method: 'GET', url: '/api/sos/', headers: creds.headers }),
    success: (res, w, target, actor) => {
      const list = ids(res.json())
      const seesAll = !actor.startsWith('citizen') || w.legacy
      if (seesAll) {
        assert.ok(list.includes(target.sos_id) && list.includes(w.other.sos_id), 'staff see every SOS')
      } else if (actor === 'citizen owner') {
        assert.deepEqual(list, [target.sos_id], 'a citizen sees only their own')
      } else {
        assert.deepEqual(list, [], 'a citizen sees nobody else’s SOS')
      }
    },
    secure: {
      ...STAFF_ONLY,
      'citizen owner': 200,
      'citizen non-owner': 200,
      'SOS token (body sos_token)': NO_BODY,
      'other SOS token (body sos_token)': NO_BODY,
    },
    legacy: { ...ANY_ACCOUNT, 'SOS token (body sos_token)': NO_BODY, 'other SOS token (body sos_token)': NO_BODY },
  },
  {
    name: 'GET /api/sos/{id}/',
    target: 'shared',
    request: (_w, target, creds) => ({ method: 'GET', url: `/api/sos/${target.sos_id}/`, headers: creds.headers }),
    success: (res, _w, target) => assertSosShape(res.json(), target),
    secure: SOS_READERS,
    legacy: { ...SOS_READERS, 'citizen non-owner': 200 },
  },
  {
    name: 'PUT /api/sos/{id}/',
    target: 'shared',
    request: (_w, target, creds) => ({
      method: 'PUT',
      url: `/api/sos/${target.sos_id}/`,
      headers: creds.headers,
      payload: json({ name: 'Asha (corrected)', sos_type: 1, initial_latitude: 13, initial_longitude: 77 }, creds),
    }),
    success: (res, _w, target) => {
      assertSosShape(res.json(), target)
      assert.equal(res.json().name, 'Asha (corrected)')
      assert.equal(res.json().sos_type, 1)
    },
    secure: ADMIN_ONLY(200),
    legacy: ANY_ACCOUNT_WRITES(200, true),
  },
  {
    name: 'PATCH /api/sos/{id}/',
    target: 'shared',
    request: (_w, target, creds) => ({ method: 'PATCH', url: `/api/sos/${target.sos_id}/`, headers: creds.headers, payload: json({ name: 'Asha K' }, creds) }),
    success: (res, _w, target) => {
      assertSosShape(res.json(), target)
      assert.equal(res.json().name, 'Asha K')
    },
    secure: ADMIN_ONLY(200),
    legacy: ANY_ACCOUNT_WRITES(200, true),
  },
  {
    name: 'DELETE /api/sos/{id}/',
    target: 'fresh',
    request: (_w, target, creds) => ({ method: 'DELETE', url: `/api/sos/${target.sos_id}/`, headers: creds.headers }),
    success: async (res, w, target) => {
      assert.equal(res.body, '')
      assert.equal(await snapshot(w, target.sos_id), 'gone')
    },
    secure: { ...ADMIN_ONLY(204), 'SOS token (body sos_token)': NO_BODY, 'other SOS token (body sos_token)': NO_BODY },
    legacy: ANY_ACCOUNT_WRITES(204, false),
  },
  {
    name: 'POST /api/update-location/',
    target: 'shared',
    dispatched: true,
    request: (_w, target, creds) => ({
      method: 'POST',
      url: '/api/update-location/',
      headers: creds.headers,
      payload: json({ sos_request: target.sos_id, latitude: 12.98, longitude: 77.6 }, creds),
    }),
    success: (res, _w, target) => {
      assert.equal(res.json().status, 'Location updated successfully')
      assert.equal(res.json().location.sos_request, target.sos_id)
    },
    secure: CONTRIBUTORS,
    legacy: ANYONE_CONTRIBUTES,
  },
  {
    name: 'POST /api/assign-officer/ (unit_number: the officer’s own unit for "officer of dispatched unit")',
    target: 'shared',
    request: (_w, target, creds) => ({
      method: 'POST',
      url: '/api/assign-officer/',
      headers: creds.headers,
      payload: json({ sos_request: target.sos_id, officer_name: 'SI Meera', unit_number: UNIT }, creds),
    }),
    success: async (res, w, target) => {
      assert.equal(res.json().status, 'Officer assigned successfully')
      assert.equal(res.json().officer.unit_number, UNIT)
      const sos = (await snapshot(w, target.sos_id)) as Record<string, unknown>
      assert.equal(sos.unit_number_dispatched, UNIT)
      assert.equal(sos.acknowledged_flag, 1)
    },
    secure: {
      ...STAFF_ONLY,
      'officer of dispatched unit': 201,
      'officer of another unit': 403,
      dispatcher: 201,
      admin: 201,
    },
    legacy: Object.fromEntries(Object.entries(ANY_ACCOUNT).map(([actor, status]) => [actor, status === 200 ? 201 : status])) as Matrix,
  },
  {
    name: 'POST /api/resolve-sos/{id}/',
    target: 'fresh',
    dispatched: true,
    request: (_w, target, creds) => ({ method: 'POST', url: `/api/resolve-sos/${target.sos_id}/`, headers: creds.headers, payload: json({}, creds) }),
    success: (res, _w, target) => {
      assert.equal(res.json().status, 'SOS marked as resolved successfully')
      assertSosShape(res.json().sos, target)
      assert.equal(res.json().sos.status_flag, 1)
      assert.equal(res.json().sos.status, 'resolved')
    },
    secure: { ...STAFF_ONLY, 'officer of another unit': 403 },
    legacy: ANY_ACCOUNT,
  },
  {
    name: 'GET /api/get-all-sos/',
    target: 'shared',
    request: (_w, _target, creds) => ({ method: 'GET', url: '/api/get-all-sos/', headers: creds.headers }),
    success: (res, w, target) => {
      const body = res.json()
      assert.equal(body.status, 'success')
      assert.equal(body.message, 'SOS entries fetched successfully')
      assert.equal(body.count, body.data.length)
      assert.ok(ids(body.data).includes(target.sos_id) && ids(body.data).includes(w.other.sos_id))
    },
    secure: { ...STAFF_ONLY, 'SOS token (body sos_token)': NO_BODY, 'other SOS token (body sos_token)': NO_BODY },
    legacy: { ...ANY_ACCOUNT, 'SOS token (body sos_token)': NO_BODY, 'other SOS token (body sos_token)': NO_BODY },
  },
  {
    name: 'POST /api/upload-sos-images/',
    target: 'shared',
    request: (_w, target, creds) => {
      const form = multipart(
        { sos_id: String(target.sos_id), descriptions: 'the street', ...(creds.bodyToken && { sos_token: creds.bodyToken }) },
        [{ filename: 'scene.png', data: IMAGES.png }],
      )
      return { method: 'POST', url: '/api/upload-sos-images/', headers: { ...creds.headers, ...form.headers }, payload: form.payload }
    },
    success: (res, w, target) => {
      const body = res.json()
      assert.equal(body.status, 'success')
      assert.equal(body.message, 'Successfully uploaded 1 image(s)')
      assert.equal(body.uploaded_images[0].sos_request, target.sos_id)
      assert.equal(body.uploaded_images[0].description, 'the street')
      assert.equal(body.uploaded_images[0].image_url.includes('signature='), !w.legacy)
    },
    secure: CONTRIBUTORS,
    legacy: ANYONE_CONTRIBUTES,
  },
  {
    name: 'GET /api/get-sos-images/{id}/',
    target: 'shared',
    image: true,
    request: (_w, target, creds) => ({ method: 'GET', url: `/api/get-sos-images/${target.sos_id}/`, headers: creds.headers }),
    success: (res, w, target) => {
      const body = res.json()
      assert.equal(body.status, 'success')
      assert.equal(body.message, 'Images fetched successfully')
      assert.equal(body.sos_id, target.sos_id)
      assert.equal(body.count, 1)
      assert.equal(body.images[0].image, target.image?.path)
      // The signed link is handed only to those allowed to see the SOS (legacy: plain, as the original).
      if (w.legacy) assert.equal(new URL(body.images[0].image_url).search, '')
      else assert.match(body.images[0].image_url, /\?expires=\d+&signature=[0-9a-f]{64}$/)
    },
    secure: SOS_READERS,
    legacy: ANYONE_NO_BODY,
  },
  {
    name: 'GET /media/sos_images/{file} (bare path, no signature)',
    target: 'shared',
    image: true,
    request: (_w, target, creds) => ({ method: 'GET', url: target.image!.path, headers: creds.headers }),
    success: (res) => {
      assert.equal(res.headers['content-type'], 'image/png')
      assert.deepEqual(res.rawPayload, IMAGES.png)
    },
    secure: SOS_READERS,
    legacy: ANYONE_NO_BODY,
  },
  {
    name: 'GET image_url (the signed link from get-sos-images)',
    target: 'shared',
    image: true,
    request: (_w, target, creds) => {
      const url = new URL(target.image!.url)
      return { method: 'GET', url: url.pathname + url.search, headers: creds.headers }
    },
    success: (res) => {
      assert.equal(res.headers['content-type'], 'image/png')
      assert.deepEqual(res.rawPayload, IMAGES.png)
    },
    // A signed link works for whoever holds it (an <img src> carries no credentials); a bad API token is still refused.
    secure: ANYONE_NO_BODY,
    legacy: ANYONE_NO_BODY,
  },
  {
    name: 'POST /api/sos/{id}/cancel/',
    target: 'fresh',
    request: (_w, target, creds) => ({ method: 'POST', url: `/api/sos/${target.sos_id}/cancel/`, headers: creds.headers, payload: json({}, creds) }),
    success: (res, _w, target) => {
      assert.equal(res.json().status, 'SOS cancelled successfully')
      assertSosShape(res.json().sos, target)
      assert.equal(res.json().sos.status, 'cancelled')
      assert.equal(res.json().sos.status_flag, 1)
    },
    secure: CANCELLERS,
    // Cancel is beyond the seed: legacy mode does not open it.
    legacy: CANCELLERS,
  },
  {
    name: 'POST /api/sos/{id}/acknowledge/',
    target: 'fresh',
    request: (_w, target, creds) => ({ method: 'POST', url: `/api/sos/${target.sos_id}/acknowledge/`, headers: creds.headers, payload: json({}, creds) }),
    success: (res, _w, target) => {
      assert.equal(res.json().status, 'SOS acknowledged successfully')
      assertSosShape(res.json().sos, target)
      assert.equal(res.json().sos.status, 'acknowledged')
      assert.equal(res.json().sos.acknowledged_flag, 1)
    },
    secure: STAFF_ONLY,
    legacy: ANY_ACCOUNT,
  },
]

for (const mode of ['secure', 'legacy'] as const) {
  for (const endpoint of ENDPOINTS) {
    test(`${mode} mode: ${endpoint.name}`, async (t) => {
      const w = await buildWorld(t, mode === 'legacy')
      const matrix = endpoint[mode]
      assert.deepEqual(Object.keys(matrix).sort(), [...ACTORS].sort(), 'the matrix names every actor')
      const shared = endpoint.target === 'shared' ? await newTarget(w, endpoint) : undefined

      for (const actor of ACTORS) {
        const expected = matrix[actor]
        if (expected === NO_BODY) continue
        await t.test(`${actor} → ${expected}`, async () => {
          const target = shared ?? (await newTarget(w, endpoint))
          const creds = credentials(actor, w, target)
          const before = await snapshot(w, target.sos_id)
          const res = await w.app.inject(endpoint.request(w, target, creds))
          assert.equal(res.statusCode, expected, `${actor}: ${res.statusCode} ${res.body}`)
          if (expected === 401) {
            assert.deepEqual(res.json(), actor === 'invalid API token' ? INVALID_TOKEN : NOT_PROVIDED)
          } else if (expected === 403) {
            assert.deepEqual(res.json(), FORBIDDEN)
          } else {
            await endpoint.success(res, w, target, actor)
          }
          if (expected >= 400) assert.deepEqual(await snapshot(w, target.sos_id), before, 'a refused request changes nothing')
        })
      }
    })
  }
}

test('Bearer is accepted like Token, and a bad Bearer key is "Invalid token."', async (t) => {
  const w = await buildWorld(t, false)
  const ok = await w.app.inject({ method: 'GET', url: '/api/get-all-sos/', headers: { authorization: `Bearer ${w.dispatcher.token}` } })
  assert.equal(ok.statusCode, 200)
  const bad = await w.app.inject({ method: 'GET', url: '/api/get-all-sos/', headers: { authorization: 'Bearer not-a-real-key' } })
  assert.equal(bad.statusCode, 401)
  assert.deepEqual(bad.json(), INVALID_TOKEN)
})

test('a signed image link opens only its own file, and not once tampered with', async (t) => {
  const w = await buildWorld(t, false)
  const first = await newTarget(w, { image: true })
  const second = await newTarget(w, { image: true })
  const firstUrl = new URL(first.image!.url)

  const signed = await w.app.inject({ method: 'GET', url: firstUrl.pathname + firstUrl.search })
  assert.equal(signed.statusCode, 200)
  assert.deepEqual(signed.rawPayload, IMAGES.png)

  // The first file's signature on the second file's path.
  const moved = await w.app.inject({ method: 'GET', url: second.image!.path + firstUrl.search })
  assert.equal(moved.statusCode, 401)
  assert.deepEqual(moved.json(), NOT_PROVIDED)

  const signature = firstUrl.searchParams.get('signature')!
  const flipped = `${signature.slice(0, -1)}${signature.endsWith('0') ? '1' : '0'}`
  const tampered = await w.app.inject({ method: 'GET', url: `${firstUrl.pathname}?expires=${firstUrl.searchParams.get('expires')}&signature=${flipped}` })
  assert.equal(tampered.statusCode, 401)

  const stretched = await w.app.inject({ method: 'GET', url: `${firstUrl.pathname}?expires=${Number(firstUrl.searchParams.get('expires')) + 3600}&signature=${signature}` })
  assert.equal(stretched.statusCode, 401, 'the expiry is part of the signature')

  const expired = await w.app.inject({ method: 'GET', url: `${firstUrl.pathname}?expires=1000000000&signature=${signature}` })
  assert.equal(expired.statusCode, 401)

  // A different SOS's token opens neither the bare path nor a forged link.
  const otherToken = await w.app.inject({ method: 'GET', url: first.image!.path, headers: { 'x-sos-token': second.sos_token } })
  assert.equal(otherToken.statusCode, 403)
  assert.deepEqual(otherToken.json(), FORBIDDEN)
})

test('an SOS token never unlocks a second SOS, whichever way it is presented', async (t) => {
  const w = await buildWorld(t, false)
  const mine = await newTarget(w)
  const theirs = await newTarget(w)
  const attempts: InjectOptions[] = [
    { method: 'GET', url: `/api/sos/${theirs.sos_id}/`, headers: { 'x-sos-token': mine.sos_token } },
    { method: 'POST', url: '/api/update-location/', payload: { sos_request: theirs.sos_id, latitude: 1, longitude: 1, sos_token: mine.sos_token } },
    { method: 'POST', url: `/api/sos/${theirs.sos_id}/cancel/`, payload: { sos_token: mine.sos_token } },
    { method: 'GET', url: `/api/get-sos-images/${theirs.sos_id}/`, headers: { 'x-sos-token': mine.sos_token } },
  ]
  for (const attempt of attempts) {
    const res = await w.app.inject(attempt)
    assert.equal(res.statusCode, 403, `${attempt.method} ${attempt.url}`)
    assert.deepEqual(res.json(), FORBIDDEN)
  }
  const untouched = (await snapshot(w, theirs.sos_id)) as Record<string, unknown>
  assert.equal(untouched.status, 'active')
  assert.deepEqual(untouched.location_updates, [])
})
