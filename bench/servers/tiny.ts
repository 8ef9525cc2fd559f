/**
 * Tiny backends for bench/pools.ts and bench/https.ts: plain node:http servers, one process, one or many ports.
 *
 *   node --import tsx bench/servers/tiny.ts --ports 8001,8002   listen on these ports (127.0.0.1)
 *   node --import tsx bench/servers/tiny.ts --count 100         listen on 100 ports chosen by the kernel
 *
 * Every port answers:
 *   GET /100k    100 KiB body
 *   GET /health  "ok"
 *   anything else: a 100-byte text body
 *
 * Once every port listens, one line `ready {"ports":[...]}` is written to stdout. On SIGUSR2 it writes
 * `stats {"connections":{port:n},"requests":{port:n}}` (counts since start), so the bench can see how many probes
 * (TCP connects, health requests) each port received. SIGTERM exits.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { parseArgs } from 'node:util'

const { values } = parseArgs({ options: { ports: { type: 'string' }, count: { type: 'string' } } })
const wanted: number[] = values.ports
  ? values.ports.split(',').map(Number)
  : Array.from({ length: Number(values.count ?? '1') }, () => 0)

const SMALL = Buffer.from(`${'switchboard bench tiny response '.repeat(4)}`.slice(0, 99) + '\n')
const LARGE = Buffer.alloc(100 * 1024, 'x')
const OK = Buffer.from('ok\n')

const connections: Record<number, number> = {}
const requests: Record<number, number> = {}

function serve(port: number): Promise<number> {
  const server: Server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    const p = (req.socket.localPort ?? 0) as number
    requests[p] = (requests[p] ?? 0) + 1
    req.resume()
    const body = req.url === '/100k' ? LARGE : req.url === '/health' ? OK : SMALL
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length })
    res.end(body)
  })
  server.on('connection', (s: Socket) => {
    const p = s.localPort ?? 0
    connections[p] = (connections[p] ?? 0) + 1
    s.on('error', () => undefined)
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen({ port, host: '127.0.0.1', backlog: 1024 }, () =>
      resolve((server.address() as AddressInfo).port),
    )
  })
}

const ports = await Promise.all(wanted.map(serve))
process.stdout.write(`ready ${JSON.stringify({ ports })}\n`)
process.on('SIGUSR2', () => process.stdout.write(`stats ${JSON.stringify({ connections, requests })}\n`))
process.on('SIGTERM', () => process.exit(0))
