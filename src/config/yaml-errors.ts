/**
 * YAML syntax errors explained for the person editing routes.yaml. The `yaml` parser's messages ("Nested mappings
 * are not allowed in compact mappings") describe its grammar, and some point at the line above the mistake. For the
 * common mistakes (wrong indentation, tabs, a missing space after ":", an unquoted "*") this says what is wrong in
 * one plain sentence, at the line to edit; any other error keeps the parser's own text and position. Pure.
 */

/** What the parser reports: its error code, message and [start, end] offsets. */
export interface YamlError {
  code: string
  message: string
  pos: [number, number]
}

export interface ExplainedError {
  /** Offset of the character to point at. */
  offset: number
  message: string
}

const PREFIX = 'YAML syntax error: '

function lineStart(text: string, offset: number): number {
  return text.lastIndexOf('\n', offset - 1) + 1
}

function lineEnd(text: string, offset: number): number {
  const end = text.indexOf('\n', offset)
  return end < 0 ? text.length : end
}

/** Offset of the first character on the line that is not a space or tab (the line's end when there is none). */
function firstCharOfLine(text: string, offset: number): number {
  let i = lineStart(text, offset)
  while (text[i] === ' ' || text[i] === '\t') i++
  return i
}

/** `offset`, or when its line is blank or only a comment, the start of the next line that has content. */
function contentLine(text: string, offset: number): number {
  let start = lineStart(text, offset)
  while (start < text.length && /^[ \t]*(#.*)?\r?$/.test(text.slice(start, lineEnd(text, start)))) {
    const next = lineEnd(text, start) + 1
    if (next > text.length) break
    start = next
  }
  return start === lineStart(text, offset) ? offset : start
}

/** Offset of a tab in the line's indentation, if any. */
function tabInIndent(text: string, offset: number): number | undefined {
  const start = lineStart(text, offset)
  const indent = text.slice(start, firstCharOfLine(text, offset))
  const tab = indent.indexOf('\t')
  return tab < 0 ? undefined : start + tab
}

/** The key a line starts with ("to" in `    to: 3000`, "host" in `  - host: a`), if it has one. */
function keyOfLine(text: string, offset: number): string | undefined {
  const line = text.slice(lineStart(text, offset), lineEnd(text, offset))
  return /^[ \t]*(?:-[ \t]+)*([^\s#:"'{}[\],&*!|>%@`-][^:#]*?)[ \t]*:(?:[ \t]|$)/.exec(line)?.[1]
}

/**
 * `host:app.localhost`: a key glued to its value without the space YAML needs after ":" (YAML then reads the whole
 * thing as one plain text). A URL such as `http://my-app:3000` is never taken for one. Also used by zod-issues.ts,
 * for the texts that did parse.
 */
export function gluedKeyValue(text: string): { key: string; value: string } | undefined {
  const m = /^([A-Za-z_$][\w$.-]*):(?![\s/:])(\S+)/.exec(text)
  return m ? { key: m[1] as string, value: m[2] as string } : undefined
}

/**
 * `host:app.localhost` at the start of a line (after its indentation and any "- "): a key directly followed by its
 * value, without the space YAML needs after ":". A value such as `to: http://my-app:3000` is never taken for one.
 */
function missingSpace(text: string, offset: number): ExplainedError | undefined {
  const start = lineStart(text, offset)
  if (!/^[ \t]*(?:-[ \t]+)*$/.test(text.slice(start, offset))) return undefined
  const glued = gluedKeyValue(text.slice(offset, lineEnd(text, offset)))
  if (!glued) return undefined
  const { key } = glued
  const value = withoutFlowEnd(glued.value)
  return {
    offset: offset + key.length,
    message: `${PREFIX}a space is missing after ":" in "${key}:${value}" (write "${key}: ${value}")`,
  }
}

/** `3000,` or `app.localhost}` inside { ... }: drops the closing characters that are not the value's own. */
function withoutFlowEnd(value: string): string {
  let v = value
  const count = (c: string) => v.split(c).length - 1
  while (
    v.length > 1 &&
    (v.endsWith(',') ||
      (v.endsWith('}') && count('}') > count('{')) ||
      (v.endsWith(']') && count(']') > count('[')))
  )
    v = v.slice(0, -1)
  return v
}

/** The next ":" that ends a key (followed by a space or the end of a line), from `offset` on. */
function nextKeyColon(text: string, offset: number): number | undefined {
  const re = /:(?=[ \t]|\r?\n|$)/g
  re.lastIndex = offset
  const m = re.exec(text)
  return m ? m.index : undefined
}

function lineNumber(text: string, offset: number): number {
  let n = 1
  for (let i = text.indexOf('\n'); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) n++
  return n
}

const MAP_INDENT = 'keys of one map start at the same column'
const TAB = `${PREFIX}a tab is used for indentation; YAML indents with spaces only`
const LIST_INDENT = `${PREFIX}wrong indentation: this "- " item does not line up with the items above it; items of one list start at the same column`

/** A line whose key is not lined up with the keys of its map. */
function misalignedKey(text: string, at: number): ExplainedError {
  const offset = contentLine(text, at)
  const key = keyOfLine(text, offset)
  const what = key === undefined ? 'this line' : `"${key}:"`
  return {
    offset: firstCharOfLine(text, offset),
    message: `${PREFIX}wrong indentation: ${what} does not line up with the keys above it; ${MAP_INDENT}`,
  }
}

/**
 * `host: a` followed by a more indented `to: 3000`: the parser reports at the value above ("Nested mappings are
 * not allowed in compact mappings"); the line to edit is the one with the next key.
 */
function indentedUnderValue(text: string, valueOffset: number, colon: number | undefined): ExplainedError {
  if (colon === undefined || lineStart(text, colon) === lineStart(text, valueOffset)) {
    const key = colon === undefined ? undefined : keyBefore(text, colon)
    return {
      offset: colon === undefined ? valueOffset : colon - (key?.length ?? 0),
      message: `${PREFIX}a key cannot follow a value on the same line: put ${key === undefined ? 'it' : `"${key}:"`} on a line of its own`,
    }
  }
  const key = keyOfLine(text, colon)
  const above = keyOfLine(text, valueOffset)
  const what = key === undefined ? 'this line' : `"${key}:"`
  const than =
    above === undefined ? 'the key above it' : `"${above}:" on line ${lineNumber(text, valueOffset)}`
  return {
    offset: firstCharOfLine(text, colon),
    message: `${PREFIX}wrong indentation: ${what} is indented more than ${than}; ${MAP_INDENT}`,
  }
}

/** The word just before a ":" on the same line ("to" in `host: a to: 3000`). */
function keyBefore(text: string, colon: number): string | undefined {
  return /([^\s:]+)$/.exec(text.slice(lineStart(text, colon), colon))?.[1]
}

export function explainYamlError(text: string, error: YamlError): ExplainedError {
  const [at, end] = error.pos
  const start = contentLine(text, at)
  const raw = {
    offset: at,
    message: `${PREFIX}${error.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '')}`,
  }
  const tab = tabInIndent(text, start)
  switch (error.code) {
    case 'TAB_AS_INDENT':
      return { offset: tab ?? start, message: TAB }
    case 'BAD_INDENT':
      if (tab !== undefined) return { offset: tab, message: TAB }
      if (/sequence/i.test(error.message))
        return { offset: firstCharOfLine(text, start), message: LIST_INDENT }
      return misalignedKey(text, start)
    case 'BLOCK_AS_IMPLICIT_KEY':
      if (/sequence/i.test(error.message))
        return { offset: firstCharOfLine(text, start), message: LIST_INDENT }
      return missingSpace(text, start) ?? indentedUnderValue(text, start, nextKeyColon(text, start))
    case 'MULTILINE_IMPLICIT_KEY': {
      const colon = text[end] === ':' ? end : nextKeyColon(text, start)
      return missingSpace(text, start) ?? indentedUnderValue(text, start, colon)
    }
    case 'MISSING_CHAR':
      if (/without - indicator/.test(error.message)) return misalignedKey(text, start)
      if (/Implicit map keys need to be followed by map values/.test(error.message)) {
        const key = text.slice(start, lineEnd(text, start)).trim()
        return (
          missingSpace(text, start) ?? {
            offset: start,
            message: `${PREFIX}"${key}" needs a ":" and a space after its key ("${key}: value"), or "- " in front if it is a list item`,
          }
        )
      }
      return raw
    case 'BAD_ALIAS':
      if (text[start] === '*')
        return {
          offset: start,
          message: `${PREFIX}YAML reads an unquoted "*" at the start of a value as an alias (a reference to an anchor); quote it: "*"`,
        }
      return raw
    default:
      return raw
  }
}

/** Explains every error; one per line (the first), since the rest of a line's errors follow from it. */
export function explainYamlErrors(text: string, errors: readonly YamlError[]): ExplainedError[] {
  const out: ExplainedError[] = []
  const lines = new Set<number>()
  for (const e of errors) {
    const explained = explainYamlError(text, e)
    const line = lineStart(text, explained.offset)
    if (lines.has(line)) continue
    lines.add(line)
    out.push(explained)
  }
  return out
}
