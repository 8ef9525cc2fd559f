/** Starts a real Switchboard on 127.0.0.1:0 from YAML text, for integration tests. */
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { parseConfig } from '../../src/config/load.js'
import { Switchboard } from '../../src/server/switchboard.js'

export interface RunningProxy {
  sb: Switchboard
  port: number
  url: string
  /** Parsed JSON log lines. */
  logs: Record<string, unknown>[]
  close(): Promise<void>
}

export async function startProxy(yaml: string, env: Record<string, string> = {}): Promise<RunningProxy> {
  const withListen = /^listen:/m.test(yaml) ? yaml : `listen:\n  http: "127.0.0.1:0"\n${yaml}`
  const loaded = parseConfig(withListen, 'test.yaml', env)
  if (!loaded.ok) throw new Error(loaded.error.message)
  const logs: Record<string, unknown>[] = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim() !== '') logs.push(JSON.parse(line))
      done()
    },
  })
  const logger = pino({ level: 'debug' }, sink)
  const sb = new Switchboard(loaded.config, logger)
  const listening = await sb.listen()
  const addr: AddressInfo | undefined = listening.http ?? listening.https
  if (!addr) throw new Error('nothing is listening')
  return {
    sb,
    port: addr.port,
    url: `http://127.0.0.1:${addr.port}`,
    logs,
    close: () => sb.close(),
  }
}
