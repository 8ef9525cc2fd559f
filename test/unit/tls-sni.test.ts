import t from 'tap'
import { CertificateSelector, canonicalName, sameCertificate } from '../../src/tls/sni.js'

const selector = new CertificateSelector([
  { names: ['example.com', 'www.example.com'], context: 'main' },
  { names: ['*.example.com'], context: 'wild' },
  { names: ['*.eu.example.com'], context: 'eu' },
  { names: ['api.eu.example.com'], context: 'api-eu' },
  { names: ['other.org', '127.0.0.1', '::1'], context: 'other' },
  { names: ['example.com', '*.example.com'], context: 'late' },
])

t.test('an exact name wins over any wildcard', async (t) => {
  t.equal(selector.select('example.com'), 'main')
  t.equal(selector.select('www.example.com'), 'main', 'exact beats *.example.com')
  t.equal(selector.select('api.eu.example.com'), 'api-eu', 'exact beats *.eu.example.com')
  t.equal(selector.select('other.org'), 'other')
})

t.test('a wildcard matches exactly one label; the most specific one applies', async (t) => {
  t.equal(selector.select('shop.example.com'), 'wild')
  t.equal(selector.select('x.eu.example.com'), 'eu', '*.eu.example.com, not *.example.com')
  t.equal(selector.select('a.b.example.com'), 'main', 'two labels: no wildcard matches, so the default')
  t.equal(selector.select('eu.example.com'), 'wild', 'eu.example.com is one label under example.com')
  t.equal(selector.match('a.b.example.com'), undefined)
  t.equal(selector.match('example.com.evil.test'), undefined)
  t.equal(selector.match('.example.com'), undefined, 'an empty first label is not a label')
})

t.test('the bare suffix is not matched by its wildcard', async (t) => {
  const s = new CertificateSelector([
    { names: ['a.test'], context: 'a' },
    { names: ['*.example.net'], context: 'net' },
  ])
  t.equal(s.select('x.example.net'), 'net')
  t.equal(s.select('example.net'), 'a', 'falls to the default')
  t.equal(s.match('example.net'), undefined)
})

t.test('the default: first entry, or the one given; for no SNI and unknown names', async (t) => {
  t.equal(selector.select(undefined), 'main')
  t.equal(selector.select(''), 'main')
  t.equal(selector.select('unknown.test'), 'main')
  const s = new CertificateSelector([{ names: ['a.test'], context: 'a' }], 'fallback')
  t.equal(s.select(undefined), 'fallback')
  t.equal(s.select('b.test'), 'fallback')
  t.equal(s.select('a.test'), 'a')
  t.equal(new CertificateSelector<string>([]).select('a.test'), undefined, 'nothing configured')
  t.equal(new CertificateSelector<string>([], 'only').select(undefined), 'only')
})

t.test('case-insensitive, trailing dot ignored', async (t) => {
  t.equal(selector.select('WWW.Example.COM'), 'main')
  t.equal(selector.select('www.example.com.'), 'main')
  t.equal(selector.select('Shop.EXAMPLE.com.'), 'wild')
  const s = new CertificateSelector([{ names: ['API.Example.Com.', '*.Dev.Test'], context: 'x' }], 'd')
  t.equal(s.select('api.example.com'), 'x', 'configured names are normalised too')
  t.equal(s.select('a.dev.test'), 'x')
})

t.test('the first entry to list a name keeps it', async (t) => {
  t.equal(selector.select('example.com'), 'main')
  t.equal(selector.select('z.example.com'), 'wild')
})

t.test('IP addresses: exact only, never through a wildcard', async (t) => {
  t.equal(selector.select('127.0.0.1'), 'other')
  t.equal(selector.select('[::1]'), 'other')
  t.equal(selector.select('0:0:0:0:0:0:0:1'), 'other', 'IPv6 compared in canonical form')
  const s = new CertificateSelector([{ names: ['*.0.0.1'], context: 'w' }], 'd')
  t.equal(s.select('127.0.0.1'), 'd')
})

t.test('malformed wildcards are literals that match nothing', async (t) => {
  const s = new CertificateSelector(
    [
      { names: ['a*.example.com', 'x.*.com', '*', '*.'], context: 'bad' },
      { names: ['ok.test'], context: 'ok' },
    ],
    'd',
  )
  t.equal(s.select('ab.example.com'), 'd')
  t.equal(s.select('x.y.com'), 'd')
  t.equal(s.select('anything'), 'd')
  t.equal(s.select('ok.test'), 'ok')
})

t.test('covers: configured certificates only, not the default', async (t) => {
  t.ok(selector.covers('shop.example.com'))
  t.ok(selector.covers('OTHER.org.'))
  t.notOk(selector.covers('app.localhost'))
  t.notOk(selector.covers(''))
})

t.test('sameCertificate: 421 only when the Host would get another certificate', async (t) => {
  t.ok(sameCertificate(selector, 'www.example.com', 'www.example.com'))
  t.ok(sameCertificate(selector, 'www.example.com', 'example.com:8443'), 'same certificate, port ignored')
  t.ok(sameCertificate(selector, 'a.example.com', 'b.example.com'), 'same wildcard certificate')
  t.ok(sameCertificate(selector, 'Example.COM.', 'EXAMPLE.com'))
  t.notOk(sameCertificate(selector, 'a.example.com', 'other.org'), 'wildcard cert, Host on another cert')
  t.notOk(sameCertificate(selector, 'other.org', 'example.com'))
  t.notOk(sameCertificate(selector, 'x.eu.example.com', 'x.example.com'))
  t.ok(sameCertificate(selector, 'unknown.test', 'example.com'), 'unknown SNI got the default, which is main')
  t.notOk(sameCertificate(selector, 'unknown.test', 'other.org'))
  t.ok(sameCertificate(selector, 'other.org', '[::1]:443'), 'IPv6 Host with a port')
  t.ok(sameCertificate(selector, 'other.org', '127.0.0.1:80'))
  t.ok(sameCertificate(selector, undefined, 'other.org'), 'no SNI: nothing to contradict')
  t.ok(sameCertificate(selector, '', 'other.org'))
})

t.test('canonicalName', async (t) => {
  t.equal(canonicalName(' App.Localhost. '), 'app.localhost')
  t.equal(canonicalName('[0:0::1]'), '::1')
  t.equal(canonicalName('2001:DB8::0:1'), '2001:db8::1')
  t.equal(canonicalName(''), '')
})
