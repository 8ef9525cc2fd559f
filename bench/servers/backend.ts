/**
 * The benchmark upstream: a plain node:http server, nothing else.
 *   GET  /small            100-byte text body
 *   GET  /100k             100 KiB body
 *   GET  /download?bytes=N N bytes generated on the fly (bench/lib/pattern.ts), with Content-Length
 *   POST /upload           reads the body and answers {"bytes":N,"sha256":"..."}
 *   GET  /health           "ok"
 */
import { createHash } from 'node:crypto'
import { createServer, type ServerResponse } from 'node:http'
import { parseArgs } from 'node:util'
import { CHUNK, chunkAt } from '../lib/pattern.js'

const { values } = parseArgs({ options: { port: { type: 'string' } } })
const port = Number(values.port)

const SMALL = Buffer.from(`${'switchboard bench small response '.repeat(3)}`.slice(0, 99) + '\n')
const LARGE = Buffer.alloc(100 * 1024, 'x')

function fixed(res: ServerResponse, body: Buffer): void {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length })
  res.end(body)
}

function download(res: ServerResponse, total: number): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total })
  let index = 0
  const pump = () => {
    while (index * CHUNK < total) {
      const ok = res.write(chunkAt(index++, total))
      if (!ok) {
        res.once('drain', pump)
        return
      }
    }
    res.end()
  }
  res.on('close', () => {
    index = Number.POSITIVE_INFINITY
  })
  pump()
}

const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  const url = req.url ?? '/'
  if (req.method === 'POST' && url === '/upload') {
    const hash = createHash('sha256')
    let bytes = 0
    req.on('data', (c: Buffer) => {
      bytes += c.length
      hash.update(c)
    })
    req.on('end', () => {
      const body = JSON.stringify({ bytes, sha256: hash.digest('hex') })
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
      res.end(body)
    })
    return
  }
  req.resume()
  if (url === '/small') return fixed(res, SMALL)
  if (url === '/100k') return fixed(res, LARGE)
  if (url.startsWith('/download?bytes=')) return download(res, Number(url.slice('/download?bytes='.length)))
  if (url === '/health') return fixed(res, Buffer.from('ok\n'))
  res.writeHead(404, { 'content-length': 0 }).end()
})

server.listen(port, '127.0.0.1')
process.on('SIGTERM', () => process.exit(0))
