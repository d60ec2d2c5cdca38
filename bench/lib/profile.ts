// Summarizes a V8 .cpuprofile (from `node --cpu-prof`): self time per function and per package/file,
// so a run's report can say where the server's CPU went.
import fs from 'node:fs'
import path from 'node:path'
import { table } from './stats.ts'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number }
  hitCount?: number
  children?: number[]
}

interface CpuProfile {
  nodes: ProfileNode[]
  startTime: number
  endTime: number
  samples?: number[]
  timeDeltas?: number[]
}

export interface ProfileEntry {
  name: string
  where: string
  selfMs: number
  /** Percent of the busy (non-idle) time. */
  percent: number
}

export interface ProfileSummary {
  file: string
  /** The part of the profile summarized (µs, CLOCK_MONOTONIC, like the bench's own clock), if restricted. */
  window?: { fromUs: number; toUs: number }
  wallMs: number
  busyMs: number
  idleMs: number
  gcMs: number
  topFunctions: ProfileEntry[]
  byModule: ProfileEntry[]
}

const ROOT = path.resolve(import.meta.dirname, '../..')

/** `file:///…/node_modules/fastify/lib/reply.js` → `fastify/lib/reply.js`; our own files relative to the repo. */
function shortUrl(url: string): string {
  if (!url) return ''
  let u = url.replace(/^file:\/\//, '')
  const nm = u.lastIndexOf('/node_modules/')
  if (nm >= 0) return u.slice(nm + '/node_modules/'.length)
  if (u.startsWith(ROOT)) u = u.slice(ROOT.length + 1)
  return u
}

/** The package (or `src/<area>` for our code, `node:internal` for Node's own) a frame belongs to. */
function moduleOf(url: string, name: string): string {
  if (name.startsWith('(')) return name
  if (!url) return '(native / V8 builtins)'
  if (url.startsWith('node:')) return 'node (core)'
  const short = shortUrl(url)
  if (url.includes('/node_modules/')) {
    const parts = short.split('/')
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]
  }
  const parts = short.split('/')
  return parts.length > 2 ? `${parts[0]}/${parts[1]}` : short
}

/**
 * Self time per function. V8 stamps samples with the monotonic clock in µs (the clock `nowUs()` reads), so
 * `window` can restrict the summary to the measured phase, leaving out start-up and warm-up.
 */
export function summarizeProfile(file: string, top = 20, window?: { fromUs: number; toUs: number }): ProfileSummary {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  // Self time per node from the sample timeline (each sample owns the interval up to the next one).
  const self = new Map<number, number>()
  const samples = profile.samples ?? []
  const deltas = profile.timeDeltas ?? []
  let wallUs = profile.endTime - profile.startTime
  if (samples.length > 0 && deltas.length === samples.length) {
    let t = profile.startTime
    let first = Infinity
    let last = -Infinity
    for (let i = 0; i < samples.length; i++) {
      t += deltas[i]
      if (window && (t < window.fromUs || t > window.toUs)) continue
      first = Math.min(first, t)
      last = Math.max(last, t)
      const next = i + 1 < deltas.length ? deltas[i + 1] : 0
      self.set(samples[i], (self.get(samples[i]) ?? 0) + Math.max(0, next))
    }
    if (window) wallUs = last > first ? last - first : 0
  } else {
    const interval = (profile.endTime - profile.startTime) / Math.max(1, profile.nodes.reduce((a, n) => a + (n.hitCount ?? 0), 0))
    for (const n of profile.nodes) self.set(n.id, (n.hitCount ?? 0) * interval)
  }
  const fn = new Map<string, { name: string; where: string; us: number }>()
  const mod = new Map<string, number>()
  let idleUs = 0
  let gcUs = 0
  let totalUs = 0
  for (const [id, us] of self) {
    const node = byId.get(id)
    if (!node) continue
    const { functionName, url, lineNumber } = node.callFrame
    const name = functionName || '(anonymous)'
    totalUs += us
    if (name === '(idle)') {
      idleUs += us
      continue
    }
    if (name === '(garbage collector)') gcUs += us
    const where = url ? `${shortUrl(url)}:${lineNumber + 1}` : ''
    const key = `${name}@${where}`
    const entry = fn.get(key) ?? { name, where, us: 0 }
    entry.us += us
    fn.set(key, entry)
    const m = moduleOf(url, name)
    mod.set(m, (mod.get(m) ?? 0) + us)
  }
  const busyUs = totalUs - idleUs
  const pct = (us: number) => (busyUs > 0 ? Math.round((us / busyUs) * 1000) / 10 : 0)
  const ms = (us: number) => Math.round(us / 100) / 10
  return {
    file,
    window,
    wallMs: ms(wallUs),
    busyMs: ms(busyUs),
    idleMs: ms(idleUs),
    gcMs: ms(gcUs),
    topFunctions: [...fn.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((e) => ({ name: e.name, where: e.where, selfMs: ms(e.us), percent: pct(e.us) })),
    byModule: [...mod.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 15)
      .map(([name, us]) => ({ name, where: '', selfMs: ms(us), percent: pct(us) })),
  }
}

export function formatProfile(s: ProfileSummary): string {
  const lines = [
    `CPU profile ${s.file}${s.window ? ' (measured phase only)' : ''}`,
    `  wall ${(s.wallMs / 1000).toFixed(1)} s, busy ${(s.busyMs / 1000).toFixed(1)} s (${s.wallMs > 0 ? Math.round((s.busyMs / s.wallMs) * 100) : 0}% of the main thread), idle ${(s.idleMs / 1000).toFixed(1)} s, GC ${(s.gcMs / 1000).toFixed(1)} s`,
    '  self time by package / source area (% of busy time):',
    indent(table([['', 'self', '%'], ...s.byModule.map((e) => [e.name, `${e.selfMs.toFixed(0)} ms`, `${e.percent}%`])]), 4),
    '  top functions by self time:',
    indent(table([['function', 'where', 'self', '%'], ...s.topFunctions.map((e) => [e.name, e.where, `${e.selfMs.toFixed(0)} ms`, `${e.percent}%`])]), 4),
  ]
  return lines.join('\n')
}

const indent = (text: string, n: number) => text.split('\n').map((l) => ' '.repeat(n) + l).join('\n')
