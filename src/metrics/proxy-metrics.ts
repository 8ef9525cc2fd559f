/** The metrics Switchboard exports, fed by the request log, the health monitor and the reloader. */
import type { RequestRecord } from '../proxy/record.js'
import type { UpstreamSnapshot } from '../upstreams/snapshot.js'
import { Counter, Gauge, Histogram, Registry } from './registry.js'

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

export interface MetricSources {
  upstreams(): UpstreamSnapshot[]
  openConnections(): number
  openWebSockets(): number
}

export class ProxyMetrics {
  readonly registry = new Registry()
  private readonly requests = this.registry.add(
    new Counter('switchboard_requests_total', 'Requests answered, by route, upstream and status class.'),
  )
  private readonly latency = this.registry.add(
    new Histogram(
      'switchboard_request_duration_seconds',
      'Time to complete a request, by route and upstream.',
      LATENCY_BUCKETS,
    ),
  )
  private readonly probes = this.registry.add(
    new Counter('switchboard_health_probes_total', 'Active health probes, by upstream, target and result.'),
  )
  private readonly reloads = this.registry.add(
    new Counter('switchboard_reloads_total', 'Config reloads, by outcome.'),
  )

  constructor(sources: MetricSources) {
    this.registry.add(
      new Gauge('switchboard_target_up', 'Whether a target receives traffic (1) or not (0).', () =>
        sources
          .upstreams()
          .flatMap((u) =>
            u.targets.map((t): [Record<string, string>, number] => [
              { upstream: u.name, target: t.url },
              t.state === 'unhealthy' || t.state === 'ejected' ? 0 : 1,
            ]),
          ),
      ),
    )
    this.registry.add(
      new Gauge('switchboard_target_inflight', 'Open requests and WebSockets per target.', () =>
        sources
          .upstreams()
          .flatMap((u) =>
            u.targets.map((t): [Record<string, string>, number] => [
              { upstream: u.name, target: t.url },
              t.inflight,
            ]),
          ),
      ),
    )
    this.registry.add(
      new Gauge('switchboard_open_connections', 'Open client connections.', () => [
        [{}, sources.openConnections()],
      ]),
    )
    this.registry.add(
      new Gauge('switchboard_open_websockets', 'Open WebSocket tunnels.', () => [
        [{}, sources.openWebSockets()],
      ]),
    )
  }

  request(r: RequestRecord): void {
    const labels = {
      route: r.route ?? '(none)',
      upstream: r.upstream ?? '(none)',
      code: r.status >= 100 && r.status < 600 ? `${Math.floor(r.status / 100)}xx` : 'aborted',
    }
    this.requests.inc(labels)
    this.latency.observe({ route: labels.route, upstream: labels.upstream }, r.durationMs / 1000)
  }

  probe(upstream: string, target: string, ok: boolean): void {
    this.probes.inc({ upstream, target, result: ok ? 'pass' : 'fail' })
  }

  reload(ok: boolean): void {
    this.reloads.inc({ outcome: ok ? 'success' : 'refused' })
  }

  render(): string {
    return this.registry.render()
  }
}
