// Socket event plumbing: one wrapper that answers every client event through its ack ({ok, data} /
// {ok: false, error}) and an `error` event, so a bad payload never throws or drops the socket.
import type { Socket } from 'socket.io'
import { AppError, knownError } from '../errors.ts'
import { MAX_PAYLOAD_DEPTH, nestedDeeperThan, TOO_DEEP } from '../lib/fields.ts'
import type { Ack, ClientEventName, ClientToServerEvents, ServerToClientEvents, SocketData } from './contract.ts'

export type AppSocket = Socket<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>

export type EventHandler = (socket: AppSocket, payload: unknown) => Promise<unknown>

export interface HandlerLogger {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

/** The masked answer to a failure that is neither a refusal nor an outage (a bug). */
export const internalError = () => new AppError(500, 'internal_error', 'A server error occurred.')

/** The answer to an event over the socket's per-second budget, handled or not. */
export const throttled = () => new AppError(429, 'throttled', 'Too many events; slow down.')

/** Told about every event answered with an error (metrics, the outage log), with the error as thrown. */
export type FailureObserver = (event: ClientEventName, answer: AppError, cause: unknown) => void

export interface EventContext {
  /** Within the socket's event budget; when not, the event is answered `throttled` (429). */
  allowed: boolean
  log: (socket: AppSocket) => HandlerLogger
  onFailure?: FailureObserver
}

/**
 * Runs `handler` for one client event with the contract's error and ack behaviour. Called from the one
 * catch-all listener a socket has (not one listener per event): at 10,000+ idle sockets, a dozen
 * closures per socket is a measurable share of each socket's memory.
 */
export async function handleEvent(socket: AppSocket, event: ClientEventName, handler: EventHandler, args: unknown[], context: EventContext): Promise<void> {
  const { log, onFailure } = context
  // The ack, if any, is the last argument and a function; a payload may be missing.
  const ack = typeof args[args.length - 1] === 'function' ? (args.pop() as (response: Ack) => void) : undefined
  try {
    if (!context.allowed) throw throttled()
    const data = await handler(socket, args[0])
    ack?.({ ok: true, data: data ?? null })
  } catch (error) {
    // Same translation as HTTP: a database outage is `unavailable` (retry), anything unknown is masked.
    const known = knownError(error)
    const appError = known ?? internalError()
    if (!known) log(socket).error({ err: error, event }, 'socket event failed')
    else log(socket).info({ event, code: appError.code }, 'socket event refused')
    onFailure?.(event, appError, error)
    const body = appError.toSocketError()
    socket.emit('error', { ...body, event })
    ack?.({ ok: false, error: body })
  }
}

/** A client payload as an object; a bare string becomes `{[field]: string}` where the original accepted it. */
export function payloadObject(payload: unknown, stringField?: string): Record<string, unknown> {
  if (nestedDeeperThan(payload, MAX_PAYLOAD_DEPTH)) throw new AppError(400, 'validation_error', TOO_DEEP, { non_field_errors: [TOO_DEEP] })
  if (typeof payload === 'string' && stringField) return { [stringField]: payload }
  if (payload === undefined || payload === null) return {}
  if (typeof payload === 'object' && !Array.isArray(payload)) return payload as Record<string, unknown>
  throw new AppError(400, 'validation_error', 'Payload must be an object.', { non_field_errors: ['Payload must be an object.'] })
}

/** The client's address: the handshake's peer, or (behind a trusted proxy) the first X-Forwarded-For entry. */
export function clientAddress(socket: AppSocket, trustProxy: boolean): string {
  const forwarded = socket.handshake.headers['x-forwarded-for']
  if (trustProxy && typeof forwarded === 'string' && forwarded.trim() !== '') return forwarded.split(',')[0].trim()
  return socket.handshake.address
}
