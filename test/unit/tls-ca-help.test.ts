import t from 'tap'
import { caHelp } from '../../src/tls/ca-help.js'

t.test('names the file and each trust store', async (t) => {
  const path = '/home/dev/.local/state/switchboard/ca/rootCA.pem'
  const text = caHelp(path)
  t.match(text, `\n  ${path}\n`, 'the path on a line of its own')
  t.match(text, `sudo cp ${path} /usr/local/share/ca-certificates/switchboard-local-ca.crt`)
  t.match(text, 'sudo update-ca-certificates')
  t.match(text, `sudo trust anchor --store ${path}`)
  t.match(
    text,
    `sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain ${path}`,
  )
  t.match(text, `certutil -addstore -f ROOT ${path}`)
  t.match(text, 'certutil -d sql:$HOME/.mozilla/firefox/')
  const makeDb =
    '[ -f "$HOME/.pki/nssdb/cert9.db" ] || { mkdir -p "$HOME/.pki/nssdb" && certutil -d "sql:$HOME/.pki/nssdb" -N --empty-password; }'
  const addCa = `certutil -d "sql:$HOME/.pki/nssdb" -A -t C,, -n "Switchboard Local CA" -i ${path}`
  t.match(text, `\n  ${makeDb}\n  ${addCa}\n`, "Chromium's NSS store: made when missing, then the CA added")
  t.match(text, 'libnss3-tools')
  t.match(text, 'ImportEnterpriseRoots')
  t.match(text, `export NODE_EXTRA_CA_CERTS=${path}`)
})

t.test('paths with spaces are quoted for each shell', async (t) => {
  const text = caHelp("/tmp/it's here/rootCA.pem")
  t.match(text, `sudo trust anchor --store '/tmp/it'\\''s here/rootCA.pem'`)
  const win = caHelp('C:\\Users\\Me Too\\rootCA.pem')
  t.match(win, 'certutil -addstore -f ROOT "C:\\Users\\Me Too\\rootCA.pem"')
  t.match(win, '"Install": ["C:\\\\Users\\\\Me Too\\\\rootCA.pem"]', 'JSON-escaped in policies.json')
})
