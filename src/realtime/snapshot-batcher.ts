// Channel snapshots for many joiners at once. In a reconnect storm thousands of dashboards join
// sos_channel within one turn of the event loop; reading and encoding the same snapshot for each of
// them cost seconds of one thread (docs/BENCHMARKS.md). Joiners are gathered until the next turn, the
// snapshot is read once (after every one of them has joined the channel, so the no-gap rule holds for
// each) and sent as one packet, encoded once, to all of them.
import type { AppSocket } from './handlers.ts'

export interface SnapshotSummary {
  snapshot_count: number
  truncated: boolean
}

interface Waiter {
  socket: AppSocket
  resolve: (summary: SnapshotSummary) => void
  reject: (error: unknown) => void
}

export class SnapshotBatcher<T> {
  private waiting: Waiter[] = []

  constructor(
    /** Reads the channel's current state from the database. */
    private readonly read: () => Promise<T>,
    /** Sends it to these sockets (one emit: one encoding). */
    private readonly emit: (to: ReturnType<AppSocket['nsp']['to']>, snapshot: T) => void,
    private readonly summarize: (snapshot: T) => SnapshotSummary,
  ) {}

  /** The socket must already be in the channel. Resolves once its snapshot has been sent. */
  send(socket: AppSocket): Promise<SnapshotSummary> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ socket, resolve, reject })
      if (this.waiting.length === 1) setImmediate(() => void this.flush())
    })
  }

  private async flush(): Promise<void> {
    const batch = this.waiting
    this.waiting = []
    try {
      // Read after the whole batch has joined: a join that arrives from now on waits for the next read.
      const snapshot = await this.read()
      const connected = batch.filter((w) => w.socket.connected)
      // All of them are on this node: `local` skips the Redis adapter's round trip.
      if (connected.length > 0) this.emit(connected[0].socket.nsp.local.to(connected.map((w) => w.socket.id)), snapshot)
      const summary = this.summarize(snapshot)
      for (const w of batch) w.resolve(summary)
    } catch (error) {
      for (const w of batch) w.reject(error)
    }
  }
}
