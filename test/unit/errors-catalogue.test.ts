/**
 * The error catalogue is the one source of every answer Switchboard writes itself: docs/errors.md's table is
 * generated from it, every SB_* code in the source is in it, every entry can actually be produced, and the answers
 * written outside the proxy path (parser errors, CONNECT, a non-WebSocket upgrade with a body) carry a code.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { ERRORS_DOC, withTable } from '../../scripts/gen-errors-doc.js'
import { ERRORS, type ErrorCode, problems, reasonPhrase } from '../../src/proxy/errors.js'
import { parserProblem } from '../../src/server/client-errors.js'
import { ABORT, classify } from '../../src/upstreams/faults.js'

const SRC = join(import.meta.dirname, '../../src')

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  )
}

t.test('docs/errors.md carries the table generated from the catalogue', async (t) => {
  const doc = readFileSync(ERRORS_DOC, 'utf8')
  t.equal(doc, withTable(doc), 'run `npm run docs:errors` after changing src/proxy/errors.ts')
  for (const code of Object.keys(ERRORS)) t.match(doc, `\`${code}\``, `${code} is documented`)
})

t.test(
  'every SB_* code named in the source is in the catalogue (or is an internal abort reason)',
  async (t) => {
    const internal = new Set<string>(Object.values(ABORT))
    for (const file of sourceFiles(SRC)) {
      const text = readFileSync(file, 'utf8')
      for (const m of text.matchAll(/\bSB_[A-Z0-9_]+\b/g)) {
        const code = m[0]
        if (!(code in ERRORS) && !internal.has(code))
          t.fail(`${file.slice(SRC.length + 1)}: ${code} is not in the catalogue (src/proxy/errors.ts)`)
      }
    }
    t.pass('scanned')
  },
)

t.test('every catalogue entry can be produced, with its own status', async (t) => {
  const produced = new Map<string, number>()
  const add = (p: { code: string; status: number }) => produced.set(p.code, p.status)
  add(problems.badRequest('x'))
  add(problems.noRoute('a.test'))
  add(problems.methodNotAllowed('TRACE'))
  add(problems.clientTimeout())
  add(problems.bodyTooLarge(10))
  add(problems.misdirected('a.test'))
  add(problems.webSocketVersion())
  add(problems.internal())
  add(problems.unsupportedEncoding())
  add(problems.noHealthyTarget('api', 1, 'down'))
  add(problems.shuttingDown())
  for (const code of [
    'HPE_INVALID_METHOD',
    'HPE_HEADER_OVERFLOW',
    'ERR_HTTP_REQUEST_TIMEOUT',
    'HPE_CHUNK_EXTENSIONS_OVERFLOW',
  ])
    add(parserProblem(code))
  const faults = [
    'ECONNREFUSED',
    'UND_ERR_CONNECT_TIMEOUT',
    'ENOTFOUND',
    'EHOSTUNREACH',
    'ECONNRESET',
    'UND_ERR_HEADERS_TIMEOUT',
    'DEPTH_ZERO_SELF_SIGNED_CERT',
    'HPE_INVALID_CONSTANT',
  ]
  for (const code of faults)
    add(problems.fault(classify({ code }), 'api', { connect: 5000, response: 100_000 }))
  for (const [code, spec] of Object.entries(ERRORS)) {
    t.equal(produced.get(code), spec.status, `${code} is produced with status ${spec.status}`)
    t.not(reasonPhrase(spec.status), 'Error', `${spec.status} has a reason phrase`)
  }
  t.equal(produced.size, Object.keys(ERRORS).length, 'nothing produced outside the catalogue')
})

t.test('pages never carry an address: upstream sentences name the upstream only', async (t) => {
  for (const code of Object.keys(ERRORS) as ErrorCode[]) {
    if (!code.startsWith('SB_UPSTREAM_')) continue
    const p = problems.upstream(code as Parameters<typeof problems.upstream>[0], 'api', {
      connect: 5000,
      response: 100_000,
    })
    t.match(p.detail, /upstream "api"/, code)
    t.notMatch(p.detail, /\d+\.\d+\.\d+\.\d+|:\d{2,5}\b/, `${code}: no address`)
  }
})

t.test('the idle timeout is classified but never becomes a page of its own', async (t) => {
  const idle = classify({ code: ABORT.idle })
  t.equal(idle.kind, 'idle-timeout')
  t.equal(idle.targetFault, true)
  t.notOk('SB_UPSTREAM_IDLE_TIMEOUT' in ERRORS, 'no code that can never be sent')
})
