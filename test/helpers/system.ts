// Test helper: tests that need a system program npm cannot install (Chromium, nginx) ask for it here.
// Outside CI a missing program skips the test with the reason and the install command, so a newcomer's
// first `npm test` is green and says what did not run; under CI=true it fails, so CI never passes by skipping.
import fs from 'node:fs'
import type { TestContext } from 'node:test'

export interface SystemProgram {
  /** Absolute path of the executable. */
  path: string
  /** What it is, for the message ("Chromium"). */
  name: string
  /** The environment variable that points the test at another copy, if any. */
  envVar?: string
  /** Debian package(s) that provide it, space-separated (`.ci/run` installs the same ones). */
  debianPackage: string
  /** Other files it needs (a Python library's modules), which must exist too. */
  files?: string[]
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK)
    return fs.statSync(file).isFile()
  } catch {
    return false
  }
}

/** Whether CI is running (the CI convention: CI=true or 1). */
export const inCi = ['true', '1', 'yes'].includes(String(process.env.CI ?? '').toLowerCase())

/**
 * Returns true when the program is there. When it is not: under CI throws (the test fails with the
 * reason); otherwise marks the test skipped with the reason and returns false (the caller returns).
 */
export function requireProgram(t: TestContext, program: SystemProgram): boolean {
  if (isExecutable(program.path) && (program.files ?? []).every((file) => fs.existsSync(file))) return true
  const hint = `apt-get install -y --no-install-recommends ${program.debianPackage}`
  const other = program.envVar ? `, or set ${program.envVar} to another copy` : ''
  const reason = `${program.name} not found at ${[program.path, ...(program.files ?? [])].join(', ')}: install it with \`${hint}\`${other}`
  if (inCi) throw new Error(`${reason}. CI=true: a missing system program is a failure, not a skip (.ci/run installs it).`)
  t.diagnostic(reason)
  t.skip(reason)
  return false
}

/** Debian's Chromium, for the browser tests; CHROMIUM_PATH points them at another Chromium or Chrome. */
export const CHROMIUM: SystemProgram = {
  path: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  name: 'Chromium',
  envVar: 'CHROMIUM_PATH',
  debianPackage: 'chromium',
}

/** Debian's nginx, for the load-balancer test; NGINX_PATH points it at another nginx binary. */
export const NGINX: SystemProgram = {
  path: process.env.NGINX_PATH || '/usr/sbin/nginx',
  name: 'nginx',
  envVar: 'NGINX_PATH',
  debianPackage: 'nginx',
}

/** Debian's python-socketio client (with its WebSocket and long-polling transports), run by Debian's python3. */
export const PYTHON_SOCKETIO: SystemProgram = {
  path: '/usr/bin/python3',
  name: 'python-socketio',
  debianPackage: 'python3-socketio python3-websocket python3-requests',
  files: [
    '/usr/lib/python3/dist-packages/socketio/client.py',
    '/usr/lib/python3/dist-packages/websocket/_app.py',
    '/usr/lib/python3/dist-packages/requests/api.py',
  ],
}
