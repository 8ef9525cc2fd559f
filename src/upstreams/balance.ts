/**
 * Balancing policies. Pure: they see candidates (weight, open connections, availability) and return an index; state
 * such as round-robin position lives in the Balancer object, randomness is injected.
 */
import type { BalancePolicy } from '../config/model.js'

export interface Candidate {
  readonly key: string
  readonly weight: number
  /** Open requests and WebSocket tunnels. */
  readonly inflight: number
  /** Healthy (or not yet known to be unhealthy) and not ejected. */
  readonly available: boolean
}

export interface PickContext {
  clientIp: string
  /** Indexes already tried for this request. */
  exclude?: ReadonlySet<number> | undefined
  random?: () => number
}

export interface Balancer {
  pick(candidates: readonly Candidate[], ctx: PickContext): number | undefined
}

function eligible(c: Candidate, i: number, ctx: PickContext): boolean {
  return c.available && c.weight > 0 && !ctx.exclude?.has(i)
}

/** Smooth weighted round-robin (nginx's): weights 1 and 2 give b a b b a b..., never bursts of one target. */
export class RoundRobin implements Balancer {
  private current: number[] = []

  pick(candidates: readonly Candidate[], ctx: PickContext): number | undefined {
    if (this.current.length !== candidates.length) this.current = candidates.map(() => 0)
    let best: number | undefined
    let total = 0
    for (let i = 0; i < candidates.length; i++) {
      const c = candidates[i] as Candidate
      if (!eligible(c, i, ctx)) continue
      this.current[i] = (this.current[i] as number) + c.weight
      total += c.weight
      if (best === undefined || (this.current[i] as number) > (this.current[best] as number)) best = i
    }
    if (best !== undefined) this.current[best] = (this.current[best] as number) - total
    return best
  }
}

/** Fewest open connections per unit of weight; ties go round-robin so idle pools still spread. */
export class LeastConnections implements Balancer {
  private next = 0

  pick(candidates: readonly Candidate[], ctx: PickContext): number | undefined {
    const n = candidates.length
    let best: number | undefined
    let bestLoad = Number.POSITIVE_INFINITY
    for (let k = 0; k < n; k++) {
      const i = (this.next + k) % n
      const c = candidates[i] as Candidate
      if (!eligible(c, i, ctx)) continue
      const load = c.inflight / c.weight
      if (load < bestLoad) {
        best = i
        bestLoad = load
      }
    }
    if (best !== undefined) this.next = (best + 1) % n
    return best
  }
}

/** Weighted random. */
export class RandomPick implements Balancer {
  pick(candidates: readonly Candidate[], ctx: PickContext): number | undefined {
    let total = 0
    for (let i = 0; i < candidates.length; i++)
      if (eligible(candidates[i] as Candidate, i, ctx)) total += (candidates[i] as Candidate).weight
    if (total === 0) return undefined
    let r = (ctx.random ?? Math.random)() * total
    let last: number | undefined
    for (let i = 0; i < candidates.length; i++) {
      const c = candidates[i] as Candidate
      if (!eligible(c, i, ctx)) continue
      last = i
      r -= c.weight
      if (r < 0) return i
    }
    return last
  }
}

/** FNV-1a, 32 bits. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/**
 * Client IP affinity by weighted rendezvous hashing: a client keeps its target while that target is available, and
 * when one target goes away only its clients move.
 */
export class IpHash implements Balancer {
  pick(candidates: readonly Candidate[], ctx: PickContext): number | undefined {
    let best: number | undefined
    let bestScore = Number.NEGATIVE_INFINITY
    for (let i = 0; i < candidates.length; i++) {
      const c = candidates[i] as Candidate
      if (!eligible(c, i, ctx)) continue
      const u = (fnv1a(`${ctx.clientIp}|${c.key}`) + 0.5) / 2 ** 32
      const score = -c.weight / Math.log(u)
      if (score > bestScore) {
        best = i
        bestScore = score
      }
    }
    return best
  }
}

export function createBalancer(policy: BalancePolicy): Balancer {
  switch (policy) {
    case 'least-connections':
      return new LeastConnections()
    case 'random':
      return new RandomPick()
    case 'ip-hash':
      return new IpHash()
    default:
      return new RoundRobin()
  }
}
