/** Durations in routes.yaml: "500ms", "5s", "1.5m", "1h", "180d". Pure; returns milliseconds. */
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

export function parseDuration(text: string): number | undefined {
  const m = DURATION.exec(text.trim())
  if (!m) return undefined
  const unit = UNIT_MS[m[2] as string] as number
  return Math.round(Number(m[1]) * unit)
}

export function formatDuration(ms: number): string {
  if (ms === 0) return '0s'
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`
  if (ms % 60_000 === 0) return `${ms / 60_000}m`
  if (ms % 1000 === 0) return `${ms / 1000}s`
  return `${ms}ms`
}
