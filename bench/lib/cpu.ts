/**
 * CPU accounting from /proc, in clock ticks: what our processes used during a run, and what everything else on the
 * machine used ("foreign" load: other jobs sharing the 2 cores skew throughput figures, so each run records it).
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { sleep } from './procs.js'

const HZ = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()

/** user + system ticks of one process (all its threads). */
export function processTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return Number(rest[11]) + Number(rest[12])
  } catch {
    return 0
  }
}

/** user + nice + system ticks of the whole machine (interrupt time excluded: it is not charged to processes). */
export function machineTicks(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] as string
  const f = line.trim().split(/\s+/).slice(1).map(Number)
  return (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0)
}

export interface CpuWindow {
  seconds: number
  /** CPU seconds per process id in `pids`, same order. */
  perPid: number[]
  /** CPU used by processes outside `pids`, as a percentage of the whole machine. */
  foreignPct: number
}

export class CpuMeter {
  private readonly t0 = performance.now()
  private readonly m0 = machineTicks()
  private readonly p0: number[]

  constructor(private readonly pids: number[]) {
    this.p0 = pids.map(processTicks)
  }

  read(): CpuWindow {
    const seconds = (performance.now() - this.t0) / 1000
    const perTicks = this.pids.map((p, i) => processTicks(p) - (this.p0[i] ?? 0))
    const ours = perTicks.reduce((a, b) => a + b, 0)
    const foreign = Math.max(0, machineTicks() - this.m0 - ours)
    const capacity = seconds * HZ * cpus().length
    return {
      seconds,
      perPid: perTicks.map((t) => t / HZ),
      foreignPct: capacity > 0 ? (100 * foreign) / capacity : 0,
    }
  }
}

/**
 * Waits (up to `maxMs`) for a 1 s window in which processes other than `pids` use under `thresholdPct` of the
 * machine. Returns the last window's foreign load and how long it waited.
 */
export async function waitForQuiet(
  pids: number[],
  thresholdPct: number,
  maxMs: number,
): Promise<{ foreignPct: number; waitedMs: number }> {
  const started = performance.now()
  for (;;) {
    const meter = new CpuMeter(pids)
    await sleep(1000)
    const { foreignPct } = meter.read()
    const waitedMs = Math.round(performance.now() - started)
    if (foreignPct < thresholdPct || waitedMs >= maxMs) return { foreignPct, waitedMs }
  }
}
