/** Applies ${VAR} substitution to every scalar value of a parsed YAML document, in place. */
import { type Document, parse, Scalar, visit } from 'yaml'
import { type Env, substituteEnv } from './env.js'

export interface SubstitutionProblem {
  offset: number
  message: string
}

/**
 * Plain (unquoted) scalars are re-typed after substitution, so `port: ${PORT:-80}` is the number 80;
 * quoted scalars stay strings.
 */
export function substituteDocument(doc: Document, env: Env): SubstitutionProblem[] {
  const problems: SubstitutionProblem[] = []
  visit(doc, {
    Scalar(key, node) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('${')) return
      const offset = node.range?.[0] ?? 0
      const result = substituteEnv(node.value, env)
      for (const message of result.problems) problems.push({ offset, message })
      node.value = node.type === Scalar.PLAIN ? retype(result.value) : result.value
    },
  })
  return problems
}

function retype(text: string): unknown {
  try {
    const value: unknown = parse(text)
    return typeof value === 'number' || typeof value === 'boolean' ? value : text
  } catch {
    return text
  }
}
