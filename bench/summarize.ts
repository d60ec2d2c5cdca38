// Summarizes bench JSON lines (one per run, as bench/matrix.sh collects them): per command, the median
// and the range of each headline figure; for `limits`, of each row of its table (ours, limit, % of limit).
//   npx tsx bench/summarize.ts bench-results.jsonl
import fs from 'node:fs'

interface Line {
  argv: string[]
  ok: boolean
  machine: { commit: string }
  loadAverage: { before: number[] }
  reports: Array<{ scenario: string; results: Record<string, unknown>; server?: { cpuPercent: number }; loopDelayMs?: { p99: number; max: number } | null }>
}

type Pick = (r: Line['reports'][number]) => number | undefined

const p = (obj: unknown, path: string): number | undefined => {
  let v: unknown = obj
  for (const k of path.split('.')) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[k] : undefined
  return typeof v === 'number' ? v : undefined
}

const FIGURES: Record<string, Array<[string, Pick]>> = {
  create: [
    ['created/s', (r) => p(r.results, 'throughputPerS')],
    ['p50 ms', (r) => p(r.results, 'latencyMs.p50')],
    ['p99 ms', (r) => p(r.results, 'latencyMs.p99')],
    ['max ms', (r) => p(r.results, 'latencyMs.max')],
    ['non-2xx', (r) => p(r.results, 'non2xx')],
  ],
  track: [
    ['accepted/s', (r) => p(r.results, 'acceptedPerS')],
    ['http p99 ms', (r) => p(r.results, 'httpLatencyMs.p99')],
    ['sos-room p99 ms', (r) => p(r.results, 'sosRoomLatencyMs.p99')],
    ['unit-room p99 ms', (r) => p(r.results, 'unitRoomLatencyMs.p99')],
    ['tracking p99 ms', (r) => p(r.results, 'trackingLatencyMs.p99')],
    ['tracking max ms', (r) => p(r.results, 'trackingLatencyMs.max')],
    ['min delivery ratio', (r) => Math.min(...((r.results.deliveryRatio as number[] | undefined) ?? [0]))],
  ],
  fanout: [
    ['each-socket p50 ms', (r) => p(r.results, 'fanoutLatencyMs.p50')],
    ['each-socket p99 ms', (r) => p(r.results, 'fanoutLatencyMs.p99')],
    ['last-socket p50 ms', (r) => p(r.results, 'lastSocketPerSosMs.p50')],
    ['last-socket p99 ms', (r) => p(r.results, 'lastSocketPerSosMs.p99')],
    ['delivery ratio', (r) => p(r.results, 'deliveryRatio')],
    ['create p50 ms', (r) => p(r.results, 'httpLatencyMs.p50')],
  ],
  connect: [
    ['connected', (r) => p(r.results, 'connected')],
    ['KB/socket', (r) => p(r.results, 'rssPerSocketKb')],
    ['connect p99 ms', (r) => p(r.results, 'connectMs.p99')],
    ['ramp s', (r) => p(r.results, 'rampS')],
    ['storm all back ms', (r) => p(r.results, 'allBackMs')],
    ['not back', (r) => p(r.results, 'reconnectMissing')],
  ],
}

const lines = fs
  .readFileSync(process.argv[2] ?? 'bench-results.jsonl', 'utf8')
  .split('\n')
  .filter((l) => l.startsWith('{'))
  .map((l) => JSON.parse(l) as Line)

const groups = new Map<string, Line[]>()
for (const line of lines) {
  const key = line.argv.join(' ')
  groups.set(key, [...(groups.get(key) ?? []), line])
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const fmt = (x: number) => (Math.abs(x) >= 100 ? Math.round(x).toLocaleString('en-US') : String(Math.round(x * 100) / 100))

interface LimitRow {
  figure: string
  engine: string
  limitIs: string
  ours: number | null
  limit: number | null
  percentOfLimit: number | null
  met: boolean | null
}

/** One line per row of the limits table: the median of ours, of the limit and of the ratio over the runs. */
function summarizeLimits(runs: Line[]): void {
  const rows = new Map<string, LimitRow[]>()
  for (const run of runs) {
    const table = (run.reports.find((r) => r.scenario === 'limits')?.results.table ?? []) as LimitRow[]
    for (const row of table) {
      const key = `${row.figure} | ${row.engine} | ${row.limitIs}`
      rows.set(key, [...(rows.get(key) ?? []), row])
    }
  }
  const med = (xs: Array<number | null>) => {
    const ok = xs.filter((x): x is number => typeof x === 'number')
    return ok.length ? `${fmt(median(ok))} [${fmt(Math.min(...ok))} – ${fmt(Math.max(...ok))}]` : '–'
  }
  for (const [key, all] of rows) {
    const met = all.filter((r) => r.met === true).length
    console.log(`  ${key}: ours ${med(all.map((r) => r.ours))}, limit ${med(all.map((r) => r.limit))}, % of limit ${med(all.map((r) => r.percentOfLimit))}; target met in ${met}/${all.length}`)
  }
}

for (const [cmd, runs] of groups) {
  if (runs[0].reports.some((r) => r.scenario === 'limits')) {
    console.log(`\nnpm run bench -- ${cmd}`)
    console.log(`  runs ${runs.length} (ok ${runs.filter((r) => r.ok).length}); commits ${[...new Set(runs.map((r) => r.machine.commit))].join(', ')}; 1-min load at start ${runs.map((r) => r.loadAverage.before[0]).join(', ')}`)
    summarizeLimits(runs)
    continue
  }
  const scenario = runs[0].reports[0]?.scenario ?? ''
  console.log(`\nnpm run bench -- ${cmd}`)
  console.log(`  runs ${runs.length} (ok ${runs.filter((r) => r.ok).length}); commits ${[...new Set(runs.map((r) => r.machine.commit))].join(', ')}; 1-min load at start ${runs.map((r) => r.loadAverage.before[0]).join(', ')}`)
  const figures: Array<[string, Pick]> = [
    ...(FIGURES[scenario] ?? []),
    ['server CPU %', (r) => r.server?.cpuPercent],
    ['loop delay p99 ms', (r) => r.loopDelayMs?.p99],
    ['loop delay max ms', (r) => r.loopDelayMs?.max],
  ]
  for (const [label, pick] of figures) {
    const xs = runs.map((r) => (r.reports[0] ? pick(r.reports[0]) : undefined)).filter((x): x is number => typeof x === 'number' && Number.isFinite(x))
    if (xs.length === 0) continue
    console.log(`  ${label.padEnd(20)} median ${fmt(median(xs)).padStart(9)}   range ${fmt(Math.min(...xs))} – ${fmt(Math.max(...xs))}   (${xs.map(fmt).join(', ')})`)
  }
}
