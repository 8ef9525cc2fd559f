/**
 * schema/routes.schema.json: committed output equals what scripts/gen-schema.ts generates, it mirrors the zod
 * ConfigSchema, and the repository's routes.yaml and the YAML examples in docs/ are valid both for Switchboard's
 * loader and for the JSON Schema. The schema is checked with the small validator below (no dependency), which knows
 * exactly the keywords the generated schema uses and fails on any other.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { parseDocument } from 'yaml'
import { renderRoutesSchema, routesJsonSchema, SCHEMA_PATH } from '../../scripts/routes-schema.js'
import { parseConfig } from '../../src/config/load.js'
import { ConfigSchema, RouteSchema, UpstreamSchema } from '../../src/config/schema.js'
import { substituteDocument } from '../../src/config/substitute.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const read = (rel: string) => readFileSync(join(ROOT, rel), 'utf8')

type Schema = Record<string, unknown>
const isMap = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

/** Keywords the generated schema may use: all of them mean the same in draft-07, which most YAML editors implement. */
const KEYWORDS = new Set([
  '$schema',
  '$comment',
  'title',
  'description',
  'type',
  'properties',
  'required',
  'additionalProperties',
  'propertyNames',
  'items',
  'minItems',
  'anyOf',
  'const',
  'pattern',
  'enum',
  'minLength',
  'minimum',
  'maximum',
])

function subschemas(schema: Schema): Schema[] {
  const out: Schema[] = []
  if (isMap(schema.properties)) out.push(...(Object.values(schema.properties) as Schema[]))
  if (isMap(schema.additionalProperties)) out.push(schema.additionalProperties)
  if (isMap(schema.propertyNames)) out.push(schema.propertyNames)
  if (isMap(schema.items)) out.push(schema.items)
  if (Array.isArray(schema.anyOf)) out.push(...(schema.anyOf as Schema[]))
  return out
}

function unknownKeywords(schema: Schema, at = '#'): string[] {
  const own = Object.keys(schema)
    .filter((k) => !KEYWORDS.has(k))
    .map((k) => `${at}: ${k}`)
  return [...own, ...subschemas(schema).flatMap((s, i) => unknownKeywords(s, `${at}/${i}`))]
}

function hasType(value: unknown, type: string): boolean {
  switch (type) {
    case 'object':
      return isMap(value)
    case 'array':
      return Array.isArray(value)
    case 'string':
      return typeof value === 'string'
    case 'number':
      return typeof value === 'number' && Number.isFinite(value)
    case 'integer':
      return Number.isInteger(value)
    case 'boolean':
      return typeof value === 'boolean'
    case 'null':
      return value === null
    default:
      throw new Error(`unknown JSON Schema type ${type}`)
  }
}

/** Validation errors of `value` against `schema`, as "path: message" strings ([] when valid). */
function validate(schema: Schema, value: unknown, at = ''): string[] {
  const where = at === '' ? '(root)' : at
  if (schema.type !== undefined) {
    const types = (Array.isArray(schema.type) ? schema.type : [schema.type]) as string[]
    if (!types.some((type) => hasType(value, type)))
      return [`${where}: expected ${types.join(' or ')}, got ${JSON.stringify(value)}`]
  }
  const errors: string[] = []
  if ('const' in schema && value !== schema.const)
    errors.push(`${where}: expected ${JSON.stringify(schema.const)}`)
  if (
    typeof schema.pattern === 'string' &&
    typeof value === 'string' &&
    !new RegExp(schema.pattern, 'u').test(value)
  )
    errors.push(`${where}: "${value}" does not match ${schema.pattern}`)
  if (Array.isArray(schema.anyOf) && !schema.anyOf.some((s) => validate(s as Schema, value, at).length === 0))
    errors.push(`${where}: matches none of the alternatives`)
  if (Array.isArray(value)) {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems)
      errors.push(`${where}: fewer than ${schema.minItems} items`)
    if (isMap(schema.items)) {
      const items = schema.items
      value.forEach((item, i) => {
        errors.push(...validate(items, item, `${at}[${i}]`))
      })
    }
  }
  if (isMap(value)) {
    const properties = isMap(schema.properties) ? (schema.properties as Record<string, Schema>) : {}
    for (const key of (schema.required as string[] | undefined) ?? [])
      if (!(key in value)) errors.push(`${where}: missing "${key}"`)
    for (const [key, item] of Object.entries(value)) {
      const path = at === '' ? key : `${at}.${key}`
      if (isMap(schema.propertyNames)) errors.push(...validate(schema.propertyNames, key, `${path} (name)`))
      const sub = properties[key]
      if (sub) errors.push(...validate(sub, item, path))
      else if (schema.additionalProperties === false) errors.push(`${path}: not allowed`)
      else if (isMap(schema.additionalProperties))
        errors.push(...validate(schema.additionalProperties, item, path))
    }
  }
  return errors
}

/** The document as Switchboard validates it: parsed, then ${VAR} substituted from `env`. */
function afterSubstitution(text: string, env: Record<string, string> = {}): unknown {
  const doc = parseDocument(text)
  if (doc.errors.length > 0) throw new Error(doc.errors[0]?.message)
  const problems = substituteDocument(doc, env)
  if (problems.length > 0) throw new Error(problems[0]?.message)
  return doc.toJS()
}

interface Block {
  info: string
  text: string
  line: number
}

function fencedBlocks(markdown: string): Block[] {
  const blocks: Block[] = []
  const lines = markdown.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(.*)$/.exec(lines[i] as string)
    if (!open) continue
    const start = i
    const body: string[] = []
    for (i++; i < lines.length && lines[i] !== '```'; i++) body.push(lines[i] as string)
    blocks.push({ info: (open[1] as string).trim(), text: `${body.join('\n')}\n`, line: start + 1 })
  }
  return blocks
}

const committed = readFileSync(SCHEMA_PATH, 'utf8')
const schema = JSON.parse(committed) as Schema

t.test('the committed schema is exactly what npm run schema generates', async (t) => {
  t.equal(committed, renderRoutesSchema(), 'run "npm run schema" and commit schema/routes.schema.json')
  t.same(schema, routesJsonSchema())
})

t.test('npm run schema -- --check', async (t) => {
  const run = (...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'scripts/gen-schema.ts', ...args], {
      cwd: ROOT,
      encoding: 'utf8',
    })
  const ok = run('--check')
  t.equal(ok.status, 0, ok.stderr)
  t.match(ok.stdout, /is up to date/)

  const dir = mkdtempSync(join(tmpdir(), 'sb-schema-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'routes.schema.json')
  const missing = run('--check', '--file', file)
  t.equal(missing.status, 1)
  t.match(missing.stderr, /is missing/)
  writeFileSync(file, committed.replace('"title": "', '"title": "stale '))
  const stale = run('--check', '--file', file)
  t.equal(stale.status, 1)
  t.match(stale.stderr, /is out of date/)
  t.equal(run('--file', file).status, 0, 'without --check it rewrites the file')
  t.equal(readFileSync(file, 'utf8'), committed)
})

t.test('an editor-ready draft 2020-12 schema that mirrors ConfigSchema', async (t) => {
  t.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema')
  t.type(schema.title, 'string')
  t.match(schema.description, /\$\{VAR\}/, 'says that values may use environment variables')
  t.match(schema.description, /docs\/configuration\.md/)
  t.same(unknownKeywords(schema), [], 'only keywords that draft-07 editors understand the same way')

  const props = schema.properties as Record<string, Schema>
  t.same(Object.keys(props).sort(), Object.keys(ConfigSchema.shape).sort(), 'top-level keys')
  t.same(schema.required, ['routes'])
  t.equal(schema.additionalProperties, false)

  const route = (props.routes?.items ?? {}) as Schema
  t.same(Object.keys(route.properties as Schema).sort(), Object.keys(RouteSchema.shape).sort(), 'route keys')
  t.equal(route.additionalProperties, false)
  const redirectCode = (route.properties as Record<string, Schema>).redirectCode as Schema
  t.same(
    (redirectCode.anyOf as Schema[]).map((s) => s.const),
    [301, 302, 303, 307, 308],
  )

  const upstream = props.upstreams?.additionalProperties as Schema
  t.same(Object.keys(upstream.properties as Schema).sort(), Object.keys(UpstreamSchema.shape).sort())
  t.same(upstream.required, ['targets'])
  const upstreamTimeouts = (upstream.properties as Record<string, Schema>).timeouts?.properties as Record<
    string,
    Schema
  >
  t.same(Object.keys(upstreamTimeouts).sort(), ['connect', 'idle', 'response'])
  const serverTimeouts = props.timeouts?.properties as Record<string, Schema>
  t.same(Object.keys(serverTimeouts).sort(), [
    'clientBody',
    'clientHeader',
    'keepAlive',
    'shutdown',
    'tlsHandshake',
  ])
  for (const duration of [...Object.values(upstreamTimeouts), ...Object.values(serverTimeouts)]) {
    t.equal(duration.type, 'string')
    t.type(duration.pattern, 'string')
    t.type(duration.description, 'string')
  }
  t.match(upstreamTimeouts.response?.description, /100s/, 'defaults are shown in editor hovers')
})

t.test('the validator used here rejects what the schema forbids', async (t) => {
  const bad: [string, RegExp][] = [
    ['rout:\n  - to: 3000\n', /missing "routes"/],
    ['routes: []\n', /fewer than 1/],
    ['routes:\n  - to: 3000\n    stripPrefx: true\n', /stripPrefx: not allowed/],
    ['routes:\n  - redirect: http://a.localhost\n    redirectCode: 305\n', /redirectCode: matches none/],
    ['routes:\n  - to: 3000\n    stripPrefix: "true"\n', /stripPrefix: expected boolean/],
    [
      'upstreams:\n  a: { targets: [3000], timeouts: { idle: 30 } }\nroutes:\n  - upstream: a\n',
      /idle: expected/,
    ],
    [
      'upstreams:\n  a: { targets: [3000], timeouts: { idle: 5 s } }\nroutes:\n  - upstream: a\n',
      /does not match/,
    ],
    ['upstreams:\n  a: { targets: [] }\nroutes:\n  - upstream: a\n', /targets: fewer than 1/],
    ['listen: { htp: 80 }\nroutes:\n  - to: 3000\n', /htp: not allowed/],
    ['routes:\n  - host: []\n    to: 3000\n', /host: matches none/],
  ]
  for (const [text, expected] of bad)
    t.match(validate(schema, afterSubstitution(text)).join('\n'), expected, text)
})

t.test("the repository's routes.yaml", async (t) => {
  const text = read('routes.yaml')
  t.same(validate(schema, afterSubstitution(text)), [], 'with the defaults of its variables')
  const env = { SWITCHBOARD_HTTP: '8080', WEB_URL: 'http://web:3000', API_URL: 'http://api:8080' }
  const data = afterSubstitution(text, env) as { listen: { http: unknown } }
  t.equal(data.listen.http, 8080, 'an unquoted variable that reads as a number becomes one')
  t.same(validate(schema, data), [])
  const loaded = parseConfig(text, 'routes.yaml', {})
  t.ok(loaded.ok, loaded.ok ? 'loads' : loaded.error.message)
})

for (const doc of ['docs/configuration.md', 'docs/dev-servers.md']) {
  t.test(`YAML examples in ${doc}`, async (t) => {
    const blocks = fencedBlocks(read(doc)).filter((b) => b.info === 'yaml')
    let complete = 0
    for (const block of blocks) {
      const where = `${doc}:${block.line}`
      const data = afterSubstitution(block.text)
      // Fragments (a single route, a single section) illustrate one key; only whole files are checked.
      if (!isMap(data) || !('routes' in data)) continue
      complete++
      t.same(validate(schema, data), [], `${where} matches the JSON Schema`)
      const loaded = parseConfig(block.text, where, {})
      t.ok(loaded.ok, loaded.ok ? `${where} loads` : loaded.error.message)
    }
    t.ok(complete >= 3, `${doc} has complete examples (${complete} checked)`)
  })
}

t.test('the broken example in docs/configuration.md prints what the docs show', async (t) => {
  const blocks = fencedBlocks(read('docs/configuration.md'))
  const index = blocks.findIndex((b) => b.info === 'yaml broken')
  t.ok(index >= 0, 'the example is there')
  const broken = blocks[index] as Block
  const output = blocks.slice(index + 1).find((b) => b.info === 'console')
  const shown = (output?.text ?? '').split('\n').filter((l) => /^broken\.yaml:\d+:\d+ /.test(l))
  const loaded = parseConfig(broken.text, 'broken.yaml', {})
  t.notOk(loaded.ok)
  if (!loaded.ok) {
    t.same(shown, loaded.error.lines(), 'the documented output is the real output')
    t.match(output?.text ?? '', `broken.yaml: ${loaded.error.issues.length} problems, nothing started`)
  }
  t.not(
    validate(schema, afterSubstitution(broken.text, { HTTP_PORT: '80' })).length,
    0,
    'the schema objects too',
  )
})
