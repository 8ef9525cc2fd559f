/**
 * Coarse idle detection for streaming responses: one timer sweeps every watched exchange once a second, instead of
 * one timer per request. An exchange paused by client back-pressure is not idle.
 */
export interface Watched {
  lastActivity: number
  idleTimeout: number
  paused: boolean
  onIdle(): void
}

export class IdleWatch {
  private readonly watched = new Set<Watched>()
  private timer: NodeJS.Timeout | undefined
  now = Date.now()

  constructor(private readonly intervalMs = 1000) {}

  track(w: Watched): void {
    w.lastActivity = this.now
    this.watched.add(w)
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(), this.intervalMs)
      this.timer.unref()
    }
  }

  untrack(w: Watched): void {
    this.watched.delete(w)
  }

  sweep(now = Date.now()): void {
    this.now = now
    for (const w of this.watched) {
      if (w.paused) {
        w.lastActivity = now
      } else if (w.idleTimeout > 0 && now - w.lastActivity >= w.idleTimeout) {
        this.watched.delete(w)
        w.onIdle()
      }
    }
    if (this.watched.size === 0 && this.timer) {
      clearInterval(this.timer)
      this.timer = undefined
    }
  }

  get size(): number {
    return this.watched.size
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    this.watched.clear()
  }
}
