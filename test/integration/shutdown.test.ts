/**
 * Graceful shutdown of a real child process: SIGTERM lets a request in flight finish, closes WebSockets with 1001,
 * stops accepting, exits 0; a second signal exits at once.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, writeFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { WebSocket, WebSocketServer } from 'ws'
import { req } from '../helpers/client.js'
import { waitFor } from '../helpers/raw.js'
import { deadPort, startUpstream } from '../helpers/upstream.js'

const MAIN = join(import.meta.dirname, '../../dist/src/cli/main.js')

async function start(t: { teardown(fn: () => void): void }, yaml: string, args: string[] = []) {
  const dir = mkdtempSync(join(tmpdir(), 'sb-shutdown-'))
  const file = join(dir, 'routes.yaml')
  writeFileSync(file, yaml)
  const child: ChildProcess = spawn(process.execPath, [MAIN, 'start', '-c', file, ...args], {
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
  await waitFor(() => out.includes('listening on'), 10_000, 'listening')
  return { child, exited, output: () => out }
}

t.test('SIGTERM drains requests in flight, closes WebSockets with 1001, then exits 0', async (t) => {
  const slow = await startUpstream((_r, res) => setTimeout(() => res.end('finished'), 800))
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' })
  await once(wss, 'listening')
  const upstreamClose = new Promise<number>((r) =>
    wss.on('connection', (s) => s.on('close', (code) => r(code))),
  )
  t.teardown(async () => {
    await slow.close()
    wss.close()
  })
  const port = await deadPort()
  const proc = await start(
    t,
    `listen: { http: "127.0.0.1:${port}" }\nadmin: false\nroutes:\n  - { host: slow.test, to: "${slow.url}" }\n  - { host: ws.test, to: ${(wss.address() as AddressInfo).port} }\n`,
    ['--grace', '5s'],
  )
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { headers: { host: 'ws.test' } })
  await once(ws, 'open')
  const clientClose = new Promise<number>((r) => ws.once('close', (code) => r(code)))
  const inflight = req(port, '/', { host: 'slow.test' })
  await waitFor(() => slow.seen.length === 1, 3000, 'request reached the upstream')
  proc.child.kill('SIGTERM')
  t.equal(await clientClose, 1001, 'the WebSocket client got 1001 going away')
  t.equal(await upstreamClose, 1001, 'the upstream side got 1001 too')
  const r = await inflight
  t.equal(r.body, 'finished', 'the request in flight finished')
  t.equal(await proc.exited, 0)
  await t.rejects(req(port, '/', { host: 'slow.test' }), 'no longer accepting')
})

t.test('a second signal exits at once', async (t) => {
  const hang = await startUpstream(() => undefined)
  t.teardown(() => hang.close())
  const port = await deadPort()
  const proc = await start(
    t,
    `listen: { http: "127.0.0.1:${port}" }\nadmin: false\nroutes:\n  - { to: "${hang.url}" }\n`,
    ['--grace', '60s'],
  )
  const pending = req(port, '/').catch(() => 'cut')
  await waitFor(() => hang.seen.length === 1, 3000, 'request in flight')
  proc.child.kill('SIGTERM')
  await waitFor(() => proc.output().includes('shutting down'), 3000, 'draining')
  const started = Date.now()
  proc.child.kill('SIGTERM')
  t.equal(await proc.exited, 1, 'exit 1 on the second signal')
  t.ok(Date.now() - started < 2000, 'without waiting for the 60s grace period')
  await pending
})
