import t from 'tap'
import { type ProbeRecord, TargetHealth } from '../../src/upstreams/health.js'

const policy = { rise: 2, fall: 3 }
const passive = { failures: 3, ejectFor: 30_000 }
const ok = (at: number): ProbeRecord => ({ at, ok: true, latencyMs: 1, detail: 'connected' })
const bad = (at: number, detail = 'refused'): ProbeRecord => ({ at, ok: false, latencyMs: 1, detail })

t.test('starts unknown and routable; one pass confirms', async (t) => {
  const h = new TargetHealth()
  t.equal(h.view(0), 'unknown')
  t.ok(h.isAvailable(0))
  t.equal(h.recordProbe(ok(1), policy), undefined, 'unknown -> healthy is not a routing change')
  t.equal(h.view(1), 'healthy')
})

t.test('fall consecutive failures mark it down, once; rise passes bring it back, once', async (t) => {
  const h = new TargetHealth()
  h.recordProbe(ok(0), policy)
  t.equal(h.recordProbe(bad(1), policy), undefined)
  t.equal(h.recordProbe(ok(2), policy), undefined, 'a pass resets the failure count')
  t.equal(h.recordProbe(bad(3), policy), undefined)
  t.equal(h.recordProbe(bad(4), policy), undefined)
  const down = h.recordProbe(bad(5, 'timeout after 2s'), policy)
  t.same(down && { from: down.from, to: down.to }, { from: 'healthy', to: 'unhealthy' })
  t.match(down?.reason, /timeout after 2s/)
  t.equal(h.isAvailable(5), false)
  t.equal(h.whyDown(5), 'timeout after 2s')
  t.equal(h.recordProbe(bad(6), policy), undefined, 'no repeated log while down')
  t.equal(h.recordProbe(ok(7), policy), undefined, 'one pass is not enough')
  const up = h.recordProbe(ok(8), policy)
  t.same(up && { from: up.from, to: up.to }, { from: 'unhealthy', to: 'healthy' })
  t.equal(h.history.length, 9)
})

t.test('one slow probe does not take a single target down', async (t) => {
  const h = new TargetHealth()
  h.recordProbe(ok(0), policy)
  h.recordProbe(bad(1, 'timeout after 2s'), policy)
  t.ok(h.isAvailable(1))
})

t.test(
  'passive: consecutive failures eject for a while; a passing probe or the cool-down re-admits',
  async (t) => {
    const h = new TargetHealth()
    t.equal(h.recordFailure('refused', 0, passive), undefined)
    h.recordSuccess()
    t.equal(h.recordFailure('refused', 1, passive), undefined)
    t.equal(h.recordFailure('refused', 2, passive), undefined)
    const ej = h.recordFailure('reset', 3, passive)
    t.same(ej && { from: ej.from, to: ej.to }, { from: 'unknown', to: 'ejected' })
    t.equal(h.isAvailable(4), false)
    t.equal(h.whyDown(4), 'reset')
    t.equal(h.isAvailable(30_003), true, 'cool-down over')
    const back = h.expireEjection(30_003)
    t.same(back && { from: back.from, to: back.to }, { from: 'ejected', to: 'unknown' })

    const h2 = new TargetHealth()
    for (let i = 0; i < 3; i++) h2.recordFailure('refused', 10, passive)
    t.equal(h2.isAvailable(11), false)
    const readmit = h2.recordProbe(ok(12), policy)
    t.same(readmit && { from: readmit.from, to: readmit.to }, { from: 'ejected', to: 'healthy' })
    t.ok(h2.isAvailable(12))
  },
)

t.test('history is bounded', async (t) => {
  const h = new TargetHealth()
  for (let i = 0; i < 50; i++) h.recordProbe(ok(i), policy)
  t.equal(h.history.length, 20)
  t.equal(h.lastProbe?.at, 49)
})
