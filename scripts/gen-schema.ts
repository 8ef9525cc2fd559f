/**
 * npm run schema              writes schema/routes.schema.json from the zod ConfigSchema
 * npm run schema -- --check   writes nothing; exits 1 if the committed file is missing or out of date (for CI)
 * --file <path>               use another file instead of schema/routes.schema.json
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { parseArgs } from 'node:util'
import { renderRoutesSchema, SCHEMA_PATH, SCHEMA_RELATIVE_PATH } from './routes-schema.js'

async function readCommitted(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { check: { type: 'boolean', default: false }, file: { type: 'string' } },
  })
  const file = values.file ?? SCHEMA_PATH
  const shown = values.file ?? SCHEMA_RELATIVE_PATH
  const expected = renderRoutesSchema()
  const committed = await readCommitted(file)
  if (values.check) {
    if (committed === expected) {
      process.stdout.write(`${shown} is up to date\n`)
      return 0
    }
    process.stderr.write(
      committed === undefined
        ? `${shown} is missing: run "npm run schema" and commit it\n`
        : `${shown} is out of date with src/config/schema.ts: run "npm run schema" and commit it\n`,
    )
    return 1
  }
  if (committed === expected) {
    process.stdout.write(`${shown} is up to date\n`)
    return 0
  }
  await mkdir(dirname(file), { recursive: true })
  await writeFile(file, expected)
  process.stdout.write(`wrote ${shown}\n`)
  return 0
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    process.stderr.write(`gen-schema: ${(err as Error).message}\n`)
    process.exitCode = 2
  },
)
