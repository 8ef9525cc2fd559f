/**
 * Shared pieces for the security regression tests (test/integration/security-*.test.ts): a recording upstream that
 * keeps every byte it receives and answers well-formed requests, leak checks for error pages, and small parsers for
 * raw responses.
 */
import type { Server } from 'node:http'
import type { Server as TcpServer } from 'node:net'
import { type RawUpstream, startRawUpstream } from './upstream.js'

export interface RecordedRequest {
  /** Which upstream connection carried it (0-based). */
  connection: number
  method: string
  target: string
  /** Header lines as received, in order, names as sent. */
  headers: [string, string][]
  body: string
}

export interface RecordingUpstream {
  raw: RawUpstream
  url: string
  port: number
  /** Complete requests, in arrival order. */
  requests: RecordedRequest[]
  /** Every byte received on every connection, as latin1 text, connections concatenated in order. */
  bytes(): string
  close(): Promise<void>
}

/** Finds the end of a chunked body starting at `from`; returns the decoded body and the index after it. */
function readChunked(buf: string, from: number): { body: string; end: number } | 'incomplete' | 'bad' {
  let i = from
  let body = ''
  for (;;) {
    const eol = buf.indexOf('\r\n', i)
    if (eol < 0) return 'incomplete'
    const sizeText = (buf.slice(i, eol).split(';')[0] as string).trim()
    if (!/^[0-9a-fA-F]+$/.test(sizeText)) return 'bad'
    const size = Number.parseInt(sizeText, 16)
    if (size === 0) {
      const trailerEnd = buf.indexOf('\r\n\r\n', eol)
      if (buf.slice(eol, eol + 4) === '\r\n\r\n') return { body, end: eol + 4 }
      if (trailerEnd < 0) return 'incomplete'
      return { body, end: trailerEnd + 4 }
    }
    if (buf.length < eol + 2 + size + 2) return 'incomplete'
    body += buf.slice(eol + 2, eol + 2 + size)
    if (buf.slice(eol + 2 + size, eol + 4 + size) !== '\r\n') return 'bad'
    i = eol + 4 + size
  }
}

/**
 * A raw TCP upstream with a minimal HTTP/1.1 request parser: it records every byte and every complete request, and
 * answers each one with `200` and the body `METHOD TARGET BODY` (or what `respond` returns). Malformed input is
 * recorded and the connection closed without an answer.
 */
export async function startRecordingUpstream(
  respond?: (r: RecordedRequest) => string,
): Promise<RecordingUpstream> {
  const requests: RecordedRequest[] = []
  const raw = await startRawUpstream((socket, index) => {
    let buf = ''
    socket.on('data', (c: Buffer) => {
      buf += c.toString('latin1')
      for (;;) {
        const headEnd = buf.indexOf('\r\n\r\n')
        if (headEnd < 0) return
        const lines = buf.slice(0, headEnd).split('\r\n')
        const [method = '', target = ''] = (lines[0] as string).split(' ')
        const headers: [string, string][] = lines.slice(1).map((l) => {
          const colon = l.indexOf(':')
          return [l.slice(0, colon), l.slice(colon + 1).trim()]
        })
        const get = (n: string) => headers.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v)
        let body = ''
        let end = headEnd + 4
        if (get('transfer-encoding').length > 0) {
          const chunked = readChunked(buf, end)
          if (chunked === 'incomplete') return
          if (chunked === 'bad') {
            socket.destroy()
            return
          }
          body = chunked.body
          end = chunked.end
        } else if (get('content-length').length > 0) {
          const n = Number(get('content-length')[0])
          if (buf.length < end + n) return
          body = buf.slice(end, end + n)
          end += n
        }
        buf = buf.slice(end)
        const r: RecordedRequest = { connection: index, method, target, headers, body }
        requests.push(r)
        const text = respond ? respond(r) : `${method} ${target} ${body}`
        socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${Buffer.byteLength(text)}\r\n\r\n${text}`)
      }
    })
  })
  return {
    raw,
    url: raw.url,
    port: raw.port,
    requests,
    bytes: () => raw.received.map((b) => b.toString('latin1')).join(''),
    close: () => raw.close(),
  }
}

/** Header value(s) of a recorded request, by case-insensitive name. */
export function headerValues(r: RecordedRequest, name: string): string[] {
  return r.headers.filter(([k]) => k.toLowerCase() === name.toLowerCase()).map(([, v]) => v)
}

/** Counts TCP connections a server accepts (to prove an upstream was never dialled). */
export function countConnections(server: Server | TcpServer): { count: number } {
  const counter = { count: 0 }
  server.on('connection', () => {
    counter.count++
  })
  return counter
}

/**
 * Everything an error answer must not reveal. Returns a list of what leaked (empty when clean). `ports` are upstream
 * ports that must not appear either.
 */
export function leaks(text: string, ports: readonly number[] = []): string[] {
  const found: string[] = []
  const patterns: [string, RegExp][] = [
    ['an upstream address', /\b127\.0\.0\.1:\d+|\blocalhost:\d+|\[::1?\]:\d+/i],
    ['an errno code', /\bE(?:CONNREFUSED|CONNRESET|PIPE|NOTFOUND|AI_AGAIN|TIMEDOUT|HOSTUNREACH|PROTO)\b/],
    ['an undici or llhttp code', /\bUND_ERR|\bHPE_|\bERR_[A-Z_]{3,}/],
    ['a stack trace', /\n\s+at \S+|node:internal|\.(?:ts|js|mjs|cjs):\d+/],
    [
      'a library error text',
      /socket hang up|Headers Overflow|self[- ]signed|certificate has|unable to verify|Parse Error|other side closed|connect ECONN|TypeError|RangeError|SyntaxError|Unexpected token|\[object Object\]/i,
    ],
  ]
  for (const [what, re] of patterns) if (re.test(text)) found.push(what)
  for (const port of ports) if (new RegExp(`:${port}(?!\\d)`).test(text)) found.push(`port ${port}`)
  return found
}

/**
 * Every status line in a raw stream of responses, in order (e.g. [100, 200]). Matches anywhere, so a status line
 * spliced into another response's body is counted too.
 */
export function statuses(text: string): number[] {
  const out: number[] = []
  for (const m of text.matchAll(/HTTP\/1\.[01] (\d{3})[^\r\n]*\r\n/g)) out.push(Number(m[1]))
  return out
}

/** Header block of the first response in `text`, as lower-case name -> values. */
export function responseHeaderMap(text: string): Map<string, string[]> {
  const end = text.indexOf('\r\n\r\n')
  const map = new Map<string, string[]>()
  for (const line of text
    .slice(0, end < 0 ? text.length : end)
    .split('\r\n')
    .slice(1)) {
    const colon = line.indexOf(':')
    if (colon < 0) continue
    const name = line.slice(0, colon).trim().toLowerCase()
    map.set(name, [...(map.get(name) ?? []), line.slice(colon + 1).trim()])
  }
  return map
}

/** Body of the first response in `text` (everything after the first blank line). */
export function responseBody(text: string): string {
  const end = text.indexOf('\r\n\r\n')
  return end < 0 ? '' : text.slice(end + 4)
}

/** A bounded quiet window, only for proving that nothing happens (no dial, no bytes) within it. */
export function quiet(ms = 100): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

/** Key and certificate of an upstream that must not be trusted (see IMPOSTOR_CERT). */
export const IMPOSTOR_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg0FvjYBUs75orV3jF
wUivZ+ECM93X44nituU8LcIE7EihRANCAARB18SZRJkJopito9xkF3JTen9ADd62
9wbwe0aZR3TScV1xSL++m/YTIK8xNRGWmxj6zvsA8IDtcJX8D5P8y3yU
-----END PRIVATE KEY-----
`
/** Self-signed, for impostor.example (so it is wrong for 127.0.0.1 too); valid until 2126. */
export const IMPOSTOR_CERT = `-----BEGIN CERTIFICATE-----
MIIBqzCCAVCgAwIBAgIUFL+ZRivsQ6u93T+Pe0FId4V0b54wCgYIKoZIzj0EAwIw
GzEZMBcGA1UEAwwQaW1wb3N0b3IuZXhhbXBsZTAgFw0yNjEyMDIwNzExNTZaGA8y
MTI2MTEwODA3MTE1NlowGzEZMBcGA1UEAwwQaW1wb3N0b3IuZXhhbXBsZTBZMBMG
ByqGSM49AgEGCCqGSM49AwEHA0IABEHXxJlEmQmimK2j3GQXclN6f0AN3rb3BvB7
RplHdNJxXXFIv76b9hMgrzE1EZabGPrO+wDwgO1wlfwPk/zLfJSjcDBuMB0GA1Ud
DgQWBBSMaBjPy69g0gCbv/FgsFrSVwoQgzAfBgNVHSMEGDAWgBSMaBjPy69g0gCb
v/FgsFrSVwoQgzAPBgNVHRMBAf8EBTADAQH/MBsGA1UdEQQUMBKCEGltcG9zdG9y
LmV4YW1wbGUwCgYIKoZIzj0EAwIDSQAwRgIhAIflfUCrXZMr/BpGF1oeE79p5D6Y
VHsfwOnLmo5kR/iAAiEArlGclg9AlsaDNRMZl2jywIhEjbDfYt/J4G8Rdu58LyE=
-----END CERTIFICATE-----
`
