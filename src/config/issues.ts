/** A problem found in routes.yaml, tied to a path in the document and (once located) a line and column. */
export type IssuePath = readonly (string | number)[]

export interface ConfigIssue {
  path: IssuePath
  message: string
  /** Point at the key itself rather than its value (unknown keys). */
  atKey?: boolean
  line?: number
  col?: number
}

export function formatPath(path: IssuePath): string {
  let out = ''
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`
    else if (/^[A-Za-z_$][\w$-]*$/.test(part)) out += out === '' ? part : `.${part}`
    else out += `[${JSON.stringify(part)}]`
  }
  return out
}

/** `routes.yaml:12:5 routes[2].upstream: unknown upstream "apii" (did you mean "api"?)` */
export function formatIssue(file: string, issue: ConfigIssue): string {
  const where = `${file}:${issue.line ?? 1}:${issue.col ?? 1}`
  const path = formatPath(issue.path)
  return path === '' ? `${where} ${issue.message}` : `${where} ${path}: ${issue.message}`
}

export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[]
  readonly file: string
  constructor(file: string, issues: readonly ConfigIssue[]) {
    super(
      `${file}: ${issues.length} problem${issues.length === 1 ? '' : 's'}\n${issues.map((i) => formatIssue(file, i)).join('\n')}`,
    )
    this.name = 'ConfigError'
    this.file = file
    this.issues = issues
  }

  lines(): string[] {
    return this.issues.map((i) => formatIssue(this.file, i))
  }
}
