/** `inspectCertificate` on real files made by the local CA (and by @peculiar/x509 for the odd shapes). */
import { generateKeyPairSync, webcrypto, X509Certificate } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { certificateNames, inspectCertificate } from '../../src/tls/cert-files.js'
import { LocalCa } from '../../src/tls/local-ca.js'

const DAY = 24 * 60 * 60 * 1000
const now = new Date()
const dir = await mkdtemp(join(tmpdir(), 'sb-certfiles-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))

const stateDir = join(dir, 'state')
/** A CA on the same state directory whose clock is `offset` away from now. */
const caAt = (offset: number) => LocalCa.open(stateDir, { now: () => new Date(now.getTime() + offset) })
const ca = await caAt(0)

async function files(name: string, cert: string | Buffer, key: string | Buffer): Promise<[string, string]> {
  const certPath = join(dir, `${name}.pem`)
  const keyPath = join(dir, `${name}-key.pem`)
  await writeFile(certPath, cert)
  await writeFile(keyPath, key)
  return [certPath, keyPath]
}

async function problems(certPath: string, keyPath: string): Promise<string[]> {
  const r = await inspectCertificate(certPath, keyPath, now)
  if (r.ok) throw new Error(`expected problems, got ${JSON.stringify(r.names)}`)
  return r.problems
}

t.test('a good certificate: names, notAfter, contents, no warning', async (t) => {
  const leaf = await ca.issue('good.localhost')
  const [c, k] = await files('good', leaf.cert, leaf.key)
  const r = await inspectCertificate(c, k, now)
  if (!r.ok) throw new Error(r.problems.join('; '))
  t.same(r.names, ['good.localhost'])
  t.equal(r.notAfter.toISOString(), new Date(new X509Certificate(leaf.cert).validTo).toISOString())
  t.equal(r.warning, undefined)
  t.equal(r.cert, leaf.cert)
  t.equal(r.key, leaf.key)
})

t.test('a leaf followed by its chain is fine; the names are the leaf’s', async (t) => {
  const leaf = await ca.issue('chain.localhost')
  const [c, k] = await files('chain', leaf.cert + ca.certPem, leaf.key)
  const r = await inspectCertificate(c, k, now)
  t.ok(r.ok)
  if (r.ok) t.same(r.names, ['chain.localhost'])
})

t.test('expired', async (t) => {
  const leaf = await (await caAt(-200 * DAY)).issue('old.localhost')
  const [c, k] = await files('old', leaf.cert, leaf.key)
  const p = await problems(c, k)
  t.equal(p.length, 1)
  t.match(p[0], new RegExp(`^certificate ${c} expired on \\d{4}-\\d\\d-\\d\\dT`))
})

t.test('not yet valid', async (t) => {
  const leaf = await (await caAt(30 * DAY)).issue('future.localhost')
  const [c, k] = await files('future', leaf.cert, leaf.key)
  const p = await problems(c, k)
  t.equal(p.length, 1)
  t.match(p[0], new RegExp(`^certificate ${c} is not valid until \\d{4}-`))
})

t.test('expiring within 14 days is a warning, not a problem', async (t) => {
  const leaf = await (await caAt(-80 * DAY)).issue('soon.localhost')
  const [c, k] = await files('soon', leaf.cert, leaf.key)
  const r = await inspectCertificate(c, k, now)
  t.ok(r.ok)
  if (r.ok) t.match(r.warning, new RegExp(`^certificate ${c} expires in (9|10) days, on \\d{4}-`))
})

t.test('the key does not match the certificate', async (t) => {
  const a = await ca.issue('a.localhost')
  const b = await ca.issue('b.localhost')
  const [c, k] = await files('mismatch', a.cert, b.key)
  t.same(await problems(c, k), [`the key in ${k} does not match the certificate in ${c}`])
})

t.test('the server certificate is not first in the file', async (t) => {
  const leaf = await ca.issue('order.localhost')
  const [c, k] = await files('order', ca.certPem + leaf.cert, leaf.key)
  const p = await problems(c, k)
  t.equal(p.length, 1)
  t.match(p[0], `the key in ${k} belongs to certificate #2 in ${c}, not to the first one`)
})

t.test('not PEM', async (t) => {
  const leaf = await ca.issue('pem.localhost')
  const [c, k] = await files('text', 'hello, I am not a certificate\n', leaf.key)
  t.same(await problems(c, k), [`${c} is not a PEM certificate: no "-----BEGIN CERTIFICATE-----" block`])

  const der = new X509Certificate(leaf.cert).raw
  const [c2, k2] = await files('der', der, 'neither\n')
  const p = await problems(c2, k2)
  t.equal(p.length, 2, 'both files reported')
  t.match(p[0], `${c2} is not a PEM certificate`)
  t.match(p[0], 'looks like binary DER; convert it with `openssl x509 -inform der')
  t.equal(p[1], `${k2} is not a PEM private key: no "-----BEGIN PRIVATE KEY-----" block`)

  const [c3, k3] = await files(
    'broken',
    '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
    leaf.key,
  )
  const p3 = await problems(c3, k3)
  t.match(p3[0], `${c3} holds an unreadable certificate:`)
})

t.test('cert and key swapped', async (t) => {
  const leaf = await ca.issue('swap.localhost')
  const [c, k] = await files('swap', leaf.key, leaf.cert)
  t.same(await problems(c, k), [
    `${c} holds a private key, not a certificate (are cert and key swapped?)`,
    `${k} holds a certificate, not a private key (are cert and key swapped?)`,
  ])
})

t.test('an encrypted key', async (t) => {
  const leaf = await ca.issue('enc.localhost')
  const { privateKey } = generateKeyPairSync('ec', {
    namedCurve: 'P-256',
    privateKeyEncoding: { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  })
  const [c, k] = await files('enc', leaf.cert, privateKey)
  t.same(await problems(c, k), [`${k} is encrypted with a passphrase; Switchboard needs an unencrypted key`])
})

t.test('unreadable files', async (t) => {
  const missing = join(dir, 'nope.pem')
  const folder = join(dir, 'a-directory')
  await mkdir(folder)
  t.same(await problems(missing, folder), [
    `cannot read certificate file ${missing}: no such file`,
    `cannot read key file ${folder}: it is a directory`,
  ])
})

t.test('names: subjectAltName DNS and IP entries, else the CN', async (t) => {
  // Built directly: the local CA only makes single-name certificates. Its loader has set up @peculiar/x509.
  const x509 = await import('@peculiar/x509')
  const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ])
  const make = (name: string, san?: { type: 'dns' | 'ip' | 'email'; value: string }[]) =>
    x509.X509CertificateGenerator.createSelfSigned({
      name,
      keys: keys as CryptoKeyPair,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      notBefore: new Date(now.getTime() - DAY),
      notAfter: new Date(now.getTime() + 100 * DAY),
      extensions: san ? [new x509.SubjectAlternativeNameExtension(san)] : [],
    })
  const multi = await make('CN=ignored.test', [
    { type: 'dns', value: 'Example.com' },
    { type: 'dns', value: '*.example.com' },
    { type: 'email', value: 'a@example.com' },
    { type: 'ip', value: '127.0.0.1' },
    { type: 'ip', value: '::1' },
    { type: 'dns', value: 'odd,name.test' },
  ])
  t.same(certificateNames(new X509Certificate(multi.toString('pem'))), [
    'example.com',
    '*.example.com',
    '127.0.0.1',
    '::1',
    'odd,name.test',
  ])
  const cnOnly = await make('CN=legacy.example.org, O=Old')
  t.same(certificateNames(new X509Certificate(cnOnly.toString('pem'))), ['legacy.example.org'])

  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', (keys as CryptoKeyPair).privateKey)
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${Buffer.from(pkcs8).toString('base64')}\n-----END PRIVATE KEY-----\n`
  const [c, k] = await files('cn-only', cnOnly.toString('pem'), keyPem)
  const r = await inspectCertificate(c, k, now)
  t.ok(r.ok, 'an RFC-style CN-only certificate still loads')
  if (r.ok) t.same(r.names, ['legacy.example.org'])

  const nameless = await make('O=Nobody')
  const [c2, k2] = await files('nameless', nameless.toString('pem'), keyPem)
  t.same(await problems(c2, k2), [
    `certificate ${c2} names no host (no subjectAltName DNS or IP entry, no subject CN)`,
  ])
})
