/**
 * The user docs checked against the code, so that what they name exists. Each check lists every problem as
 * `file:line: what is wrong`.
 *
 * - Configuration keys: every dotted path in inline code (`timeouts.clientBody`, `upstreams.<name>.healthCheck.path`,
 *   `tls.certificates[].cert`) is a key of schema/routes.schema.json. A path that starts with a top-level key is read
 *   from the top (`timeouts.idle` is wrong: it is `upstreams.<name>.timeouts.idle`); one that starts with a deeper key
 *   (`passive.failures`) must exist under some key. Any word stands for a map key (`<name>`, `X`, `web`). File names
 *   (`routes.yaml`) are not paths.
 * - YAML blocks: a ```yaml block is a routes.yaml or a fragment of one, and must pass the real loader (parseConfig,
 *   with no environment variables set). A fragment without `routes:` gets a stand-in route; a fragment that is a
 *   list is a list of routes, checked for shape only (a one-key illustration need not be a whole route). Other
 *   blocks say what they are after the language: ```yaml broken (a deliberately invalid example: the loader must
 *   refuse it), ```yaml compose (a docker-compose file: only parsed), ```yaml kubernetes (manifests: the routes.yaml
 *   of each ConfigMap is loaded). Any other word after `yaml` is an error, so nothing is skipped silently.
 * - CLI: every `switchboard <command>` (or `node .../cli/main.js <command>`) in code, and every flag on such a line or
 *   alone in inline code (`--grace`), is in `switchboard --help`. Write other programs' flags with the program
 *   (`curl --resolve`).
 * - Links in README.md, CHANGELOG.md and docs/*.md: relative targets exist in the repository, and so do their
 *   #anchors; no `../` path (linked or quoted) leaves the repository or names a missing file.
 * - Metrics: every `switchboard_*` name is one ProxyMetrics exports (histograms with _bucket/_sum/_count), and
 *   docs/operations.md lists each exported metric.
 * - Admin endpoints: every admin URL (`http://127.0.0.1:9901/readyz`, `curl -X POST .../reload`) and every
 *   `GET /x` / `POST /x` / `/x` in an "admin" section is answered (not 404 or 405) by a real AdminServer, and
 *   docs/operations.md names every endpoint the server lists.
 *
 * docs/ARCHITECTURE.md and docs/benchmarks.md name Node APIs (`http.Server`, `tls.connect`) and the bench's own
 * options, so their inline code is not read for keys and lone flags; every other check covers them.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { dirname, isAbsolute, join, relative, resolve } from 'node:path'
import t from 'tap'
import { LineCounter, parse, parseAllDocuments, parseDocument } from 'yaml'
import { AdminServer } from '../../src/admin/server.js'
import { formatPath } from '../../src/config/issues.js'
import { parseConfig } from '../../src/config/load.js'
import { locate } from '../../src/config/locate.js'
import { ConfigSchema } from '../../src/config/schema.js'
import { fromZod } from '../../src/config/zod-issues.js'
import { ProxyMetrics } from '../../src/metrics/proxy-metrics.js'
import { type MarkdownFile, readMarkdown, sectionsAt } from '../helpers/markdown.js'

const ROOT = join(import.meta.dirname, '../..')
const NAMES = [
  'README.md',
  'CHANGELOG.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
]
const DOCS = new Map<string, { text: string; md: MarkdownFile }>(
  NAMES.map((name) => {
    const text = readFileSync(join(ROOT, name), 'utf8')
    return [name, { text, md: readMarkdown(text) }]
  }),
)
/** Docs that describe the product (the changelog is history). */
const CONTENT = NAMES.filter((n) => n !== 'CHANGELOG.md')
/** Docs whose inline code is read for keys and lone flags. */
const PROSE = CONTENT.filter((n) => n !== 'docs/ARCHITECTURE.md' && n !== 'docs/benchmarks.md')
const doc = (name: string) => DOCS.get(name) as { text: string; md: MarkdownFile }
const lineOf = (text: string, offset: number) => text.slice(0, offset).split('\n').length

// --- configuration keys -------------------------------------------------------------------------------------------

type Schema = Record<string, unknown>
const isMap = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v)
const SCHEMA = JSON.parse(readFileSync(join(ROOT, 'schema/routes.schema.json'), 'utf8')) as Schema
const alternatives = (s: Schema): Schema[] => (Array.isArray(s.anyOf) ? s.anyOf.flatMap(alternatives) : [s])

/** Every key path of the schema: ["upstreams", "<name>", "healthCheck", "path"], ["routes", "[]", "host"]... */
function keyPaths(s: Schema, prefix: string[] = []): string[][] {
  const out: string[][] = []
  for (const a of alternatives(s)) {
    const children: [string, unknown][] = [
      ...Object.entries(isMap(a.properties) ? a.properties : {}),
      ['<name>', a.additionalProperties],
      ['[]', a.items],
    ]
    for (const [key, sub] of children)
      if (isMap(sub)) out.push([...prefix, key], ...keyPaths(sub, [...prefix, key]))
  }
  return out
}
const PATHS = keyPaths(SCHEMA)
const TOP = new Set(Object.keys(SCHEMA.properties as Schema))
const KEYS = new Set(PATHS.flat().filter((k) => k !== '<name>' && k !== '[]'))
const segments = (ref: string) =>
  [...ref.matchAll(/[^.[\]]+|\[\d*\]/g)].map((m) => (m[0][0] === '[' ? '[]' : m[0]))

/** Where `ref` names a key: from the top when it starts with a top-level key, else under any key. */
function keyMatches(ref: string[], fromTop: boolean): string[][] {
  const same = (key: string, part: string) => key === part || (key === '<name>' && part !== '[]')
  return PATHS.filter((p) => {
    const at = fromTop ? 0 : p.length - ref.length
    return (
      (fromTop ? p.length === ref.length : at > 0 && p[at] !== '<name>') &&
      p.slice(at).every((key, i) => same(key, ref[i] as string))
    )
  })
}

t.test('configuration keys in inline code exist in the schema', async (t) => {
  const problems: string[] = []
  let checked = 0
  for (const name of PROSE) {
    for (const span of doc(name).md.code) {
      const ref = span.text
      if (!/^[A-Za-z$][\w$]*(?:\.[\w$<>-]+|\[\d*\])+$/.test(ref)) continue
      if (/\.(ya?ml|json|md|[cm]?[jt]s|pem|sh|html)$/.test(ref)) continue // a file name
      const parts = segments(ref)
      if (!KEYS.has(parts[0] as string)) continue
      const fromTop = TOP.has(parts[0] as string)
      checked++
      if (keyMatches(parts, fromTop).length > 0) continue
      const elsewhere = fromTop
        ? keyMatches(parts, false).map((p) => p.join('.').replaceAll('.[]', '[]'))
        : []
      problems.push(
        `${name}:${span.line}: \`${ref}\` is not a key of routes.yaml${elsewhere.length ? ` (did you mean ${elsewhere.join(' or ')}?)` : ''}`,
      )
    }
  }
  t.ok(checked >= 40, `key paths were found (${checked})`)
  t.same(problems, [], 'every key named in the docs exists')
})

t.test('the key check knows right from wrong', async (t) => {
  t.ok(keyMatches(segments('upstreams.X.healthCheck.interval'), true).length)
  t.ok(keyMatches(segments('tls.certificates[].cert'), true).length)
  t.ok(keyMatches(segments('routes[1].upstream'), true).length)
  t.ok(keyMatches(segments('passive.failures'), false).length)
  t.notOk(keyMatches(segments('timeouts.idle'), true).length)
  t.notOk(keyMatches(segments('listen.htps'), true).length)
  t.notOk(keyMatches(segments('upstreams.X.healthcheck'), true).length)
})

// --- YAML blocks --------------------------------------------------------------------------------------------------

/** Problems of a routes.yaml (or fragment) whose first line is line `first` of `file`, as `file:line path: message`. */
function routesProblems(text: string, file: string, first: number): string[] {
  const at = (line: number | undefined, offset: number) => `${file}:${first + (line ?? 1) - 1 - offset}`
  let data: unknown
  try {
    data = parse(text)
  } catch (err) {
    return [`${at(1, 0)} YAML error: ${(err as Error).message.split('\n')[0]}`]
  }
  if (Array.isArray(data)) {
    // A list of routes illustrating one key: checked for shape, as under "routes:".
    const wrapped = `routes:\n${text}`
    const lines = new LineCounter()
    const ydoc = parseDocument(wrapped, { lineCounter: lines })
    const result = ConfigSchema.safeParse(ydoc.toJS())
    if (result.success) return []
    return fromZod(result.error).map((issue) => {
      const found = locate(ydoc, lines, issue)
      return `${at(found.line, 1)} ${formatPath(issue.path)}: ${issue.message}`
    })
  }
  if (!isMap(data)) return [`${at(1, 0)} a YAML block that is neither a map nor a list of routes`]
  const loaded = parseConfig('routes' in data ? text : `${text}routes:\n  - to: 1\n`, file, {})
  if (loaded.ok) return []
  return loaded.error.issues.map(
    (issue) => `${at(issue.line, 0)} ${formatPath(issue.path)}: ${issue.message}`,
  )
}

t.test('YAML blocks are valid routes.yaml, or say what they are', async (t) => {
  const problems: string[] = []
  let checked = 0
  for (const name of CONTENT) {
    for (const fence of doc(name).md.fences) {
      const [lang, kind, ...rest] = fence.info.split(/\s+/)
      if (lang !== 'yaml') continue
      const where = `${name}:${fence.line}`
      checked++
      if (rest.length > 0 || !['broken', 'compose', 'kubernetes', undefined].includes(kind)) {
        problems.push(
          `${where}: unknown marker "${fence.info}" (use yaml, yaml broken, yaml compose, yaml kubernetes)`,
        )
      } else if (kind === undefined) {
        problems.push(...routesProblems(fence.body, name, fence.line))
      } else if (kind === 'broken') {
        if (parseConfig(fence.body, name, {}).ok)
          problems.push(`${where}: marked "broken" but the loader accepts it`)
      } else {
        const docs = parseAllDocuments(fence.body)
        for (const d of Array.isArray(docs) ? docs : [docs]) {
          for (const e of d.errors) problems.push(`${where}: YAML syntax error: ${e.message.split('\n')[0]}`)
          const manifest: unknown = d.toJS()
          if (kind !== 'kubernetes' || !isMap(manifest) || manifest.kind !== 'ConfigMap') continue
          const routes = (manifest.data as Schema | undefined)?.['routes.yaml']
          if (typeof routes !== 'string') continue
          const line =
            fence.line + fence.body.split('\n').findIndex((l) => /^\s+routes\.yaml: \|/.test(l)) + 1
          problems.push(...routesProblems(routes, name, line))
        }
      }
    }
  }
  t.ok(checked >= 30, `the docs' YAML blocks were found (${checked})`)
  t.same(problems, [], 'every YAML block is what it says it is')
})

// --- CLI ----------------------------------------------------------------------------------------------------------

const help = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--help'], {
  cwd: ROOT,
  encoding: 'utf8',
})
const [usage = '', options = ''] = help.stdout.split(/^Options:$/m)
const COMMANDS = new Set([...usage.matchAll(/^\s+switchboard\s+\[?(\w+)\]?/gm)].map((m) => m[1] as string))
const FLAGS = new Set([...options.matchAll(/(?<=^|\s|,)(-{1,2}[a-z][\w-]*)/gm)].map((m) => m[1] as string))
const TAKES_VALUE = new Set([...options.matchAll(/(-{1,2}[a-z][\w-]*) <\w+>/g)].map((m) => m[1] as string))

/** What is wrong with the switchboard invocation on `line` ([] for nothing), or undefined when there is none. */
function invocationProblems(line: string): string[] | undefined {
  const start = /^(?:\$\s+)?(?:sudo\s+)?(?:npx\s+)?switchboard(?=\s|$)|node\s+\S*cli\/main\.js(?=\s|$)/.exec(
    line,
  )
  if (!start) return undefined
  const args = line
    .slice(start.index + start[0].length)
    .split(/\s(?:#|&&|\|\||[|;>])/)[0]
    ?.trim()
  const tokens = (args ?? '').split(/\s+/).filter(Boolean)
  const out: string[] = []
  let command: string | undefined
  for (let i = 0; i < tokens.length; i++) {
    const token = (tokens[i] as string).replace(/^\[|\]$/g, '')
    if (token.startsWith('-')) {
      const flag = token.split('=')[0] as string
      if (!FLAGS.has(flag)) out.push(`unknown option ${flag}`)
      if (TAKES_VALUE.has(flag) && !token.includes('=')) i++
    } else if (command === undefined) {
      command = token
      if (!COMMANDS.has(command)) out.push(`unknown command "${command}"`)
    }
  }
  return out
}

t.test('commands and options named in the docs exist', async (t) => {
  t.equal(help.status, 0, help.stderr)
  t.ok(
    COMMANDS.has('check') && FLAGS.has('--config') && TAKES_VALUE.has('--config'),
    'the help was understood',
  )
  const problems: string[] = []
  let invocations = 0
  for (const name of CONTENT) {
    const { md } = doc(name)
    const lines: { text: string; line: number }[] = [...md.code]
    for (const fence of md.fences.filter((f) => /^(|sh|bash|shell|console|text)$/.test(f.info)))
      fence.body.split('\n').forEach((text, i) => {
        lines.push({ text, line: fence.line + i })
      })
    for (const { text, line } of lines) {
      const found = invocationProblems(text)
      if (found === undefined) continue
      invocations++
      for (const p of found) problems.push(`${name}:${line}: \`${text.trim()}\`: ${p}`)
    }
    if (!PROSE.includes(name)) continue
    for (const span of md.code) {
      const flag = /^(-{1,2}[a-z][\w-]*)(?:[ =]\S+)?$/.exec(span.text)?.[1]
      if (flag !== undefined && !FLAGS.has(flag))
        problems.push(`${name}:${span.line}: \`${span.text}\`: unknown option ${flag}`)
    }
  }
  t.ok(invocations >= 30, `switchboard command lines were found (${invocations})`)
  t.same(problems, [], 'every command and option is in switchboard --help')
})

t.test('the CLI check knows right from wrong', async (t) => {
  t.same(invocationProblems('switchboard [start] [-c routes.yaml]   validate the config'), [])
  t.same(invocationProblems('$ switchboard check -c broken.yaml'), [])
  t.same(invocationProblems('docker-compose exec sb node /app/dist/src/cli/main.js ca --state-dir /x'), [])
  t.same(invocationProblems('switchboard chek'), ['unknown command "chek"'])
  t.same(invocationProblems('switchboard start --grce 30s'), ['unknown option --grce'])
})

// --- links ----------------------------------------------------------------------------------------------------------

t.test('relative links and paths stay in the repository and resolve', async (t) => {
  const problems: string[] = []
  let links = 0
  const inside = (abs: string) => {
    const rel = relative(ROOT, abs)
    return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel)
  }
  for (const name of NAMES) {
    const { text, md } = doc(name)
    for (const link of md.links) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(link.text)) continue // https:, mailto:
      links++
      const [path = '', anchor] = link.text.split('#')
      const target = path === '' ? join(ROOT, name) : resolve(ROOT, dirname(name), decodeURI(path))
      const where = `${name}:${link.line}: link ${link.text}`
      if (!inside(target)) problems.push(`${where} points outside the repository`)
      else if (!existsSync(target)) problems.push(`${where}: ${relative(ROOT, target)} does not exist`)
      else if (anchor && target.endsWith('.md')) {
        const slugs = readMarkdown(readFileSync(target, 'utf8')).headings.map((h) => h.slug)
        if (!slugs.includes(anchor))
          problems.push(`${where}: no heading #${anchor} in ${relative(ROOT, target)}`)
      }
    }
    for (const m of text.matchAll(/(?<=^|[\s`("'])(\.\.\/[\w./-]+)/gm)) {
      const target = resolve(ROOT, dirname(name), m[1] as string)
      if (!inside(target) || !existsSync(target))
        problems.push(`${name}:${lineOf(text, m.index)}: ${m[1]} is not a file of this repository`)
    }
  }
  t.ok(links >= 80, `relative links were found (${links})`)
  t.same(problems, [], 'every relative link and path resolves inside the repository')
})

// --- metrics --------------------------------------------------------------------------------------------------------

t.test('metric names in the docs are the ones Switchboard exports', async (t) => {
  const rendered = new ProxyMetrics({
    upstreams: () => [],
    openConnections: () => 0,
    openWebSockets: () => 0,
  })
  const types = new Map([...rendered.render().matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]))
  t.ok(types.size >= 8, `metrics found (${types.size})`)
  const known = (metric: string) => {
    const base = metric.replace(/_(bucket|sum|count)$/, '')
    return types.has(metric) || (base !== metric && types.get(base) === 'histogram')
  }
  const problems: string[] = []
  for (const name of CONTENT) {
    const { text } = doc(name)
    for (const m of text.matchAll(/\bswitchboard_[a-z0-9_]+/g))
      if (!known(m[0])) problems.push(`${name}:${lineOf(text, m.index)}: no metric ${m[0]}`)
  }
  for (const metric of types.keys())
    if (!doc('docs/operations.md').text.includes(`\`${metric}\``))
      problems.push(`docs/operations.md: the metric ${metric} is not listed`)
  t.same(problems, [], 'metrics in the docs and in the code agree')
})

// --- admin endpoints ------------------------------------------------------------------------------------------------

interface Endpoint {
  method: string
  path: string
  where: string
}

function endpointsIn(name: string): Endpoint[] {
  const { text, md } = doc(name)
  const out: Endpoint[] = []
  for (const m of text.matchAll(
    /https?:\/\/(?:127\.0\.0\.1|localhost|0\.0\.0\.0|\[::1\]):9901(\/[^\s`'")#?]*)?/g,
  )) {
    const line = lineOf(text, m.index)
    const before = text.slice(text.lastIndexOf('\n', m.index) + 1, m.index)
    const method = /-X\s*POST\b/.test(before) ? 'POST' : 'GET'
    out.push({ method, path: m[1] ?? '/', where: `${name}:${line}` })
  }
  for (const span of md.code) {
    if (!sectionsAt(md, span.line).some((h) => /admin/i.test(h.text))) continue
    const m = /^(?:(GET|POST|PUT|PATCH|DELETE) )?(\/[\w/.-]*)$/.exec(span.text)
    if (m) out.push({ method: m[1] ?? 'GET', path: m[2] as string, where: `${name}:${span.line}` })
  }
  return out
}

t.test('admin endpoints in the docs are served by the admin API', async (t) => {
  const loaded = parseConfig('routes:\n  - to: 1\n', 'test.yaml', {})
  if (!loaded.ok) throw loaded.error
  const config = loaded.config
  const admin = new AdminServer(
    { listen: { host: '127.0.0.1', port: 0 }, token: undefined, allowRemote: false },
    {
      version: 'test',
      configFile: 'test.yaml',
      startedAt: new Date(),
      config: () => config,
      ready: () => true,
      upstreams: () => [],
      openConnections: () => 0,
      openWebSockets: () => 0,
      lastReload: () => undefined,
      reload: async () => ({ at: new Date(), ok: true, errors: [], needsRestart: [] }),
      metrics: () => '',
    },
  )
  const { port } = (await admin.listen()) as AddressInfo
  t.teardown(() => admin.close())
  const ask = (method: string, path: string) => fetch(`http://127.0.0.1:${port}${path}`, { method })

  const problems: string[] = []
  const named = CONTENT.flatMap(endpointsIn)
  t.ok(named.length >= 10, `endpoints named in the docs (${named.length})`)
  for (const e of named) {
    const { status } = await ask(e.method, e.path)
    if (status === 404 || status === 405)
      problems.push(`${e.where}: ${e.method} ${e.path} is answered ${status}`)
  }
  const listed = ((await (await ask('GET', '/no-such-endpoint')).json()) as { endpoints: string[] }).endpoints
  const documented = new Set(endpointsIn('docs/operations.md').map((e) => `${e.method} ${e.path}`))
  for (const e of listed.map((e) => (e.includes(' ') ? e : `GET ${e}`)))
    if (!documented.has(e)) problems.push(`docs/operations.md: the admin endpoint ${e} is not described`)
  t.same(problems, [], 'the docs and the admin API agree')
})
