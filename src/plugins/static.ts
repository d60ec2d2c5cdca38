// Static assets of the public pages: `public/` at /static/ and Leaflet (from the `leaflet` package) at
// /static/leaflet/, both from this server (the pages load nothing from other origins but map tiles).
import { createRequire } from 'node:module'
import path from 'node:path'
import fastifyStatic from '@fastify/static'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

export const PUBLIC_ROOT = path.resolve(import.meta.dirname, '../../public')
const LEAFLET_ROOT = path.join(path.dirname(createRequire(import.meta.url).resolve('leaflet/package.json')), 'dist')

export default fp(
  async function staticPlugin(app: FastifyInstance) {
    const common = { decorateReply: false, index: false, list: false, dotfiles: 'deny', maxAge: '1h', schemaHide: true } as const
    // Leaflet first: its prefix is the longer one.
    await app.register(fastifyStatic, { ...common, root: LEAFLET_ROOT, prefix: '/static/leaflet/', allowedPath: (file) => /^\/(leaflet\.(js|css)|images\/[\w-]+\.png)$/.test(file) })
    await app.register(fastifyStatic, { ...common, root: PUBLIC_ROOT, prefix: '/static/' })
  },
  { name: 'static' },
)
