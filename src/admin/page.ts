/**
 * The live status page served at GET / on the admin listener: one self-contained HTML document (no external asset)
 * that polls /status every second and redraws routes, upstreams, target health with recent probes, request rates
 * and the last reload's result.
 */
export function statusPage(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Switchboard status</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:.8rem 1.2rem;display:flex;gap:1.5rem;align-items:baseline}
header h1{font-size:1.1rem;margin:0}
main{padding:1rem 1.2rem;display:grid;gap:1rem}
section{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:.8rem 1rem}
h2{font-size:1rem;margin:0 0 .5rem}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #eef0f3;vertical-align:top}
th{font-weight:600;color:#5a6272}
.state{display:inline-block;min-width:6.5rem;padding:.1rem .5rem;border-radius:1rem;color:#fff;font-weight:600;text-align:center}
.healthy{background:#1f9d55}.unknown{background:#8a94a6}.unhealthy{background:#d64545}.ejected{background:#e08a00}
.probes span{display:inline-block;width:.6rem;height:.9rem;margin-right:1px;border-radius:2px}
.pass{background:#1f9d55}.fail{background:#d64545}
.ok{color:#1f9d55}.bad{color:#d64545}
pre{background:#fff4f4;border:1px solid #f0caca;padding:.6rem;white-space:pre-wrap;margin:.4rem 0 0}
.muted{color:#6b7280}
</style></head>
<body>
<header><h1>Switchboard</h1><span id="meta" class="muted"></span><span id="conn" class="muted"></span></header>
<main>
<section><h2>Last reload</h2><div id="reload">waiting for data...</div></section>
<section><h2>Upstreams</h2><table><thead><tr><th>Upstream</th><th>Target</th><th>State</th><th>Why</th><th>Recent probes</th><th>Open</th><th>Req/s</th><th>Requests</th></tr></thead><tbody id="targets"></tbody></table></section>
<section><h2>Routes</h2><table><thead><tr><th>Route</th><th>Goes to</th></tr></thead><tbody id="routes"></tbody></table></section>
</main>
<script>
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => '&#' + c.charCodeAt(0) + ';')
let previous = null
async function tick() {
  try {
    const res = await fetch('status', { cache: 'no-store', headers: TOKEN ? { authorization: 'Bearer ' + TOKEN } : {} })
    if (!res.ok) throw new Error('status ' + res.status)
    const s = await res.json()
    const now = Date.now()
    document.getElementById('meta').textContent = 'v' + s.version + ' · ' + s.configFile + ' · ' + s.openConnections + ' connections · ' + s.openWebSockets + ' WebSockets'
    document.getElementById('conn').textContent = ''
    const r = s.lastReload
    document.getElementById('reload').innerHTML = !r ? '<span class="muted">no reload since start</span>'
      : r.ok ? '<span class="ok">OK</span> at ' + esc(r.at) + (r.needsRestart.length ? ' · needs a restart for: ' + esc(r.needsRestart.join(', ')) : '')
      : '<span class="bad">Refused</span> at ' + esc(r.at) + ': the running table is unchanged<pre id="reload-errors">' + esc(r.errors.join('\\n')) + '</pre>'
    const rows = []
    for (const u of s.upstreams) {
      for (const t of u.targets) {
        const key = u.name + ' ' + t.url
        const before = previous ? previous.counts[key] : undefined
        const rate = before !== undefined ? ((t.requests - before) / ((now - previous.at) / 1000)).toFixed(1) : '-'
        const probes = t.recentProbes.map((p) => '<span class="' + (p.ok ? 'pass' : 'fail') + '" title="' + esc(p.detail + ' (' + p.latencyMs + ' ms)') + '"></span>').join('')
        rows.push('<tr data-target="' + esc(t.url) + '"><td>' + esc(u.name) + '</td><td>' + esc(t.url) + '</td><td><span class="state ' + esc(t.state) + '">' + esc(t.state) + '</span></td><td>' + esc(t.reason) + '</td><td class="probes">' + (probes || '<span class="muted">' + esc(u.healthCheck) + '</span>') + '</td><td>' + t.inflight + '</td><td>' + rate + '</td><td>' + t.requests + '</td></tr>')
      }
    }
    document.getElementById('targets').innerHTML = rows.join('')
    document.getElementById('routes').innerHTML = s.routes.map((x) => '<tr><td>' + esc(x.name) + '</td><td>' + esc(x.upstream ? x.upstream : 'redirect ' + x.code + ' ' + x.redirect) + '</td></tr>').join('')
    const counts = {}
    for (const u of s.upstreams) for (const t of u.targets) counts[u.name + ' ' + t.url] = t.requests
    previous = { at: now, counts }
  } catch (e) {
    document.getElementById('conn').textContent = 'cannot reach the admin API (' + e.message + '), retrying'
  }
}
const TOKEN = new URLSearchParams(location.hash.slice(1)).get('token')
tick()
setInterval(tick, 1000)
</script>
</body></html>
`
}
