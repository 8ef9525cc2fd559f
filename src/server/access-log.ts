/** One log line per request or WebSocket handshake, and the request metrics fed from the same record. */

import type { Logger } from '../log.js'
import type { ProxyMetrics } from '../metrics/proxy-metrics.js'
import type { RequestRecord } from '../proxy/record.js'

export function accessLog(logger: Logger, metrics: ProxyMetrics): (r: RequestRecord) => void {
  return (r) => {
    metrics.request(r)
    const level = r.status >= 500 || r.status === 0 ? 'warn' : 'info'
    if (!logger.isLevelEnabled(level)) return
    logger[level](
      {
        reqId: r.requestId,
        method: r.method,
        host: r.host,
        path: r.path,
        route: r.route,
        upstream: r.upstream,
        target: r.target,
        status: r.status,
        ms: r.durationMs,
        bytes: r.bytes,
        ...(r.proto === 'https' ? { tls: true } : {}),
        ...(r.websocket ? { websocket: true } : {}),
        ...(r.code ? { code: r.code } : {}),
        ...(r.error ? { error: r.error } : {}),
      },
      'request',
    )
  }
}
