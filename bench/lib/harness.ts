/**
 * Shared plumbing for the standalone benches (bench/pools.ts, bench/https.ts): child processes that are always
 * stopped (normal end, error, signal, overall deadline), waiting for other benchmarks on the machine to finish,
 * machine facts for the report, and the result files. Loopback only.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { cpus, release, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { waitForQuiet } from './cpu.js'
import { sleep } from './procs.js'

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const MiB = 1024 * 1024
export const SWITCHBOARD = join(ROOT, 'dist/src/cli/main.js')
/** A run during which other processes used more than this share of the machine is repeated once. */
export const QUIET_PCT = 15

/** Clock ticks per second of /proc/PID/stat times. */
export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()

// ---- children ------------------------------------------------------------------------------------------------------

export interface Spawned {
  name: string
  proc: ChildProcess
  pid: number
  /** Resolves when the process has exited (at once if it already has). */
  exited: Promise<void>
  hasExited(): boolean
  stderr(): string
  /** SIGTERM, then SIGKILL after 3 s. */
  stop(): Promise<void>
  /** SIGKILL now; resolves once it is gone. */
  kill(): Promise<void>
}

const children = new Set<Spawned>()

export interface SpawnOptions {
  /** Called with each stdout line; without it stdout goes to /dev/null. */
  onLine?: (line: string) => void
}

export function spawnChild(name: string, command: string, args: string[], o: SpawnOptions = {}): Spawned {
  const proc = spawn(command, args, { stdio: ['ignore', o.onLine ? 'pipe' : 'ignore', 'pipe'] })
  let tail = ''
  proc.stderr?.on('data', (c: Buffer) => {
    tail = (tail + c.toString()).slice(-4096)
  })
  if (o.onLine && proc.stdout) {
    const onLine = o.onLine
    createInterface({ input: proc.stdout, crlfDelay: Number.POSITIVE_INFINITY }).on('line', onLine)
  }
  let done = false
  const exited = new Promise<void>((resolve) =>
    proc.once('exit', () => {
      done = true
      resolve()
    }),
  )
  const child: Spawned = {
    name,
    proc,
    pid: proc.pid ?? -1,
    exited,
    hasExited: () => done,
    stderr: () => tail,
    async stop() {
      children.delete(child)
      if (done) return
      proc.kill('SIGTERM')
      const t = setTimeout(() => proc.kill('SIGKILL'), 3000)
      await exited
      clearTimeout(t)
    },
    async kill() {
      children.delete(child)
      if (done) return
      proc.kill('SIGKILL')
      await exited
    },
  }
  children.add(child)
  return child
}

/** A TypeScript file of bench/ in its own Node process (tsx loader). */
export function spawnTs(name: string, file: string, args: string[], o: SpawnOptions = {}): Spawned {
  return spawnChild(name, process.execPath, ['--import', 'tsx', join(ROOT, file), ...args], o)
}

/** Switchboard from dist/, stdout (its JSON log) to `onLine` or /dev/null. */
export function spawnSwitchboard(
  name: string,
  config: string,
  level: string,
  o: SpawnOptions & { stateDir?: string } = {},
): Spawned {
  const args = [SWITCHBOARD, 'start', '-c', config, '--log-level', level]
  if (o.stateDir) args.push('--state-dir', o.stateDir)
  return spawnChild(name, process.execPath, args, o)
}

export async function stopAll(): Promise<void> {
  await Promise.all([...children].map((c) => c.stop()))
}

function killAllNow(): void {
  for (const c of children) {
    try {
      c.proc.kill('SIGKILL')
    } catch {}
  }
  children.clear()
}

/**
 * Kills every child and removes `work` on exit, on SIGINT/SIGTERM/SIGHUP, and when the overall deadline passes.
 */
export function installCleanup(work: string, deadlineSeconds: number, label: string): void {
  const cleanup = () => {
    killAllNow()
    rmSync(work, { recursive: true, force: true })
  }
  process.on('exit', cleanup)
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      process.stderr.write(`\n${label}: ${sig}, stopping children\n`)
      cleanup()
      process.exit(130)
    })
  }
  setTimeout(() => {
    process.stderr.write(`\n${label}: over the ${deadlineSeconds} s deadline, stopping children\n`)
    cleanup()
    process.exit(1)
  }, deadlineSeconds * 1000).unref()
}

/** Resolves once `port` on 127.0.0.1 accepts a TCP connection; throws if `child` exits or after `ms`. */
export async function waitForPort(port: number, child: Spawned, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms
  for (;;) {
    if (child.hasExited()) throw new Error(`${child.name} exited during startup:\n${child.stderr()}`)
    if (await accepts(port)) return
    if (Date.now() > deadline) throw new Error(`${child.name} not listening on ${port} after ${ms} ms`)
    await sleep(50)
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port })
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}

/** Resolves with the first stdout line of `child` that starts with `prefix` (the child must have `onLine`). */
export function lineStartingWith(
  lines: { on(cb: (line: string) => void): void },
  prefix: string,
  child: Spawned,
  ms = 15_000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    let settled = false
    const t = setTimeout(() => {
      if (settled) return
      settled = true
      reject(new Error(`${child.name}: no "${prefix}" line after ${ms} ms:\n${child.stderr()}`))
    }, ms)
    void child.exited.then(() => {
      if (settled) return
      settled = true
      clearTimeout(t)
      reject(new Error(`${child.name} exited:\n${child.stderr()}`))
    })
    lines.on((line) => {
      if (settled || !line.startsWith(prefix)) return
      settled = true
      clearTimeout(t)
      resolve(line.slice(prefix.length).trim())
    })
  })
}

/** A tiny fan-out for stdout lines, so several waiters can watch one child. */
export class Lines {
  private readonly listeners: ((line: string) => void)[] = []
  readonly push = (line: string): void => {
    for (const l of this.listeners) l(line)
  }
  on(cb: (line: string) => void): void {
    this.listeners.push(cb)
  }
}

// ---- other benchmarks ----------------------------------------------------------------------------------------------

/** Command lines that mean another benchmark (or the test suite) is using the CPU. */
const BUSY = [
  /autocannon/,
  /(^|[\s/])caddy(\s|$)/,
  /bench\/run\.ts/,
  /bench\/(pools|https)\.ts/,
  /(^|[\s/])tap(\s|$)/,
  /@tapjs\//,
  /(^|[\s/])(h2load|wrk|hey|ab)(\s|$)/,
]

interface PsRow {
  pid: number
  ppid: number
  args: string
}

function ps(): PsRow[] {
  const out = execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' })
  return out
    .split('\n')
    .map((l) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3] as string }))
}

/** Other benchmark processes now running: everything matching BUSY but this process, its ancestors and children. */
export function otherBenchmarks(): string[] {
  const rows = ps()
  const byPid = new Map(rows.map((r) => [r.pid, r]))
  const up = (pid: number): number[] => {
    const chain: number[] = []
    for (
      let p: number | undefined = pid;
      p && chain.length < 64 && !chain.includes(p);
      p = byPid.get(p)?.ppid
    )
      chain.push(p)
    return chain
  }
  // this process, its ancestors (the npx / tsx wrappers that started it carry its name) and its descendants
  const mine = new Set(up(process.pid))
  for (const r of rows) if (up(r.pid).includes(process.pid)) mine.add(r.pid)
  return rows
    .filter((r) => !mine.has(r.pid) && !/^(ps|grep)\b/.test(r.args) && BUSY.some((re) => re.test(r.args)))
    .map((r) => `${r.pid} ${r.args.slice(0, 160)}`)
}

/**
 * Waits while another benchmark runs: `ps` every 20 s, at most `maxMs` (10 minutes), and at most 10 minutes over
 * the whole script. Returns how long it waited and what it
 * saw (if still busy after 10 minutes, the caller measures anyway and the report says so).
 */
export async function waitForOtherBenchmarks(
  label: string,
  maxMs = 600_000,
): Promise<{ waitedMs: number; stillBusy: string[]; seen: string[] }> {
  const result = await waitWithin(label, Math.min(maxMs, waitBudgetMs))
  waitBudgetMs = Math.max(0, waitBudgetMs - result.waitedMs)
  // Then, briefly, for a calm second: builds, installs and test runs of other sessions are not in BUSY.
  if (quietBudgetMs > 0) {
    const { waitedMs } = await waitForQuiet([process.pid], QUIET_PCT, Math.min(20_000, quietBudgetMs))
    quietBudgetMs -= waitedMs
    result.waitedMs += waitedMs
  }
  return result
}

/** Waiting for a calm machine (no benchmark running, but other work) is bounded to 2 minutes per script. */
let quietBudgetMs = 120_000

/** Waiting for other benchmarks is bounded over the whole script too (10 min), so a bench always ends. */
let waitBudgetMs = 600_000

async function waitWithin(
  label: string,
  maxMs: number,
): Promise<{ waitedMs: number; stillBusy: string[]; seen: string[] }> {
  const started = Date.now()
  const seen = new Set<string>()
  for (;;) {
    const busy = otherBenchmarks()
    for (const b of busy) seen.add(b)
    const waitedMs = Date.now() - started
    if (busy.length === 0) return { waitedMs, stillBusy: [], seen: [...seen] }
    if (waitedMs >= maxMs) {
      process.stdout.write(`${label}: still busy after ${Math.round(waitedMs / 1000)} s, measuring anyway\n`)
      return { waitedMs, stillBusy: busy, seen: [...seen] }
    }
    process.stdout.write(`${label}: waiting for other benchmarks:\n  ${busy.join('\n  ')}\n`)
    await sleep(20_000)
  }
}

// ---- report --------------------------------------------------------------------------------------------------------

export function pkgVersion(name: string): string {
  try {
    return (
      JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as {
        version: string
      }
    ).version
  } catch {
    return 'unknown'
  }
}

export function machineInfo(): Record<string, unknown> {
  let commit: string | null = null
  let srcModified: string[] = []
  try {
    const git = (args: string[]) =>
      execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
    commit = git(['rev-parse', 'HEAD']).trim()
    srcModified = git(['status', '--porcelain', '--', 'src'])
      .split('\n')
      .filter(Boolean)
      .map((l) => l.slice(3))
  } catch {}
  // The bench runs dist/: say when it was built and whether src/ has changed since (then: npm run build).
  let distBuilt: string | null = null
  let srcNewerThanDist: string[] = []
  try {
    const built = statSync(SWITCHBOARD).mtimeMs
    distBuilt = new Date(built).toISOString()
    const walk = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
      )
    srcNewerThanDist = walk(join(ROOT, 'src'))
      .filter((f) => statSync(f).mtimeMs > built)
      .map((f) => f.slice(ROOT.length + 1))
  } catch {}
  if (srcNewerThanDist.length > 0)
    process.stderr.write(
      `warning: src changed after dist/ was built (${srcNewerThanDist.join(', ')}): run npm run build\n`,
    )
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    kernel: release(),
    node: process.version,
    undici: pkgVersion('undici'),
    commit,
    srcModified,
    distBuilt,
    srcNewerThanDist,
  }
}

export function machineLine(m: Record<string, unknown>): string {
  const mod = (m.srcModified as string[]).length
    ? ` (working tree: src changes in ${(m.srcModified as string[]).join(', ')})`
    : ''
  const stale = (m.srcNewerThanDist as string[] | undefined)?.length
    ? `; dist/ OLDER than src (${(m.srcNewerThanDist as string[]).join(', ')})`
    : ''
  return `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Linux ${m.kernel}, Node ${m.node}, undici ${m.undici}; commit ${String(m.commit ?? '?').slice(0, 8)}${mod}${stale}`
}

export function writeResults(name: string, json: unknown, md: string): void {
  const dir = join(ROOT, 'bench/results')
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(json, null, 2)}\n`)
  writeFileSync(join(dir, `${name}.md`), md.endsWith('\n') ? md : `${md}\n`)
}

/** Nearest-rank percentile of unsorted values (0 when empty). */
export function percentile(values: ArrayLike<number>, p: number): number {
  if (values.length === 0) return 0
  const s = Float64Array.from(values).sort()
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))
  return s[i] ?? 0
}

export const r1 = (x: number): number => Math.round(x * 10) / 10
export const r2 = (x: number): number => Math.round(x * 100) / 100
