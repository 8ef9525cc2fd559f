/** Converts zod issues into ConfigIssues with messages written for people editing routes.yaml. */

import type { z } from 'zod'
import type { ConfigIssue, IssuePath } from './issues.js'
import { ConfigSchema } from './schema.js'
import { didYouMean } from './suggest.js'
import { gluedKeyValue } from './yaml-errors.js'

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'a map'
  if (typeof value === 'string') return `the text "${value.length > 40 ? `${value.slice(0, 40)}...` : value}"`
  if (typeof value === 'undefined') return 'nothing'
  return `${typeof value} ${String(value)}`
}

// biome-ignore lint/suspicious/noExplicitAny: walking zod's internal definitions
type AnyDef = any

/** The keys a strict object accepts at `path`, found by walking the schema. */
export function knownKeys(path: IssuePath): string[] {
  const candidates: AnyDef[] = [ConfigSchema]
  let current: AnyDef[] = candidates
  for (const part of path) {
    const next: AnyDef[] = []
    for (const s of current.flatMap(unwrap)) {
      const def = s._zod.def
      if (def.type === 'object' && typeof part === 'string' && def.shape[part]) next.push(def.shape[part])
      else if (def.type === 'array' && typeof part === 'number') next.push(def.element)
      else if (def.type === 'record') next.push(def.valueType)
    }
    current = next
  }
  const keys = new Set<string>()
  for (const s of current.flatMap(unwrap)) {
    if (s._zod.def.type === 'object') for (const k of Object.keys(s._zod.def.shape)) keys.add(k)
  }
  return [...keys]
}

function unwrap(schema: AnyDef): AnyDef[] {
  const def = schema._zod.def
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
      return unwrap(def.innerType)
    case 'pipe':
      return unwrap(def.in)
    case 'union':
      return def.options.flatMap(unwrap)
    default:
      return [schema]
  }
}

/**
 * `to:3000` where a map is expected: YAML read it as the text "to:3000" because a space is missing after the
 * colon. Only said when the part before the colon is a key that belongs here.
 */
function missingSpace(input: unknown, keys: readonly string[]): string | undefined {
  if (typeof input !== 'string') return undefined
  const glued = gluedKeyValue(input)
  if (!glued || !keys.includes(glued.key)) return undefined
  return `; a space is missing after ":" (write "${glued.key}: ${glued.value}")`
}

export function fromZod(error: z.ZodError): ConfigIssue[] {
  return convert(error.issues, [])
}

type Issue = z.core.$ZodIssue

/** A union branch whose failure is not "wrong type at the root" is the one the author meant. */
function meantBranch(branches: Issue[][]): Issue[] | undefined {
  const typed = branches.filter(
    (b) => !b.some((i) => (i.code === 'invalid_type' || i.code === 'invalid_value') && i.path.length === 0),
  )
  return typed.length === 1 ? typed[0] : undefined
}

function convert(issues: readonly Issue[], prefix: (string | number)[]): ConfigIssue[] {
  const out: ConfigIssue[] = []
  for (const issue of issues) {
    const path = [...prefix, ...(issue.path as (string | number)[])]
    if (issue.code === 'invalid_union') {
      const branch = meantBranch(issue.errors)
      if (branch) {
        out.push(...convert(branch, path))
        continue
      }
    }
    switch (issue.code) {
      case 'unrecognized_keys': {
        const allowed = knownKeys(path)
        for (const key of issue.keys) {
          const hint = missingSpace(key, allowed) ?? didYouMean(key, allowed)
          out.push({
            path: [...path, key],
            atKey: true,
            message: `unknown key "${key}"${hint || (allowed.length ? ` (expected one of: ${allowed.join(', ')})` : '')}`,
          })
        }
        break
      }
      case 'invalid_type': {
        const input = (issue as { input?: unknown }).input
        const custom = issue.message && !issue.message.startsWith('Invalid input') ? issue.message : undefined
        if (input === undefined) {
          out.push({ path, message: `missing required key "${String(path[path.length - 1])}"` })
        } else {
          const hint = issue.expected === 'object' ? (missingSpace(input, knownKeys(path)) ?? '') : ''
          out.push({
            path,
            message: `${custom ?? `expected ${issue.expected}`}, got ${describe(input)}${hint}`,
          })
        }
        break
      }
      case 'invalid_union': {
        const input = (issue as { input?: unknown }).input
        const msg = issue.message.startsWith('Invalid input') ? 'invalid value' : issue.message
        const hint = missingSpace(input, knownKeys(path)) ?? ''
        out.push({ path, message: input === undefined ? msg : `${msg}, got ${describe(input)}${hint}` })
        break
      }
      case 'invalid_value': {
        const input = (issue as { input?: unknown }).input
        out.push({ path, message: `${issue.message}, got ${describe(input)}` })
        break
      }
      default:
        out.push({ path, message: issue.message })
    }
  }
  return out
}
