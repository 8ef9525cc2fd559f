/**
 * The request body on its way upstream. A separate stream (not the IncomingMessage itself) so that when undici
 * tears down the upstream request it cannot destroy the client's socket before we answer 502, and so that the
 * optional size limit is enforced on chunked bodies while they stream.
 */
import type { IncomingMessage } from 'node:http'
import { Transform, type TransformCallback } from 'node:stream'

export class BodyTooLarge extends Error {
  readonly code = 'SB_BODY_TOO_LARGE'
}

export class RequestBody extends Transform {
  private seen = 0
  constructor(private readonly limit: number | undefined) {
    super({ highWaterMark: 64 * 1024 })
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.seen += chunk.length
    if (this.limit !== undefined && this.seen > this.limit) {
      done(new BodyTooLarge('request body over the limit'))
      return
    }
    done(null, chunk)
  }
}

export function relayBody(req: IncomingMessage, limit: number | undefined): RequestBody {
  const body = new RequestBody(limit)
  req.pipe(body)
  req.once('aborted', () => body.destroy(new Error('client aborted the request body')))
  req.once('error', (err) => body.destroy(err))
  return body
}
