// HTTP routes for accounts and tokens (Djoser-compatible paths and shapes).
import { Type } from '@sinclair/typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { errors } from '../../errors.ts'
import { OPTIONAL_TOKEN_SECURITY, TOKEN_SECURITY, withErrors } from '../../lib/schemas.ts'
import type { AuthService } from './auth.service.ts'

const Role = Type.Union(['citizen', 'officer', 'dispatcher', 'admin'].map((r) => Type.Literal(r)))

const PublicUser = Type.Object({
  id: Type.Integer(),
  username: Type.String(),
  email: Type.String(),
  role: Role,
  unit_number: Type.Union([Type.String(), Type.Null()]),
})

const RegisterBody = Type.Object({
  username: Type.String({ maxLength: 150, description: 'Letters, digits and @/./+/-/_' }),
  password: Type.String({ minLength: 8, description: 'At least 8 characters, not entirely numeric, not common, not like the username' }),
  re_password: Type.String({ description: 'Must equal password' }),
  email: Type.Optional(Type.String({ format: 'email' })),
  role: Type.Optional(Type.Union([Role], { description: 'Admins only: create a staff account (default citizen)' })),
  unit_number: Type.Optional(Type.String({ description: 'Required for officers' })),
})

const LoginBody = Type.Object({ username: Type.String(), password: Type.String() })

export interface AuthRouteOptions {
  auth: AuthService
  loginRateLimitPerMinute: number
  registrationRateLimitPerMinute: number
}

export async function authRoutes(app: FastifyInstance, opts: AuthRouteOptions) {
  const { auth } = opts

  app.post('/auth/users/', {
    // Each registration costs a full password hash (~0.3 s and 128 MiB at the production cost), so it
    // is limited per client IP like login. Admins creating staff accounts are not: they are few and
    // accountable. preHandler: the caller's identity is known by then.
    config: {
      rateLimit: {
        max: opts.registrationRateLimitPerMinute,
        timeWindow: '1 minute',
        hook: 'preHandler' as const,
        allowList: (request: FastifyRequest) => request.actor?.user?.role === 'admin',
      },
    },
    schema: {
      tags: ['auth'],
      summary: 'Register a citizen account (an admin may also create staff accounts)',
      security: OPTIONAL_TOKEN_SECURITY,
      body: RegisterBody,
      response: withErrors({ 201: PublicUser }, [400, 401, 403]),
    },
    handler: async (request, reply) => reply.code(201).send(await auth.register(request.body, request.actor.user)),
  })

  app.get('/auth/users/me/', {
    schema: { tags: ['auth'], summary: 'The signed-in account', security: TOKEN_SECURITY, response: withErrors({ 200: PublicUser }, [401]) },
    handler: async (request) => {
      if (!request.actor.user) throw errors.notAuthenticated()
      return auth.me(request.actor.user.id)
    },
  })

  app.post('/auth/token/login/', {
    config: { rateLimit: { max: opts.loginRateLimitPerMinute, timeWindow: '1 minute' } },
    schema: {
      tags: ['auth'],
      summary: 'Log in: returns a new API token',
      body: LoginBody,
      response: withErrors({ 200: Type.Object({ auth_token: Type.String() }) }, [400]),
    },
    handler: async (request) => auth.login(request.body),
  })

  app.post('/auth/token/logout/', {
    schema: { tags: ['auth'], summary: 'Log out: revokes the presented token', security: TOKEN_SECURITY, response: withErrors({ 204: Type.Null() }, [401]) },
    handler: async (request, reply) => {
      if (!request.actor.user || !request.apiToken) throw errors.notAuthenticated()
      await auth.logout(request.apiToken)
      return reply.code(204).send()
    },
  })
}
