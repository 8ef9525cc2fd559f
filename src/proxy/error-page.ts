/** An error answer as a page: JSON when the client asks for it, HTML for a browser, plain text otherwise. Pure. */
import { ERRORS, type ProxyProblem } from './errors.js'

export interface ErrorContext {
  requestId: string
  route?: string | undefined
  upstream?: string | undefined
}

export interface RenderedError {
  contentType: string
  body: string
}

export function renderProblem(
  problem: ProxyProblem,
  ctx: ErrorContext,
  accept: string | undefined,
): RenderedError {
  const title = `${problem.status} ${ERRORS[problem.code].title}`
  const a = accept ?? ''
  if (/\bapplication\/(?:[\w.+-]*\+)?json\b/i.test(a) && !/\btext\/html\b/i.test(a.split(',')[0] ?? '')) {
    const body = {
      error: { status: problem.status, code: problem.code, message: problem.detail },
      route: ctx.route ?? null,
      upstream: ctx.upstream ?? null,
      requestId: ctx.requestId,
    }
    return { contentType: 'application/json; charset=utf-8', body: `${JSON.stringify(body)}\n` }
  }
  if (/\btext\/html\b/i.test(a)) {
    const rows = [
      ctx.route !== undefined ? `<dt>Route</dt><dd>${esc(ctx.route)}</dd>` : '',
      ctx.upstream !== undefined ? `<dt>Upstream</dt><dd>${esc(ctx.upstream)}</dd>` : '',
      `<dt>Code</dt><dd>${esc(problem.code)}</dd>`,
      `<dt>Request ID</dt><dd>${esc(ctx.requestId)}</dd>`,
    ].join('')
    const body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title><style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#222}h1{font-size:1.5rem}dt{font-weight:600;float:left;clear:left;width:8rem}dd{margin-left:8rem}footer{margin-top:2rem;color:#777;font-size:.85rem}</style></head><body><h1>${title}</h1><p>${esc(problem.detail)}</p><dl>${rows}</dl><footer>Switchboard</footer></body></html>\n`
    return { contentType: 'text/html; charset=utf-8', body }
  }
  const lines = [`${title}: ${problem.detail}`]
  if (ctx.route !== undefined) lines.push(`route: ${ctx.route}`)
  if (ctx.upstream !== undefined) lines.push(`upstream: ${ctx.upstream}`)
  lines.push(`code: ${problem.code}`, `request-id: ${ctx.requestId}`)
  return { contentType: 'text/plain; charset=utf-8', body: `${lines.join('\n')}\n` }
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}
