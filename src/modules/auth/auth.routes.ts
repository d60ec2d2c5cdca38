// HTTP routes for accounts and tokens (Djoser-compatible paths and shapes): registration, login/logout,
// the caller's own account (me, set_password), and admins' account management.
import { Type } from '@sinclair/typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { errors } from '../../errors.ts'
import { baseUrlOf, linkTo } from '../../lib/base-url.ts'
import { parseId } from '../../lib/fields.ts'
import { parsePage } from '../../lib/paging.ts'
import { OPTIONAL_TOKEN_SECURITY, TOKEN_SECURITY, withErrors } from '../../lib/schemas.ts'
import type { AuthService, AuthUser } from './auth.service.ts'
import type { UsersService } from './users.service.ts'

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

/** An account as GET/PATCH /auth/users/{id}/ and the admin list return it. */
const User = Type.Object({
  ...PublicUser.properties,
  is_active: Type.Optional(Type.Boolean({ description: 'Admins only: whether the account may sign in (false: deactivated, every token revoked)' })),
  date_joined: Type.Optional(Type.String({ format: 'date-time', description: 'Admins only: when the account was created' })),
})

const UserPage = Type.Object({
  count: Type.Integer(),
  next: Type.Union([Type.String(), Type.Null()]),
  previous: Type.Union([Type.String(), Type.Null()]),
  results: Type.Array(User),
})

const UserQuery = Type.Object({
  role: Type.Optional(Type.Union([Role], { description: 'Admins: only accounts with this role' })),
  unit_number: Type.Optional(Type.String({ description: 'Admins: only accounts of this unit' })),
  is_active: Type.Optional(Type.Boolean({ description: 'Admins: only active (true) or deactivated (false) accounts' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'A page of this many, as `{count, next, previous, results}`' })),
  offset: Type.Optional(Type.Integer({ minimum: 0 })),
})

const UserChange = Type.Object({
  email: Type.Optional(Type.String({ description: 'Anyone, for their own account' })),
  role: Type.Optional(Type.Union([Role], { description: 'Admins only (read-only, and ignored, for others)' })),
  unit_number: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'Admins only; required for officers' })),
  is_active: Type.Optional(Type.Boolean({ description: 'Admins only; false deactivates the account: every token revoked, its sockets disconnected' })),
})

const SetPasswordBody = Type.Object({
  current_password: Type.String(),
  new_password: Type.String({ description: 'The password rules of registration apply' }),
  re_new_password: Type.String({ description: 'Must equal new_password' }),
})

const IdParams = Type.Object({ id: Type.String({ description: 'Account id' }) })

export interface AuthRouteOptions {
  auth: AuthService
  users: UsersService
  loginRateLimitPerMinute: number
  registrationRateLimitPerMinute: number
  publicUrl: string | undefined
}

export async function authRoutes(app: FastifyInstance, opts: AuthRouteOptions) {
  const { auth, users } = opts
  const signedIn = (request: FastifyRequest): AuthUser => {
    if (!request.actor.user) throw errors.notAuthenticated()
    return request.actor.user
  }
  const idOf = (request: FastifyRequest): number => {
    const id = parseId((request.params as { id?: string }).id)
    if (id === undefined) throw errors.notFound()
    return id
  }

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

  app.get('/auth/users/', {
    schema: {
      tags: ['auth'],
      summary: 'Accounts (admins: all, filtered by role, unit_number, is_active; others: only their own)',
      security: TOKEN_SECURITY,
      querystring: UserQuery,
      response: withErrors({ 200: Type.Union([Type.Array(User), UserPage]) }, [400, 401]),
    },
    handler: async (request) => {
      const query = (request.query ?? {}) as Record<string, unknown>
      const base = baseUrlOf(request, opts.publicUrl)
      return users.list(signedIn(request), query, parsePage(query), (offset) => linkTo(request, base, { offset: String(offset) }))
    },
  })

  app.get('/auth/users/me/', {
    schema: { tags: ['auth'], summary: 'The signed-in account', security: TOKEN_SECURITY, response: withErrors({ 200: PublicUser }, [401]) },
    handler: async (request) => auth.me(signedIn(request).id),
  })

  const changeMe = {
    schema: { tags: ['auth'], summary: 'Change the signed-in account (its email; admins also role, unit, is_active of others)', security: TOKEN_SECURITY, body: UserChange, response: withErrors({ 200: PublicUser }, [400, 401]) },
    handler: async (request: FastifyRequest) => {
      const user = signedIn(request)
      await users.update(user, user.id, request.body)
      return auth.me(user.id)
    },
  }
  app.patch('/auth/users/me/', changeMe)
  app.put('/auth/users/me/', changeMe)

  app.post('/auth/users/set_password/', {
    // The current password is checked like a login, so it is limited like one (a stolen token must not
    // become a way to guess the password).
    config: { rateLimit: { max: opts.loginRateLimitPerMinute, timeWindow: '1 minute' } },
    schema: {
      tags: ['auth'],
      summary: "Change the signed-in account's password; revokes its other tokens (and their sockets), keeps this one",
      security: TOKEN_SECURITY,
      body: SetPasswordBody,
      response: withErrors({ 204: Type.Null() }, [400, 401]),
    },
    handler: async (request, reply) => {
      const user = signedIn(request)
      await auth.setPassword(user.id, request.apiToken!, request.body)
      return reply.code(204).send()
    },
  })

  app.get('/auth/users/:id/', {
    schema: { tags: ['auth'], summary: 'One account (admins: any; others: their own)', security: TOKEN_SECURITY, params: IdParams, response: withErrors({ 200: User }, [401, 404]) },
    handler: async (request) => users.get(signedIn(request), idOf(request)),
  })

  const change = {
    schema: {
      tags: ['auth'],
      summary: 'Change an account (admins: email, role, unit_number, is_active; others: their own email)',
      description: 'A role or unit change disconnects the account\'s live sockets on every node (they reconnect with the new rights); `is_active: false` also revokes every token.',
      security: TOKEN_SECURITY,
      params: IdParams,
      body: UserChange,
      response: withErrors({ 200: User }, [400, 401, 404]),
    },
    handler: async (request: FastifyRequest) => users.update(signedIn(request), idOf(request), request.body),
  }
  app.patch('/auth/users/:id/', change)
  app.put('/auth/users/:id/', change)

  app.delete('/auth/users/:id/', {
    schema: {
      tags: ['auth'],
      summary: 'Deactivate an account (admins): it can no longer sign in, its tokens are revoked and its sockets disconnected; its records stay',
      security: TOKEN_SECURITY,
      params: IdParams,
      response: withErrors({ 204: Type.Null() }, [400, 401, 403, 404]),
    },
    handler: async (request, reply) => {
      await users.deactivate(signedIn(request), idOf(request))
      return reply.code(204).send()
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
