import { request as httpRequest } from 'node:http'
import t from 'tap'
import { req } from '../helpers/client.js'
import { startProxy } from '../helpers/proxy.js'
import { waitFor } from '../helpers/raw.js'
import { startUpstream } from '../helpers/upstream.js'

t.test(
  'limits.maxRequestBody: 413 before dialling for Content-Length, upstream aborted for chunked',
  async (t) => {
    let aborted = 0
    const up = await startUpstream(
      (r, res) => {
        r.on('aborted', () => aborted++)
        r.on('error', () => undefined)
        r.resume()
        r.on('end', () => res.end('ok'))
      },
      { stream: true },
    )
    const proxy = await startProxy(`limits: { maxRequestBody: 1KiB }\nroutes:\n  - to: ${up.url}\n`)
    t.teardown(async () => {
      await proxy.close()
      await up.close()
    })
    t.equal(
      (await req(proxy.port, '/', { method: 'POST', body: Buffer.alloc(1024) })).status,
      200,
      'at the limit',
    )
    const big = await req(proxy.port, '/', {
      method: 'POST',
      body: Buffer.alloc(1025),
      headers: { accept: 'application/json' },
    })
    t.equal(big.status, 413)
    t.match(big.body, /SB_BODY_TOO_LARGE/)
    t.equal(up.seen.length, 1, 'the oversized request never reached the upstream')

    const status = await new Promise<number>((resolve) => {
      const r = httpRequest({
        port: proxy.port,
        host: '127.0.0.1',
        method: 'POST',
        path: '/chunked',
        headers: { host: 'x', 'transfer-encoding': 'chunked' },
        agent: false,
      })
      r.on('response', (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      })
      r.on('error', () => resolve(-1))
      r.write(Buffer.alloc(600))
      setImmediate(() => r.write(Buffer.alloc(600)))
    })
    t.ok(status === 413 || status === -1, `chunked body over the limit refused (${status})`)
    await waitFor(
      () => aborted > 0 || up.seen.filter((s) => s.url === '/chunked').length === 0,
      3000,
      'upstream aborted',
    )
    t.pass('upstream request aborted')
  },
)
