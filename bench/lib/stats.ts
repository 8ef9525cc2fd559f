/** Medians and paired ratios over benchmark rounds, for run.ts and history.ts. */

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2
}

export interface RoundFigure {
  /** Identifies the round: contenders measured in the same round ran back to back. */
  round: string
  reqPerSec: number
  serverCpuUsPerReq: number
  foreignPct: number
}

export interface Paired {
  /** Median over rounds of this contender's req/s divided by the reference's in the same round. */
  reqPerSec: number
  /** Same for server CPU per request (below 1: cheaper than the reference). */
  cpuPerReq: number
  /** Rounds used, and whether they were all undisturbed (both sides under the foreign-load threshold). */
  pairs: number
  quiet: boolean
}

/**
 * Compares two contenders round by round, which cancels most of the drift of a shared machine: only rounds where
 * both runs were undisturbed count, or every round when there is no such round.
 */
export function paired(mine: RoundFigure[], reference: RoundFigure[], quietPct: number): Paired | undefined {
  const all: [RoundFigure, RoundFigure][] = []
  for (const m of mine) {
    const r = reference.find((x) => x.round === m.round)
    if (r && r.reqPerSec > 0 && r.serverCpuUsPerReq > 0) all.push([m, r])
  }
  if (all.length === 0) return undefined
  const quiet = all.filter(([m, r]) => m.foreignPct < quietPct && r.foreignPct < quietPct)
  const use = quiet.length > 0 ? quiet : all
  return {
    reqPerSec: median(use.map(([m, r]) => m.reqPerSec / r.reqPerSec)),
    cpuPerReq: median(use.map(([m, r]) => m.serverCpuUsPerReq / r.serverCpuUsPerReq)),
    pairs: use.length,
    quiet: quiet.length > 0,
  }
}
