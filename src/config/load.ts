/**
 * Loading routes.yaml: read, parse YAML (with positions), substitute ${VAR}, validate shape and cross-references,
 * and build the Config. Every problem is collected and reported at once, each with its line and column.
 */
import { readFile } from 'node:fs/promises'
import { type Document, LineCounter, parseDocument, visit } from 'yaml'
import { inspectCertificate } from '../tls/cert-files.js'
import { buildConfig } from './build.js'
import type { Env } from './env.js'
import { ConfigError, type ConfigIssue, formatIssue } from './issues.js'
import { locate } from './locate.js'
import type { Config } from './model.js'
import { ConfigSchema } from './schema.js'
import { checkSemantics } from './semantics.js'
import { substituteDocument } from './substitute.js'
import { explainYamlErrors } from './yaml-errors.js'
import { fromZod } from './zod-issues.js'

export type LoadResult = { ok: true; config: Config; warnings?: string[] } | { ok: false; error: ConfigError }

export function parseConfig(text: string, file: string, env: Env): LoadResult {
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true })
  if (doc.errors.length > 0) {
    const issues: ConfigIssue[] = explainYamlErrors(text, doc.errors).map((e) => {
      const pos = lines.linePos(e.offset)
      return { path: [], message: e.message, line: pos.line, col: pos.col }
    })
    return { ok: false, error: new ConfigError(file, issues) }
  }
  const issues: ConfigIssue[] = []
  for (const p of substituteDocument(doc, env)) {
    const pos = lines.linePos(p.offset)
    issues.push({ path: [], message: p.message, line: pos.line, col: pos.col })
  }
  const aliases = unresolvedAliases(doc)
  if (aliases.length > 0) {
    for (const a of aliases) {
      const pos = lines.linePos(a.offset)
      issues.push({ path: [], message: a.message, line: pos.line, col: pos.col })
    }
    return { ok: false, error: new ConfigError(file, issues) }
  }
  let data: unknown
  try {
    data = doc.toJS({ maxAliasCount: 100 })
  } catch (err) {
    issues.push({ path: [], message: `YAML error: ${(err as Error).message}`, line: 1, col: 1 })
    return { ok: false, error: new ConfigError(file, issues) }
  }
  if (data === null || data === undefined) {
    issues.push({
      path: [],
      message: 'the file is empty: it needs at least a "routes:" list',
      line: 1,
      col: 1,
    })
    return { ok: false, error: new ConfigError(file, issues) }
  }
  const parsed = ConfigSchema.safeParse(data, { reportInput: true })
  const position = (path: ConfigIssue['path']) => locate(doc, lines, { path, message: '' })
  const found = [...(parsed.success ? [] : fromZod(parsed.error)), ...checkSemantics(data, position)]
  for (const issue of found) issues.push(locate(doc, lines, issue))
  if (issues.length > 0 || !parsed.success) {
    issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0))
    return { ok: false, error: new ConfigError(file, dedupe(issues)) }
  }
  return { ok: true, config: buildConfig(file, parsed.data) }
}

/**
 * Checks the files the config names (TLS certificates and keys, upstream CA files): readable, PEM, key matches,
 * valid now. Problems are reported at the line of the key that names the file; an expiring certificate is a warning.
 */
export async function checkFiles(
  config: Config,
  text: string,
  file: string,
): Promise<{ issues: ConfigIssue[]; warnings: string[] }> {
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines })
  const issues: ConfigIssue[] = []
  const warnings: string[] = []
  for (const [i, c] of config.tls.certificates.entries()) {
    const r = await inspectCertificate(c.cert, c.key)
    if (!r.ok)
      for (const p of r.problems)
        issues.push(locate(doc, lines, { path: ['tls', 'certificates', i, 'cert'], message: p }))
    else if (r.warning)
      warnings.push(
        formatIssue(
          file,
          locate(doc, lines, { path: ['tls', 'certificates', i, 'cert'], message: `warning: ${r.warning}` }),
        ),
      )
  }
  for (const [name, u] of config.upstreams) {
    if (u.tls.ca === undefined) continue
    try {
      const pem = await readFile(u.tls.ca, 'utf8')
      if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
        issues.push(
          locate(doc, lines, {
            path: ['upstreams', name, 'tls', 'ca'],
            message: `${u.tls.ca} is not a PEM certificate`,
          }),
        )
      }
    } catch (err) {
      issues.push(
        locate(doc, lines, {
          path: ['upstreams', name, 'tls', 'ca'],
          message: `cannot read ${u.tls.ca} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
        }),
      )
    }
  }
  return { issues, warnings }
}

export async function loadConfigFile(file: string, env: Env = process.env): Promise<LoadResult> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const why =
      code === 'ENOENT'
        ? 'file not found (pass another with -c/--config)'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'is a directory, not a file'
            : `cannot read the file (${code ?? 'error'})`
    return { ok: false, error: new ConfigError(file, [{ path: [], message: why, line: 1, col: 1 }]) }
  }
  const parsed = parseConfig(text, file, env)
  if (!parsed.ok) return parsed
  const files = await checkFiles(parsed.config, text, file)
  if (files.issues.length > 0) return { ok: false, error: new ConfigError(file, files.issues) }
  return { ok: true, config: parsed.config, warnings: files.warnings }
}

function dedupe(issues: ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>()
  return issues.filter((i) => {
    const key = `${i.line}:${i.col}:${i.path.join('.')}:${i.message}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

/** `host: *.example.com` unquoted is a YAML alias to an anchor named ".example.com": say so, with the fix. */
function unresolvedAliases(doc: Document): { offset: number; message: string }[] {
  const out: { offset: number; message: string }[] = []
  visit(doc, {
    Alias(_key, node) {
      if (node.resolve(doc) === undefined) {
        const text = `*${node.source}`
        out.push({
          offset: node.range?.[0] ?? 0,
          message: `YAML reads ${text} as an alias (a reference to an anchor "&${node.source}"); quote it: "${text}"`,
        })
      }
    },
  })
  return out
}
