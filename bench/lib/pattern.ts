/**
 * Deterministic large bodies, generated on the fly in 64 KiB chunks and never held whole in memory. Chunk i is a
 * fixed pseudo-random block with i written into its first 8 bytes, so a lost, repeated or reordered chunk changes
 * the SHA-256 of the stream, not only its length.
 */
import { createHash } from 'node:crypto'

export const CHUNK = 64 * 1024

const BLOCK = (() => {
  const b = Buffer.allocUnsafe(CHUNK)
  let x = 0x9e3779b9
  for (let i = 0; i < CHUNK; i += 4) {
    // xorshift32
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    b.writeUInt32LE(x >>> 0, i)
  }
  return b
})()

/** Chunk `index` of a body of `total` bytes (a fresh Buffer: writers may keep a reference until it is flushed). */
export function chunkAt(index: number, total: number): Buffer {
  const size = Math.min(CHUNK, total - index * CHUNK)
  const out = Buffer.allocUnsafe(size)
  BLOCK.copy(out, 0, 0, size)
  if (size >= 8) out.writeBigUInt64LE(BigInt(index), 0)
  return out
}

export function* chunks(total: number): Generator<Buffer> {
  for (let i = 0; i * CHUNK < total; i++) yield chunkAt(i, total)
}

/** SHA-256 of the body of `total` bytes, computed without sending it. */
export function expectedDigest(total: number): string {
  const h = createHash('sha256')
  for (const c of chunks(total)) h.update(c)
  return h.digest('hex')
}
