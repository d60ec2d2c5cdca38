// The public live-tracking page: GET /t/{token} (HTML), its state (JSON), its live stream (server-sent events)
// and "I'm on my way". No account: the link's token grants read-only access to that one SOS. Rate-limited.
import fs from 'node:fs'
import path from 'node:path'
import { Type } from '@sinclair/typebox'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { AppError } from '../../errors.ts'
import { withErrors } from '../../lib/schemas.ts'
import { PUBLIC_ROOT } from '../../plugins/static.ts'
import type { ShareLive } from './share.live.ts'
import type { ShareService } from './share.service.ts'

export interface ShareRouteOptions {
  share: ShareService
  live: ShareLive
  rateLimitPerMinute: number
  tileUrl: string
}

/** The tile server's origin as a CSP source (`{s}` subdomains become a wildcard). */
export function tileSource(tileUrl: string): string {
  const match = /^(https?:\/\/[^/]+)/.exec(tileUrl)
  if (!match) return "'self'"
  return match[1].replace(/\{s\}/g, '*').replace(/\{[^}]*\}/g, '*')
}

/**
 * The page's own policy: scripts, styles and the stream from this server only; images also from the tile
 * server; no framing, no forms elsewhere, no referrer (a tile request must not carry the link's token).
 */
export function shareCsp(tileUrl: string): string {
  return [
    "default-src 'self'",
    `img-src 'self' data: ${tileSource(tileUrl)}`,
    "script-src 'self'",
    "style-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ')
}

const TokenParams = Type.Object({ token: Type.String({ description: 'The link\'s token (from the SMS)' }) })
const page = (file: string) => fs.readFileSync(path.join(PUBLIC_ROOT, 'share', file), 'utf8')

export async function shareRoutes(app: FastifyInstance, opts: ShareRouteOptions) {
  const { share, live } = opts
  const html = page('index.html')
  const goneHtml = page('gone.html')
  const csp = shareCsp(opts.tileUrl)
  const config = { rateLimit: { max: opts.rateLimitPerMinute, timeWindow: '1 minute' } }
  const tokenOf = (request: FastifyRequest) => (request.params as { token: string }).token
  const privateHeaders = (reply: FastifyReply) =>
    reply.header('content-security-policy', csp).header('cache-control', 'no-store').header('referrer-policy', 'no-referrer').header('x-robots-tag', 'noindex, nofollow')
  const tags = ['share']

  app.get('/t/:token', {
    config,
    schema: { tags, summary: 'The live-tracking page (HTML) of one link; 410 once revoked or expired, with no data', params: TokenParams, produces: ['text/html'] },
    handler: async (request, reply) => {
      privateHeaders(reply).type('text/html; charset=utf-8')
      try {
        await share.open(tokenOf(request))
      } catch (error) {
        if (error instanceof AppError && (error.status === 410 || error.status === 404)) return reply.code(error.status).send(goneHtml)
        throw error
      }
      return reply.send(html)
    },
  })

  app.get('/t/:token/state', {
    config,
    schema: {
      tags,
      summary: 'What the page shows: her name as given, the status, the track so far (no internal ids)',
      params: TokenParams,
      response: withErrors({ 200: Type.Object({}, { additionalProperties: true }) }, [404, 410]),
    },
    handler: async (request, reply) => {
      privateHeaders(reply)
      const { link, sos } = await share.open(tokenOf(request))
      return reply.type('application/json; charset=utf-8').send(JSON.stringify(await share.state(link, sos)))
    },
  })

  app.get('/t/:token/events', {
    config,
    schema: {
      tags,
      summary: 'Server-sent events: `state` (everything, on connect and on every change), `position` (a new point), `gone` (revoked/expired), `end` (positions no longer shown)',
      params: TokenParams,
      produces: ['text/event-stream'],
    },
    handler: async (request, reply) => {
      privateHeaders(reply)
      const { link, sos } = await share.open(tokenOf(request))
      reply.hijack()
      const res = reply.raw
      res.writeHead(200, {
        ...(reply.getHeaders() as Record<string, string>),
        'content-type': 'text/event-stream; charset=utf-8',
        connection: 'keep-alive',
        // Proxies (nginx) must not buffer the stream.
        'x-accel-buffering': 'no',
      })
      res.write('retry: 3000\n\n')
      let open = true
      const stream = {
        link,
        send(event: string, data: unknown) {
          if (!open) return
          res.write(event === '' ? ': keep-alive\n\n' : `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
        },
        end() {
          if (!open) return
          open = false
          live.remove(stream)
          res.end()
        },
      }
      request.raw.once('close', () => stream.end())
      try {
        await live.add(stream, sos)
      } catch (err) {
        request.log.error({ err }, 'live-tracking stream failed to start')
        stream.end()
      }
    },
  })

  app.post('/t/:token/on-my-way', {
    config,
    schema: {
      tags,
      summary: '"I\'m on my way": an event in the incident log (contact_on_the_way) that the control room sees live; once per link',
      params: TokenParams,
      response: withErrors({ 200: Type.Object({ on_the_way_at: Type.String() }) }, [404, 409, 410]),
    },
    handler: async (request, reply) => {
      privateHeaders(reply)
      return share.onMyWay(tokenOf(request))
    },
  })
}
