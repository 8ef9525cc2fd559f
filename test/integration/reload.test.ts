/**
 * Hot reload on a real child process: the file is replaced the way editors do (write a temp file, rename over),
 * SIGHUP reloads, an invalid file is refused whole, and requests under a bounded load never fail across reloads.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs'
import { Agent, request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { WebSocket, WebSocketServer } from 'ws'
import { req } from '../helpers/client.js'
import { waitFor } from '../helpers/raw.js'
import { deadPort, startUpstream } from '../helpers/upstream.js'

const MAIN = join(import.meta.dirname, '../../dist/src/cli/main.js')
const TOKEN = 'test-token-0123456789abcdef'

t.test(
  'file replaced by rename, SIGHUP, invalid file refused, zero failed requests across 100 reloads',
  async (t) => {
    const blue = await startUpstream((_r, res) => res.end('blue'))
    const green = await startUpstream((_r, res) => res.end('green'))
    t.teardown(async () => {
      await blue.close()
      await green.close()
    })
    const dir = mkdtempSync(join(tmpdir(), 'sb-reload-'))
    const file = join(dir, 'routes.yaml')
    const port = await deadPort()
    const adminPort = await deadPort()
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' })
    await once(wss, 'listening')
    wss.on('connection', (sock) => sock.on('message', (m) => sock.send(`echo ${m}`)))
    t.teardown(() => {
      for (const c of wss.clients) c.terminate()
      wss.close()
    })
    const wsPort = (wss.address() as AddressInfo).port
    const table = (target: string) =>
      `listen: { http: "127.0.0.1:${port}" }\nadmin: { listen: "127.0.0.1:${adminPort}", token: "${TOKEN}" }\nroutes:\n  - { host: app.localhost, to: "${target}" }\n  - { host: ws.test, to: ${wsPort} }\n`
    let n = 0
    const replace = (text: string) => {
      const tmp = join(dir, `.routes.yaml.${n++}`)
      writeFileSync(tmp, text)
      renameSync(tmp, file) // how editors and ConfigMaps replace a file
    }
    replace(table(blue.url))
    const child: ChildProcess = spawn(process.execPath, [MAIN, 'start', '-c', file], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString()
    })
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
    t.teardown(() => {
      if (child.exitCode === null) child.kill('SIGKILL')
    })
    await waitFor(() => out.includes('listening'), 10_000, 'listening')
    const get = async () => (await req(port, '/', { host: 'app.localhost' })).body
    t.equal(await get(), 'blue')

    replace(table(green.url))
    await waitFor(async () => (await get()) === 'green', 5000, 'the renamed-in file is live')
    t.match(out, /reloaded routes/)

    replace('routes:\n  - { host: app.localhost, to: nowhere }\n')
    await waitFor(() => out.includes('reload refused'), 5000, 'invalid file refused')
    t.match(
      out,
      /routes\.yaml:2:\d+ routes\[0\]\.to: invalid target \\"nowhere\\"/,
      'the error, with line:col, is logged',
    )
    t.equal(await get(), 'green', 'an invalid file changes no response')

    // the admin API reports it, and can reload on demand
    const admin = (path: string, method = 'GET', token: string | undefined = TOKEN) =>
      req(adminPort, path, {
        method,
        host: '127.0.0.1',
        headers: token ? { authorization: `Bearer ${token}` } : {},
      })
    t.equal((await admin('/healthz', 'GET', '')).status, 200)
    t.equal((await admin('/readyz', 'GET', '')).status, 200)
    t.equal((await admin('/status', 'GET', '')).status, 401, 'the token is required')
    t.equal((await admin('/status', 'GET', 'wrong-token-0123456789')).status, 401)
    const status = JSON.parse((await admin('/status')).body) as {
      lastReload: { ok: boolean; errors: string[] }
      routes: { name: string }[]
      upstreams: { name: string; targets: { state: string }[] }[]
    }
    t.equal(status.lastReload.ok, false)
    t.match(status.lastReload.errors[0], /routes\.yaml:2:\d+ routes\[0\]\.to: invalid target "nowhere"/)
    t.equal(status.routes[0]?.name, 'app.localhost/')
    const refused = await admin('/reload', 'POST')
    t.equal(refused.status, 422, 'POST /reload of the invalid file is refused')
    t.equal((await admin('/reload')).status, 405)
    replace(table(green.url))
    await waitFor(
      async () => JSON.parse((await admin('/status')).body).lastReload?.ok === true,
      5000,
      'good file back',
    )
    const reloaded = await admin('/reload', 'POST')
    t.equal(reloaded.status, 200)
    const metrics = (await admin('/metrics')).body
    t.match(metrics, /# TYPE switchboard_requests_total counter/)
    t.match(
      metrics,
      /switchboard_requests_total\{code="2xx",route="app\.localhost\/",upstream="app\.localhost\/ \(inline\)"\} \d+/,
    )
    t.match(metrics, /switchboard_request_duration_seconds_bucket\{.*le="0\.005"\}/)
    t.match(metrics, /switchboard_reloads_total\{outcome="refused"\} [1-9]/)
    t.match(
      metrics,
      /switchboard_target_up\{target="http:\/\/127\.0\.0\.1:\d+",upstream="app\.localhost\/ \(inline\)"\} 1/,
    )
    t.match(metrics, /switchboard_health_probes_total\{result="pass"/)
    t.match(metrics, /switchboard_open_connections \d+/)

    // bounded load while the table alternates; every request must succeed
    const failures: string[] = []
    let ok = 0
    let done = false
    const worker = async () => {
      while (!done) {
        try {
          const body = await get()
          if (body === 'blue' || body === 'green') ok++
          else failures.push(body.slice(0, 80))
        } catch (err) {
          failures.push((err as Error).message)
        }
      }
    }
    // one WebSocket and one keep-alive connection live through all the reloads
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { headers: { host: 'ws.test' } })
    await once(ws, 'open')
    let wsClosed = false
    ws.on('close', () => {
      wsClosed = true
    })
    const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 })
    const sockets = new Set<unknown>()
    const viaKeepAlive = () =>
      new Promise<string>((resolve, reject) => {
        const r = httpRequest(
          { host: '127.0.0.1', port, path: '/', headers: { host: 'app.localhost' }, agent: keepAlive },
          (res) => {
            let b = ''
            res.on('data', (c: Buffer) => {
              b += c.toString()
            })
            res.on('end', () => resolve(b))
          },
        )
        r.on('socket', (sock) => sockets.add(sock))
        r.on('error', reject)
        r.end()
      })
    const kaWorker = async () => {
      while (!done) {
        try {
          const body = await viaKeepAlive()
          if (body === 'blue' || body === 'green') ok++
          else failures.push(`keep-alive: ${body.slice(0, 80)}`)
        } catch (err) {
          failures.push(`keep-alive: ${(err as Error).message}`)
        }
      }
    }
    const workers = [...Array.from({ length: 8 }, worker), kaWorker()]
    for (let i = 0; i < 100; i++) {
      writeFileSync(file, table(i % 2 === 0 ? blue.url : green.url))
      child.kill('SIGHUP')
      const want = i % 2 === 0 ? 'blue' : 'green'
      await waitFor(async () => (await get()) === want, 5000, `reload ${i} live`)
    }
    done = true
    await Promise.all(workers)
    t.same(failures, [], `zero failed requests across 100 reloads (${ok} served)`)
    t.equal(sockets.size, 1, 'the keep-alive connection stayed up across the reloads')
    keepAlive.destroy()
    t.equal(wsClosed, false, 'the WebSocket stayed open across the reloads')
    ws.send('still here')
    const [m] = await once(ws, 'message')
    t.equal(String(m), 'echo still here')
    ws.close()
    child.kill('SIGTERM')
    t.equal(await exited, 0)
  },
)
