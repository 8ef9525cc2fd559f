/**
 * What the TLS listener needs from certificates: an SNICallback that picks a configured certificate (most specific
 * name wins), or issues one from the local CA for a routed host no certificate covers; a default certificate for
 * clients without SNI; and the answers to "is this host served over TLS?" (redirects) and "does this connection's
 * certificate cover this Host?" (421).
 */
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls'
import type { Config } from '../config/model.js'
import { formatHostPattern } from '../config/values.js'
import type { Logger } from '../log.js'
import { inspectCertificate } from '../tls/cert-files.js'
import { defaultStateDir, LocalCa } from '../tls/local-ca.js'
import { CertificateSelector, canonicalName, sameCertificate } from '../tls/sni.js'

export interface TlsProvider {
  serverOptions(): SecureContextOptions & {
    SNICallback: (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void
    ALPNProtocols: string[]
  }
  /** True when a request for `host` can be served over TLS (a certificate covers it, or the local CA will issue). */
  covers(host: string): boolean
  /** True when the certificate chosen for `sni` would not be the one chosen for `host`: answer 421. */
  misdirected(sni: string, host: string): boolean
  /** The local CA's certificate file, when the local CA is in use. */
  caPath: string | undefined
}

export class TlsSetupError extends Error {}

export async function createTlsProvider(
  config: Config,
  stateDir: string | undefined,
  logger: Logger,
): Promise<TlsProvider> {
  const entries: { names: string[]; context: SecureContext; pem: { cert: string; key: string } }[] = []
  for (const files of config.tls.certificates) {
    const r = await inspectCertificate(files.cert, files.key)
    if (!r.ok) throw new TlsSetupError(`${files.cert}: ${r.problems.join('; ')}`)
    if (r.warning) logger.warn({ cert: files.cert }, r.warning)
    const names = files.hosts ? files.hosts.map(formatHostPattern) : r.names
    entries.push({
      names,
      context: createSecureContext({ cert: r.cert, key: r.key }),
      pem: { cert: r.cert, key: r.key },
    })
  }
  const selector = new CertificateSelector(entries)
  const ca = config.tls.local ? await LocalCa.open(stateDir ?? defaultStateDir()) : undefined
  if (ca?.created) {
    logger.warn(
      { ca: ca.certPath },
      `created a local CA at ${ca.certPath}: run "switchboard ca" to see how to trust it`,
    )
  }
  const issued = new Map<string, Promise<SecureContext>>()
  const issue = (name: string): Promise<SecureContext> => {
    let p = issued.get(name)
    if (!p) {
      p = (ca as LocalCa).issue(name).then((pem) => createSecureContext(pem))
      p.catch(() => issued.delete(name))
      issued.set(name, p)
    }
    return p
  }
  const routable = (name: string): boolean => {
    for (const route of config.routes) {
      for (const h of route.hosts) {
        if (h.kind === 'any') return true
        if (h.kind === 'exact' && h.host === name) return true
        if (h.kind === 'wildcard' && name.endsWith(`.${h.suffix}`)) return true
      }
    }
    return false
  }
  const localFor = (name: string): boolean =>
    ca !== undefined && !selector.covers(name) && routable(name) && !name.includes('*')
  // Certificates for the exact route hosts are issued up front, so the first handshake is fast.
  if (ca) {
    for (const route of config.routes) {
      for (const h of route.hosts)
        if (h.kind === 'exact' && localFor(h.host)) await issue(h.host.replace(/^\[|\]$/g, ''))
    }
  }
  const fallback = entries[0]?.pem ?? (ca ? await ca.issue('localhost') : undefined)
  if (!fallback) {
    throw new TlsSetupError(
      'listen.https is set but there is no certificate: add tls.certificates, or set tls.local: true',
    )
  }
  return {
    caPath: ca?.certPath,
    serverOptions: () => ({
      cert: fallback.cert,
      key: fallback.key,
      ALPNProtocols: ['h2', 'http/1.1'],
      SNICallback: (servername, cb) => {
        const name = canonicalName(servername)
        const configured = selector.match(name)
        if (configured) return cb(null, configured)
        if (localFor(name)) {
          issue(name).then(
            (ctx) => cb(null, ctx),
            (err: Error) => {
              logger.warn(
                { servername: name, err: { message: err.message } },
                'could not issue a local certificate',
              )
              cb(null, selector.select(name))
            },
          )
          return
        }
        cb(null, selector.select(name))
      },
    }),
    covers: (host) => selector.covers(host) || localFor(canonicalName(host)),
    misdirected: (sni, host) => {
      const a = canonicalName(sni)
      const b = canonicalName(host)
      if (a === b) return false
      if (localFor(a) || localFor(b)) return true // one local leaf per name: another name needs its own connection
      return !sameCertificate(selector, a, b)
    },
  }
}
