/**
 * Dependencies between the directories of src/ point one way (docs/ARCHITECTURE.md, "Layout"):
 * cli -> admin -> server -> metrics -> proxy -> upstreams / routing -> config -> tls, with log.ts usable by all.
 * A module may import its own directory and any directory of a lower layer, never a higher one.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import t from 'tap'

const SRC = join(import.meta.dirname, '../../src')
/** Higher layers first; directories on one line are peers and do not import each other. */
const LAYERS: string[][] = [
  ['cli'],
  ['admin'],
  ['server'],
  ['metrics'],
  ['proxy'],
  ['upstreams', 'routing'],
  ['config'],
  ['tls'],
]
const layerOf = (dir: string) => LAYERS.findIndex((l) => l.includes(dir))

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  )
}

t.test('every directory of src/ has a layer', async (t) => {
  for (const e of readdirSync(SRC, { withFileTypes: true }))
    if (e.isDirectory()) t.not(layerOf(e.name), -1, `src/${e.name}/ is in LAYERS`)
})

t.test('imports point down the layers', async (t) => {
  const wrong: string[] = []
  for (const file of files(SRC)) {
    const from = relative(SRC, file).split('/')[0] as string
    if (from.endsWith('.ts')) continue // src/log.ts: a leaf
    for (const m of readFileSync(file, 'utf8').matchAll(/from '\.\.\/([a-z-]+)\//g)) {
      const to = m[1] as string
      const [a, b] = [layerOf(from), layerOf(to)]
      if (!(b > a)) wrong.push(`${relative(SRC, file)} imports ${to}/ (layer ${b}) from layer ${a}`)
    }
  }
  t.same(wrong, [], 'no import goes up or sideways')
})
