/**
 * npm run bench [-- --duration 4 --warmup 2 --connections 50 --rounds 4 --only throughput|memory
 *                   --targets direct,reply-from,http-proxy,switchboard,switchboard-info,caddy --sizes small,100k
 *                   --quiet-wait 30 --retries 4 --deadline 900 --baseline DIR]
 *
 * --baseline DIR adds "switchboard-baseline": another checkout of Switchboard (built, with dist/) run with the same
 * table, so a change is measured against the commit before it in one run, round by round (scripts/bench-baseline.sh
 * makes one).
 *
 * 1. Throughput and latency (autocannon, in this process) against the backend directly and through each proxy,
 *    for a ~100-byte and a 100 KiB response. The backend and every proxy run in their own child process; the
 *    contenders are measured in interleaved rounds and each figure is a median over rounds.
 * 2. Memory: 100 MiB and 1 GiB uploads and downloads streamed through Switchboard while its RSS is sampled.
 *
 * The machine may be shared: before each run the bench waits (within --quiet-wait seconds over the whole bench) for
 * other processes to use under 10% of the CPU, records the foreign load during the run, and repeats a disturbed run
 * (at most --retries times in all), keeping the calmer attempt.
 *
 * Writes bench/results/latest.json (and a copy named after the start time) and prints markdown tables. Every child
 * is stopped on every exit path.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { cpus, release, tmpdir, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import autocannon, { type Result } from 'autocannon'
import { CpuMeter, type CpuWindow, waitForQuiet } from './lib/cpu.js'
import { type Child, freePort, killAll, RssSampler, resetPeak, rss, sleep, start } from './lib/procs.js'
import { median, type Paired, paired, type RoundFigure } from './lib/stats.js'
import { download, type Transfer, upload } from './lib/transfer.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const MiB = 1024 * 1024

const { values: opts } = parseArgs({
  options: {
    duration: { type: 'string', default: '4' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '4' },
    retries: { type: 'string', default: '4' },
    only: { type: 'string' },
    targets: { type: 'string' },
    sizes: { type: 'string' },
    deadline: { type: 'string', default: '900' },
    'quiet-wait': { type: 'string', default: '30' },
    baseline: { type: 'string' },
  },
})
const DURATION = Number(opts.duration)
const WARMUP = Number(opts.warmup)
const CONNECTIONS = Number(opts.connections)
const ROUNDS = Number(opts.rounds)
/** A run during which other processes used more than this share of the machine is marked disturbed. */
const QUIET_PCT = 10

// ---- cleanup on every exit path ----------------------------------------------------------------------------------
const work = mkdtempSync(join(tmpdir(), 'switchboard-bench-'))
function cleanup(): void {
  killAll()
  rmSync(work, { recursive: true, force: true })
}
process.on('exit', cleanup)
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    process.stderr.write(`\nbench: ${sig}, stopping children\n`)
    cleanup()
    process.exit(130)
  })
}
setTimeout(() => {
  process.stderr.write(`\nbench: over the ${opts.deadline} s deadline, stopping children\n`)
  cleanup()
  process.exit(1)
}, Number(opts.deadline) * 1000).unref()

// ---- the contenders ------------------------------------------------------------------------------------------------
const node = process.execPath
const tsx = ['--import', 'tsx']

function caddyVersion(): string | undefined {
  try {
    return execFileSync('caddy', ['version'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim()
  } catch {
    return undefined
  }
}
const CADDY = caddyVersion()

interface Contender {
  id: string
  label: string
  /** Starts the proxy in front of `backend`; returns its URL and the child (none for the backend itself). */
  start(backend: string): Promise<{ url: string; child: Child | undefined }>
}

async function switchboard(backend: string, level: 'warn' | 'info', root = ROOT) {
  const port = await freePort()
  const file = join(work, `routes-${port}.yaml`)
  writeFileSync(
    file,
    [
      `listen: { http: "127.0.0.1:${port}" }`,
      // several proxies run side by side: none takes the default admin port
      `admin: false`,
      `upstreams:`,
      `  b: { targets: ["${backend}"] }`,
      `routes:`,
      `  - upstream: b`,
      '',
    ].join('\n'),
  )
  const url = `http://127.0.0.1:${port}`
  // stdout is /dev/null: with info, one JSON line per request is serialised and written there.
  const child = await start({
    name: `switchboard (${level})`,
    command: node,
    args: [join(root, 'dist/src/cli/main.js'), 'start', '-c', file, '--log-level', level],
    readyUrl: `${url}/health`,
  })
  return { url, child }
}

async function fastifyProxy(backend: string, script: string, name: string) {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const child = await start({
    name,
    command: node,
    args: [...tsx, join(ROOT, 'bench/servers', script), '--port', String(port), '--upstream', backend],
    readyUrl: `${url}/health`,
  })
  return { url, child }
}

const CONTENDERS: Contender[] = [
  { id: 'direct', label: 'backend direct', start: async (b) => ({ url: b, child: undefined }) },
  {
    id: 'reply-from',
    label: '@fastify/reply-from (minimal)',
    start: (b) => fastifyProxy(b, 'reply-from.ts', 'reply-from'),
  },
  {
    id: 'http-proxy',
    label: '@fastify/http-proxy (bare)',
    start: (b) => fastifyProxy(b, 'http-proxy.ts', 'http-proxy'),
  },
  { id: 'switchboard', label: 'Switchboard (--log-level warn)', start: (b) => switchboard(b, 'warn') },
  {
    id: 'switchboard-info',
    label: 'Switchboard (info, log to /dev/null)',
    start: (b) => switchboard(b, 'info'),
  },
]
const BASELINE = opts.baseline
if (BASELINE) {
  const commit = (() => {
    try {
      return execFileSync('git', ['-C', BASELINE, 'rev-parse', '--short', 'HEAD'], {
        encoding: 'utf8',
      }).trim()
    } catch {
      return BASELINE
    }
  })()
  CONTENDERS.push({
    id: 'switchboard-baseline',
    label: `Switchboard at ${commit} (baseline, warn)`,
    start: (b) => switchboard(b, 'warn', BASELINE),
  })
}
if (CADDY) {
  CONTENDERS.push({
    id: 'caddy',
    label: 'Caddy reverse_proxy',
    async start(backend) {
      const port = await freePort()
      const file = join(work, `Caddyfile-${port}`)
      writeFileSync(
        file,
        `{\n\tadmin off\n\tauto_https off\n}\n\nhttp://127.0.0.1:${port} {\n\treverse_proxy ${backend.replace('http://', '')}\n}\n`,
      )
      const home = join(work, `caddy-${port}`)
      mkdirSync(home, { recursive: true })
      const url = `http://127.0.0.1:${port}`
      const child = await start({
        name: 'caddy',
        command: 'caddy',
        args: ['run', '--adapter', 'caddyfile', '--config', file],
        env: { HOME: home, XDG_CONFIG_HOME: home, XDG_DATA_HOME: home },
        readyUrl: `${url}/health`,
      })
      return { url, child }
    },
  })
} else {
  process.stderr.write('bench: caddy not found on PATH, skipping the Caddy comparison\n')
}

const SIZES = [
  { id: 'small', label: '~100 B', path: '/small', bytes: 100 },
  { id: '100k', label: '100 KiB', path: '/100k', bytes: 100 * 1024 },
] as const

// ---- throughput ----------------------------------------------------------------------------------------------------
interface LoadFigures {
  reqPerSec: number
  latencyP50Ms: number
  latencyP99Ms: number
  latencyAvgMs: number
  throughputMBps: number
  requests: number
  errors: number
  non2xx: number
  timeouts: number
  /** CPU time of the process answering autocannon (the proxy; the backend when direct), per request. */
  serverCpuUsPerReq: number
  /** CPU used by the proxy, backend and bench processes, in cores (2 = both cores busy). */
  cores: { bench: number; backend: number; proxy: number }
  /** Load from processes outside the bench during the run, % of the machine. */
  foreignPct: number
}

function figures(r: Result, cpu: CpuWindow, proxied: boolean): LoadFigures {
  const [bench = 0, backend = 0, proxy = 0] = cpu.perPid
  const server = proxied ? proxy : backend
  return {
    reqPerSec: r.requests.average,
    latencyP50Ms: r.latency.p50,
    latencyP99Ms: r.latency.p99,
    latencyAvgMs: r.latency.average,
    throughputMBps: r.throughput.average / 1e6,
    requests: r.requests.total,
    errors: r.errors,
    non2xx: r.non2xx,
    timeouts: r.timeouts,
    serverCpuUsPerReq: r.requests.total > 0 ? (server * 1e6) / r.requests.total : 0,
    cores: {
      bench: round2(bench / cpu.seconds),
      backend: round2(backend / cpu.seconds),
      proxy: round2(proxy / cpu.seconds),
    },
    foreignPct: round2(cpu.foreignPct),
  }
}

function round2(x: number): number {
  return Math.round(x * 100) / 100
}

function bodyLength(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false }, (res) => {
      let n = 0
      res.on('data', (c: Buffer) => {
        n += c.length
      })
      res.on('end', () => resolve(res.statusCode === 200 ? n : -res.statusCode!))
    })
    req.on('error', reject)
    req.end()
  })
}

async function load(url: string, seconds: number): Promise<Result> {
  return await autocannon({ url, connections: CONNECTIONS, duration: seconds, pipelining: 1 })
}

interface ThroughputRow {
  contender: string
  label: string
  size: string
  round: number
  attempt: number
  waitedForQuietMs: number
  figures: LoadFigures
}

/** Time still allowed for waiting on other jobs to go quiet, and repeats of disturbed runs, over the whole bench. */
let quietBudgetMs = Number(opts['quiet-wait']) * 1000
let retriesLeft = Number(opts.retries)

async function gate(pids: number[]): Promise<number> {
  if (quietBudgetMs <= 0) return 0
  const { waitedMs } = await waitForQuiet(pids, QUIET_PCT, Math.min(quietBudgetMs, 20_000))
  quietBudgetMs -= waitedMs
  return waitedMs
}

/**
 * All contenders run side by side (an idle proxy costs no CPU); for each size, each is warmed up once, then measured
 * in ROUNDS short runs, interleaved and in a rotating order, so that load from other jobs on a shared machine and
 * drift over time fall on every contender alike.
 */
async function throughput(backend: Child, backendUrl: string): Promise<ThroughputRow[]> {
  const only = opts.targets?.split(',')
  const chosen = CONTENDERS.filter((c) => !only || only.includes(c.id))
  const live: { c: Contender; url: string; child: Child | undefined; pids: number[] }[] = []
  const rows: ThroughputRow[] = []
  try {
    for (const c of chosen) {
      const { url, child } = await c.start(backendUrl)
      live.push({ c, url, child, pids: [process.pid, backend.pid, ...(child ? [child.pid] : [])] })
    }
    for (const size of SIZES.filter((z) => !opts.sizes || opts.sizes.split(',').includes(z.id))) {
      for (const { c, url, pids } of live) {
        const got = await bodyLength(url + size.path)
        if (got !== size.bytes) throw new Error(`${c.id}${size.path}: body ${got} bytes, want ${size.bytes}`)
        // Warm up until a warm-up is not disturbed by other jobs (or the waiting budget is spent).
        for (let w = 0; w < 3 && WARMUP > 0; w++) {
          await gate(pids)
          const warm = new CpuMeter(pids)
          await load(url + size.path, WARMUP)
          if (warm.read().foreignPct < QUIET_PCT || quietBudgetMs <= 0) break
        }
      }
      for (let round = 1; round <= ROUNDS; round++) {
        const n = live.length
        // Rotated each round, so that every contender takes every place in the order.
        const order = live.map((_, i) => live[(i + round - 1) % n]!)
        for (const { c, url, child, pids } of order) {
          // A run disturbed by other jobs (foreign load over QUIET_PCT) is repeated while --retries last; the
          // calmer attempt is kept.
          let best: ThroughputRow | undefined
          for (let attempt = 1; ; attempt++) {
            const waited = await gate(pids)
            const meter = new CpuMeter(pids)
            const result = await load(url + size.path, DURATION)
            const f = figures(result, meter.read(), child !== undefined)
            const row = {
              contender: c.id,
              label: c.label,
              size: size.id,
              round,
              attempt,
              waitedForQuietMs: waited,
              figures: f,
            }
            report(row)
            if (!best || f.foreignPct < best.figures.foreignPct) best = row
            if (f.foreignPct < QUIET_PCT || retriesLeft <= 0 || attempt >= 2) break
            retriesLeft--
          }
          rows.push(best!)
        }
      }
    }
  } finally {
    for (const { child } of live) await child?.stop()
  }
  return rows
}

function report(row: ThroughputRow): void {
  const f = row.figures
  const bad = f.errors + f.non2xx + f.timeouts > 0 ? `  ERRORS ${f.errors}/${f.non2xx}/${f.timeouts}` : ''
  const size = SIZES.find((s) => s.id === row.size)?.label ?? row.size
  process.stdout.write(
    `  [${row.round}.${row.attempt}] ${row.label.padEnd(38)} ${size.padEnd(8)} ${f.reqPerSec.toFixed(0).padStart(6)} req/s` +
      `  p50 ${f.latencyP50Ms} ms  p99 ${f.latencyP99Ms} ms  ${f.throughputMBps.toFixed(1)} MB/s` +
      `  server ${f.serverCpuUsPerReq.toFixed(0)} us/req  foreign ${f.foreignPct.toFixed(0)}%${bad}\n`,
  )
}

// ---- memory --------------------------------------------------------------------------------------------------------
interface MemoryRow {
  case: string
  bytes: number
  seconds: number
  MBps: number
  intact: boolean
  bytesReceived: number
  rssBeforeMiB: number
  /** Highest RSS during the transfer: the kernel's VmHWM (reset before it) or, failing that, the 100 ms samples. */
  rssPeakMiB: number
  peakFrom: 'VmHWM' | 'samples'
  /** Highest sampled RSS in the first and the second half of the transfer: equal when memory stays flat. */
  rssPeakFirstHalfMiB: number
  rssPeakSecondHalfMiB: number
  growthMiB: number
  samples: number
  proxyCores: number
  foreignPct: number
}

interface MemoryReport {
  baselineMiB: number
  afterMiB: number
  rows: MemoryRow[]
}

async function memory(backend: Child, backendUrl: string): Promise<MemoryReport> {
  const { url, child } = await switchboard(backendUrl, 'warn')
  const pid = child.pid
  try {
    // Exercise the request path first so that the baseline is a warm, idle proxy, not a just-started one.
    await load(`${url}/small`, 2)
    await upload(`${url}/upload`, 4 * MiB, false)
    await download(`${url}/download?bytes=${4 * MiB}`, 4 * MiB)
    await sleep(1500)
    const base = new RssSampler(pid)
    await sleep(1000)
    base.stop()
    const baselineRss = median(base.samples.map((s) => s.rss))
    const cases: { id: string; bytes: number; run: () => Promise<Transfer> }[] = []
    for (const bytes of [100 * MiB, 1024 * MiB]) {
      const size = bytes === 1024 * MiB ? '1 GiB' : '100 MiB'
      cases.push(
        { id: `upload ${size} (Content-Length)`, bytes, run: () => upload(`${url}/upload`, bytes, false) },
        { id: `upload ${size} (chunked)`, bytes, run: () => upload(`${url}/upload`, bytes, true) },
        { id: `download ${size}`, bytes, run: () => download(`${url}/download?bytes=${bytes}`, bytes) },
      )
    }
    const rows: MemoryRow[] = []
    for (const c of cases) {
      await gate([process.pid, backend.pid, pid])
      const before = rss(pid)
      const hwm = resetPeak(pid)
      const meter = new CpuMeter([process.pid, backend.pid, pid])
      const sampler = new RssSampler(pid, 100)
      const t = await c.run()
      const s = sampler.stop()
      const cpu = meter.read()
      const peak = hwm ? Math.max(s.peak, rss(pid, 'VmHWM')) : s.peak
      const mid = (sampler.samples.at(-1)?.t ?? 0) / 2
      const half = (first: boolean) =>
        Math.max(...sampler.samples.filter((x) => x.t <= mid === first).map((x) => x.rss), 0) / MiB
      const row: MemoryRow = {
        case: c.id,
        bytes: c.bytes,
        seconds: t.seconds,
        MBps: c.bytes / t.seconds / 1e6,
        intact: t.intact,
        bytesReceived: t.bytesReceived,
        rssBeforeMiB: before / MiB,
        rssPeakMiB: peak / MiB,
        peakFrom: hwm ? 'VmHWM' : 'samples',
        rssPeakFirstHalfMiB: half(true),
        rssPeakSecondHalfMiB: half(false),
        growthMiB: (peak - baselineRss) / MiB,
        samples: s.count,
        proxyCores: round2((cpu.perPid[2] ?? 0) / cpu.seconds),
        foreignPct: round2(cpu.foreignPct),
      }
      rows.push(row)
      process.stdout.write(
        `  ${c.id.padEnd(30)} ${t.seconds.toFixed(2)} s  ${row.MBps.toFixed(0)} MB/s  ` +
          `RSS peak ${row.rssPeakMiB.toFixed(1)} MiB (+${row.growthMiB.toFixed(1)}; halves ` +
          `${row.rssPeakFirstHalfMiB.toFixed(1)} / ${row.rssPeakSecondHalfMiB.toFixed(1)})  proxy ${row.proxyCores} cores  foreign ${row.foreignPct.toFixed(0)}%  ` +
          `${t.intact ? 'intact' : `NOT INTACT: ${t.bytesReceived} bytes, ${t.receivedSha256} vs ${t.sentSha256}`}\n`,
      )
      await sleep(500)
    }
    await sleep(1000)
    return { baselineMiB: baselineRss / MiB, afterMiB: rss(pid) / MiB, rows }
  } finally {
    await child.stop()
  }
}

function gitState(): { commit: string | null; srcModified: string[] } {
  try {
    const git = (args: string[]) =>
      execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
    const modified = git(['status', '--porcelain', '--', 'src']).split('\n').filter(Boolean)
    return { commit: git(['rev-parse', 'HEAD']).trim(), srcModified: modified.map((l) => l.slice(3)) }
  } catch {
    return { commit: null, srcModified: [] }
  }
}

// ---- report --------------------------------------------------------------------------------------------------------
function pkgVersion(name: string): string {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as {
    version: string
  }
  return pkg.version
}

interface Summary {
  reqPerSec: number
  reqPerSecRounds: number[]
  latencyP50Ms: number
  latencyP99Ms: number
  throughputMBps: number
  serverCpuUsPerReq: number
  requests: number
  failures: number
  /** Rounds with foreign load under QUIET_PCT: when there are any, the figures are the medians of those alone. */
  quietRounds: number
  foreignPctRounds: number[]
  rounds: number
  /** Round-by-round comparisons (see lib/stats.ts). */
  vsReplyFrom: Paired | undefined
  vsHttpProxy: Paired | undefined
  vsBaseline: Paired | undefined
}

function byRound(rows: ThroughputRow[], size: string, contender: string): RoundFigure[] {
  return rows
    .filter((r) => r.size === size && r.contender === contender)
    .map((r) => ({
      round: String(r.round),
      reqPerSec: r.figures.reqPerSec,
      serverCpuUsPerReq: r.figures.serverCpuUsPerReq,
      foreignPct: r.figures.foreignPct,
    }))
}

/** Per size and contender: medians over the undisturbed rounds (over all rounds when none was undisturbed). */
function summarise(rows: ThroughputRow[]): Record<string, Record<string, Summary>> {
  const out: Record<string, Record<string, Summary>> = {}
  for (const size of SIZES) {
    const table: Record<string, Summary> = {}
    out[size.id] = table
    for (const c of CONTENDERS) {
      const all = rows.filter((r) => r.size === size.id && r.contender === c.id).map((r) => r.figures)
      if (all.length === 0) continue
      const quiet = all.filter((f) => f.foreignPct < QUIET_PCT)
      const use = quiet.length > 0 ? quiet : all
      const med = (f: (x: LoadFigures) => number) => median(use.map(f))
      table[c.id] = {
        reqPerSec: med((f) => f.reqPerSec),
        reqPerSecRounds: all.map((f) => Math.round(f.reqPerSec)),
        latencyP50Ms: med((f) => f.latencyP50Ms),
        latencyP99Ms: med((f) => f.latencyP99Ms),
        throughputMBps: med((f) => f.throughputMBps),
        serverCpuUsPerReq: med((f) => f.serverCpuUsPerReq),
        requests: all.reduce((a, f) => a + f.requests, 0),
        failures: all.reduce((a, f) => a + f.errors + f.non2xx + f.timeouts, 0),
        quietRounds: quiet.length,
        foreignPctRounds: all.map((f) => f.foreignPct),
        rounds: all.length,
        vsReplyFrom: paired(byRound(rows, size.id, c.id), byRound(rows, size.id, 'reply-from'), QUIET_PCT),
        vsHttpProxy: paired(byRound(rows, size.id, c.id), byRound(rows, size.id, 'http-proxy'), QUIET_PCT),
        vsBaseline: paired(
          byRound(rows, size.id, c.id),
          byRound(rows, size.id, 'switchboard-baseline'),
          QUIET_PCT,
        ),
      }
    }
  }
  return out
}

function markdown(summary: Record<string, Record<string, Summary>>, mem: MemoryReport | undefined): string {
  const lines: string[] = []
  const x = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '' : `${v.toFixed(2)}x`)
  for (const size of SIZES) {
    const table = summary[size.id]
    if (!table || Object.keys(table).length === 0) continue
    lines.push(`#### ${size.label} responses`, '')
    lines.push(
      '| | req/s | p50 ms | p99 ms | MB/s | server CPU µs/req | req/s vs reply-from | req/s vs http-proxy | CPU/req vs reply-from | quiet rounds | req/s by round (foreign load) | errors |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|',
    )
    for (const c of CONTENDERS) {
      const f = table[c.id]
      if (!f) continue
      const proxied = c.id !== 'direct' && c.id !== 'reply-from'
      const ratio = (p: Paired | undefined, v: number | undefined) =>
        p && v !== undefined ? `${x(v)}${p.quiet ? '' : ' *'}` : ''
      const byRoundText = f.reqPerSecRounds
        .map((r, i) => `${r} (${f.foreignPctRounds[i]?.toFixed(0)}%)`)
        .join(', ')
      lines.push(
        `| ${c.label} | ${f.reqPerSec.toFixed(0)} | ${f.latencyP50Ms} | ${f.latencyP99Ms} | ${f.throughputMBps.toFixed(1)} | ${f.serverCpuUsPerReq.toFixed(0)} | ${proxied ? ratio(f.vsReplyFrom, f.vsReplyFrom?.reqPerSec) : ''} | ${c.id !== 'direct' && c.id !== 'http-proxy' ? ratio(f.vsHttpProxy, f.vsHttpProxy?.reqPerSec) : ''} | ${proxied ? ratio(f.vsReplyFrom, f.vsReplyFrom?.cpuPerReq) : ''} | ${f.quietRounds}/${f.rounds} | ${byRoundText} | ${f.failures} |`,
      )
    }
    lines.push('')
  }
  if (BASELINE) {
    lines.push(
      '#### This checkout against the baseline',
      '',
      '| size | req/s ratio | CPU/req ratio | rounds |',
      '|---|---:|---:|---:|',
    )
    for (const size of SIZES) {
      const v = summary[size.id]?.switchboard?.vsBaseline
      if (v)
        lines.push(
          `| ${size.label} | ${x(v.reqPerSec)}${v.quiet ? '' : ' *'} | ${x(v.cpuPerReq)} | ${v.pairs} |`,
        )
    }
    lines.push('')
  }
  lines.push(
    'req/s, latency, MB/s and CPU: medians over the undisturbed rounds (all rounds when none was). Ratios: median of',
    'the round-by-round ratios (contenders of one round run back to back); * marks a ratio with no round where both',
    'sides were undisturbed. Foreign load: CPU used by other processes during the run, % of the machine.',
    '',
  )
  if (mem) {
    lines.push(`#### Memory (Switchboard RSS; idle baseline ${mem.baselineMiB.toFixed(1)} MiB)`, '')
    lines.push(
      '| transfer | time s | MB/s | RSS peak MiB | growth over baseline MiB | peak 1st half / 2nd half MiB | foreign load | bytes and SHA-256 intact |',
      '|---|---:|---:|---:|---:|---:|---:|---|',
    )
    for (const r of mem.rows) {
      lines.push(
        `| ${r.case} | ${r.seconds.toFixed(2)} | ${r.MBps.toFixed(0)} | ${r.rssPeakMiB.toFixed(1)} | ${r.growthMiB.toFixed(1)} | ${r.rssPeakFirstHalfMiB.toFixed(1)} / ${r.rssPeakSecondHalfMiB.toFixed(1)} | ${r.foreignPct.toFixed(0)}% | ${r.intact ? 'yes' : 'NO'} |`,
      )
    }
    lines.push('', `RSS after all transfers: ${mem.afterMiB.toFixed(1)} MiB`, '')
  }
  return lines.join('\n')
}

async function main(): Promise<number> {
  const started = new Date()
  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    kernel: release(),
    node: process.version,
    undici: pkgVersion('undici'),
    fastify: pkgVersion('fastify'),
    replyFrom: pkgVersion('@fastify/reply-from'),
    httpProxy: pkgVersion('@fastify/http-proxy'),
    autocannon: pkgVersion('autocannon'),
    caddy: CADDY ?? null,
    ...gitState(),
  }
  process.stdout.write(`bench: ${JSON.stringify(machine)}\n`)
  const backendPort = await freePort()
  const backendUrl = `http://127.0.0.1:${backendPort}`
  const backend = await start({
    name: 'backend',
    command: node,
    args: [...tsx, join(ROOT, 'bench/servers/backend.ts'), '--port', String(backendPort)],
    readyUrl: `${backendUrl}/health`,
  })
  let rows: ThroughputRow[] = []
  let mem: MemoryReport | undefined
  try {
    if (opts.only !== 'memory') {
      process.stdout.write(
        `\nthroughput: ${CONNECTIONS} connections, keep-alive, ${WARMUP} s warm-up + ${DURATION} s per run, ${ROUNDS} round(s)\n`,
      )
      rows = await throughput(backend, backendUrl)
    }
    if (opts.only !== 'throughput') {
      process.stdout.write('\nmemory: streaming through Switchboard, RSS sampled every 100 ms\n')
      mem = await memory(backend, backendUrl)
    }
  } finally {
    await backend.stop()
  }
  const summary = summarise(rows)
  const result = {
    started: started.toISOString(),
    seconds: Math.round((Date.now() - started.getTime()) / 1000),
    machine,
    method: {
      connections: CONNECTIONS,
      pipelining: 1,
      warmupSeconds: WARMUP,
      durationSeconds: DURATION,
      rounds: ROUNDS,
      quietThresholdPct: QUIET_PCT,
      rssSampleMs: 100,
    },
    throughput: { summary, runs: rows },
    memory: mem ?? null,
  }
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true })
  const json = `${JSON.stringify(result, null, 2)}\n`
  writeFileSync(join(ROOT, 'bench/results/latest.json'), json)
  // Kept too under the start time, so that runs can be compared later.
  writeFileSync(join(ROOT, `bench/results/${result.started.replace(/[:.]/g, '-')}.json`), json)
  process.stdout.write(`\n${markdown(summary, mem)}\nwrote bench/results/latest.json (${result.seconds} s)\n`)
  const failed =
    rows.some((r) => r.figures.errors + r.figures.non2xx + r.figures.timeouts > 0) ||
    (mem?.rows.some((r) => !r.intact) ?? false)
  return failed ? 1 : 0
}

main().then(
  (code) => {
    cleanup()
    process.exit(code)
  },
  (err: unknown) => {
    process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`)
    cleanup()
    process.exit(1)
  },
)
