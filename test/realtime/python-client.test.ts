// python-socketio's own client (Debian's python3-socketio, the library the original backend was built on)
// against both realtime engines, over each transport: it signs in with the Authorization header, joins the
// control-room channel with an acknowledgement, and hears a `new_sos` created over REST.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import readline from 'node:readline'
import { test } from 'node:test'
import type { RealtimeEngine } from '../../src/config.ts'
import { buildTestApp } from '../helpers/app.ts'
import { createSos, createUser } from '../helpers/factories.ts'
import { PYTHON_SOCKETIO, requireProgram } from '../helpers/system.ts'

/** Prints one JSON line per thing the test waits for; exits after the first `new_sos` (or after 20 s). */
const CLIENT = `
import json, sys, threading, socketio
url, token, transports = sys.argv[1], sys.argv[2], sys.argv[3].split(',')
sio = socketio.Client(reconnection=False)
done = threading.Event()
def say(kind, data=None):
    print(json.dumps({'kind': kind, 'data': data}), flush=True)
@sio.on('connection_established')
def established(data):
    say('established', data)
    sio.emit('join_sos_channel', {}, callback=lambda ack: say('joined', {'ack': ack, 'transport': sio.transport()}))
@sio.on('new_sos')
def new_sos(data):
    say('new_sos', data)
    done.set()
sio.connect(url, headers={'Authorization': 'Token ' + token}, transports=transports, wait_timeout=10)
done.wait(20)
sio.disconnect()
`

interface Line {
  kind: 'established' | 'joined' | 'new_sos'
  data: Record<string, unknown>
}

const CASES: Array<{ engine: RealtimeEngine; transports: string }> = [
  { engine: 'uws', transports: 'websocket' },
  { engine: 'uws', transports: 'polling' },
  { engine: 'ws', transports: 'websocket' },
  { engine: 'ws', transports: 'polling' },
]

for (const { engine, transports } of CASES) {
  test(`python-socketio over ${transports} on ${engine}: header auth, an acknowledged join, then new_sos`, async (t) => {
    if (!requireProgram(t, PYTHON_SOCKETIO)) return
    const { app, socketUrl } = await buildTestApp(t, { realtimeEngine: engine })
    const dispatcher = await createUser(app, 'dispatcher')
    const child = spawn(PYTHON_SOCKETIO.path, ['-c', CLIENT, socketUrl, dispatcher.token, transports], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (chunk) => (stderr += String(chunk)))
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    t.after(() => {
      if (child.exitCode === null) child.kill('SIGKILL')
    })
    const lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]()
    const nextLine = async (): Promise<Line> => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
      const { value, done } = await lines.next()
      clearTimeout(timer)
      assert.ok(!done, `the python client stopped early: ${stderr.slice(-2000)}`)
      return JSON.parse(value as string) as Line
    }

    const established = await nextLine()
    assert.equal(established.kind, 'established')
    assert.equal((established.data.user as { role: string }).role, 'dispatcher', 'the Authorization header identified it')
    const joined = await nextLine()
    assert.equal(joined.kind, 'joined')
    assert.equal((joined.data.ack as { ok: boolean }).ok, true)
    assert.equal(joined.data.transport, transports)

    const sos = await createSos(app, { name: 'Asha' })
    const heard = await nextLine()
    assert.equal(heard.kind, 'new_sos')
    assert.equal(heard.data.sos_id, sos.sos_id)
    assert.equal(heard.data.name, 'Asha')
    assert.equal(await exited, 0, stderr)
  })
}
