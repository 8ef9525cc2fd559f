/**
 * npm run demo: two sample backends (web on 3000, api on 8080) and Switchboard on routes.yaml.
 * Port 80 needs privileges; without them the proxy falls back to 8000 and says so.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createServer } from 'node:net'

const children: ChildProcess[] = []
function run(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = spawn(process.execPath, args, { stdio: 'inherit', env: { ...process.env, ...env } })
  children.push(child)
  child.on('exit', (code) => {
    if (!stopping) {
      console.error(`demo: ${args.join(' ')} exited (${code}); stopping`)
      stop()
    }
  })
  return child
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer()
    s.once('error', () => resolve(false))
    s.listen(port, () => s.close(() => resolve(true)))
  })
}

let stopping = false
function stop(): void {
  stopping = true
  for (const c of children) c.kill('SIGTERM')
  setTimeout(() => process.exit(0), 2000).unref()
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)

const port = process.env.SWITCHBOARD_HTTP ?? ((await canBind(80)) ? '80' : '8000')
if (port === '8000' && process.env.SWITCHBOARD_HTTP === undefined) {
  console.log('demo: port 80 is not available to this user; using 8000 (see docs/operations.md to allow 80)')
}
run(['dist/examples/backend.js', '--name', 'web', '--port', '3000'])
run(['dist/examples/backend.js', '--name', 'api', '--port', '8080'])
run(['dist/src/cli/main.js', 'start', '-c', 'routes.yaml'], { SWITCHBOARD_HTTP: port })
const p = port === '80' ? '' : `:${port}`
console.log(`
demo: try
  curl -H 'Host: app.localhost' localhost${p}/
  curl -H 'Host: api.localhost' localhost${p}/users
  curl -H 'Host: app.localhost' localhost${p}/api/users     (api, prefix stripped)
  curl -N -H 'Host: app.localhost' localhost${p}/events     (Server-Sent Events)
or open http://app.localhost${p}/ in a browser; the live status page is http://127.0.0.1:9901/.
Ctrl-C stops everything.
`)
