// The one table `limits` ends with: each figure of ours beside its limit on this machine, measured in the
// same invocation, and how close ours comes to it. 100 % means as good as the bare server: for a rate
// that is ours ÷ limit, for a time or a size limit ÷ ours (so every ratio reads "higher is better").
import { round } from '../lib/stats.ts'

export interface LimitRow {
  figure: string
  engine: string
  ours: number | null
  limit: number | null
  /** What the limit is (which bare server). */
  limitIs: string
  unit: '/s' | 'ms' | 'KB'
  better: 'higher' | 'lower'
  /** The tracker's target, as text, and whether ours meets it (null: no target, or not measured). */
  target: string
  met: boolean | null
}

/** ours as a fraction of the limit, in %, "higher is better" whichever way the figure goes. */
export function ratioPercent(row: Pick<LimitRow, 'ours' | 'limit' | 'better'>): number | null {
  const { ours, limit } = row
  if (ours === null || limit === null || ours <= 0 || limit <= 0) return null
  return round((row.better === 'higher' ? ours / limit : limit / ours) * 100, 1)
}

const show = (x: number | null, unit: LimitRow['unit']) => {
  if (x === null) return '–'
  if (unit === '/s') return `${Math.round(x).toLocaleString('en-US')}/s`
  return `${x >= 100 ? Math.round(x) : round(x, x >= 10 ? 1 : 2)} ${unit}`
}

export function formatLimits(rows: LimitRow[]): string {
  const head = ['figure', 'engine', 'ours', 'limit', 'limit is', '% of limit', 'target', 'met']
  const body = rows.map((r) => {
    const pct = ratioPercent(r)
    return [r.figure, r.engine, show(r.ours, r.unit), show(r.limit, r.unit), r.limitIs, pct === null ? '–' : `${pct}%`, r.target, r.met === null ? '–' : r.met ? 'yes' : 'NO']
  })
  // Left-aligned text columns read better here than the right-aligned numbers of the latency tables.
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)))
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n')
}
