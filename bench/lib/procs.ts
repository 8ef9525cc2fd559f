/**
 * Child processes for the bench: started one by one, each registered so that every exit path (normal end, error,
 * Ctrl-C, the overall deadline) stops them. Loopback only.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { createServer } from 'node:net'

export interface Child {
  name: string
  proc: ChildProcess
  pid: number
  /** Last few KiB of stderr, for error messages. */
  stderr(): string
  stop(): Promise<void>
}

const running = new Set<Child>()

/** SIGKILLs whatever is still running; safe to call from an 'exit' handler (synchronous). */
export function killAll(): void {
  for (const c of running) {
    try {
      c.proc.kill('SIGKILL')
    } catch {}
  }
  running.clear()
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

export interface StartOptions {
  name: string
  command: string
  args: string[]
  env?: Record<string, string>
  /** URL answered with 2xx once the process is ready. */
  readyUrl: string
  /** Where stdout goes: 'ignore' is /dev/null. */
  stdout?: 'ignore' | 'inherit'
}

export async function start(o: StartOptions): Promise<Child> {
  const proc = spawn(o.command, o.args, {
    stdio: ['ignore', o.stdout ?? 'ignore', 'pipe'],
    env: { ...process.env, ...o.env },
  })
  let tail = ''
  proc.stderr?.on('data', (c: Buffer) => {
    tail = (tail + c.toString()).slice(-4096)
  })
  let exited = false
  const exit = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
  proc.once('exit', () => {
    exited = true
  })
  const child: Child = {
    name: o.name,
    proc,
    pid: proc.pid ?? -1,
    stderr: () => tail,
    async stop() {
      running.delete(child)
      if (exited) return
      proc.kill('SIGTERM')
      const t = setTimeout(() => proc.kill('SIGKILL'), 3000)
      await exit
      clearTimeout(t)
    },
  }
  running.add(child)
  const deadline = Date.now() + 15_000
  for (;;) {
    if (exited) throw new Error(`${o.name} exited during startup:\n${tail}`)
    if (await answers(o.readyUrl)) return child
    if (Date.now() > deadline) {
      await child.stop()
      throw new Error(`${o.name} not ready after 15 s:\n${tail}`)
    }
    await sleep(100)
  }
}

function answers(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false, timeout: 1000 }, (res) => {
      res.resume()
      res.on('end', () => resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300))
    })
    req.on('error', () => resolve(false))
    req.on('timeout', () => req.destroy())
    req.end()
  })
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

/** Resident set size of a process, in bytes, from /proc/PID/status (VmRSS); with `field` any other Vm* line. */
export function rss(pid: number, field = 'VmRSS'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)
  if (!m) throw new Error(`no ${field} for pid ${pid}`)
  return Number(m[1]) * 1024
}

/** Resets the kernel's peak-RSS mark (VmHWM); false where /proc/PID/clear_refs is not writable. */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5')
    return true
  } catch {
    return false
  }
}

/** Samples VmRSS every `everyMs` until stopped. */
export class RssSampler {
  readonly samples: { t: number; rss: number }[] = []
  private readonly timer: NodeJS.Timeout
  private readonly t0 = performance.now()

  constructor(
    private readonly pid: number,
    everyMs = 100,
  ) {
    this.sample()
    this.timer = setInterval(() => this.sample(), everyMs)
  }

  private sample(): void {
    try {
      this.samples.push({ t: Math.round(performance.now() - this.t0), rss: rss(this.pid) })
    } catch {}
  }

  stop(): { peak: number; last: number; count: number } {
    clearInterval(this.timer)
    this.sample()
    const values = this.samples.map((s) => s.rss)
    return { peak: Math.max(...values), last: values[values.length - 1] ?? 0, count: values.length }
  }
}
