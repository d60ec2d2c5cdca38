// The exact bytes our server sends, taken from a server of our own at the start of `limits`: the
// create-sos and update-location answers (status, headers, body) and one new_sos frame as a staff socket
// receives it. The bare servers then send the same bytes, so the limits are for the same work on the wire.
import { createBody, startServer, type CommonOptions } from '../lib/common.ts'
import { LeanReceiver } from '../lib/lean-receiver.ts'
import { waitFor } from '../lib/stats.ts'

export interface SampledAnswer {
  status: number
  /** Every header but the per-connection and per-response ones (date, connection, keep-alive, content-length). */
  headers: Record<string, string>
  body: string
}

export interface ServerSample {
  create: SampledAnswer
  update: SampledAnswer
  /** The Engine.IO text frame of one new_sos broadcast: `42["new_sos",{…}]`. */
  newSosFrame: string
  /** What a location update sends, as the track scenario sends it (its sequence number in the latitude). */
  updateBody(sosId: number, latitude: number): string
}

const PER_RESPONSE = new Set(['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding'])

async function answer(res: Response): Promise<SampledAnswer> {
  const headers: Record<string, string> = {}
  for (const [k, v] of res.headers) if (!PER_RESPONSE.has(k)) headers[k] = v
  return { status: res.status, headers, body: await res.text() }
}

export async function sampleServer(common: CommonOptions): Promise<ServerSample> {
  const server = await startServer(common, true)
  let receiver: LeanReceiver | undefined
  try {
    const token = await server.createUser('dispatcher')
    await server.start()
    let frame: string | null = null
    receiver = new LeanReceiver(
      {
        url: server.socketUrls[0],
        index: 0,
        token,
        record: [{ event: 'new_sos', code: 0, key: 'sos_id' }],
        reconnection: false,
        sink: { receipt: () => undefined, dropped: () => undefined, frame: (_code, data) => (frame ??= data.toString('utf8')) },
      },
      'socket.io',
    )
    const refused = (await receiver.open(10_000)) ?? (await receiver.join('join_sos_channel', {}, 10_000))
    if (refused) throw new Error(`the sample's staff socket could not join sos_channel: ${refused}`)
    const api = server.apiUrls[0]
    const created = await fetch(`${api}/api/create-sos/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: createBody('bench-limits-sample') })
    const create = await answer(created)
    if (create.status !== 201) throw new Error(`create-sos answered ${create.status}: ${create.body}`)
    const sos = JSON.parse(create.body) as { sos_id: number; sos_token: string }
    const updateBody = (sosId: number, latitude: number) => `{"sos_request":${sosId},"latitude":${latitude},"longitude":77.5}`
    const located = await fetch(`${api}/api/update-location/`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-sos-token': sos.sos_token }, body: updateBody(sos.sos_id, 12.34567) })
    const update = await answer(located)
    if (update.status !== 201) throw new Error(`update-location answered ${update.status}: ${update.body}`)
    if (!(await waitFor(async () => frame !== null, 10_000)) || frame === null) throw new Error('the sample socket received no new_sos')
    return { create, update, newSosFrame: frame, updateBody }
  } finally {
    receiver?.close()
    await server.stop()
  }
}
