/**
 * npm run bench [-- --duration 10 --warmup 3 --connections 50 --rounds 1 --only throughput|memory --targets a,b]
 *
 * 1. Throughput and latency (autocannon, in this process) against the backend directly and through each proxy,
 *    for a ~100-byte and a 100 KiB response. The backend and every proxy run in their own child process.
 * 2. Memory: 100 MiB and 1 GiB uploads and downloads streamed through Switchboard while its RSS is sampled.
 *
 * Writes bench/results/latest.json and prints markdown tables. Every child is stopped on every exit path.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { cpus, release, tmpdir, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import autocannon, { type Result } from 'autocannon'
import { type Child, freePort, killAll, RssSampler, resetPeak, rss, sleep, start } from './lib/procs.js'
import { download, type Transfer, upload } from './lib/transfer.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const MiB = 1024 * 1024

const { values: opts } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    connections: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '1' },
    only: { type: 'string' },
    targets: { type: 'string' },
    deadline: { type: 'string', default: '900' },
  },
})
const DURATION = Number(opts.duration)
const WARMUP = Number(opts.warmup)
const CONNECTIONS = Number(opts.connections)
const ROUNDS = Number(opts.rounds)

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

async function switchboard(backend: string, level: 'warn' | 'info') {
  const port = await freePort()
  const file = join(work, `routes-${port}.yaml`)
  writeFileSync(
    file,
    [
      `listen: { http: "127.0.0.1:${port}" }`,
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
    args: [join(ROOT, 'dist/src/cli/main.js'), 'start', '-c', file, '--log-level', level],
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
}

function figures(r: Result): LoadFigures {
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
  }
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
  figures: LoadFigures
}

async function throughput(backend: string): Promise<ThroughputRow[]> {
  const only = opts.targets?.split(',')
  const rows: ThroughputRow[] = []
  for (let round = 1; round <= ROUNDS; round++) {
    // Later rounds reverse the order so that drift over the run does not favour one contender.
    const order = CONTENDERS.filter((c) => !only || only.includes(c.id))
    if (round % 2 === 0) order.reverse()
    for (const c of order) {
      const { url, child } = await c.start(backend)
      try {
        for (const size of SIZES) {
          const got = await bodyLength(url + size.path)
          if (got !== size.bytes)
            throw new Error(`${c.id}${size.path}: body ${got} bytes, want ${size.bytes}`)
          if (WARMUP > 0) await load(url + size.path, WARMUP)
          const f = figures(await load(url + size.path, DURATION))
          rows.push({ contender: c.id, label: c.label, size: size.id, round, figures: f })
          const bad =
            f.errors + f.non2xx + f.timeouts > 0 ? `  ERRORS ${f.errors}/${f.non2xx}/${f.timeouts}` : ''
          process.stdout.write(
            `  [${round}] ${c.label.padEnd(38)} ${size.label.padEnd(8)} ${f.reqPerSec.toFixed(0).padStart(7)} req/s` +
              `  p50 ${f.latencyP50Ms} ms  p99 ${f.latencyP99Ms} ms  ${f.throughputMBps.toFixed(1)} MB/s${bad}\n`,
          )
        }
      } finally {
        await child?.stop()
      }
    }
  }
  return rows
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
  rssPeakMiB: number
  growthMiB: number
  samples: number
  peakFrom: 'VmHWM' | 'samples'
}

async function memory(
  backend: string,
): Promise<{ baselineMiB: number; afterMiB: number; rows: MemoryRow[] }> {
  const { url, child } = await switchboard(backend, 'warn')
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
      const before = rss(pid)
      const hwm = resetPeak(pid)
      const sampler = new RssSampler(pid, 100)
      const t = await c.run()
      const s = sampler.stop()
      const peak = hwm ? Math.max(s.peak, rss(pid, 'VmHWM')) : s.peak
      const row: MemoryRow = {
        case: c.id,
        bytes: c.bytes,
        seconds: t.seconds,
        MBps: c.bytes / t.seconds / 1e6,
        intact: t.intact,
        bytesReceived: t.bytesReceived,
        rssBeforeMiB: before / MiB,
        rssPeakMiB: peak / MiB,
        growthMiB: (peak - baselineRss) / MiB,
        samples: s.count,
        peakFrom: hwm ? 'VmHWM' : 'samples',
      }
      rows.push(row)
      process.stdout.write(
        `  ${c.id.padEnd(30)} ${t.seconds.toFixed(2)} s  ${row.MBps.toFixed(0)} MB/s  ` +
          `RSS peak ${row.rssPeakMiB.toFixed(1)} MiB (+${row.growthMiB.toFixed(1)})  ` +
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

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] ?? 0
}

// ---- report --------------------------------------------------------------------------------------------------------
function pkgVersion(name: string): string {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as {
    version: string
  }
  return pkg.version
}

function summarise(rows: ThroughputRow[]) {
  const out: Record<string, Record<string, LoadFigures & { rounds: number; reqPerSecRounds: number[] }>> = {}
  for (const size of SIZES) {
    out[size.id] = {}
    for (const c of CONTENDERS) {
      const mine = rows.filter((r) => r.size === size.id && r.contender === c.id)
      if (mine.length === 0) continue
      const avg = (f: (x: LoadFigures) => number) => mine.reduce((a, r) => a + f(r.figures), 0) / mine.length
      const sum = (f: (x: LoadFigures) => number) => mine.reduce((a, r) => a + f(r.figures), 0)
      out[size.id]![c.id] = {
        reqPerSec: avg((f) => f.reqPerSec),
        latencyP50Ms: median(mine.map((r) => r.figures.latencyP50Ms)),
        latencyP99Ms: median(mine.map((r) => r.figures.latencyP99Ms)),
        latencyAvgMs: avg((f) => f.latencyAvgMs),
        throughputMBps: avg((f) => f.throughputMBps),
        requests: sum((f) => f.requests),
        errors: sum((f) => f.errors),
        non2xx: sum((f) => f.non2xx),
        timeouts: sum((f) => f.timeouts),
        rounds: mine.length,
        reqPerSecRounds: mine.map((r) => Math.round(r.figures.reqPerSec)),
      }
    }
  }
  return out
}

function markdown(
  summary: ReturnType<typeof summarise>,
  mem: Awaited<ReturnType<typeof memory>> | undefined,
) {
  const lines: string[] = []
  for (const size of SIZES) {
    const table = summary[size.id]
    if (!table || Object.keys(table).length === 0) continue
    const ref = table['reply-from']?.reqPerSec
    const bare = table['http-proxy']?.reqPerSec
    lines.push(`#### ${size.label} responses`, '')
    lines.push(
      '| | req/s | p50 ms | p99 ms | MB/s | vs reply-from | vs http-proxy | errors |',
      '|---|---:|---:|---:|---:|---:|---:|---:|',
    )
    for (const c of CONTENDERS) {
      const f = table[c.id]
      if (!f) continue
      const ratio = (x: number | undefined) => (x ? `${(f.reqPerSec / x).toFixed(2)}x` : '')
      lines.push(
        `| ${c.label} | ${f.reqPerSec.toFixed(0)} | ${f.latencyP50Ms} | ${f.latencyP99Ms} | ${f.throughputMBps.toFixed(1)} | ${c.id === 'direct' ? '' : ratio(ref)} | ${c.id === 'direct' ? '' : ratio(bare)} | ${f.errors + f.non2xx + f.timeouts} |`,
      )
    }
    lines.push('')
  }
  if (mem) {
    lines.push(`#### Memory (Switchboard RSS; idle baseline ${mem.baselineMiB.toFixed(1)} MiB)`, '')
    lines.push(
      '| transfer | time s | MB/s | RSS peak MiB | growth MiB | bytes intact |',
      '|---|---:|---:|---:|---:|---|',
    )
    for (const r of mem.rows) {
      lines.push(
        `| ${r.case} | ${r.seconds.toFixed(2)} | ${r.MBps.toFixed(0)} | ${r.rssPeakMiB.toFixed(1)} | ${r.growthMiB.toFixed(1)} | ${r.intact ? 'yes' : 'NO'} |`,
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
  let mem: Awaited<ReturnType<typeof memory>> | undefined
  try {
    if (opts.only !== 'memory') {
      process.stdout.write(
        `\nthroughput: ${CONNECTIONS} connections, keep-alive, ${WARMUP} s warm-up + ${DURATION} s per run, ${ROUNDS} round(s)\n`,
      )
      rows = await throughput(backendUrl)
    }
    if (opts.only !== 'throughput') {
      process.stdout.write('\nmemory: streaming through Switchboard, RSS sampled every 100 ms\n')
      mem = await memory(backendUrl)
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
    },
    throughput: { summary, runs: rows },
    memory: mem ?? null,
  }
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true })
  writeFileSync(join(ROOT, 'bench/results/latest.json'), `${JSON.stringify(result, null, 2)}\n`)
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
