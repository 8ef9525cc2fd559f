/** Maps a document path to a line and column in the YAML source. */
import { type Document, isMap, isNode, isPair, isScalar, isSeq, type LineCounter, type Node } from 'yaml'
import type { ConfigIssue, IssuePath } from './issues.js'

function child(node: unknown, key: string | number): { value: unknown; key: unknown } | undefined {
  if (isMap(node)) {
    for (const pair of node.items) {
      if (!isPair(pair)) continue
      const k = isScalar(pair.key) ? pair.key.value : pair.key
      if (String(k) === String(key)) return { value: pair.value, key: pair.key }
    }
    return undefined
  }
  if (isSeq(node) && typeof key === 'number') {
    const item = node.items[key]
    return item === undefined ? undefined : { value: item, key: undefined }
  }
  return undefined
}

function offsetOf(node: unknown): number | undefined {
  return isNode(node) && (node as Node).range
    ? ((node as Node).range as [number, number, number])[0]
    : undefined
}

export function locate(doc: Document, lines: LineCounter, issue: ConfigIssue): ConfigIssue {
  let node: unknown = doc.contents
  let offset = offsetOf(node)
  const path: IssuePath = issue.path
  for (let i = 0; i < path.length; i++) {
    const next = child(node, path[i] as string | number)
    if (next === undefined) break
    const last = i === path.length - 1
    const target = last && issue.atKey && next.key !== undefined ? next.key : next.value
    const at = offsetOf(target) ?? offsetOf(next.key)
    if (at !== undefined) offset = at
    node = next.value
  }
  if (offset === undefined) return { ...issue, line: 1, col: 1 }
  const pos = lines.linePos(offset)
  return { ...issue, line: pos.line, col: pos.col }
}
