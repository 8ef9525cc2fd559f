/** Raw-socket HTTP client for byte-level tests: send exact bytes, read until close or a deadline. */
import { connect, type Socket } from 'node:net'

export interface RawExchange {
  /** Everything received, as latin1 text. */
  text: string
  /** True when the server closed the connection before the deadline. */
  closed: boolean
  /** Status code of the first response, or 0. */
  status: number
}

/**
 * Sends `bytes` (string or a list of writes) and collects the answer until the server closes the connection or
 * `untilMs` passes, or `done(text)` says the answer is complete.
 */
export function rawRequest(
  port: number,
  bytes: string | Buffer | (string | Buffer)[],
  opts: { untilMs?: number; done?: (text: string) => boolean; gapMs?: number } = {},
): Promise<RawExchange> {
  return new Promise((resolve) => {
    const socket: Socket = connect(port, '127.0.0.1')
    let text = ''
    let finished = false
    const finish = (closed: boolean) => {
      if (finished) return
      finished = true
      clearTimeout(timer)
      socket.destroy()
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text)
      resolve({ text, closed, status: m ? Number(m[1]) : 0 })
    }
    const timer = setTimeout(() => finish(false), opts.untilMs ?? 5000)
    socket.on('data', (c: Buffer) => {
      text += c.toString('latin1')
      if (opts.done?.(text)) finish(false)
    })
    socket.on('close', () => finish(true))
    socket.on('error', () => finish(true))
    socket.on('connect', async () => {
      const parts = Array.isArray(bytes) ? bytes : [bytes]
      for (const [i, p] of parts.entries()) {
        if (i > 0 && opts.gapMs) await new Promise((r) => setTimeout(r, opts.gapMs))
        if (!socket.destroyed) socket.write(p)
      }
    })
  })
}

/** True once a full response with Content-Length has arrived. */
export function completeResponse(text: string): boolean {
  const end = text.indexOf('\r\n\r\n')
  if (end < 0) return false
  const m = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end))
  if (!m)
    return /\r\ntransfer-encoding: *chunked/i.test(text.slice(0, end)) ? text.endsWith('0\r\n\r\n') : false
  return text.length - end - 4 >= Number(m[1])
}

/** Polls `check` until it returns true or the deadline passes. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  deadlineMs = 5000,
  what = 'condition',
): Promise<void> {
  const end = Date.now() + deadlineMs
  while (Date.now() < end) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 20))
  }
  throw new Error(`timed out after ${deadlineMs}ms waiting for ${what}`)
}
