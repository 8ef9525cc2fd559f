/** Active probes: a TCP connect (default) or an HTTP GET. Never blocks the event loop; always settles by `timeout`. */
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { connect } from 'node:net'
import type { HealthCheckDef, TargetDef, UpstreamDef } from '../config/model.js'
import { tlsOptions } from './dispatchers.js'
import { classify } from './faults.js'
import type { ProbeRecord } from './health.js'

/** A probe's words for a failed connection: the classifier's, or the bare code for anything unusual. */
function describeError(err: NodeJS.ErrnoException): string {
  const fault = classify(err)
  if (fault.kind !== 'bad-response') return fault.text
  return err.code ? `error ${err.code}` : 'error'
}

const seconds = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`)

export function probe(
  target: TargetDef,
  check: HealthCheckDef,
  upstream?: UpstreamDef,
): Promise<ProbeRecord> {
  return check.kind === 'tcp' ? tcpProbe(target, check.timeout) : httpProbe(target, check, upstream)
}

export function tcpProbe(target: TargetDef, timeout: number): Promise<ProbeRecord> {
  const started = performance.now()
  const at = Date.now()
  return new Promise((resolve) => {
    const socket = connect({ host: target.hostname, port: target.port })
    const done = (ok: boolean, detail: string) => {
      clearTimeout(timer)
      socket.destroy()
      resolve({ at, ok, latencyMs: Math.round((performance.now() - started) * 10) / 10, detail })
    }
    const timer = setTimeout(() => done(false, `timeout after ${seconds(timeout)}`), timeout)
    socket.once('connect', () => done(true, 'connected'))
    socket.once('error', (err: NodeJS.ErrnoException) => done(false, describeError(err)))
  })
}

export function httpProbe(
  target: TargetDef,
  check: HealthCheckDef,
  upstream?: UpstreamDef,
): Promise<ProbeRecord> {
  const started = performance.now()
  const at = Date.now()
  return new Promise((resolve) => {
    let settled = false
    const done = (ok: boolean, detail: string) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      req.destroy()
      resolve({ at, ok, latencyMs: Math.round((performance.now() - started) * 10) / 10, detail })
    }
    const https = target.protocol === 'https:'
    const make = https ? httpsRequest : httpRequest
    const req = make({
      ...(https && upstream ? tlsOptions(upstream, target.hostname) : {}),
      host: target.hostname,
      port: target.port,
      method: 'GET',
      path: `${target.basePath}${check.path ?? '/'}`,
      headers: { 'user-agent': 'switchboard-health-check', accept: '*/*', connection: 'close' },
      agent: false,
    })
    const timer = setTimeout(() => done(false, `timeout after ${seconds(check.timeout)}`), check.timeout)
    req.once('response', (res) => {
      const status = res.statusCode ?? 0
      res.resume()
      const ok = check.expectStatus.some(([lo, hi]) => status >= lo && status <= hi)
      done(ok, `status ${status}`)
    })
    req.once('error', (err: NodeJS.ErrnoException) => done(false, describeError(err)))
    req.end()
  })
}
