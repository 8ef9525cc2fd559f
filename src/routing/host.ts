/** Request Host header parsing. Pure. */
import { isIP } from 'node:net'
import { isHostName } from '../config/values.js'

export interface RequestHost {
  /** Lower-case, no port, no trailing dot; IPv6 in brackets. */
  name: string
  port: number | undefined
}

/** Returns undefined when the Host header is not a valid `host[:port]` (the caller answers 400). */
export function parseRequestHost(value: string | undefined): RequestHost | undefined {
  if (value === undefined || value === '') return undefined
  let text = value.trim().toLowerCase()
  let port: number | undefined
  let name: string
  if (text.startsWith('[')) {
    const end = text.indexOf(']')
    if (end < 0) return undefined
    const inner = text.slice(1, end)
    if (isIP(inner) !== 6) return undefined
    name = `[${inner}]`
    text = text.slice(end + 1)
    if (text !== '') {
      if (!text.startsWith(':')) return undefined
      port = parsePort(text.slice(1))
      if (port === undefined) return undefined
    }
    return { name, port }
  }
  const colon = text.indexOf(':')
  if (colon >= 0) {
    port = parsePort(text.slice(colon + 1))
    if (port === undefined) return undefined
    text = text.slice(0, colon)
  }
  if (text.endsWith('.')) text = text.slice(0, -1)
  if (isIP(text) === 4) return { name: text, port }
  if (!isHostName(text)) return undefined
  return { name: text, port }
}

function parsePort(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined
  const n = Number(text)
  return n <= 65535 ? n : undefined
}
