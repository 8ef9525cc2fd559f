/**
 * docker-compose.yml and the Dockerfile, checked without an engine: `docker-compose config -q` (or
 * `podman-compose config`) when one is installed (CI installs docker-compose), and the stack's promises read from
 * the file itself either way. scripts/container-e2e.sh (test/integration/container.test.ts) runs them for real.
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { parse } from 'yaml'
import { parseConfig } from '../../src/config/load.js'

const ROOT = join(import.meta.dirname, '../..')
const read = (name: string) => readFileSync(join(ROOT, name), 'utf8')

interface Service {
  environment?: Record<string, string>
  ports?: string[]
  healthcheck?: { test: string[] }
  entrypoint?: string[]
  command?: string[]
}

const validators = [
  ['docker-compose', ['config', '-q']],
  ['podman-compose', ['config']],
] as const
const validator = validators.find(([cmd]) => spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0)

t.test(
  `${validator?.[0] ?? 'docker-compose'} config validates docker-compose.yml`,
  {
    skip: validator
      ? false
      : 'neither docker-compose nor podman-compose is installed (CI installs docker-compose)',
  },
  async (t) => {
    const [cmd, args] = validator ?? validators[0]
    const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', timeout: 30_000 })
    t.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`)
  },
)

t.test('the stack: ports, admin on loopback, health checks, routes.yaml by service name', async (t) => {
  const doc = parse(read('docker-compose.yml')) as { services: Record<string, Service> }
  const { switchboard, web, api } = doc.services
  t.ok(switchboard && web && api, 'services switchboard, web and api')
  const ports = switchboard?.ports ?? []
  t.ok(
    ports.some((p) => /:80$/.test(p)),
    'switchboard publishes 80',
  )
  t.ok(
    ports.some((p) => /:443$/.test(p)),
    'switchboard publishes 443',
  )
  const admin = ports.filter((p) => p.endsWith(':9901'))
  t.ok(
    admin.length === 1 && admin[0]?.startsWith('127.0.0.1:'),
    'the admin API is published on the loopback only',
  )
  for (const [name, s] of Object.entries(doc.services))
    t.ok(s.healthcheck?.test, `${name} has a health check`)
  t.same(web?.command?.slice(-1), ['3000'], 'web on 3000')
  t.same(api?.command?.slice(-1), ['8080'], 'api on 8080')

  const env = Object.fromEntries(
    Object.entries(switchboard?.environment ?? {}).map(([k, v]) => [k, String(v)]),
  )
  const stack = parseConfig(read('routes.yaml'), 'routes.yaml', env)
  t.ok(stack.ok, stack.ok ? "routes.yaml loads with the stack's variables" : stack.error.message)
  const laptop = parseConfig(read('routes.yaml'), 'routes.yaml', {})
  t.ok(laptop.ok, laptop.ok ? 'routes.yaml loads with its defaults' : laptop.error.message)
})

t.test('Dockerfile: non-root, exec form, health check through node, config and state paths', async (t) => {
  const text = read('Dockerfile')
  t.match(text, /^FROM \$\{NODE_IMAGE\} AS build$/m, 'multi-stage')
  t.match(text, /^ARG NODE_IMAGE=node:2\d-bookworm-slim$/m, 'a Debian slim Node base')
  t.match(text, /^USER node$/m, 'runs as a non-root user')
  t.match(text, /^EXPOSE 80 443$/m)
  t.match(text, /^ {2}CMD \["node", "-e", ".*\/readyz/m, 'HEALTHCHECK asks /readyz with node')
  t.match(text, /^ENTRYPOINT \["node",/m, 'ENTRYPOINT in exec form: SIGTERM reaches node')
  t.match(
    text,
    /^CMD \["start", "-c", "\/etc\/switchboard\/routes\.yaml", "--state-dir", "\/var\/lib\/switchboard"\]$/m,
  )
  t.match(text, /^VOLUME \["\/var\/lib\/switchboard"\]$/m)
  const instructions = text
    .split('\n')
    .filter((l) => !l.trimStart().startsWith('#'))
    .join('\n')
  t.notMatch(instructions, /curl|wget/, 'no curl or wget')
})
