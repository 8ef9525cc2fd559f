/**
 * Loads and checks a user's certificate and key files (for `switchboard check` and before a listener starts):
 * readable, PEM, the key matches the certificate, the certificate is valid now. Parsing is Node's own
 * `crypto.X509Certificate`. Every problem found is reported, not only the first.
 */
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { canonicalName } from './sni.js'

/** A certificate closer than this to its end is a warning. */
export const EXPIRY_WARNING_MS = 14 * 24 * 60 * 60 * 1000

export type CertificateInspection =
  | {
      ok: true
      /** The names the certificate is valid for: subjectAltName DNS and IP entries, else the subject CN. */
      names: string[]
      notAfter: Date
      /** Set when the certificate expires within 14 days. */
      warning?: string
      /** The certificate file's text (leaf first, then any chain), for `tls.createSecureContext`. */
      cert: string
      /** The key file's text. */
      key: string
    }
  | { ok: false; problems: string[] }

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g
const KEY_BEGIN = /-----BEGIN ((?:RSA |EC |ENCRYPTED )?PRIVATE KEY)-----/

export async function inspectCertificate(
  certPath: string,
  keyPath: string,
  now: Date = new Date(),
): Promise<CertificateInspection> {
  const problems: string[] = []
  const [certText, keyText] = await Promise.all([
    readText(certPath, 'certificate', problems),
    readText(keyPath, 'key', problems),
  ])

  let chain: X509Certificate[] | undefined
  if (certText !== undefined) chain = parseCertificates(certPath, certText, problems)
  let key: KeyObject | undefined
  if (keyText !== undefined) key = parseKey(keyPath, keyText, problems)

  const leaf = chain?.[0]
  if (leaf !== undefined && key !== undefined && !leaf.checkPrivateKey(key)) {
    const owner = chain!.findIndex((c, i) => i > 0 && c.checkPrivateKey(key!))
    problems.push(
      owner > 0
        ? `the key in ${keyPath} belongs to certificate #${owner + 1} in ${certPath}, not to the first one: ` +
            'put the server certificate first, then its chain'
        : `the key in ${keyPath} does not match the certificate in ${certPath}`,
    )
  }

  if (chain !== undefined) {
    chain.forEach((cert, i) => {
      const which =
        i === 0 ? `certificate ${certPath}` : `chain certificate #${i + 1} in ${certPath} (${cn(cert)})`
      const from = new Date(cert.validFrom)
      const to = new Date(cert.validTo)
      if (to.getTime() < now.getTime()) problems.push(`${which} expired on ${to.toISOString()}`)
      else if (from.getTime() > now.getTime())
        problems.push(`${which} is not valid until ${from.toISOString()}`)
    })
  }

  if (problems.length > 0 || leaf === undefined || certText === undefined || keyText === undefined) {
    return { ok: false, problems }
  }
  const names = certificateNames(leaf)
  if (names.length === 0) {
    return {
      ok: false,
      problems: [`certificate ${certPath} names no host (no subjectAltName DNS or IP entry, no subject CN)`],
    }
  }
  const notAfter = new Date(leaf.validTo)
  const left = notAfter.getTime() - now.getTime()
  const result: CertificateInspection = { ok: true, names, notAfter, cert: certText, key: keyText }
  if (left < EXPIRY_WARNING_MS) {
    const days = Math.floor(left / (24 * 60 * 60 * 1000))
    const when = days === 0 ? 'in less than a day' : `in ${days} day${days === 1 ? '' : 's'}`
    result.warning = `certificate ${certPath} expires ${when}, on ${notAfter.toISOString()}`
  }
  return result
}

/** subjectAltName DNS and IP entries in order, else the subject's CN; lower case, IPv6 compressed. */
export function certificateNames(cert: X509Certificate): string[] {
  const names: string[] = []
  const san = cert.subjectAltName
  if (san !== undefined) {
    // Node writes `DNS:a, IP Address:1.2.3.4`, quoting a value as JSON when it holds a comma or a quote.
    for (const m of san.matchAll(/(?:^|, )([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)/g)) {
      const type = m[1]
      let value = m[2]!
      if (value.startsWith('"')) {
        try {
          value = JSON.parse(value) as string
        } catch {
          continue
        }
      }
      if (type === 'DNS' || type === 'IP Address') names.push(canonicalName(value))
    }
  }
  if (names.length === 0) {
    const common = cn(cert)
    if (common !== undefined) names.push(canonicalName(common))
  }
  return [...new Set(names.filter((n) => n !== ''))]
}

function cn(cert: X509Certificate): string | undefined {
  for (const line of cert.subject.split('\n')) {
    if (line.startsWith('CN=')) return line.slice(3).replace(/\\(.)/g, '$1')
  }
  return undefined
}

async function readText(path: string, what: string, problems: string[]): Promise<string | undefined> {
  try {
    return await readFile(path, 'latin1')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES' || code === 'EPERM'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'it is a directory'
            : (err as Error).message
    problems.push(`cannot read ${what} file ${path}: ${why}`)
    return undefined
  }
}

function parseCertificates(path: string, text: string, problems: string[]): X509Certificate[] | undefined {
  const blocks = text.match(CERT_BLOCK)
  if (blocks === null) {
    problems.push(
      KEY_BEGIN.test(text)
        ? `${path} holds a private key, not a certificate (are cert and key swapped?)`
        : `${path} is not a PEM certificate: no "-----BEGIN CERTIFICATE-----" block` + derHint(text, 'x509'),
    )
    return undefined
  }
  const chain: X509Certificate[] = []
  for (const [i, block] of blocks.entries()) {
    try {
      chain.push(new X509Certificate(block))
    } catch (err) {
      const which = blocks.length === 1 ? '' : ` (block #${i + 1})`
      problems.push(`${path} holds an unreadable certificate${which}: ${opensslReason(err)}`)
      return undefined
    }
  }
  return chain
}

function parseKey(path: string, text: string, problems: string[]): KeyObject | undefined {
  const begin = KEY_BEGIN.exec(text)
  if (begin === null) {
    problems.push(
      text.includes('-----BEGIN CERTIFICATE-----')
        ? `${path} holds a certificate, not a private key (are cert and key swapped?)`
        : `${path} is not a PEM private key: no "-----BEGIN PRIVATE KEY-----" block` + derHint(text, 'pkey'),
    )
    return undefined
  }
  if (begin[1] === 'ENCRYPTED PRIVATE KEY' || /Proc-Type: *4,ENCRYPTED/.test(text)) {
    problems.push(`${path} is encrypted with a passphrase; Switchboard needs an unencrypted key`)
    return undefined
  }
  try {
    return createPrivateKey(text)
  } catch (err) {
    problems.push(`${path} holds an unreadable private key: ${opensslReason(err)}`)
    return undefined
  }
}

/** DER (binary) files start with an ASN.1 SEQUENCE; say how to convert them. */
function derHint(text: string, tool: 'x509' | 'pkey'): string {
  if (text.charCodeAt(0) !== 0x30) return ''
  return ` (it looks like binary DER; convert it with \`openssl ${tool} -inform der -in FILE -out FILE.pem\`)`
}

function opensslReason(err: unknown): string {
  const message = (err as Error).message
  // "error:0480006C:PEM routines::no start line" -> "no start line"
  return message.replace(/^error:[0-9A-F]+:[^:]*::?/, '')
}
