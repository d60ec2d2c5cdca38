// Test helper: a private nginx running deploy/nginx.conf in front of test nodes. Only the listen ports,
// the node addresses and the file paths are changed (each change is checked to have matched), so the
// test exercises the shipped file. Its own directory, pid and logs; unprivileged ports; stopped by the test.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { TestContext } from 'node:test'
import { accepts, freePort } from './serve.ts'
import { NGINX } from './system.ts'

export const NGINX_CONF = path.resolve(import.meta.dirname, '../../deploy/nginx.conf')

export interface NginxTargets {
  /** The nodes' REST addresses, `127.0.0.1:<port>`. */
  api: string[]
  /** The nodes' Socket.IO addresses, in the same order. */
  socket: string[]
  apiPort: number
  socketPort: number
  /** Where pid, logs and temporary files go. */
  dir: string
}

function replaceChecked(text: string, pattern: RegExp, replacement: (match: string, ...groups: string[]) => string, expected: number, what: string): string {
  let count = 0
  const out = text.replace(pattern, (match: string, ...groups: string[]) => {
    count += 1
    return replacement(match, ...groups)
  })
  if (count !== expected) throw new Error(`deploy/nginx.conf changed shape: expected ${expected} ${what}, found ${count}`)
  return out
}

/** deploy/nginx.conf with the test's ports, nodes and paths; nothing else differs. */
export function renderNginxConfig(template: string, targets: NginxTargets): string {
  let conf = template
  // The master runs as the test's user; as root it drops to `user` (www-data), which needs to reach the
  // directory (it owns the temporary directories it creates). As anyone else `user` is meaningless.
  conf = replaceChecked(conf, /^user [\w-]+;\n/m, (line) => (process.getuid?.() === 0 ? line : ''), 1, '`user` line')
  conf = replaceChecked(conf, /(?:\/var\/log\/nginx|\/var\/lib\/nginx|\/run)\/([\w.-]+)/g, (_m, name) => path.join(targets.dir, name), 8, 'file paths')
  conf = replaceChecked(conf, /^(\s*)listen 8000;$/m, (_m, indent) => `${indent}listen 127.0.0.1:${targets.apiPort};`, 1, 'REST listen line')
  conf = replaceChecked(conf, /^(\s*)listen 8001;$/m, (_m, indent) => `${indent}listen 127.0.0.1:${targets.socketPort};`, 1, 'Socket.IO listen line')
  for (const [port, nodes] of [['8000', targets.api], ['8001', targets.socket]] as const) {
    // The example's three `server <host>:<port> <params>;` lines become one line per test node, same params.
    let first = true
    conf = replaceChecked(
      conf,
      new RegExp(`^(\\s*)server [\\w.-]+:${port}( [^;\\n]*)?;\\n`, 'gm'),
      (_m, indent, params = '') => {
        if (!first) return ''
        first = false
        return nodes.map((node) => `${indent}server ${node}${params};\n`).join('')
      },
      3,
      `upstream servers on port ${port}`,
    )
  }
  return conf
}

export interface Nginx {
  apiUrl: string
  socketUrl: string
  apiPort: number
  socketPort: number
  dir: string
  /** The error log so far (connect failures to a killed node show up here). */
  errorLog(): string
  stop(): Promise<void>
}


/** Starts nginx (`daemon off`, spawned by the test) with deploy/nginx.conf rendered for these nodes. */
export async function startNginx(t: TestContext, nodes: { api: string[]; socket: string[] }): Promise<Nginx> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'naarikavach-nginx-'))
  // The workers (www-data when the master is root) must be able to enter the directory.
  await fsp.chmod(dir, 0o755)
  const apiPort = await freePort()
  const socketPort = await freePort()
  const conf = renderNginxConfig(await fsp.readFile(NGINX_CONF, 'utf8'), { ...nodes, apiPort, socketPort, dir })
  const confFile = path.join(dir, 'nginx.conf')
  await fsp.writeFile(confFile, conf)
  const args = ['-p', dir, '-c', confFile]

  const check = spawnSync(NGINX.path, [...args, '-t'], { encoding: 'utf8' })
  if (check.status !== 0) throw new Error(`nginx -t refused the rendered deploy/nginx.conf:\n${check.stderr}\n${conf}`)

  let stderr = ''
  const child: ChildProcess = spawn(NGINX.path, [...args, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] })
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGQUIT') // graceful: the workers finish their connections
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    }
  }
  t.after(async () => {
    await stop()
    await fsp.rm(dir, { recursive: true, force: true })
  })

  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}: ${stderr}`)
    if ((await accepts(apiPort)) && (await accepts(socketPort))) break
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  const errorLogFile = path.join(dir, 'naarikavach-error.log')
  return {
    apiUrl: `http://127.0.0.1:${apiPort}`,
    socketUrl: `http://127.0.0.1:${socketPort}`,
    apiPort,
    socketPort,
    dir,
    errorLog: () => (fs.existsSync(errorLogFile) ? fs.readFileSync(errorLogFile, 'utf8') : '') + stderr,
    stop,
  }
}
