/**
 * Certificate selection by SNI name. Pure: contexts are opaque values (a `SecureContext`, a file pair, a test label).
 *
 * Rules, in order:
 *  1. an exact name;
 *  2. a wildcard `*.example.com`, which matches exactly one label (`a.example.com`, not `example.com` nor
 *     `a.b.example.com`), as TLS clients apply it (RFC 6125 §6.4.3), so at most one wildcard can match a name and
 *     "the most specific wildcard" is the only one;
 *  3. the default: the one given, else the first entry; for clients without SNI and for unknown names.
 * Names compare case-insensitively, without a trailing dot; IPv6 literals with or without brackets. When two entries
 * list the same name, the first one keeps it. Wildcards never match IP addresses, and only a whole leftmost `*`
 * label is a wildcard (a name like `a*.example.com` or `a.*.com` is kept as a literal that no valid name equals).
 */
import { isIP } from 'node:net'

export interface CertificateEntry<T> {
  /** Host names and patterns this certificate serves: `example.com`, `*.example.com`, `127.0.0.1`, `::1`. */
  names: readonly string[]
  context: T
}

export class CertificateSelector<T> {
  readonly #exact = new Map<string, T>()
  /** Keyed by what follows `*.`. */
  readonly #wildcard = new Map<string, T>()
  readonly #default: T | undefined

  constructor(entries: readonly CertificateEntry<T>[], defaultContext?: T) {
    for (const entry of entries) {
      for (const raw of entry.names) {
        const name = canonicalName(raw)
        if (name === '') continue
        if (name.startsWith('*.') && name.length > 2 && !name.slice(2).includes('*')) {
          const suffix = name.slice(2)
          if (!this.#wildcard.has(suffix)) this.#wildcard.set(suffix, entry.context)
        } else if (!this.#exact.has(name)) {
          this.#exact.set(name, entry.context)
        }
      }
    }
    this.#default = defaultContext !== undefined ? defaultContext : entries[0]?.context
  }

  /** The context for a ClientHello's server name: exact, then wildcard, then the default. */
  select(servername: string | undefined): T | undefined {
    if (servername === undefined) return this.#default
    return this.match(servername) ?? this.#default
  }

  /**
   * The context whose names cover `name` (exact or wildcard), without falling back to the default: undefined means
   * no configured certificate is valid for that name (so the local CA should issue one, where enabled).
   */
  match(name: string): T | undefined {
    const n = canonicalName(name)
    if (n === '') return undefined
    const exact = this.#exact.get(n)
    if (exact !== undefined) return exact
    if (isIP(n) !== 0) return undefined
    const dot = n.indexOf('.')
    if (dot <= 0) return undefined
    return this.#wildcard.get(n.slice(dot + 1))
  }

  /** Whether a configured certificate is valid for `name` (the default does not count). */
  covers(name: string): boolean {
    return this.match(name) !== undefined
  }
}

/**
 * Whether a request whose Host is `host` may be served on a connection whose certificate was chosen for the SNI name
 * `sni`: true when `host` would have been given the same certificate (contexts compared with `===`, so give each
 * certificate one context object). False means 421 Misdirected Request. A connection without SNI has no name to
 * contradict, so every Host is accepted on it. `host` may carry a port (`app.localhost:8443`, `[::1]:443`).
 */
export function sameCertificate<T>(
  selector: CertificateSelector<T>,
  sni: string | undefined,
  host: string,
): boolean {
  if (sni === undefined || canonicalName(sni) === '') return true
  return selector.select(sni) === selector.select(hostWithoutPort(host))
}

/**
 * Lower case, no surrounding space, no trailing dot, IPv6 without brackets and in its compressed form. Returns '' for
 * an empty name.
 */
export function canonicalName(name: string): string {
  let n = name.trim().toLowerCase()
  if (n.startsWith('[') && n.endsWith(']')) n = n.slice(1, -1)
  if (isIP(n) === 6) {
    try {
      return new URL(`http://[${n}]/`).hostname.slice(1, -1)
    } catch {
      return n
    }
  }
  if (n.endsWith('.')) n = n.slice(0, -1)
  return n
}

function hostWithoutPort(host: string): string {
  const h = host.trim()
  if (h.startsWith('[')) {
    const end = h.indexOf(']')
    return end < 0 ? h : h.slice(1, end)
  }
  const colon = h.indexOf(':')
  // One colon: name:port. More: a bare IPv6 literal.
  if (colon >= 0 && h.indexOf(':', colon + 1) < 0) return h.slice(0, colon)
  return h
}
