/**
 * YAML syntax mistakes people make in routes.yaml, written as real files and loaded as `switchboard check` loads
 * them: each is reported at the line to edit, with one plain sentence rather than the parser's grammar terms.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { loadConfigFile } from '../../src/config/load.js'

const dir = mkdtempSync(join(tmpdir(), 'sb-yaml-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

/** Writes `text` as routes.yaml in its own directory and returns what loading it reports, one line per problem. */
async function check(name: string, text: string): Promise<string[]> {
  const file = join(dir, `${name}.yaml`)
  writeFileSync(file, text)
  const r = await loadConfigFile(file, {})
  return r.ok ? [] : r.error.lines().map((l) => l.replace(`${dir}/`, ''))
}

const INDENT = 'keys of one map start at the same column'

t.test('wrong indentation points at the line to edit, not the line above', async (t) => {
  t.same(await check('deeper', 'routes:\n  - host: app.localhost\n     to: 3000\n'), [
    `deeper.yaml:3:6 YAML syntax error: wrong indentation: "to:" is indented more than "host:" on line 2; ${INDENT}`,
  ])
  t.same(await check('deeper-key', 'listen:\n  http: 8080\n   https: 8443\nroutes:\n  - to: 3000\n'), [
    `deeper-key.yaml:3:4 YAML syntax error: wrong indentation: "https:" is indented more than "http:" on line 2; ${INDENT}`,
  ])
  t.same(
    await check('after-comment', 'routes:\n  - host: app.localhost\n\n    # the dev server\n     to: 3000\n'),
    [
      `after-comment.yaml:5:6 YAML syntax error: wrong indentation: "to:" does not line up with the keys above it; ${INDENT}`,
    ],
  )
  t.same(
    await check(
      'under-url',
      'routes:\n  - host: app.localhost\n    to: http://my-app:3000\n      path: /x\n',
    ),
    [
      `under-url.yaml:4:7 YAML syntax error: wrong indentation: "path:" is indented more than "to:" on line 3; ${INDENT}`,
    ],
    'a value with a colon is not taken for a missing space',
  )
  t.same(await check('shallower', 'routes:\n  - host: app.localhost\n   to: 3000\n'), [
    `shallower.yaml:3:4 YAML syntax error: wrong indentation: "to:" does not line up with the keys above it; ${INDENT}`,
  ])
  t.same(
    await check(
      'upstream',
      'upstreams:\n  api:\n    targets: [3000]\n   balance: random\nroutes:\n  - upstream: api\n',
    ),
    [
      `upstream.yaml:4:4 YAML syntax error: wrong indentation: "balance:" does not line up with the keys above it; ${INDENT}`,
    ],
  )
  t.same(
    await check(
      'list',
      'routes:\n  - host: a.localhost\n    to: 3000\n   - host: b.localhost\n     to: 3001\n',
    ),
    [
      'list.yaml:4:4 YAML syntax error: wrong indentation: this "- " item does not line up with the items above it; items of one list start at the same column',
    ],
  )
  t.same(
    await check(
      'list-deeper',
      'routes:\n  - host: a.localhost\n    to: 3000\n    - host: b.localhost\n      to: 3001\n',
    ),
    [
      'list-deeper.yaml:4:5 YAML syntax error: wrong indentation: this "- " item does not line up with the items above it; items of one list start at the same column',
    ],
  )
})

t.test('tabs used for indentation', async (t) => {
  t.same(await check('tabs', 'routes:\n\t- host: app.localhost\n\t  to: 3000\n'), [
    'tabs.yaml:2:1 YAML syntax error: a tab is used for indentation; YAML indents with spaces only',
    'tabs.yaml:3:1 YAML syntax error: a tab is used for indentation; YAML indents with spaces only',
  ])
  t.same(await check('tab-after-spaces', 'routes:\n  - host: app.localhost\n  \tto: 3000\n'), [
    'tab-after-spaces.yaml:3:3 YAML syntax error: a tab is used for indentation; YAML indents with spaces only',
  ])
})

t.test('a missing space after ":"', async (t) => {
  t.same(await check('host', 'routes:\n  - host:app.localhost\n    to: 3000\n'), [
    'host.yaml:2:9 YAML syntax error: a space is missing after ":" in "host:app.localhost" (write "host: app.localhost")',
  ])
  t.same(await check('to-last', 'routes:\n  - host: app.localhost\n    to:3000\n'), [
    'to-last.yaml:3:7 YAML syntax error: a space is missing after ":" in "to:3000" (write "to: 3000")',
  ])
  t.same(await check('url', 'routes:\n  - to:http://127.0.0.1:3000\n    host: app.localhost\n'), [
    'url.yaml:2:7 YAML syntax error: a space is missing after ":" in "to:http://127.0.0.1:3000" (write "to: http://127.0.0.1:3000")',
  ])
  t.same(
    await check(
      'targets',
      'upstreams:\n  api:\n    balance: random\n    targets:[3000]\nroutes:\n  - upstream: api\n',
    ),
    [
      'targets.yaml:4:12 YAML syntax error: a space is missing after ":" in "targets:[3000]" (write "targets: [3000]")',
    ],
  )
  // YAML itself accepts these as text; the schema then says what the text should have been.
  t.same(await check('to-only', 'routes:\n  - to:3000\n'), [
    'to-only.yaml:2:5 routes[0]: expected object, got the text "to:3000"; a space is missing after ":" (write "to: 3000")',
  ])
  t.same(await check('listen', 'listen:\n  http:8080\nroutes:\n  - to: 3000\n'), [
    'listen.yaml:2:3 listen: expected object, got the text "http:8080"; a space is missing after ":" (write "http: 8080")',
  ])
  t.same(await check('flow', 'routes:\n  - { host:app.localhost, to: 3000 }\n'), [
    'flow.yaml:2:7 routes[0]["host:app.localhost"]: unknown key "host:app.localhost"; a space is missing after ":" (write "host: app.localhost")',
  ])
})

t.test('an unquoted "*" at the start of a value', async (t) => {
  t.same(await check('wildcard', 'routes:\n  - host: *.example.com\n    to: 3000\n'), [
    'wildcard.yaml:2:11 YAML reads *.example.com as an alias (a reference to an anchor "&.example.com"); quote it: "*.example.com"',
  ])
  t.same(await check('star', 'routes:\n  - host: *\n    to: 3000\n'), [
    'star.yaml:2:11 YAML syntax error: YAML reads an unquoted "*" at the start of a value as an alias (a reference to an anchor); quote it: "*"',
  ])
})

t.test('other syntax errors keep the parser text and position', async (t) => {
  t.same(await check('dup', 'routes:\n  - to: 1\nroutes:\n  - to: 2\n'), [
    'dup.yaml:3:1 YAML syntax error: Map keys must be unique',
  ])
  t.same(await check('bare', 'listen:\n  http: 8080\n  https\nroutes:\n  - to: 3000\n'), [
    'bare.yaml:3:3 YAML syntax error: "https" needs a ":" and a space after its key ("https: value"), or "- " in front if it is a list item',
  ])
  t.same(await check('same-line', 'routes:\n  - host: a.localhost to: 3000\n'), [
    'same-line.yaml:2:23 YAML syntax error: a key cannot follow a value on the same line: put "to:" on a line of its own',
  ])
})
