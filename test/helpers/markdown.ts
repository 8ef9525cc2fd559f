/**
 * Just enough Markdown reading for test/unit/docs.test.ts: fenced code blocks (indented ones in list items too),
 * inline code spans, links and heading anchors, each with the 1-based line it starts on. The text outside fences
 * keeps its line breaks, so offsets map back to lines.
 */

export interface Fence {
  /** The info string after the backticks: "yaml", "yaml broken", "sh"... */
  info: string
  /** The block's lines, with the fence's own indentation removed. */
  body: string
  /** Line of the block's first body line. */
  line: number
}

export interface Span {
  text: string
  line: number
}

export interface Heading {
  level: number
  text: string
  slug: string
  line: number
}

export interface MarkdownFile {
  fences: Fence[]
  /** The text with every fenced block blanked out (line breaks kept). */
  prose: string
  /** Inline code spans outside fences (a span may run over a line break, never over a blank line). */
  code: Span[]
  /** Link targets outside fences and inline code: `[text](target)` and `[label]: target`. */
  links: Span[]
  headings: Heading[]
}

const lineAt = (text: string, offset: number) => text.slice(0, offset).split('\n').length

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function slugger(): (text: string) => string {
  const seen = new Map<string, number>()
  return (text) => {
    const plain = text
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .replace(/`/g, '')
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-')
    const n = seen.get(plain) ?? 0
    seen.set(plain, n + 1)
    return n === 0 ? plain : `${plain}-${n}`
  }
}

export function readMarkdown(text: string): MarkdownFile {
  const lines = text.split('\n')
  const fences: Fence[] = []
  const proseLines: string[] = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^( *)(`{3,}|~{3,})(.*)$/.exec(lines[i] as string)
    if (!open) {
      proseLines.push(lines[i] as string)
      continue
    }
    const indent = (open[1] as string).length
    const marker = open[2] as string
    const body: string[] = []
    proseLines.push('')
    const start = i + 1
    for (i++; i < lines.length; i++) {
      const close = /^ *(`{3,}|~{3,})\s*$/.exec(lines[i] as string)
      if (close && (close[1] as string)[0] === marker[0] && (close[1] as string).length >= marker.length)
        break
      const line = lines[i] as string
      const cut = Math.min(indent, line.length - line.trimStart().length)
      body.push(line.slice(cut))
      proseLines.push('')
    }
    if (i < lines.length) proseLines.push('')
    fences.push({ info: (open[3] as string).trim(), body: `${body.join('\n')}\n`, line: start + 1 })
  }
  const prose = proseLines.join('\n')

  const code: Span[] = []
  let withoutCode = prose
  for (const m of prose.matchAll(/`([^`\n]+(?:\n(?![ \t]*\n)[^`\n]*)*)`/g)) {
    code.push({ text: (m[1] as string).replace(/\s*\n\s*/g, ' '), line: lineAt(prose, m.index) })
    withoutCode =
      withoutCode.slice(0, m.index) + m[0].replace(/[^\n]/g, ' ') + withoutCode.slice(m.index + m[0].length)
  }

  const links: Span[] = []
  for (const m of withoutCode.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g))
    links.push({ text: m[1] as string, line: lineAt(withoutCode, m.index) })
  for (const m of withoutCode.matchAll(/^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm))
    links.push({ text: m[1] as string, line: lineAt(withoutCode, m.index) })

  const slug = slugger()
  const headings: Heading[] = []
  proseLines.forEach((line, i) => {
    const h = /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line)
    if (h) {
      const text = h[2] as string
      headings.push({ level: (h[1] as string).length, text, slug: slug(text), line: i + 1 })
    }
  })
  return { fences, prose, code, links, headings }
}

/** The headings whose section contains `line` (the nearest heading of each level above it). */
export function sectionsAt(file: MarkdownFile, line: number): Heading[] {
  const out: Heading[] = []
  for (const h of file.headings) {
    if (h.line > line) break
    while (out.length > 0 && (out[out.length - 1] as Heading).level >= h.level) out.pop()
    out.push(h)
  }
  return out
}
