import t from 'tap'
import { req } from '../helpers/client.js'
import { startProxy } from '../helpers/proxy.js'
import { startUpstream } from '../helpers/upstream.js'

t.test('routes by host and path, strips prefix, keeps query and Host', async (t) => {
  const web = await startUpstream((_req, res) => res.end('web'))
  const api = await startUpstream((req, res) => res.end(`api ${req.url}`))
  const proxy = await startProxy(`
upstreams:
  web: { targets: [${web.url}] }
  api: { targets: [${api.url}] }
routes:
  - host: app.localhost
    upstream: web
  - host: app.localhost
    path: /api
    stripPrefix: true
    upstream: api
`)
  t.teardown(async () => {
    await proxy.close()
    await web.close()
    await api.close()
  })
  const get = (path: string, host: string) => req(proxy.port, path, { host })
  t.equal(await (await get('/', 'app.localhost')).body, 'web')
  t.equal(await (await get('/api/x?y=1', 'app.localhost')).body, 'api /x?y=1')
  t.equal(await (await get('/api', 'APP.LOCALHOST.')).body, 'api /')
  t.equal(await (await get('/apix', 'app.localhost')).body, 'web')
  t.equal((await get('/', 'other.localhost')).status, 404)
  t.equal(api.seen[0]?.headers.host, 'app.localhost')
  t.equal(api.seen[0]?.headers['x-forwarded-prefix'], '/api')
})
