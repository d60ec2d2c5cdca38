// Revocation from outside a socket server (the CLI): writes the Socket.IO Redis streams adapter's own
// messages to its stream, so every running node disconnects the sockets, as if one of them had done it.
import type { Redis } from 'ioredis'
import { ROOMS } from './contract.ts'
import { REVOCATION_MESSAGES, type RevocationReason, type RevocationTarget, type Revoker } from './publisher.ts'

// The wire format of @socket.io/redis-streams-adapter 0.3 (ClusterAdapter of socket.io-adapter 2.5):
// stream entries {uid, nsp, type, data: JSON}; type 3 is a BROADCAST, type 6 DISCONNECT_SOCKETS. Nodes
// ignore only entries carrying their own uid. test/scale/revocation.test.ts proves a node obeys these.
const BROADCAST = '3'
const DISCONNECT_SOCKETS = '6'
const EVENT_PACKET = 2
/** As the adapter's default: the stream is trimmed to about this many entries. */
const MAX_LEN = 10_000

export class StreamRevoker implements Revoker {
  private readonly pending: Array<Promise<unknown>> = []
  private readonly uid = `naarikavach-cli-${process.pid}`

  /** `streamName`: REDIS_PREFIX, the stream the nodes' adapters read. */
  constructor(
    private readonly redis: Redis,
    private readonly streamName: string,
  ) {}

  revoke(target: RevocationTarget, reason: RevocationReason): void {
    const rooms = ['userId' in target ? ROOMS.user(target.userId) : ROOMS.token(target.tokenHash)]
    const except = 'userId' in target && target.exceptTokenHash ? [ROOMS.token(target.exceptTokenHash)] : []
    const opts = { rooms, except, flags: {} }
    const packet = { type: EVENT_PACKET, nsp: '/', data: ['error', { code: 'session_revoked', message: REVOCATION_MESSAGES[reason] }] }
    this.add(BROADCAST, { packet, opts })
    this.add(DISCONNECT_SOCKETS, { opts, close: true })
  }

  /** Waits for every message to be written; rejects if Redis could not take one. */
  async flush(): Promise<void> {
    await Promise.all(this.pending.splice(0))
  }

  private add(type: string, data: unknown): void {
    this.pending.push(this.redis.xadd(this.streamName, 'MAXLEN', '~', MAX_LEN, '*', 'uid', this.uid, 'nsp', '/', 'type', type, 'data', JSON.stringify(data)))
  }
}
