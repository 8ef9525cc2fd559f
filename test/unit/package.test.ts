/**
 * package.json's dependency split: the image and `npm install switchboard` get `dependencies` only (the Dockerfile
 * prunes the rest), so each of them must be something src/ uses, and src/ must use nothing else.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'

const ROOT = join(import.meta.dirname, '../..')
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>
  devDependencies: Record<string, string>
}
const sources = (readdirSync(join(ROOT, 'src'), { recursive: true }) as string[])
  .filter((f) => f.endsWith('.ts'))
  .map((f) => ({ file: `src/${f}`, text: readFileSync(join(ROOT, 'src', f), 'utf8') }))

/** Files in src/ that name the package as a module: an import, a dynamic import, or a pino transport target. */
function users(name: string): string[] {
  const quoted = new RegExp(`['"]${name.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}(?:/[^'"]*)?['"]`)
  return sources.filter((s) => quoted.test(s.text)).map((s) => s.file)
}

t.test('every production dependency is used by src/', async (t) => {
  t.ok(sources.length > 10, 'found the sources')
  for (const name of Object.keys(pkg.dependencies)) {
    t.not(users(name).length, 0, `${name} is in dependencies: something in src/ must use it`)
  }
})

t.test('src/ uses no dev dependency (the image has none)', async (t) => {
  for (const name of Object.keys(pkg.devDependencies)) {
    t.same(users(name), [], `${name} is a dev dependency`)
  }
})

t.test('the benchmark-only proxies are dev dependencies, pinned', async (t) => {
  for (const name of ['@fastify/reply-from', '@fastify/http-proxy']) {
    t.notOk(name in pkg.dependencies, `${name} is not a production dependency`)
    t.match(pkg.devDependencies[name], /^\d+\.\d+\.\d+$/, `${name} is a dev dependency with an exact version`)
  }
})
