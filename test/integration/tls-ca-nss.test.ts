/**
 * `switchboard ca`'s Chrome/Chromium steps, for real: the exact lines it prints run through /bin/sh with HOME set
 * to a fresh folder (no ~/.pki/nssdb yet, as on a new profile), then certutil lists the CA in that NSS database.
 * Needs certutil (libnss3-tools; CI installs it) and the built dist/ (npm test builds first).
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'

const MAIN = join(import.meta.dirname, '../../dist/src/cli/main.js')
const hasCertutil = spawnSync('sh', ['-c', 'command -v certutil'], { stdio: 'ignore' }).status === 0

/** The command lines of the block under `header`: its indented lines up to the next blank line, (notes) excluded. */
function block(text: string, header: string): string[] {
  const lines = text.split('\n')
  const start = lines.findIndex((l) => l.startsWith(header))
  if (start < 0) return []
  const end = lines.findIndex((l, i) => i > start && l.trim() === '')
  const commands: string[] = []
  let inNote = false
  for (const line of lines.slice(start + 1, end < 0 ? undefined : end)) {
    const text = line.trim()
    if (text.startsWith('(')) inNote = true
    if (!inNote && line.startsWith('  ')) commands.push(text)
    if (inNote && text.endsWith(')')) inNote = false
  }
  return commands
}

if (!hasCertutil && process.env.CI) {
  t.fail('certutil is missing: .ci/run installs libnss3-tools')
} else {
  t.test(
    'the printed Chromium steps make the NSS database on a fresh profile and trust the CA',
    { skip: hasCertutil ? false : 'certutil is not installed (apt-get install libnss3-tools)' },
    async (t) => {
      const dir = await mkdtemp(join(tmpdir(), 'sb-nss-'))
      t.teardown(() => rm(dir, { recursive: true, force: true }))
      const home = join(dir, 'home')
      mkdirSync(home)
      // A space in the path: the printed commands must quote it.
      const stateDir = join(dir, 'state dir')
      const ca = spawnSync(process.execPath, [MAIN, 'ca', '--state-dir', stateDir], {
        encoding: 'utf8',
        timeout: 20_000,
      })
      t.equal(ca.status, 0, ca.stderr)
      const commands = block(ca.stdout, 'Chrome and Chromium on Linux')
      t.ok(commands.length > 0, 'the Chromium block has commands')
      t.notOk(existsSync(join(home, '.pki')), 'a fresh profile: no ~/.pki yet')

      const runAll = () =>
        spawnSync('/bin/sh', ['-e', '-c', commands.join('\n')], {
          encoding: 'utf8',
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home },
          timeout: 30_000,
        })
      const first = runAll()
      t.equal(first.status, 0, `the printed commands succeed: ${first.stderr}`)
      t.notMatch(first.stderr, /SEC_ERROR/)
      const list = () =>
        spawnSync('certutil', ['-L', '-d', `sql:${home}/.pki/nssdb`], { encoding: 'utf8', timeout: 20_000 })
      const listed = list()
      t.equal(listed.status, 0, listed.stderr)
      t.match(
        listed.stdout,
        /^Switchboard Local CA\s+C,,\s*$/m,
        'the CA is in the NSS database, trusted for TLS',
      )

      // Again, as someone who runs them twice: the database is kept, and the CA is still there.
      const second = runAll()
      t.equal(second.status, 0, `a second run succeeds too: ${second.stderr}`)
      t.match(list().stdout, /^Switchboard Local CA\s+C,,\s*$/m)

      // The printed way to remove it, too.
      const remove = /to remove the CA: (certutil [^\n]*)\)\n/.exec(ca.stdout)?.[1]
      t.ok(remove, 'says how to remove the CA')
      const removed = spawnSync('/bin/sh', ['-e', '-c', remove ?? 'false'], {
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home },
        timeout: 20_000,
      })
      t.equal(removed.status, 0, removed.stderr)
      t.notMatch(list().stdout, 'Switchboard Local CA', 'gone from the NSS database')
    },
  )
}
