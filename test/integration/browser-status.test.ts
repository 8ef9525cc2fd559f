/**
 * The admin status page in headless Chromium: it renders, a target that goes down turns red within its fall
 * interval, and a refused reload shows its errors. A screenshot is kept in test-artifacts/.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { chromium } from 'playwright-core'
import t from 'tap'
import { startAdmin } from '../../src/admin/start.js'
import { loadConfigFile } from '../../src/config/load.js'
import { Reloader } from '../../src/server/reload.js'
import { Switchboard } from '../../src/server/switchboard.js'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

if (!existsSync(CHROMIUM)) {
  if (process.env.CI) t.fail(`${CHROMIUM} is missing: .ci/run installs chromium`)
  else t.comment('SKIP status page browser test: needs Debian chromium (apt-get install chromium)')
} else {
  t.test('the status page renders, turns a stopped target red, and shows a refused reload', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'sb-status-'))
    t.teardown(() => rm(dir, { recursive: true, force: true }))
    const app = createServer((_req, res) => res.end('ok'))
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r))
    const appPort = (app.address() as AddressInfo).port
    const file = join(dir, 'routes.yaml')
    const yaml = `listen: { http: "127.0.0.1:0" }
admin: { listen: "127.0.0.1:0" }
upstreams:
  web:
    targets: [http://127.0.0.1:${appPort}]
    healthCheck: { interval: 300ms, timeout: 200ms, fall: 2, rise: 1 }
routes:
  - { host: app.localhost, upstream: web }
`
    writeFileSync(file, yaml)
    const loaded = await loadConfigFile(file)
    if (!loaded.ok) throw new Error(loaded.error.message)
    const logger = pino({ level: 'silent' })
    const sb = new Switchboard(loaded.config, logger)
    await sb.listen()
    const reloader = new Reloader(file, sb, logger)
    const admin = await startAdmin(sb, reloader, { version: 'test', configFile: file })
    if (!admin) throw new Error('admin disabled')
    t.teardown(async () => {
      await admin.server.close()
      await sb.close(0)
      app.closeAllConnections()
      app.close()
    })
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-sync',
      ],
    })
    t.teardown(() => browser.close())
    const page = await browser.newPage()
    const pageErrors: string[] = []
    page.on('pageerror', (e) => pageErrors.push(e.message))
    await page.goto(`http://127.0.0.1:${admin.address.port}/`)
    const state = page.locator(`tr[data-target="http://127.0.0.1:${appPort}"] .state`)
    await state.filter({ hasText: 'healthy' }).waitFor({ timeout: 5000 })
    t.equal(await state.textContent(), 'healthy', 'the page renders the target as healthy')
    t.equal(await page.locator('#routes td').first().textContent(), 'app.localhost/')

    app.closeAllConnections()
    await new Promise<void>((r) => app.close(() => r()))
    const stoppedAt = Date.now()
    await state.filter({ hasText: 'unhealthy' }).waitFor({ timeout: 5000 })
    const took = Date.now() - stoppedAt
    t.ok(
      took < 2 * 300 * 1.1 + 200 + 1000 + 500,
      `red ${took} ms after the stop (fall 2 x 300ms, page polls every 1s)`,
    )
    t.equal(
      await state.evaluate((el) => getComputedStyle(el).backgroundColor),
      'rgb(214, 69, 69)',
      'drawn in red',
    )

    writeFileSync(file, yaml.replace('upstream: web', 'upstream: wbe'))
    await reloader.reload('test')
    await page.locator('#reload-errors').waitFor({ timeout: 5000 })
    t.match(
      await page.locator('#reload-errors').textContent(),
      /routes\.yaml:8:\d+ routes\[0\]\.upstream: unknown upstream "wbe" \(did you mean "web"\?\)/,
    )
    mkdirSync('test-artifacts', { recursive: true })
    await page.screenshot({ path: 'test-artifacts/status-page.png', fullPage: true })
    t.same(pageErrors, [], 'no script errors on the page')
  })
}
