/**
 * A real Vite dev server behind Switchboard on a custom host name: the page, the client module and the HMR
 * WebSocket (which Vite refuses without its ?token= query and its vite-hmr subprotocol) all work through the proxy,
 * and an edit to a file reaches the browser-side socket as an HMR update.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { createServer } from 'vite'
import { WebSocket } from 'ws'
import { req } from '../helpers/client.js'
import { startProxy } from '../helpers/proxy.js'
import { waitFor } from '../helpers/raw.js'

t.test('Vite dev server and its HMR socket through the proxy', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'sb-vite-'))
  writeFileSync(
    join(root, 'index.html'),
    '<!doctype html><html><body><script type="module" src="/main.js"></script></body></html>',
  )
  writeFileSync(join(root, 'main.js'), 'export const n = 1\nif (import.meta.hot) import.meta.hot.accept()\n')
  const vite = await createServer({
    root,
    configFile: false,
    logLevel: 'silent',
    server: { host: '127.0.0.1', port: 0, strictPort: false, allowedHosts: ['app.localhost'] },
  })
  await vite.listen()
  if (!vite.httpServer) throw new Error('vite did not start an HTTP server')
  const vitePort = (vite.httpServer.address() as AddressInfo).port
  const proxy = await startProxy(`routes:\n  - { host: app.localhost, to: ${vitePort} }\n`)
  t.teardown(async () => {
    await proxy.close()
    await vite.close()
  })

  const page = await req(proxy.port, '/', { host: 'app.localhost', headers: { accept: 'text/html' } })
  t.equal(page.status, 200)
  t.match(page.body, /\/@vite\/client/, 'Vite injected its client')
  const client = await req(proxy.port, '/@vite/client', { host: 'app.localhost' })
  t.equal(client.status, 200)
  const token = /wsToken\s*=\s*["']([^"']+)["']/.exec(client.body)?.[1]
  t.ok(token, 'found the HMR token in the client module')

  const messages: string[] = []
  const open = (url: string, protocols: string[]) =>
    new Promise<{ ws?: WebSocket; status?: number }>((resolve) => {
      const ws = new WebSocket(url, protocols, {
        headers: { host: 'app.localhost', origin: 'http://app.localhost' },
      })
      // Vite greets in the same packet as its 101: listen before 'open' resolves
      ws.on('message', (d) => messages.push(d.toString()))
      ws.once('open', () => resolve({ ws }))
      ws.once('unexpected-response', (_r, res) => resolve({ status: res.statusCode ?? 0 }))
      ws.once('error', () => resolve({ status: -1 }))
    })
  const refused = await open(`ws://127.0.0.1:${proxy.port}/`, ['vite-hmr'])
  t.not(refused.status, undefined, 'without the token Vite refuses, and the client sees that, not a 101')

  const ok = await open(`ws://127.0.0.1:${proxy.port}/?token=${encodeURIComponent(token ?? '')}`, [
    'vite-hmr',
  ])
  t.ok(ok.ws, 'HMR socket opened with token and subprotocol')
  const ws = ok.ws as WebSocket
  t.equal(ws.protocol, 'vite-hmr')
  await waitFor(() => messages.some((m) => m.includes('"connected"')), 5000, 'Vite connected message')
  // Vite only sends updates for modules a client has loaded
  await req(proxy.port, '/main.js', { host: 'app.localhost' })
  writeFileSync(join(root, 'main.js'), 'export const n = 2\nif (import.meta.hot) import.meta.hot.accept()\n')
  await waitFor(
    () => messages.some((m) => m.includes('"update"') || m.includes('"full-reload"')),
    10_000,
    'HMR update',
  )
  t.pass('HMR update delivered through the tunnel')
  ws.close()
})
