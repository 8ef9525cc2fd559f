/**
 * The shape of routes.yaml, as a zod schema. Leaf values are parsed by ./values.ts; cross-references (unknown
 * upstreams, duplicate routes, "exactly one of upstream/to/redirect") are checked in ./semantics.ts so that every
 * problem is reported at once. The JSON Schema in schema/routes.schema.json is generated from this file.
 */
import { z } from 'zod'
import { parseDuration } from './duration.js'
import {
  type Parsed,
  parseCidr,
  parseHostPattern,
  parseListen,
  parsePathPrefix,
  parseProbePath,
  parseRedirect,
  parseSize,
  parseStatusRanges,
  parseTarget,
} from './values.js'

function parsedBy<I, O>(base: z.ZodType<I>, parse: (value: I) => Parsed<O>) {
  return base.transform((value, ctx) => {
    const result = parse(value)
    if (result.ok) return result.value
    ctx.issues.push({ code: 'custom', message: result.error, input: value })
    return z.NEVER
  })
}

const durationText = z
  .string({ error: 'expected a duration such as "500ms", "5s" or "2m"' })
  .meta({ pattern: '^\\d+(\\.\\d+)?(ms|s|m|h|d)$' })
export const Duration = parsedBy(durationText, (text) => {
  const ms = parseDuration(text)
  return ms === undefined
    ? { ok: false, error: `invalid duration "${text}": write a number with a unit: 500ms, 5s, 2m, 1h` }
    : { ok: true, value: ms }
}).describe('A duration: a number with a unit, ms, s, m, h or d ("500ms", "5s", "2m", "180d").')

/** A duration that must be more than 0; `zero` says why, for the person who wrote 0. */
const positiveDuration = (zero: (text: string) => string) =>
  parsedBy(durationText, (text) => {
    const ms = parseDuration(text)
    if (ms === undefined)
      return { ok: false, error: `invalid duration "${text}": write a number with a unit: 500ms, 5s, 2m, 1h` }
    return ms === 0 ? { ok: false, error: zero(text) } : { ok: true, value: ms }
  }).describe('A duration more than 0: a number with a unit, ms, s, m, h or d ("500ms", "5s", "2m").')

const portOrText = z.union([z.number(), z.string()], {
  error: 'expected a port number or a "host:port" string',
})

export const ListenAddressSchema = parsedBy(portOrText, parseListen).describe(
  'A port (80) or "host:port" ("127.0.0.1:8080", "[::1]:80").',
)

export const TargetSchema = parsedBy(portOrText, parseTarget).describe(
  'An upstream URL ("http://127.0.0.1:3000", "http://api:8080/base") or a bare port (3000 = http://127.0.0.1:3000).',
)

const hostText = z.string({ error: 'expected a host name such as "app.localhost" or "*.example.com"' })
export const HostPatternSchema = parsedBy(hostText, parseHostPattern).describe(
  'An exact host ("app.localhost"), a wildcard matching one or more labels ("*.example.com"), or "*" for any host.',
)

const UpstreamTimeouts = z
  .strictObject({
    connect: Duration.optional().describe('Time to open a connection to a target. Default 5s.'),
    response: Duration.optional().describe(
      'Time from sending the request to receiving the response headers. Default 100s (dev servers compile on demand).',
    ),
    idle: Duration.optional().describe(
      'Longest silence while a response body streams (never applied to text/event-stream). Default 60s.',
    ),
  })
  .describe('Upstream timeouts.')

const WeightedTarget = z
  .strictObject({
    url: TargetSchema,
    weight: z
      .number({ error: 'expected a whole number' })
      .int({ error: 'expected a whole number' })
      .min(0, { error: 'weight must be 0 or more' })
      .max(1000, { error: 'weight must be at most 1000' })
      .optional()
      .describe('Relative share of traffic (default 1; 0 takes the target out of rotation).'),
  })
  .describe('A target with a weight.')

const statusText = z.union([z.number(), z.string()], {
  error: 'expected a status code, a range such as "200-399", or a list',
})
export const ExpectStatus = parsedBy(
  z.union([statusText, z.array(statusText).min(1)]),
  parseStatusRanges,
).describe(
  'Status codes that count as healthy: 200, "200-399", or a list such as [200, "300-302"]. Default "200-399".',
)

const positive = (what: string) =>
  z
    .number({ error: `expected a whole number of ${what}` })
    .int({ error: `expected a whole number of ${what}` })
    .min(1, { error: `${what} must be at least 1` })
    .max(100, { error: `${what} must be at most 100` })

export const HealthCheckSchema = z
  .strictObject({
    path: parsedBy(z.string({ error: 'expected a path such as "/health"' }), parseProbePath)
      .optional()
      .describe(
        'With a path: an HTTP GET to each target. Without (default): a TCP connect, which a dev server never notices.',
      ),
    interval: Duration.optional().describe('Time between probes of one target, more than 0. Default 5s.'),
    timeout: Duration.optional().describe(
      'A probe that takes longer fails; at most the interval. Default 2s, or half the interval when that is shorter.',
    ),
    expectStatus: ExpectStatus.optional(),
    rise: positive('passes')
      .optional()
      .describe('Consecutive passes for an unhealthy target to become healthy. Default 2.'),
    fall: positive('failures')
      .optional()
      .describe('Consecutive failures for a target to become unhealthy. Default 3.'),
  })
  .describe('Active health checks. On by default; false turns them off.')

export const PassiveSchema = z
  .strictObject({
    failures: positive('failures')
      .optional()
      .describe(
        'Consecutive failed requests (connect errors, resets, timeouts) that eject a target. Default 3.',
      ),
    ejectFor: Duration.optional().describe(
      'How long an ejected target gets no traffic (a passing probe re-admits it sooner). Default 30s.',
    ),
    on5xx: z.boolean().optional().describe('Count 5xx answers as failures too. Default false.'),
  })
  .describe('Passive health checks from real traffic. On by default; false turns them off.')

export const BalanceSchema = z
  .enum(['round-robin', 'least-connections', 'random', 'ip-hash'], {
    error: 'expected one of round-robin, least-connections, random, ip-hash',
  })
  .describe('How requests are spread over healthy targets. Default round-robin (weighted).')

export const UpstreamSchema = z
  .strictObject({
    targets: z
      .array(
        z.union([TargetSchema, WeightedTarget], {
          error: 'expected a target URL, a port, or { url, weight }',
        }),
        {
          error: 'expected a list of target URLs',
        },
      )
      .min(1, { error: 'an upstream needs at least one target' })
      .describe('Where requests go: URLs, bare ports, or { url, weight }.'),
    balance: BalanceSchema.optional(),
    healthCheck: z
      .union([z.literal(false), HealthCheckSchema], {
        error: 'expected false or a map of health check settings',
      })
      .optional(),
    passive: z
      .union([z.literal(false), PassiveSchema], {
        error: 'expected false or a map of passive check settings',
      })
      .optional(),
    tls: z
      .strictObject({
        ca: z
          .string({ error: 'expected the path of a PEM CA file' })
          .optional()
          .describe('Trust this CA (PEM file) for https:// targets.'),
        insecureSkipVerify: z
          .boolean()
          .optional()
          .describe("Do not verify https:// targets' certificates. For development only. Default false."),
        serverName: z
          .string()
          .optional()
          .describe('SNI and certificate name to expect, when it differs from the target host.'),
      })
      .optional()
      .describe(
        'How https:// targets are verified. By default their certificate must verify against the system CAs.',
      ),
    timeouts: UpstreamTimeouts.optional(),
  })
  .describe('A named group of targets that routes send requests to.')

const redirectCodes = [301, 302, 303, 307, 308] as const

export const RouteSchema = z
  .strictObject({
    host: z
      .union(
        [HostPatternSchema, z.array(HostPatternSchema).min(1, { error: 'host list must not be empty' })],
        {
          error: 'expected a host name or a list of host names',
        },
      )
      .optional()
      .describe('Host name(s) this route answers. Omit for any host.'),
    path: parsedBy(z.string({ error: 'expected a path such as "/api"' }), parsePathPrefix)
      .optional()
      .describe(
        'Path prefix on a segment boundary: "/api" matches /api, /api/ and /api/x, never /apix. Default "/".',
      ),
    stripPrefix: z
      .boolean()
      .optional()
      .describe('Remove the path prefix before forwarding (/api/x is sent as /x).'),
    preserveHost: z
      .boolean()
      .optional()
      .describe(
        "Send the client's Host header to the upstream (default true); false sends the target's host.",
      ),
    upstream: z
      .string({ error: 'expected the name of an upstream' })
      .optional()
      .describe('The upstream to send to.'),
    to: TargetSchema.optional().describe(
      'Shorthand for an inline upstream with one target: a port or a URL.',
    ),
    redirect: parsedBy(z.string({ error: 'expected a URL such as "https://app.localhost"' }), parseRedirect)
      .optional()
      .describe(
        'Answer with a redirect to this origin (and base path); the request path and query are kept.',
      ),
    redirectCode: z
      .union(
        redirectCodes.map((c) => z.literal(c)),
        { error: `expected one of ${redirectCodes.join(', ')}` },
      )
      .optional()
      .describe('Status for redirect routes. Default 308.'),
  })
  .describe('One routing rule. Exactly one of upstream, to or redirect.')

const ServerTimeouts = z
  .strictObject({
    clientHeader: Duration.optional().describe(
      'Time a client has to send the request headers (slowloris). Default 10s.',
    ),
    clientBody: Duration.optional().describe(
      'Longest silence while a client sends a request body (slow POST). Default 30s.',
    ),
    keepAlive: Duration.optional().describe('How long an idle client connection is kept open. Default 75s.'),
    shutdown: Duration.optional().describe(
      'On SIGTERM/SIGINT, how long requests in flight may take to finish before connections are cut. Default 10s.',
    ),
    tlsHandshake: positiveDuration(
      (text) => `${text} would leave TLS handshakes without a limit; write a positive duration such as "10s"`,
    )
      .optional()
      .describe(
        'Time a client has to complete the TLS handshake on listen.https; a connection still handshaking then is closed. More than 0. Default 10s.',
      ),
  })
  .describe('Timeouts on the client side.')

export const ConfigSchema = z
  .strictObject({
    $schema: z.string().optional().describe('Path or URL of this JSON Schema, for editors.'),
    listen: z
      .strictObject({
        http: z
          .union([z.literal(false), ListenAddressSchema], { error: 'expected a port, "host:port", or false' })
          .optional()
          .describe('The plain-HTTP listener. Default 80; false for none.'),
        https: z
          .union([z.literal(false), ListenAddressSchema], { error: 'expected a port, "host:port", or false' })
          .optional()
          .describe('The TLS listener (HTTP/2 and HTTP/1.1). Off unless set, e.g. 443; false for none.'),
      })
      .optional()
      .describe('Where Switchboard listens.'),
    tls: z
      .strictObject({
        certificates: z
          .array(
            z.strictObject({
              cert: z
                .string({ error: 'expected the path of a PEM certificate file' })
                .describe('PEM certificate (chain) file.'),
              key: z
                .string({ error: 'expected the path of a PEM private key file' })
                .describe('PEM private key file.'),
              hosts: z
                .array(HostPatternSchema)
                .optional()
                .describe("Host names this certificate serves; default: the certificate's own names."),
            }),
            { error: 'expected a list of { cert, key }' },
          )
          .optional()
          .describe(
            'Certificates, chosen by SNI: the most specific name wins; the first is the default for clients without SNI.',
          ),
        local: z
          .boolean()
          .optional()
          .describe(
            'Issue certificates from a local CA for route hosts no certificate covers. Default true.',
          ),
        redirectHttp: z
          .boolean()
          .optional()
          .describe(
            'Answer plain-HTTP requests for hosts served over TLS with 308 to https (/.well-known/ excepted). Default true.',
          ),
        hsts: z
          .union([z.literal(false), Duration], { error: 'expected false or a duration such as "180d"' })
          .optional()
          .describe('Send Strict-Transport-Security with this max-age on HTTPS responses. Default false.'),
      })
      .optional()
      .describe('The TLS listener: certificates, local CA, redirects, HSTS.'),
    admin: z
      .union(
        [
          z.literal(false),
          z.strictObject({
            listen: ListenAddressSchema.optional().describe(
              'Where the admin API listens. Default "127.0.0.1:9901".',
            ),
            token: z
              .string({ error: 'expected a token string, e.g. "${ADMIN_TOKEN}"' })
              .min(16, { error: 'an admin token must be at least 16 characters' })
              .optional()
              .describe('Require "Authorization: Bearer <token>" (health and readiness checks excepted).'),
            allowRemote: z
              .boolean()
              .optional()
              .describe('Allow binding a non-loopback address without a token. Default false.'),
          }),
        ],
        { error: 'expected false or a map with listen, token, allowRemote' },
      )
      .optional()
      .describe(
        'The admin API: /healthz, /readyz, /status, POST /reload, /metrics. On by default on 127.0.0.1:9901.',
      ),
    trustedProxies: z
      .array(parsedBy(z.string({ error: 'expected a CIDR such as "10.0.0.0/8"' }), parseCidr), {
        error: 'expected a list of CIDR blocks',
      })
      .optional()
      .describe(
        'Peers (CIDRs) whose forwarding headers are trusted: their X-Forwarded-For is appended to, their X-Forwarded-Proto/-Host/-Port, Forwarded and X-Real-IP are passed on. None by default, not even loopback.',
      ),
    timeouts: ServerTimeouts.optional(),
    limits: z
      .strictObject({
        maxRequestBody: parsedBy(z.union([z.number(), z.string()]), parseSize)
          .optional()
          .describe('Largest request body accepted (413 above it), e.g. "100MiB". Default: unlimited.'),
      })
      .optional()
      .describe('Request limits.'),
    upstreams: z
      .record(z.string(), UpstreamSchema, { error: 'expected a map of upstream names to upstreams' })
      .optional()
      .describe('Named upstreams.'),
    routes: z
      .array(RouteSchema, { error: 'expected a list of routes' })
      .min(1, { error: 'there are no routes: add at least one under "routes:"' })
      .describe(
        'Routing rules, matched by specificity: exact host, then wildcard, then any; then longest path.',
      ),
  })
  .describe('Switchboard routing table (routes.yaml).')

export type RawConfig = z.output<typeof ConfigSchema>
export type RawRoute = z.output<typeof RouteSchema>
export type RawUpstream = z.output<typeof UpstreamSchema>
export const REDIRECT_CODES: readonly number[] = redirectCodes
