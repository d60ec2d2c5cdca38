// HTTP routes for units: the list with who is free, nearest units for an SOS, officers' position reports, history.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { errors } from '../../errors.ts'
import { asObject, parseId, UNIT_NUMBER_RE } from '../../lib/fields.ts'
import { TOKEN_SECURITY, withErrors } from '../../lib/schemas.ts'
import { SosIdParams } from '../sos/sos.schemas.ts'
import { requireReporter } from './units.policy.ts'
import * as s from './units.schemas.ts'
import type { UnitsService } from './units.service.ts'

export interface UnitsRouteOptions {
  units: UnitsService
  legacy: boolean
}

export async function unitsRoutes(app: FastifyInstance, opts: UnitsRouteOptions) {
  const { units, legacy } = opts
  const query = (request: FastifyRequest) => (request.query ?? {}) as Record<string, unknown>
  const unitOf = (request: FastifyRequest) => (request.params as { unit_number: string }).unit_number

  app.get('/api/units/', {
    schema: {
      tags: ['units'],
      summary: 'Every known unit: its officers, last position and its age, and whether it is free or on which open SOS (staff)',
      description: 'Known units: those of officer accounts, with a stored position, or ever dispatched to an SOS. A unit is busy while an open SOS is dispatched to it.',
      security: TOKEN_SECURITY,
      response: withErrors({ 200: s.UnitList }, [401, 403]),
    },
    handler: async (request) => units.list(request.actor.user),
  })

  app.get('/api/sos/:id/nearest-units/', {
    schema: {
      tags: ['units'],
      summary: 'Free units nearest an SOS, with distance_m (staff; `?limit=` ≤ 50, default 5; `?include_busy=true`)',
      description:
        'Units whose last position is fresher than UNIT_POSITION_MAX_AGE_SECONDS, by great-circle (haversine) distance from the SOS\'s newest point ' +
        '(else its initial coordinates). Stale units (and units without a position) are never listed; busy units only with include_busy=true.',
      security: TOKEN_SECURITY,
      params: SosIdParams,
      querystring: s.NearestQuery,
      response: withErrors({ 200: s.NearestResponse }, [400, 401, 403, 404]),
    },
    handler: async (request) => units.nearest(parseId((request.params as { id?: string }).id), request.actor.user, query(request)),
  })

  app.post('/api/units/:unit_number/location/', {
    schema: {
      tags: ['units'],
      summary: 'Report a unit\'s position from an officer\'s phone: the same effect as the socket officer_location_update (officers of that unit)',
      description:
        'Stores the unit\'s last known position (and a history row, in the same transaction) and broadcasts `unit_loc` to officer_tracking_channel, ' +
        'through the same service call as the socket event. Legacy mode: any signed-in account, any unit.',
      security: TOKEN_SECURITY,
      params: s.UnitNumberParams,
      body: s.UnitLocationBody,
      response: withErrors({ 201: s.UnitLocationResponse }, [400, 401, 403, 404]),
    },
    handler: async (request, reply) => {
      const user = request.actor.user
      // A new endpoint, called by no original client: even legacy mode asks for an account here.
      if (!user) throw errors.notAuthenticated()
      const unit = unitOf(request)
      if (!UNIT_NUMBER_RE.test(unit)) throw errors.notFound()
      requireReporter(user, unit, legacy)
      const location = await units.recordOfficerLocation({ ...asObject(request.body), unit_id: unit }, user, legacy)
      return reply.code(201).send(location)
    },
  })

  app.get('/api/units/:unit_number/locations/', {
    schema: {
      tags: ['units'],
      summary: 'A unit\'s recent reported positions, newest first (staff; `?limit=` ≤ 1000, default 100; at most UNIT_POSITION_HISTORY are kept)',
      security: TOKEN_SECURITY,
      params: s.UnitNumberParams,
      querystring: s.HistoryQuery,
      response: withErrors({ 200: s.HistoryResponse }, [400, 401, 403, 404]),
    },
    handler: async (request) => units.history(unitOf(request), request.actor.user, query(request)),
  })
}
