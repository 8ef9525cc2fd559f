/** A Kubernetes ConfigMap volume updates by swapping a "..data" symlink; the reloader must see it. */
import { mkdirSync, mkdtempSync, renameSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import t from 'tap'
import { loadConfigFile } from '../../src/config/load.js'
import { Reloader } from '../../src/server/reload.js'
import { Switchboard } from '../../src/server/switchboard.js'
import { req } from '../helpers/client.js'
import { waitFor } from '../helpers/raw.js'
import { startUpstream } from '../helpers/upstream.js'

t.test('a ConfigMap-style symlink swap is picked up', async (t) => {
  const blue = await startUpstream((_r, res) => res.end('blue'))
  const green = await startUpstream((_r, res) => res.end('green'))
  const dir = mkdtempSync(join(tmpdir(), 'sb-configmap-'))
  const version = (name: string, target: string) => {
    mkdirSync(join(dir, name))
    writeFileSync(
      join(dir, name, 'routes.yaml'),
      `listen: { http: "127.0.0.1:0" }\nadmin: false\nroutes:\n  - { to: "${target}" }\n`,
    )
  }
  version('..2026_12_02_a', blue.url)
  symlinkSync('..2026_12_02_a', join(dir, '..data'))
  symlinkSync('..data/routes.yaml', join(dir, 'routes.yaml'))
  const file = join(dir, 'routes.yaml')
  const loaded = await loadConfigFile(file)
  if (!loaded.ok) throw new Error(loaded.error.message)
  const logger = pino({ level: 'silent' })
  const sb = new Switchboard(loaded.config, logger)
  const port = (await sb.listen()).http?.port as number
  const reloader = new Reloader(file, sb, logger)
  await reloader.prime()
  reloader.watch()
  t.teardown(async () => {
    reloader.close()
    await sb.close(0)
    await blue.close()
    await green.close()
  })
  t.equal((await req(port, '/')).body, 'blue')
  // what the kubelet does: write the new version, point a temporary link at it, rename it over ..data
  version('..2026_12_02_b', green.url)
  symlinkSync('..2026_12_02_b', join(dir, '..data_tmp'))
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'))
  await waitFor(async () => (await req(port, '/')).body === 'green', 5000, 'the swapped version is live')
  t.equal(reloader.last?.ok, true)
})
