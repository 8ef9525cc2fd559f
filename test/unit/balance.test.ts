import t from 'tap'
import {
  type Candidate,
  IpHash,
  LeastConnections,
  RandomPick,
  RoundRobin,
} from '../../src/upstreams/balance.js'

const pool = (specs: [string, number, number?, boolean?][]): Candidate[] =>
  specs.map(([key, weight, inflight = 0, available = true]) => ({ key, weight, inflight, available }))

function sequence(
  b: { pick: RoundRobin['pick'] },
  c: Candidate[],
  n: number,
  ip = '1.2.3.4',
): (string | undefined)[] {
  return Array.from({ length: n }, () => {
    const i = b.pick(c, { clientIp: ip })
    return i === undefined ? undefined : c[i]?.key
  })
}

t.test('round-robin: equal weights alternate; weights are smooth', async (t) => {
  t.same(
    sequence(
      new RoundRobin(),
      pool([
        ['a', 1],
        ['b', 1],
        ['c', 1],
      ]),
      6,
    ),
    ['a', 'b', 'c', 'a', 'b', 'c'],
  )
  t.same(
    sequence(
      new RoundRobin(),
      pool([
        ['a', 1],
        ['b', 2],
      ]),
      6,
    ),
    ['b', 'a', 'b', 'b', 'a', 'b'],
  )
  t.same(
    sequence(
      new RoundRobin(),
      pool([
        ['a', 5],
        ['b', 1],
        ['c', 1],
      ]),
      7,
    ),
    ['a', 'a', 'b', 'a', 'c', 'a', 'a'],
  )
})

t.test('round-robin skips unavailable and excluded targets; none left is undefined', async (t) => {
  t.same(
    sequence(
      new RoundRobin(),
      pool([
        ['a', 1],
        ['b', 1, 0, false],
        ['c', 1],
      ]),
      4,
    ),
    ['a', 'c', 'a', 'c'],
  )
  const rr = new RoundRobin()
  const c = pool([
    ['a', 1],
    ['b', 1],
  ])
  t.equal(rr.pick(c, { clientIp: '', exclude: new Set([0]) }), 1)
  t.equal(rr.pick(c, { clientIp: '', exclude: new Set([0, 1]) }), undefined)
  t.same(sequence(new RoundRobin(), pool([['a', 1, 0, false]]), 2), [undefined, undefined])
})

t.test('least-connections: fewest open per weight; ties rotate', async (t) => {
  const lc = new LeastConnections()
  t.equal(
    lc.pick(
      pool([
        ['a', 1, 5],
        ['b', 1, 2],
        ['c', 1, 3],
      ]),
      { clientIp: '' },
    ),
    1,
  )
  t.equal(
    lc.pick(
      pool([
        ['a', 2, 4],
        ['b', 1, 3],
      ]),
      { clientIp: '' },
    ),
    0,
    '4/2 < 3/1',
  )
  t.same(
    sequence(
      new LeastConnections(),
      pool([
        ['a', 1],
        ['b', 1],
        ['c', 1],
      ]),
      4,
    ),
    ['a', 'b', 'c', 'a'],
  )
  t.equal(
    lc.pick(
      pool([
        ['a', 1, 0, false],
        ['b', 1, 9],
      ]),
      { clientIp: '' },
    ),
    1,
  )
})

t.test('random: weighted by the injected source', async (t) => {
  const r = new RandomPick()
  const c = pool([
    ['a', 1],
    ['b', 3],
  ])
  t.equal(r.pick(c, { clientIp: '', random: () => 0.1 }), 0)
  t.equal(r.pick(c, { clientIp: '', random: () => 0.3 }), 1)
  t.equal(r.pick(c, { clientIp: '', random: () => 0.99 }), 1)
  t.equal(
    r.pick(
      pool([
        ['a', 1, 0, false],
        ['b', 1],
      ]),
      { clientIp: '', random: () => 0 },
    ),
    1,
  )
})

t.test('ip-hash: sticky per client; only the lost target’s clients move', async (t) => {
  const h = new IpHash()
  const all = pool([
    ['a', 1],
    ['b', 1],
    ['c', 1],
  ])
  const ips = Array.from({ length: 300 }, (_, i) => `10.0.${i >> 8}.${i & 255}`)
  const before = ips.map((ip) => h.pick(all, { clientIp: ip }))
  t.same(
    ips.map((ip) => h.pick(all, { clientIp: ip })),
    before,
    'stable',
  )
  const counts = [0, 1, 2].map((i) => before.filter((x) => x === i).length)
  t.ok(
    counts.every((n) => n > 60),
    `spread over targets: ${counts.join('/')}`,
  )
  const withoutB = pool([
    ['a', 1],
    ['b', 1, 0, false],
    ['c', 1],
  ])
  const after = ips.map((ip) => h.pick(withoutB, { clientIp: ip }))
  for (let i = 0; i < ips.length; i++) {
    if (before[i] !== 1) t.equal(after[i], before[i], `${ips[i]} kept its target`)
    else t.not(after[i], 1)
  }
})
