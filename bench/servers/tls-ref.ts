/**
 * Reference TLS server for bench/https.ts: Node's own `http2.createSecureServer({ allowHTTP1: true })` with one
 * certificate (no SNICallback, no proxying), answering every request with "ok". Shows what a TLS handshake costs in
 * Node itself, next to what it costs in Switchboard.
 *
 *   node --import tsx bench/servers/tls-ref.ts --port 8443 --cert leaf.pem --key leaf-key.pem
 *
 * Writes `ready` to stdout once listening; SIGTERM exits.
 */
import { readFileSync } from 'node:fs'
import { createSecureServer } from 'node:http2'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: { port: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' } },
})
const server = createSecureServer(
  {
    allowHTTP1: true,
    cert: readFileSync(values.cert as string),
    key: readFileSync(values.key as string),
    ALPNProtocols: ['h2', 'http/1.1'],
  },
  (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 3 })
    res.end('ok\n')
  },
)
server.listen(Number(values.port), '127.0.0.1', () => process.stdout.write('ready\n'))
process.on('SIGTERM', () => process.exit(0))
