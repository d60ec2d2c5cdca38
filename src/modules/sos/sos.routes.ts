// HTTP routes for SOS requests: the original's paths (with and without trailing slash) plus cancel/acknowledge.
import { Type, type TSchema } from '@sinclair/typebox'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { AppError, errors } from '../../errors.ts'
import { baseUrlOf, linkTo } from '../../lib/base-url.ts'
import { parseId } from '../../lib/fields.ts'
import { TOKEN_OR_SOS_SECURITY, TOKEN_SECURITY, OPTIONAL_TOKEN_SECURITY, withErrors } from '../../lib/schemas.ts'
import * as s from './sos.schemas.ts'
import type { PageMode } from './sos.locations.service.ts'
import { parsePage, type RequestContext, type SosService } from './sos.service.ts'

export interface SosRouteOptions {
  sos: SosService
  publicUrl: string | undefined
  /** LOCATION_BATCH_MAX: sizes the batch route's body limit. */
  locationBatchMax: number
}

/** The batch route's answers: its 400 may carry `rejected` (by index) beside DRF's field messages. */
function withBatchErrors(): Record<number, TSchema> {
  return { ...withErrors({ 201: s.LocationBatchResponse }, [401, 403, 404, 409]), 400: s.LocationBatchError }
}

export async function sosRoutes(app: FastifyInstance, opts: SosRouteOptions) {
  const { sos } = opts

  const ctx = (request: FastifyRequest): RequestContext => ({
    actor: request.actor,
    baseUrl: baseUrlOf(request, opts.publicUrl),
  })
  /** An absolute link to the same list with another offset (DRF's `next`/`previous`). */
  const pageUrl = (request: FastifyRequest) => {
    const base = baseUrlOf(request, opts.publicUrl)
    return (offset: number) => linkTo(request, base, { offset: String(offset) })
  }
  const query = (request: FastifyRequest) => (request.query ?? {}) as Record<string, unknown>
  const idOf = (request: FastifyRequest, notFound: AppError = errors.notFound()): number => {
    const id = parseId((request.params as { id?: string }).id)
    if (id === undefined) throw notFound
    return id
  }

  const createRoute = {
    // Limited by the service (sos.limits.ts), so this path, /api/sos/ and the socket share one budget.
    schema: {
      tags: ['sos'],
      summary: 'Raise an SOS (anonymous allowed). Returns the sos_token for this device.',
      description: 'Send an `Idempotency-Key` header (a fresh UUID v4 per SOS) to make retries safe: a repeat within 24 h answers as the first time, with `Idempotent-Replayed: true`.',
      security: OPTIONAL_TOKEN_SECURITY,
      headers: s.CreateSosHeaders,
      body: s.CreateSosBody,
      response: withErrors({ 201: s.CreateSosResponse }, [400, 401, 422]),
    },
    handler: async (request: FastifyRequest, reply: FastifyReply) => {
      const key = request.headers['idempotency-key']
      const { answer, replayed } = await sos.createOrReplay(request.body, request.actor, request.ip, key === undefined ? undefined : { value: key, field: 'Idempotency-Key' })
      if (replayed) reply.header('idempotent-replayed', 'true')
      return reply.code(201).send(answer)
    },
  }
  app.post('/api/create-sos/', createRoute)
  app.post('/api/sos/', { ...createRoute, schema: { ...createRoute.schema, summary: 'Same as /api/create-sos/ (the original router also created here)' } })

  app.get('/api/sos/', {
    schema: {
      tags: ['sos'],
      summary: 'List SOS, newest first: all for staff, a citizen\'s own for a citizen',
      description: 'A plain array (as the original). With `?limit=` (≤ 1000) and `offset`, a page `{count, next, previous, results}`. Each SOS embeds its newest LOCATIONS_IN_LISTS points; `location_updates_count` is the total.',
      security: TOKEN_SECURITY,
      querystring: s.PageQuery,
      response: withErrors({ 200: Type.Union([Type.Array(Type.Ref(s.Sos)), s.SosPage]) }, [400, 401]),
    },
    handler: async (request) => sos.list(ctx(request), parsePage(query(request)), pageUrl(request)),
  })

  app.get('/api/sos/:id/', {
    schema: {
      tags: ['sos'],
      summary: 'One SOS: staff, its owner, or the holder of its SOS token',
      security: TOKEN_OR_SOS_SECURITY,
      params: s.SosIdParams,
      response: withErrors({ 200: Type.Ref(s.Sos) }, [401, 403, 404]),
    },
    handler: async (request) => sos.get(idOf(request), ctx(request)),
  })

  for (const method of ['PUT', 'PATCH'] as const) {
    app.route({
      method,
      url: '/api/sos/:id/',
      schema: {
        tags: ['sos'],
        summary: `${method === 'PUT' ? 'Replace' : 'Change'} an SOS's fields (admin)`,
        security: TOKEN_SECURITY,
        params: s.SosIdParams,
        body: s.AdminSosBody,
        response: withErrors({ 200: Type.Ref(s.Sos) }),
      },
      handler: async (request) => sos.adminUpdate(idOf(request), request.body, method === 'PATCH', ctx(request)),
    })
  }

  app.delete('/api/sos/:id/', {
    schema: { tags: ['sos'], summary: 'Delete an SOS and its data (admin)', security: TOKEN_SECURITY, params: s.SosIdParams, response: withErrors({ 204: Type.Null() }, [401, 403, 404]) },
    handler: async (request, reply) => {
      await sos.adminDelete(idOf(request), ctx(request))
      return reply.code(204).send()
    },
  })

  app.post('/api/update-location/', {
    schema: {
      tags: ['sos'],
      summary: 'Add a location point to an open SOS (victim device with its SOS token, owner, or staff)',
      security: TOKEN_OR_SOS_SECURITY,
      body: s.UpdateLocationBody,
      response: withErrors({ 201: s.UpdateLocationResponse }, [400, 401, 403, 409]),
    },
    handler: async (request, reply) => reply.code(201).send(await sos.updateLocation(request.body, request.actor)),
  })

  app.post('/api/assign-officer/', {
    schema: {
      tags: ['sos'],
      summary: 'Dispatch a unit to an SOS (dispatcher/admin; an officer only their own unit)',
      security: TOKEN_SECURITY,
      body: s.AssignOfficerBody,
      response: withErrors({ 201: s.AssignOfficerResponse }, [400, 401, 403, 409]),
    },
    handler: async (request, reply) => reply.code(201).send(await sos.assignOfficer(request.body, request.actor)),
  })

  app.post('/api/resolve-sos/:id/', {
    schema: {
      tags: ['sos'],
      summary: 'Mark an SOS resolved (the dispatched unit\'s officers, dispatcher, admin)',
      security: TOKEN_SECURITY,
      description: 'Optional body `{outcome, note}`: outcome is one of assisted, false_alarm, unfounded, transferred, other. No body (as the original clients send) is fine.',
      params: s.SosIdParams,
      body: Type.Optional(s.ResolveBody),
      response: withErrors({ 200: s.SosActionResponse }, [400, 401, 403, 404, 409]),
    },
    handler: async (request) => sos.resolve(idOf(request, new AppError(404, 'not_found', 'SOS not found', { error: 'SOS not found' })), request.body, ctx(request)),
  })

  for (const [step, summary] of [
    ['accept', 'The dispatched unit accepts: "we are on our way" (dispatched → responding; officers of that unit)'],
    ['arrive', 'The dispatched unit is on scene (dispatched or responding → on_scene; officers of that unit)'],
  ] as const) {
    app.post(`/api/sos/:id/${step}/`, {
      schema: { tags: ['sos'], summary, security: TOKEN_SECURITY, params: s.SosIdParams, response: withErrors({ 200: s.SosActionResponse }, [401, 403, 404, 409]) },
      handler: async (request) => (step === 'accept' ? sos.accept(idOf(request), ctx(request)) : sos.arrive(idOf(request), ctx(request))),
    })
  }

  /** An absolute link to the same path with another `after` (and the same limit). */
  const afterLink = (request: FastifyRequest) => {
    const base = baseUrlOf(request, opts.publicUrl)
    return (after: number, limit: number) => linkTo(request, base, { after: String(after), limit: String(limit) })
  }

  app.get('/api/sos/:id/events/', {
    schema: {
      tags: ['events'],
      summary: 'The incident log of one SOS, in seq order (`?after=<seq>&limit=` ≤ 1000): staff, its owner, or its SOS token holder',
      security: TOKEN_OR_SOS_SECURITY,
      params: s.SosIdParams,
      querystring: s.EventsQuery,
      response: withErrors({ 200: s.SosEventPage }, [400, 401, 403, 404]),
    },
    handler: async (request) => sos.log.ofSos(idOf(request), ctx(request), query(request), afterLink(request)),
  })

  app.get('/api/events/', {
    schema: {
      tags: ['events'],
      summary: 'Every event the caller may see, across all SOS, in cursor order (`?after=<cursor>&limit=`): staff all, a citizen her own SOS',
      description: 'A dashboard that was away resumes here from the last `cursor` it saw (on any node, across restarts).',
      security: TOKEN_SECURITY,
      querystring: s.EventsQuery,
      response: withErrors({ 200: s.EventPage }, [400, 401]),
    },
    handler: async (request) => sos.log.feed(ctx(request), query(request), afterLink(request)),
  })

  app.get('/api/audit/', {
    schema: {
      tags: ['events'],
      summary: 'The audit trail (admins): the incident log filtered by actor (user id), kind, sos, since, until',
      security: TOKEN_SECURITY,
      querystring: s.AuditQuery,
      response: withErrors({ 200: s.EventPage }, [400, 401, 403]),
    },
    handler: async (request) => sos.log.audit(ctx(request), query(request), afterLink(request)),
  })

  app.post('/api/sos/:id/cancel/', {
    schema: {
      tags: ['sos'],
      summary: 'Cancel an SOS as a false alarm (victim device with its SOS token, owner, dispatcher, admin)',
      security: TOKEN_OR_SOS_SECURITY,
      params: s.SosIdParams,
      body: Type.Optional(s.CancelBody),
      response: withErrors({ 200: s.SosActionResponse }, [401, 403, 404, 409]),
    },
    handler: async (request) => sos.cancel(idOf(request), request.body, ctx(request)),
  })

  app.post('/api/sos/:id/acknowledge/', {
    schema: {
      tags: ['sos'],
      summary: 'Acknowledge an active SOS (staff)',
      security: TOKEN_SECURITY,
      params: s.SosIdParams,
      response: withErrors({ 200: s.SosActionResponse }, [401, 403, 404, 409]),
    },
    handler: async (request) => sos.acknowledge(idOf(request), ctx(request)),
  })

  app.get('/api/get-all-sos/', {
    schema: {
      tags: ['sos'],
      summary: 'Every SOS with a count (staff); `?limit=&offset=` pages `data`',
      security: TOKEN_SECURITY,
      querystring: s.PageQuery,
      response: withErrors({ 200: s.GetAllResponse }, [400, 401, 403]),
    },
    handler: async (request) => sos.getAll(ctx(request), parsePage(query(request)), pageUrl(request)),
  })

  app.get('/api/sos/:id/locations/', {
    schema: {
      tags: ['sos'],
      summary: 'The full location history of an SOS in the phone\'s time order, paged (`?after=<last id>&limit=` ≤ 1000; `?received_after=<id>` for storage order)',
      security: TOKEN_OR_SOS_SECURITY,
      params: s.SosIdParams,
      querystring: s.LocationsQuery,
      response: withErrors({ 200: s.LocationsPage }, [400, 401, 403, 404]),
    },
    handler: async (request) => {
      const nextUrl = (mode: PageMode, after: number, limit: number) => `${ctx(request).baseUrl}/api/sos/${idOf(request)}/locations/?${mode}=${after}&limit=${limit}`
      return sos.locations(idOf(request), ctx(request), query(request), nextUrl)
    },
  })

  app.post('/api/sos/:id/locations/', {
    // A full batch of fixes with long ISO times and accuracy is ~150 bytes each; never below the app's 256 KiB.
    bodyLimit: Math.max(256 * 1024, opts.locationBatchMax * 300),
    schema: {
      tags: ['sos'],
      summary: 'Upload an offline phone\'s buffered fixes (victim device with its SOS token, owner, or staff)',
      description: 'A JSON array of `{latitude, longitude, accuracy?, recorded_at}` or `{locations: [...], sos_token?}`, at most LOCATION_BATCH_MAX (500). '
        + 'Each item is judged alone: a repeated `recorded_at` is a duplicate (not stored again), a time more than LOCATION_CLOCK_SKEW_SECONDS ahead is refused, '
        + 'and the answer lists refused items by index. 400 only when no item was valid; 409 when the SOS is closed. One transaction for the whole batch. '
        + 'Only points newer than every stored one are pushed live.',
      security: TOKEN_OR_SOS_SECURITY,
      params: s.SosIdParams,
      body: s.LocationBatchBody,
      response: withBatchErrors(),
    },
    handler: async (request, reply) => reply.code(201).send(await sos.addLocations(idOf(request), request.body, ctx(request))),
  })
}
