/**
 * A local certificate authority for development host names (the way mkcert works): one CA per state directory,
 * created on first use, and leaf certificates issued per exact host name, cached in memory and on disk, renewed
 * before they expire.
 *
 * Why a dependency: Node can parse certificates (`crypto.X509Certificate`) and make keys, but has no way to build
 * and sign one. `@peculiar/x509` (MIT, Peculiar Ventures, the maintainers of `@peculiar/webcrypto` and
 * `pkijs`-adjacent ASN.1 tooling) builds X.509 certificates on top of WebCrypto, so all key material and signing
 * stay in Node's own `crypto.webcrypto` (OpenSSL underneath): no bundled crypto, no native build, no shelling out to
 * openssl, TypeScript types included. `node-forge` was the alternative; it carries its own pure-JS RSA/ASN.1
 * implementation and has no ECDSA certificates, which is more code to trust for less.
 *
 * Layout of the state directory:
 *   ca/rootCA.pem           the CA certificate (what users trust; `switchboard ca` prints its path)
 *   ca/rootCA-key.pem       the CA private key, mode 0600 in a 0700 directory; it is read here and nowhere else
 *   certs/<host>.pem        a leaf certificate (leaf only, no chain: the root is what clients trust)
 *   certs/<host>-key.pem    its key, mode 0600
 *
 * No nameConstraints on the CA: `tls.local` issues for whatever route hosts the config names (`*.localhost`,
 * `*.test`, a LAN name, an IP literal), so a constraint list would have to follow the config and would force a new
 * CA (and a new trust step) each time it changed.
 */
import { createPrivateKey, X509Certificate as NodeX509, randomBytes, webcrypto } from 'node:crypto'
import { chmod, mkdir, readFile, rename, rm, rmdir, unlink, writeFile } from 'node:fs/promises'
import { homedir, hostname as machineName, userInfo } from 'node:os'
import { isAbsolute, join, resolve } from 'node:path'
import { domainToASCII } from 'node:url'
import type * as X509 from '@peculiar/x509'
import { installReflectMetadata } from './reflect-shim.js'

const subtle = webcrypto.subtle as unknown as SubtleCrypto

let x509: typeof X509
/**
 * Loads `@peculiar/x509` on first use (so a config without `tls.local` never loads it), after the Reflect metadata
 * shim its `tsyringe` dependency insists on, and points it at Node's WebCrypto.
 */
async function loadX509(): Promise<void> {
  if (x509 !== undefined) return
  installReflectMetadata()
  const lib = await import('@peculiar/x509')
  lib.cryptoProvider.set(webcrypto as unknown as Crypto)
  x509 = lib
}

const DAY = 24 * 60 * 60 * 1000
/** Leaf certificates are valid this long (as public CAs do; well under the 825 days Apple allows under a user-trusted root). */
export const LEAF_VALIDITY_MS = 90 * DAY
/** A cached leaf with less than this left is replaced. */
export const RENEW_BEFORE_MS = 30 * DAY
/** The CA is valid this long. */
export const CA_VALIDITY_MS = 3650 * DAY
/** Certificates start this far in the past, so a client whose clock is a little behind accepts them. */
const BACKDATE_MS = 5 * 60 * 1000

const EC_KEY: EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' }
const EC_SIGN: EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' }

export interface LocalCaOptions {
  /** The clock, for tests; defaults to the real one. */
  now?: () => Date
}

export interface IssuedCertificate {
  /** The leaf certificate, PEM. */
  cert: string
  /** Its private key, PKCS#8 PEM. */
  key: string
}

interface CachedLeaf extends IssuedCertificate {
  notBefore: number
  notAfter: number
}

/**
 * The state directory: `$SWITCHBOARD_STATE_DIR`, else `$XDG_STATE_HOME/switchboard`, else
 * `~/.local/state/switchboard`. Empty variables count as unset, and a relative `XDG_STATE_HOME` is ignored (the XDG
 * spec says so).
 */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  const own = env['SWITCHBOARD_STATE_DIR']
  if (own) return resolve(own)
  const xdg = env['XDG_STATE_HOME']
  if (xdg && isAbsolute(xdg)) return join(xdg, 'switchboard')
  return join(env['HOME'] || homedir(), '.local', 'state', 'switchboard')
}

export class LocalCa {
  /** Absolute path of the CA certificate (PEM), the file users add to their trust stores. */
  readonly certPath: string
  /** The CA certificate, PEM. */
  readonly certPem: string
  /** True when this `open` created the CA (so the caller can tell the user to trust it). */
  readonly created: boolean

  readonly #caCert: NodeX509
  readonly #caX509: X509.X509Certificate
  readonly #signingKey: CryptoKey
  readonly #signWith: EcdsaParams | Algorithm
  readonly #certsDir: string
  readonly #now: () => Date
  readonly #leaves = new Map<string, CachedLeaf>()
  readonly #pending = new Map<string, Promise<CachedLeaf>>()

  private constructor(
    certPath: string,
    certPem: string,
    created: boolean,
    signingKey: CryptoKey,
    signWith: EcdsaParams | Algorithm,
    certsDir: string,
    now: () => Date,
  ) {
    this.certPath = certPath
    this.certPem = certPem
    this.created = created
    this.#caCert = new NodeX509(certPem)
    this.#caX509 = new x509.X509Certificate(certPem)
    this.#signingKey = signingKey
    this.#signWith = signWith
    this.#certsDir = certsDir
    this.#now = now
  }

  /**
   * Loads the CA in `stateDir/ca/`, or creates it there if there is none (or if the one there expires within a
   * leaf's lifetime). Throws if the directory holds a certificate without its key or a key that does not match.
   */
  static async open(stateDir: string, options: LocalCaOptions = {}): Promise<LocalCa> {
    await loadX509()
    const now = options.now ?? (() => new Date())
    const root = resolve(stateDir)
    const caDir = join(root, 'ca')
    const certPath = join(caDir, 'rootCA.pem')
    const keyPath = join(caDir, 'rootCA-key.pem')
    const certsDir = join(root, 'certs')
    await mkdir(root, { recursive: true, mode: 0o700 })

    let created = false
    let loaded = await loadCa(caDir, certPath, keyPath)
    if (loaded !== undefined && Date.parse(loaded.cert.validTo) - now().getTime() < LEAF_VALIDITY_MS) {
      // Expired or about to: a CA that cannot outlive its leaves is replaced (the user has to trust the new one).
      // The old one is moved aside, not deleted: it may be a CA the user brought.
      const stamp = now().toISOString().replace(/[:.]/g, '-')
      await rename(caDir, join(root, `ca.expired-${stamp}`))
      loaded = undefined
    }
    if (loaded === undefined) {
      created = await createCa(root, caDir, now())
      loaded = await loadCa(caDir, certPath, keyPath)
      if (loaded === undefined) throw new Error(`local CA: ${caDir} vanished while it was being created`)
    }
    // Tighten permissions on every open, in case they were loosened by hand or by a copy.
    await chmod(caDir, 0o700)
    await chmod(keyPath, 0o600)
    return new LocalCa(certPath, loaded.pem, created, loaded.signingKey, loaded.signWith, certsDir, now)
  }

  /**
   * A certificate for exactly `hostname` (a DNS name or an IP literal; no wildcards), from the cache when the cached
   * one was issued by this CA, is valid now, and has at least 30 days left; otherwise a new one. Concurrent calls for
   * the same name share one issuance.
   */
  issue(hostname: string): Promise<IssuedCertificate> {
    let name: LeafName
    try {
      name = leafName(hostname)
    } catch (err) {
      return Promise.reject(err)
    }
    const cached = this.#leaves.get(name.key)
    if (cached !== undefined && this.#fresh(cached)) return Promise.resolve(copy(cached))
    let pending = this.#pending.get(name.key)
    if (pending === undefined) {
      pending = this.#obtain(name).finally(() => this.#pending.delete(name.key))
      this.#pending.set(name.key, pending)
    }
    return pending.then(copy)
  }

  #fresh(leaf: CachedLeaf): boolean {
    const t = this.#now().getTime()
    return leaf.notBefore <= t && leaf.notAfter - t >= RENEW_BEFORE_MS
  }

  async #obtain(name: LeafName): Promise<CachedLeaf> {
    const certFile = join(this.#certsDir, `${name.file}.pem`)
    const keyFile = join(this.#certsDir, `${name.file}-key.pem`)
    let leaf = await this.#loadLeaf(name, certFile, keyFile)
    if (leaf === undefined) {
      leaf = await this.#sign(name)
      await mkdir(this.#certsDir, { recursive: true, mode: 0o700 })
      // Key first, then certificate: a reader that sees a new key with an old certificate finds them mismatched
      // and issues again.
      await writeAtomic(keyFile, leaf.key, 0o600)
      await writeAtomic(certFile, leaf.cert, 0o644)
    }
    this.#leaves.set(name.key, leaf)
    return leaf
  }

  /** The leaf on disk, if it is usable: parses, matches its key, names this host, was signed by this CA, is fresh. */
  async #loadLeaf(name: LeafName, certFile: string, keyFile: string): Promise<CachedLeaf | undefined> {
    let cert: string
    let key: string
    try {
      ;[cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')])
    } catch {
      return undefined
    }
    try {
      const parsed = new NodeX509(cert)
      if (!parsed.checkPrivateKey(createPrivateKey(key))) return undefined
      if (!parsed.checkIssued(this.#caCert) || !parsed.verify(this.#caCert.publicKey)) return undefined
      const covers = name.ip ? parsed.checkIP(name.value) : parsed.checkHost(name.value, { wildcards: false })
      if (covers === undefined) return undefined
      const leaf = {
        cert,
        key,
        notBefore: Date.parse(parsed.validFrom),
        notAfter: Date.parse(parsed.validTo),
      }
      return this.#fresh(leaf) ? leaf : undefined
    } catch {
      return undefined
    }
  }

  async #sign(name: LeafName): Promise<CachedLeaf> {
    // Whole seconds: that is what the certificate holds, so the cache compares the same instants.
    const now = Math.floor(this.#now().getTime() / 1000) * 1000
    const notBefore = new Date(now - BACKDATE_MS)
    const notAfter = new Date(Math.min(now + LEAF_VALIDITY_MS, this.#caX509.notAfter.getTime()))
    const keys = (await subtle.generateKey(EC_KEY, true, ['sign', 'verify'])) as CryptoKeyPair
    const subject: X509.JsonName = [{ O: ['Switchboard local development certificate'] }]
    if (name.value.length <= 64) subject.push({ CN: [name.value] })
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject,
      issuer: this.#caX509.subject,
      notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey: this.#signingKey,
      signingAlgorithm: this.#signWith,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension([{ type: name.ip ? 'ip' : 'dns', value: name.value }]),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(this.#caX509.publicKey),
      ],
    })
    const pkcs8 = await subtle.exportKey('pkcs8', keys.privateKey)
    return {
      cert: cert.toString('pem') + '\n',
      key: pem('PRIVATE KEY', pkcs8),
      notBefore: notBefore.getTime(),
      notAfter: notAfter.getTime(),
    }
  }
}

interface LeafName {
  /** As it goes in the certificate: a lower-case A-label name, or an IP address. */
  value: string
  ip: boolean
  /** The cache key. */
  key: string
  /** The file name stem under certs/ (`:` is not allowed in Windows file names). */
  file: string
}

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/

/** Validates and normalises a host name for a leaf certificate. */
function leafName(hostname: string): LeafName {
  let raw = hostname.trim()
  if (raw.startsWith('[') && raw.endsWith(']')) raw = raw.slice(1, -1)
  if (raw.includes(':')) {
    // An IPv6 literal: canonical form through the URL parser (which rejects anything else).
    let host: string
    try {
      host = new URL(`http://[${raw}]/`).hostname.slice(1, -1)
    } catch {
      throw new TypeError(`local CA: ${JSON.stringify(hostname)} is not a valid host name or IP address`)
    }
    return { value: host, ip: true, key: host, file: host.replaceAll(':', '+') }
  }
  if (raw.includes('*')) {
    throw new TypeError(
      `local CA: ${JSON.stringify(hostname)}: wildcard certificates are not issued (browsers reject them for ` +
        `.localhost); ask for each host name`,
    )
  }
  if (raw.endsWith('.')) raw = raw.slice(0, -1)
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(raw)) {
    const parts = raw.split('.').map(Number)
    if (parts.every((n) => n <= 255)) {
      const value = parts.join('.')
      return { value, ip: true, key: value, file: value }
    }
  }
  const ascii = raw === '' ? '' : domainToASCII(raw)
  const labels = ascii.split('.')
  if (
    ascii === '' ||
    ascii.length > 253 ||
    !labels.every((l) => LABEL.test(l)) ||
    /^\d+$/.test(labels[labels.length - 1]!)
  ) {
    throw new TypeError(`local CA: ${JSON.stringify(hostname)} is not a valid host name or IP address`)
  }
  return { value: ascii, ip: false, key: ascii, file: ascii }
}

interface LoadedCa {
  pem: string
  cert: NodeX509
  signingKey: CryptoKey
  signWith: EcdsaParams | Algorithm
}

async function loadCa(caDir: string, certPath: string, keyPath: string): Promise<LoadedCa | undefined> {
  const [certPem, keyPem] = await Promise.all([readIfExists(certPath), readIfExists(keyPath)])
  if (certPem === undefined && keyPem === undefined) {
    // An empty ca/ (made by hand, or left by a crash) is removed so it can be created atomically.
    await rmdir(caDir).catch(() => {})
    return undefined
  }
  if (certPem === undefined || keyPem === undefined) {
    throw new Error(
      `local CA: ${caDir} has ${certPem === undefined ? 'a key but no certificate' : 'a certificate but no key'}; ` +
        `restore the missing file, or remove the directory to create a new CA (and trust it again)`,
    )
  }
  let cert: NodeX509
  try {
    cert = new NodeX509(certPem)
    const key = createPrivateKey(keyPem)
    if (!cert.checkPrivateKey(key)) throw new Error('the key does not match the certificate')
    if (!cert.ca) throw new Error('the certificate is not a CA certificate')
  } catch (err) {
    throw new Error(
      `local CA: ${caDir} is unusable (${(err as Error).message}); remove the directory to create a new CA`,
    )
  }
  const key = createPrivateKey(keyPem)
  const algorithm = signingAlgorithm(key.asymmetricKeyType, key.asymmetricKeyDetails?.namedCurve)
  if (algorithm === undefined) {
    throw new Error(
      `local CA: ${caDir} holds a ${key.asymmetricKeyType} key; only ECDSA and RSA CA keys are supported`,
    )
  }
  const der = key.export({ type: 'pkcs8', format: 'der' })
  const signingKey = await subtle.importKey('pkcs8', der, algorithm.importParams, false, ['sign'])
  return { pem: certPem, cert, signingKey, signWith: algorithm.signParams }
}

interface SigningAlgorithm {
  importParams: EcKeyImportParams | RsaHashedImportParams
  signParams: EcdsaParams | Algorithm
}

/**
 * How to import and sign with a CA key. Ours is ECDSA P-256; RSA and the other NIST curves are accepted too, so a CA
 * made elsewhere (mkcert's `rootCA.pem` and `rootCA-key.pem` use the same names) can be dropped in.
 */
function signingAlgorithm(type: string | undefined, curve: string | undefined): SigningAlgorithm | undefined {
  if (type === 'rsa') {
    return {
      importParams: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
      signParams: { name: 'RSASSA-PKCS1-v1_5' },
    }
  }
  if (type === 'ec') {
    const named = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' }[curve ?? '']
    const hash = { 'P-256': 'SHA-256', 'P-384': 'SHA-384', 'P-521': 'SHA-512' }[named ?? '']
    if (named === undefined || hash === undefined) return undefined
    return { importParams: { name: 'ECDSA', namedCurve: named }, signParams: { name: 'ECDSA', hash } }
  }
  return undefined
}

/**
 * Makes a CA in a fresh temporary directory beside `caDir` and renames it into place, so `ca/` either holds a
 * complete CA or does not exist. If another process got there first, its CA is kept. Returns whether ours won.
 */
async function createCa(root: string, caDir: string, now: Date): Promise<boolean> {
  const tmp = join(root, `.ca-${randomBytes(6).toString('hex')}`)
  await mkdir(tmp, { mode: 0o700 })
  try {
    await chmod(tmp, 0o700)
    const keys = (await subtle.generateKey(EC_KEY, true, ['sign', 'verify'])) as CryptoKeyPair
    const name: X509.JsonName = [
      { O: ['Switchboard local development CA'] },
      { CN: [`Switchboard Local CA (${whoAmI()})`] },
    ]
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serial(),
      name,
      notBefore: new Date(now.getTime() - BACKDATE_MS),
      notAfter: new Date(now.getTime() + CA_VALIDITY_MS),
      keys,
      signingAlgorithm: EC_SIGN,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    })
    const pkcs8 = await subtle.exportKey('pkcs8', keys.privateKey)
    await writeFile(join(tmp, 'rootCA-key.pem'), pem('PRIVATE KEY', pkcs8), { mode: 0o600, flag: 'wx' })
    await chmod(join(tmp, 'rootCA-key.pem'), 0o600)
    await writeFile(join(tmp, 'rootCA.pem'), cert.toString('pem') + '\n', { mode: 0o644, flag: 'wx' })
    try {
      await rename(tmp, caDir)
      return true
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'EPERM') return false
      throw err
    }
  } finally {
    await rm(tmp, { recursive: true, force: true })
  }
}

function whoAmI(): string {
  let user = process.env['USER'] || process.env['USERNAME'] || 'user'
  try {
    user = userInfo().username
  } catch {
    // no passwd entry (containers): keep the environment's name
  }
  return `${user}@${machineName()}`
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

/** Writes through a temporary file and a rename, with the mode set before any content is written. */
async function writeAtomic(path: string, data: string, mode: number): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`
  try {
    await writeFile(tmp, data, { mode, flag: 'wx' })
    await chmod(tmp, mode)
    await rename(tmp, path)
  } catch (err) {
    await unlink(tmp).catch(() => {})
    throw err
  }
}

/** A positive 128-bit serial number without a leading zero byte. */
function serial(): string {
  const bytes = randomBytes(16)
  bytes[0] = (bytes[0]! & 0x7f) | 0x40
  return bytes.toString('hex')
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64')
  return `-----BEGIN ${label}-----\n${b64.match(/.{1,64}/g)!.join('\n')}\n-----END ${label}-----\n`
}

function copy(leaf: CachedLeaf): IssuedCertificate {
  return { cert: leaf.cert, key: leaf.key }
}
