/**
 * npx tsx bench/history.ts [files...]   (default: every bench/results/*.json but latest.json)
 *
 * Pools the rounds of several bench runs and compares each contender with the reference proxies round by round,
 * keeping only rounds where both sides were undisturbed by other jobs. On a shared machine this is steadier than any
 * single run.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { median, paired, type RoundFigure } from './lib/stats.js'

interface SavedRow {
  contender: string
  label: string
  size: string
  round: number
  figures: { reqPerSec: number; serverCpuUsPerReq?: number; foreignPct?: number }
}
interface Saved {
  started: string
  machine: { commit?: string | null; srcModified?: string[] }
  method: { quietThresholdPct?: number; durationSeconds: number }
  throughput: { runs: SavedRow[] }
}

const dir = join(dirname(fileURLToPath(import.meta.url)), 'results')
const files =
  process.argv.length > 2
    ? process.argv.slice(2)
    : readdirSync(dir)
        .filter((f) => f.endsWith('.json') && f !== 'latest.json')
        .sort()
        .map((f) => join(dir, f))

const rows: (SavedRow & { key: string })[] = []
let quietPct = 10
for (const file of files) {
  const saved = JSON.parse(readFileSync(file, 'utf8')) as Saved
  quietPct = saved.method.quietThresholdPct ?? quietPct
  const dirty = saved.machine.srcModified?.length
    ? ` (src modified: ${saved.machine.srcModified.join(' ')})`
    : ''
  process.stdout.write(
    `${saved.started}  ${saved.machine.commit?.slice(0, 8) ?? '?'}${dirty}  ${saved.throughput.runs.length} runs\n`,
  )
  for (const r of saved.throughput.runs) {
    if (r.figures.serverCpuUsPerReq === undefined || r.figures.foreignPct === undefined) continue
    rows.push({ ...r, key: `${saved.started}#${r.round}` })
  }
}

const figures = (size: string, contender: string): RoundFigure[] =>
  rows
    .filter((r) => r.size === size && r.contender === contender)
    .map((r) => ({
      round: r.key,
      reqPerSec: r.figures.reqPerSec,
      serverCpuUsPerReq: r.figures.serverCpuUsPerReq ?? 0,
      foreignPct: r.figures.foreignPct ?? 100,
    }))

const contenders = [...new Map(rows.map((r) => [r.contender, r.label])).entries()]
for (const size of [...new Set(rows.map((r) => r.size))]) {
  process.stdout.write(
    `\n${size}\n| | quiet runs | median req/s | median CPU µs/req | req/s vs reply-from | CPU/req vs reply-from | req/s vs http-proxy |\n|---|---:|---:|---:|---:|---:|---:|\n`,
  )
  for (const [id, label] of contenders) {
    const mine = figures(size, id)
    const quiet = mine.filter((f) => f.foreignPct < quietPct)
    if (mine.length === 0) continue
    const rf = id === 'reply-from' ? undefined : paired(mine, figures(size, 'reply-from'), quietPct)
    const hp = id === 'http-proxy' ? undefined : paired(mine, figures(size, 'http-proxy'), quietPct)
    const ratio = (v: number | undefined, p: { pairs: number; quiet: boolean } | undefined) =>
      v === undefined || !p ? '' : `${v.toFixed(2)}x (${p.pairs}${p.quiet ? '' : ', disturbed'})`
    process.stdout.write(
      `| ${label} | ${quiet.length}/${mine.length} | ${median(quiet.map((f) => f.reqPerSec)).toFixed(0)} | ${median(quiet.map((f) => f.serverCpuUsPerReq)).toFixed(0)} | ${id === 'direct' ? '' : ratio(rf?.reqPerSec, rf)} | ${id === 'direct' ? '' : ratio(rf?.cpuPerReq, rf)} | ${id === 'direct' ? '' : ratio(hp?.reqPerSec, hp)} |\n`,
    )
  }
}
