/** pino: JSON lines, or human-readable lines when stdout is a terminal. */
import { type Logger, pino } from 'pino'

export type { Logger }
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

export function createLogger(level: string, pretty = process.stdout.isTTY === true): Logger {
  const base = { level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime }
  if (pretty) {
    return pino({
      ...base,
      transport: {
        target: 'pino-pretty',
        options: { translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true },
      },
    })
  }
  return pino(base, pino.destination({ sync: false }))
}
