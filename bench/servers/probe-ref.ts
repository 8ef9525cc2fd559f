/**
 * Reference for bench/pools.ts: the health-probe loop alone, in a bare Node process (no proxy, no Fastify, no
 * logger). One loop per port, like src/upstreams/probe.ts and monitor.ts: a TCP connect closed at once, or
 * `GET /health` with `Connection: close` on a fresh connection, each bounded by a timeout, then the next one after
 * the interval with +-10% jitter.
 *
 *   node --import tsx bench/servers/probe-ref.ts --ports 8001,8002 --kind tcp|http --interval 1000 --timeout 500
 *
 * Writes `ready` to stdout once the loops are scheduled; SIGTERM exits.
 */
import { request } from 'node:http'
import { connect } from 'node:net'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: {
    ports: { type: 'string' },
    kind: { type: 'string', default: 'tcp' },
    interval: { type: 'string', default: '5000' },
    timeout: { type: 'string', default: '2000' },
  },
})
const ports = (values.ports ?? '').split(',').map(Number)
const interval = Number(values.interval)
const timeout = Number(values.timeout)

function tcp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    const done = (ok: boolean) => {
      clearTimeout(timer)
      socket.destroy()
      resolve(ok)
    }
    const timer = setTimeout(() => done(false), timeout)
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

function http(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    let settled = false
    const done = (ok: boolean) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      req.destroy()
      resolve(ok)
    }
    const req = request({
      host: '127.0.0.1',
      port,
      method: 'GET',
      path: '/health',
      headers: { 'user-agent': 'probe-ref', accept: '*/*', connection: 'close' },
      agent: false,
    })
    const timer = setTimeout(() => done(false), timeout)
    req.once('response', (res) => {
      res.resume()
      done((res.statusCode ?? 0) < 400)
    })
    req.once('error', () => done(false))
    req.end()
  })
}

const probe = values.kind === 'http' ? http : tcp
for (const port of ports) {
  const tick = async () => {
    await probe(port)
    setTimeout(tick, interval * (0.9 + 0.2 * Math.random()))
  }
  setTimeout(tick, Math.random() * Math.min(250, interval))
}
process.stdout.write('ready\n')
process.on('SIGTERM', () => process.exit(0))
