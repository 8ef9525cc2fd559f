/**
 * `${VAR}`, `${VAR:-default}` (default when unset or empty) and `${VAR-default}` (default only when unset).
 * `$${` escapes a literal `${`. Pure: the environment is passed in.
 */
export type Env = Readonly<Record<string, string | undefined>>

export interface SubstituteResult {
  value: string
  problems: string[]
}

const REFERENCE = /\$\$\{|\$\{([^}]*)\}/g
const INNER = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([\s\S]*))?$/

export function substituteEnv(text: string, env: Env): SubstituteResult {
  const problems: string[] = []
  const value = text.replace(REFERENCE, (match, inner: string | undefined) => {
    if (inner === undefined) return '${'
    const m = INNER.exec(inner)
    if (!m) {
      problems.push(`malformed variable reference "${match}" (write \${NAME} or \${NAME:-default})`)
      return match
    }
    const name = m[1] as string
    const operator = m[2]
    const fallback = m[3]
    const fromEnv = env[name]
    if (fromEnv !== undefined && !(operator === ':-' && fromEnv === '')) return fromEnv
    if (fallback !== undefined) return fallback
    problems.push(`environment variable ${name} is not set and has no default (write \${${name}:-value})`)
    return ''
  })
  if (/\$\{[^}]*$/.test(text.replace(REFERENCE, ''))) {
    problems.push('unterminated variable reference "$\u007b" (missing "}")')
  }
  return { value, problems }
}
