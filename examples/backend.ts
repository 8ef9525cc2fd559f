/**
 * A tiny sample app for the demo and the container stack: answers every request with who it is and what it saw,
 * streams Server-Sent Events on /events, and echoes WebSocket messages on /ws. Node built-ins only.
 *   node dist-examples/backend.js --name web --port 3000
 */
import { createHash } from 'node:crypto'
import { createServer } from 'node:http'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: {
    name: { type: 'string', default: 'app' },
    port: { type: 'string', default: process.env.PORT ?? '3000' },
  },
})
const name = values.name as string

const server = createServer((req, res) => {
  if (req.url === '/health') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n')
    return
  }
  if (req.url === '/events') {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
    let n = 0
    const timer = setInterval(() => res.write(`data: ${name} tick ${++n}\n\n`), 1000)
    req.on('close', () => clearInterval(timer))
    return
  }
  let size = 0
  req.on('data', (c: Buffer) => {
    size += c.length
  })
  req.on('end', () => {
    const body = {
      app: name,
      method: req.method,
      url: req.url,
      host: req.headers.host,
      forwardedFor: req.headers['x-forwarded-for'],
      requestId: req.headers['x-request-id'],
      bodyBytes: size,
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`)
  })
})

// Minimal WebSocket echo (text frames up to 64 KiB), enough to show the tunnel working.
server.on('upgrade', (req, socket) => {
  const key = req.headers['sec-websocket-key']
  if (typeof key !== 'string') return socket.end('HTTP/1.1 400 Bad Request\r\n\r\n')
  const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64')
  socket.write(
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
  )
  socket.on('data', (frame: Buffer) => {
    const opcode = (frame[0] as number) & 0x0f
    if (opcode === 8) return socket.end()
    let len = (frame[1] as number) & 0x7f
    let offset = 2
    if (len === 126) {
      len = frame.readUInt16BE(2)
      offset = 4
    }
    const mask = frame.subarray(offset, offset + 4)
    const data = Buffer.from(frame.subarray(offset + 4, offset + 4 + len))
    for (let i = 0; i < data.length; i++) data[i] = (data[i] as number) ^ (mask[i % 4] as number)
    const text = Buffer.from(`${name}: ${data.toString()}`)
    const header =
      text.length < 126
        ? Buffer.from([0x81, text.length])
        : Buffer.from([0x81, 126, text.length >> 8, text.length & 255])
    socket.write(Buffer.concat([header, text]))
  })
  socket.on('error', () => socket.destroy())
})

server.listen(Number(values.port), () => console.log(`${name} listening on :${values.port}`))
process.on('SIGTERM', () => server.close(() => process.exit(0)))
