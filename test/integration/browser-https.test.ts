/**
 * A real browser: Debian's headless Chromium, trusting the local CA through its own NSS store (as a developer would
 * after `switchboard ca`), loads https://app.localhost:PORT/ through Switchboard, and the page's WebSocket connects.
 * A screenshot is kept in test-artifacts/.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { chromium } from 'playwright-core'
import t from 'tap'
import { WebSocketServer } from 'ws'
import { parseConfig } from '../../src/config/load.js'
import { Switchboard } from '../../src/server/switchboard.js'
import { LocalCa } from '../../src/tls/local-ca.js'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const CERTUTIL = '/usr/bin/certutil'

if (!existsSync(CHROMIUM) || !existsSync(CERTUTIL)) {
  if (process.env.CI)
    t.fail(`${CHROMIUM} or ${CERTUTIL} is missing: .ci/run installs chromium and libnss3-tools`)
  else
    t.comment(
      `SKIP browser test: needs Debian's chromium and libnss3-tools (apt-get install chromium libnss3-tools)`,
    )
} else {
  t.test(
    'Chromium loads a page over HTTPS with the local CA trusted, and its WebSocket connects',
    async (t) => {
      const dir = await mkdtemp(join(tmpdir(), 'sb-browser-'))
      t.teardown(() => rm(dir, { recursive: true, force: true }))
      const page = `<!doctype html><html><head><title>loading</title></head><body><h1>Hello through Switchboard</h1><p id="ws">connecting...</p><script>
const ws = new WebSocket('wss://' + location.host + '/ws?token=t1', ['vite-hmr'])
ws.onopen = () => ws.send('ping')
ws.onmessage = (e) => { document.getElementById('ws').textContent = 'WebSocket: ' + e.data; document.title = 'ws-ok ' + e.data }
ws.onerror = () => { document.title = 'ws-error' }
</script></body></html>`
      const app = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(page))
      const wss = new WebSocketServer({
        server: app,
        handleProtocols: (p) => (p.has('vite-hmr') ? 'vite-hmr' : false),
      })
      wss.on('connection', (s, req) => s.on('message', (m) => s.send(`pong ${m} ${req.url}`)))
      await new Promise<void>((r) => app.listen(0, '127.0.0.1', r))
      const appPort = (app.address() as AddressInfo).port
      const stateDir = join(dir, 'state')
      const loaded = parseConfig(
        `listen: { http: false, https: "127.0.0.1:0" }\ntls: { local: true }\nroutes:\n  - { host: app.localhost, to: ${appPort} }\n`,
        join(dir, 'routes.yaml'),
        {},
      )
      if (!loaded.ok) throw new Error(loaded.error.message)
      const sb = new Switchboard(loaded.config, pino({ level: 'silent' }), { stateDir })
      const port = (await sb.listen()).https?.port as number
      t.teardown(async () => {
        await sb.close(0)
        for (const c of wss.clients) c.terminate()
        app.closeAllConnections()
        app.close()
      })
      // Trust the local CA the way a developer does on Linux: in the browser's NSS store.
      const home = join(dir, 'home')
      const nss = join(home, '.pki', 'nssdb')
      mkdirSync(nss, { recursive: true })
      execFileSync(CERTUTIL, ['-d', `sql:${nss}`, '-N', '--empty-password'])
      const ca = await LocalCa.open(stateDir)
      execFileSync(CERTUTIL, [
        '-d',
        `sql:${nss}`,
        '-A',
        '-t',
        'C,,',
        '-n',
        'Switchboard Local CA',
        '-i',
        ca.certPath,
      ])

      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        env: { ...process.env, HOME: home },
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      })
      t.teardown(() => browser.close())
      const tab = await browser.newPage()
      const response = await tab.goto(`https://app.localhost:${port}/`, { timeout: 15_000 })
      t.equal(response?.status(), 200, 'the page loaded over HTTPS without a certificate error')
      const security = await response?.securityDetails()
      t.match(security?.subjectName, /app\.localhost/)
      t.match(security?.issuer, /Switchboard Local CA/)
      await tab.waitForFunction(() => document.title.startsWith('ws-'), undefined, { timeout: 10_000 })
      t.equal(await tab.title(), 'ws-ok pong ping /ws?token=t1', 'the WebSocket connected through the proxy')
      mkdirSync('test-artifacts', { recursive: true })
      await tab.screenshot({ path: 'test-artifacts/browser-https.png' })
    },
  )
}
