/** The plain-HTTP -> HTTPS redirect for hosts served over TLS (ACME-style /.well-known/ paths excepted). */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Config } from '../config/model.js'
import { requestIdFrom } from '../proxy/headers.js'
import { parseRequestHost } from '../routing/host.js'
import type { TlsProvider } from '../tls/provider.js'
import type { Front } from './front.js'

export function httpsRedirect(
  req: IncomingMessage,
  res: ServerResponse,
  config: Config,
  tls: TlsProvider | undefined,
  https: Front | undefined,
): boolean {
  if (!https || !tls || !config.tls.redirectHttp) return false
  const url = req.url ?? '/'
  if (!url.startsWith('/') || url.startsWith('/.well-known/')) return false
  const host = parseRequestHost(req.headers.host)
  if (!host || !tls.covers(host.name)) return false
  const address = https.server.address()
  const port = typeof address === 'object' && address ? address.port : 443
  const authority = port === 443 ? host.name : `${host.name}:${port}`
  const requestId = requestIdFrom(req.headers['x-request-id'] as string | undefined)
  res.writeHead(308, {
    location: `https://${authority}${url}`,
    'content-length': 0,
    'x-request-id': requestId,
  })
  res.end()
  return true
}
