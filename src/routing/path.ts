/**
 * Request-target checks and normalisation. Pure.
 * - Only origin-form ("/p?q") and absolute-form ("http://h/p?q") are proxied.
 * - Percent-escapes of unreserved characters are decoded (so "/%61pi" routes like "/api"); others are kept verbatim
 *   and never decoded twice ("%252e" stays "%252e").
 * - Dot-segments, raw or encoded ("..", "%2e%2e", ".%2e", "..;", "..%3b"), backslashes (raw or "%5c") and NUL are
 *   refused: a proxy that routes by prefix must not let "/api/../admin" reach anything but a 400.
 */
import { decodeUnreserved } from '../config/values.js'

export type Target =
  | { ok: true; path: string; query: string; authority: string | undefined }
  | { ok: false; reason: string }

const SEPARATOR = /\/|%2f|\\|%5c/i

export function parseTarget(url: string): Target {
  let rest = url
  let authority: string | undefined
  if (!rest.startsWith('/')) {
    const m = /^https?:\/\/([^/?#]*)(.*)$/i.exec(rest)
    if (!m) return { ok: false, reason: 'request target must be a path ("/...") or an absolute http URL' }
    authority = m[1] as string
    rest = m[2] === '' || (m[2] as string).startsWith('?') ? `/${m[2]}` : (m[2] as string)
    if (!rest.startsWith('/')) return { ok: false, reason: 'malformed absolute request target' }
  }
  const q = rest.indexOf('?')
  let path = q < 0 ? rest : rest.slice(0, q)
  const query = q < 0 ? '' : rest.slice(q)
  if (path.includes('#') || query.includes('#'))
    return { ok: false, reason: 'a fragment is not allowed in a request' }
  if (/%(?![0-9A-Fa-f]{2})/.test(path)) return { ok: false, reason: 'malformed percent-encoding in the path' }
  if (/%00|%5c/i.test(path) || path.includes('\\'))
    return { ok: false, reason: 'forbidden character in the path' }
  path = decodeUnreserved(path)
  for (const segment of path.split(SEPARATOR)) {
    if (isDotSegment(segment))
      return { ok: false, reason: 'dot-segments ("." or "..") are not allowed in the path' }
  }
  return { ok: true, path, query, authority }
}

function isDotSegment(segment: string): boolean {
  const s = segment.split(/;|%3b/i)[0] as string
  return s === '.' || s === '..'
}

/** True when `path` is under `prefix` on a segment boundary: "/api" covers "/api", "/api/", "/api/x"; not "/apix". */
export function underPrefix(path: string, prefix: string): boolean {
  if (prefix === '/') return true
  return path.startsWith(prefix) && (path.length === prefix.length || path.charCodeAt(prefix.length) === 47)
}
