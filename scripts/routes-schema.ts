/**
 * The JSON Schema of routes.yaml, generated from the zod ConfigSchema (src/config/schema.ts) so that editors can
 * complete and check the file. Shared by scripts/gen-schema.ts (which writes it) and the tests (which compare it).
 */
import { fileURLToPath } from 'node:url'
import { z } from 'zod'
import { ConfigSchema } from '../src/config/schema.js'

/** Where the generated schema is committed, relative to the repository root. */
export const SCHEMA_RELATIVE_PATH = 'schema/routes.schema.json'
export const SCHEMA_PATH = fileURLToPath(new URL(`../${SCHEMA_RELATIVE_PATH}`, import.meta.url))

const TITLE = 'Switchboard routes.yaml'
const DESCRIPTION = [
  'Switchboard routing table (routes.yaml): listeners, upstreams and routes. Reference: docs/configuration.md.',
  `Any value may be written as \${VAR}, \${VAR:-default} or \${VAR-default}: Switchboard substitutes the environment`,
  `before it validates, so this schema describes the file after substitution (an editor may flag a \${VAR} where a`,
  'boolean, a redirect code or a duration is expected even though Switchboard accepts it).',
].join(' ')

export function routesJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(ConfigSchema, {
    target: 'draft-2020-12',
    io: 'input',
    unrepresentable: 'throw',
  }) as Record<string, unknown>
  const { $schema, description: _description, ...rest } = generated
  return {
    $schema,
    $comment: `Generated from src/config/schema.ts by "npm run schema"; do not edit by hand.`,
    title: TITLE,
    description: DESCRIPTION,
    ...rest,
  }
}

/** The file's exact contents: two-space JSON with a final newline. */
export function renderRoutesSchema(): string {
  return `${JSON.stringify(routesJsonSchema(), null, 2)}\n`
}
