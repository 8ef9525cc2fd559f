#!/usr/bin/env node
/** switchboard start | check | routes  [-c routes.yaml] [--log-level info] */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { startAdmin } from '../admin/start.js'
import { parseDuration } from '../config/duration.js'
import { loadConfigFile } from '../config/load.js'
import { createLogger, LOG_LEVELS } from '../log.js'
import { BindError } from '../server/listen-errors.js'
import { Reloader } from '../server/reload.js'
import { Switchboard } from '../server/switchboard.js'
import { TlsSetupError } from '../server/tls-provider.js'
import { caHelp } from '../tls/ca-help.js'
import { defaultStateDir, LocalCa } from '../tls/local-ca.js'
import { renderRoutes } from './table.js'

const HELP = `Switchboard: a reverse proxy and port router.

Usage:
  switchboard [start] [-c routes.yaml]   validate the config, then listen and route
  switchboard check   [-c routes.yaml]   validate only: exit 0 and print the routes, or exit 1 and list every problem
  switchboard routes  [-c routes.yaml]   print the resolved routing table, in matching order
  switchboard ca      [--state-dir dir]  print the local CA's path and how to trust it (creates it if needed)

Options:
  -c, --config <file>    routing table (default: routes.yaml, or $SWITCHBOARD_CONFIG)
      --state-dir <dir>  where the local CA lives (default: $SWITCHBOARD_STATE_DIR, else $XDG_STATE_HOME/switchboard, else ~/.local/state/switchboard)
      --grace <duration> shutdown grace period, e.g. 30s (default: timeouts.shutdown, 10s)
      --log-level <lvl>  ${LOG_LEVELS.join(', ')} (default: info, or $SWITCHBOARD_LOG_LEVEL)
  -h, --help             show this help
  -v, --version          print the version

Docs: docs/configuration.md`

function version(): string {
  // src/cli/main.ts when run from source, dist/src/cli/main.js when built
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as {
        name?: string
        version: string
      }
      if (pkg.name === 'switchboard') return pkg.version
    } catch {}
  }
  return 'unknown'
}

export async function main(argv: string[]): Promise<number> {
  let args: ReturnType<typeof parse>
  try {
    args = parse(argv)
  } catch (err) {
    process.stderr.write(`switchboard: ${(err as Error).message}\n\n${HELP}\n`)
    return 2
  }
  const { values, positionals } = args
  if (values.help) {
    process.stdout.write(`${HELP}\n`)
    return 0
  }
  if (values.version) {
    process.stdout.write(`switchboard ${version()}\n`)
    return 0
  }
  const command = positionals[0] ?? 'start'
  if (!['start', 'check', 'routes', 'ca'].includes(command) || positionals.length > 1) {
    process.stderr.write(`switchboard: unknown command "${positionals.join(' ')}"\n\n${HELP}\n`)
    return 2
  }
  const level = values['log-level'] ?? process.env.SWITCHBOARD_LOG_LEVEL ?? 'info'
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    process.stderr.write(`switchboard: --log-level must be one of ${LOG_LEVELS.join(', ')}\n`)
    return 2
  }
  if (command === 'ca') {
    const ca = await LocalCa.open(values['state-dir'] ?? defaultStateDir())
    process.stdout.write(`${caHelp(ca.certPath)}\n`)
    return 0
  }
  const file = values.config ?? process.env.SWITCHBOARD_CONFIG ?? 'routes.yaml'
  const loaded = await loadConfigFile(file)
  if (!loaded.ok) {
    const lines = loaded.error.lines()
    process.stderr.write(
      `${lines.join('\n')}\n${file}: ${lines.length} problem${lines.length === 1 ? '' : 's'}, nothing started\n`,
    )
    return 1
  }
  for (const w of loaded.warnings ?? []) process.stderr.write(`${w}\n`)
  if (command === 'check') {
    process.stdout.write(
      `${file}: OK, ${loaded.config.routes.length} routes\n\n${renderRoutes(loaded.config)}\n`,
    )
    return 0
  }
  if (command === 'routes') {
    process.stdout.write(`${renderRoutes(loaded.config)}\n`)
    return 0
  }
  let graceMs: number | undefined
  if (values.grace !== undefined) {
    graceMs = parseDuration(values.grace)
    if (graceMs === undefined) {
      process.stderr.write(`switchboard: --grace must be a duration such as 10s or 500ms\n`)
      return 2
    }
  }
  const logger = createLogger(level)
  const sb = new Switchboard(loaded.config, logger, { stateDir: values['state-dir'] })
  let listening: Awaited<ReturnType<Switchboard['listen']>>
  try {
    listening = await sb.listen()
  } catch (err) {
    await sb.close().catch(() => undefined)
    const message =
      err instanceof BindError || err instanceof TlsSetupError
        ? err.message
        : `failed to start: ${(err as Error).message}`
    process.stderr.write(`switchboard: ${message}\n`)
    return 1
  }
  const reloader = new Reloader(file, sb, logger)
  await reloader.prime()
  reloader.watch()
  let admin: Awaited<ReturnType<typeof startAdmin>>
  try {
    admin = await startAdmin(sb, reloader, { version: version(), configFile: file })
    if (admin) logger.info({ admin: `${admin.address.address}:${admin.address.port}` }, 'admin API listening')
  } catch (err) {
    reloader.close()
    await sb.close(0).catch(() => undefined)
    process.stderr.write(`switchboard: ${(err as Error).message}\n`)
    return 1
  }
  const shown = (a: { address: string; port: number }) =>
    `${a.address === '::' || a.address === '0.0.0.0' ? '*' : a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`
  const where = [
    listening.http ? `http ${shown(listening.http)}` : '',
    listening.https ? `https ${shown(listening.https)}` : '',
  ].filter(Boolean)
  logger.info(
    {
      config: file,
      ...(listening.http ? { http: shown(listening.http) } : {}),
      ...(listening.https ? { https: shown(listening.https) } : {}),
      routes: loaded.config.routes.length,
      pid: process.pid,
    },
    `switchboard ${version()} listening on ${where.join(' and ')}`,
  )
  process.on('SIGHUP', () => void reloader.reload('SIGHUP'))
  return await new Promise<number>((resolve) => {
    let stopping = false
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting now')
        logger.flush()
        process.exit(1)
      }
      stopping = true
      reloader.close()
      logger.info({ signal }, 'shutting down: finishing requests in flight')
      // The admin API stays up while requests drain, so /readyz answers 503 (not a refused connection) and a load
      // balancer or orchestrator sees the replica leaving.
      sb.close(graceMs).then(
        async () => {
          await admin?.server.close()
          logger.info('stopped')
          logger.flush()
          resolve(0)
        },
        () => resolve(1),
      )
    }
    process.on('SIGTERM', stop)
    process.on('SIGINT', stop)
  })
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      'log-level': { type: 'string' },
      'state-dir': { type: 'string' },
      grace: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  })
}

process.on('uncaughtException', (err) => {
  // A bug, not bad input: log it without crashing the listener for everyone else.
  process.stderr.write(`switchboard: internal error: ${err.stack ?? err.message}\n`)
})

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
    setTimeout(() => process.exit(code), 100).unref()
  },
  (err: unknown) => {
    process.stderr.write(`switchboard: ${(err as Error).message}\n`)
    process.exit(1)
  },
)
