// HTTP routes for trusted contacts: an account's list, an SOS's contacts, its messages' states and its links.
import { Type } from '@sinclair/typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { errors } from '../../errors.ts'
import { baseUrlOf } from '../../lib/base-url.ts'
import { parseId } from '../../lib/fields.ts'
import { TOKEN_OR_SOS_SECURITY, TOKEN_SECURITY, withErrors } from '../../lib/schemas.ts'
import type { RequestContext } from '../sos/sos.dto.ts'
import { SosIdParams } from '../sos/sos.schemas.ts'
import type { ShareService } from '../share/share.service.ts'
import type { ContactsService } from './contacts.service.ts'
import * as s from './contacts.schemas.ts'

export interface ContactRouteOptions {
  contacts: ContactsService
  share: ShareService
  publicUrl: string | undefined
}

export async function contactRoutes(app: FastifyInstance, opts: ContactRouteOptions) {
  const { contacts, share } = opts
  const ctx = (request: FastifyRequest): RequestContext => ({ actor: request.actor, baseUrl: baseUrlOf(request, opts.publicUrl) })
  const params = (request: FastifyRequest) => request.params as { id?: string; linkId?: string }
  const sosId = (request: FastifyRequest): number => {
    const id = parseId(params(request).id)
    if (id === undefined) throw errors.notFound()
    return id
  }
  const tags = ['contacts']

  app.get('/api/contacts/', {
    schema: { tags, summary: 'Your trusted contacts (signed in), in priority order', security: TOKEN_SECURITY, response: withErrors({ 200: Type.Array(s.Contact) }, [401]) },
    handler: async (request) => contacts.list(request.actor),
  })
  app.post('/api/contacts/', {
    schema: {
      tags,
      summary: 'Add a trusted contact (at most CONTACTS_MAX); every SOS you raise alerts them after the grace window',
      security: TOKEN_SECURITY,
      body: s.ContactBody,
      response: withErrors({ 201: s.Contact }, [400, 401]),
    },
    handler: async (request, reply) => reply.code(201).send(await contacts.create(request.body, request.actor)),
  })
  app.get('/api/contacts/:id/', {
    schema: { tags, summary: 'One of your contacts', security: TOKEN_SECURITY, params: s.ContactIdParams, response: withErrors({ 200: s.Contact }, [401, 404]) },
    handler: async (request) => contacts.get(params(request).id, request.actor),
  })
  for (const method of ['PATCH', 'PUT'] as const) {
    app.route({
      method,
      url: '/api/contacts/:id/',
      schema: { tags, summary: 'Change a contact (any of its fields)', security: TOKEN_SECURITY, params: s.ContactIdParams, body: s.ContactPatch, response: withErrors({ 200: s.Contact }, [400, 401, 404]) },
      handler: async (request) => contacts.update(params(request).id, request.body, request.actor),
    })
  }
  app.delete('/api/contacts/:id/', {
    schema: { tags, summary: 'Remove a contact (SOS already raised keep the contacts they had)', security: TOKEN_SECURITY, params: s.ContactIdParams, response: withErrors({ 204: Type.Null() }, [401, 404]) },
    handler: async (request, reply) => {
      await contacts.remove(params(request).id, request.actor)
      return reply.code(204).send()
    },
  })

  app.get('/api/sos/:id/contacts/', {
    schema: { tags, summary: 'The contacts this SOS alerts: the victim (SOS token), the owner, staff', security: TOKEN_OR_SOS_SECURITY, params: SosIdParams, response: withErrors({ 200: s.SosContactList }, [401, 403, 404]) },
    handler: async (request) => contacts.ofSos(sosId(request), ctx(request)),
  })
  app.post('/api/sos/:id/contacts/', {
    schema: {
      tags,
      summary: 'Add contacts to an open SOS (the victim with her SOS token, or the owner); they are alerted at once (or when the grace window ends)',
      security: TOKEN_OR_SOS_SECURITY,
      params: SosIdParams,
      body: s.AddSosContactsBody,
      response: withErrors({ 201: s.SosContactList }, [400, 401, 403, 404, 409]),
    },
    handler: async (request, reply) => reply.code(201).send(await contacts.addToSos(sosId(request), request.body, ctx(request))),
  })
  app.get('/api/sos/:id/notifications/', {
    schema: {
      tags,
      summary: 'Every message this SOS caused and its state (queued, sent, failed + reason, dead, not_configured, cancelled): staff, the victim, the owner',
      description: 'The victim and the owner see the SMS to her contacts; staff also see the webhook deliveries.',
      security: TOKEN_OR_SOS_SECURITY,
      params: SosIdParams,
      response: withErrors({ 200: s.NotificationList }, [401, 403, 404]),
    },
    handler: async (request) => contacts.notifications(sosId(request), ctx(request)),
  })

  app.get('/api/sos/:id/share-links/', {
    schema: { tags, summary: 'The live-tracking links of this SOS (the victim or the owner)', security: TOKEN_OR_SOS_SECURITY, params: SosIdParams, response: withErrors({ 200: s.ShareLinkList }, [401, 403, 404]) },
    handler: async (request) => share.list(sosId(request), ctx(request)),
  })
  app.post('/api/sos/:id/share-links/', {
    schema: {
      tags,
      summary: 'Make a live-tracking link by hand (the victim or the owner); the URL is shown once',
      security: TOKEN_OR_SOS_SECURITY,
      params: SosIdParams,
      body: s.ShareLinkBody,
      response: withErrors({ 201: s.NewShareLink }, [400, 401, 403, 404, 409]),
    },
    handler: async (request, reply) => reply.code(201).send(await share.add(sosId(request), request.body, ctx(request))),
  })
  app.delete('/api/sos/:id/share-links/:linkId/', {
    schema: { tags, summary: 'Revoke a link: it answers 410 from now on, and open pages go dark', security: TOKEN_OR_SOS_SECURITY, params: s.ShareLinkParams, response: withErrors({ 204: Type.Null() }, [401, 403, 404]) },
    handler: async (request, reply) => {
      await share.revoke(sosId(request), params(request).linkId, ctx(request))
      return reply.code(204).send()
    },
  })
}
