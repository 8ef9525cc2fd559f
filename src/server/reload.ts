/**
 * Hot reload of routes.yaml: on SIGHUP, and when the file changes on disk (including the way editors and Kubernetes
 * ConfigMaps replace files: write-to-temp-and-rename, symlink swap). The new file is validated whole first; a valid
 * one is swapped in atomically (requests in flight finish on the table they started with), an invalid one is
 * refused whole and its problems logged, with the running table kept. Listener and certificate changes are applied
 * by Switchboard.apply (a moved port opens before the old one closes).
 */
import { type FSWatcher, watch } from 'node:fs'
import { basename, dirname } from 'node:path'
import { loadConfigFile } from '../config/load.js'
import type { Config } from '../config/model.js'
import type { Logger } from '../log.js'

export interface ReloadOutcome {
  at: Date
  ok: boolean
  errors: string[]
  /** Settings that changed but need a restart to take effect. */
  needsRestart: string[]
}

export interface Reloadable {
  config: Config
  /** Swaps the config in; returns the settings that could not be applied without a restart. */
  apply(config: Config): Promise<string[]>
}

export class Reloader {
  last: ReloadOutcome | undefined
  /** Called after every reload attempt (for metrics). */
  onOutcome: ((outcome: ReloadOutcome) => void) | undefined
  private watcher: FSWatcher | undefined
  private timer: NodeJS.Timeout | undefined
  private running: Promise<ReloadOutcome> | undefined
  private lastText = ''

  constructor(
    private readonly file: string,
    private readonly target: Reloadable,
    private readonly logger: Logger,
    private readonly debounceMs = 150,
  ) {}

  /** Validates the file and swaps it in if valid. Concurrent calls share one reload. */
  reload(reason: string): Promise<ReloadOutcome> {
    if (this.running) return this.running
    this.running = this.doReload(reason)
      .then((outcome) => {
        this.onOutcome?.(outcome)
        return outcome
      })
      .finally(() => {
        this.running = undefined
      })
    return this.running
  }

  private async doReload(reason: string): Promise<ReloadOutcome> {
    const loaded = await loadConfigFile(this.file)
    if (!loaded.ok) {
      const errors = loaded.error.lines()
      this.last = { at: new Date(), ok: false, errors, needsRestart: [] }
      this.logger.error(
        { reason, file: this.file, errors },
        `reload refused: ${errors.length} problem(s); the running table is unchanged`,
      )
      return this.last
    }
    const needsRestart = await this.target.apply(loaded.config)
    this.last = { at: new Date(), ok: true, errors: [], needsRestart }
    this.logger.info({ reason, file: this.file, routes: loaded.config.routes.length }, 'reloaded routes')
    if (needsRestart.length > 0) {
      this.logger.warn(
        { changed: needsRestart },
        `changes to ${needsRestart.join(', ')} take effect after a restart`,
      )
    }
    return this.last
  }

  /**
   * Watches the file's directory, not the file: an editor's rename or a ConfigMap's symlink swap replaces the inode,
   * which a watch on the file itself would miss.
   */
  watch(): void {
    const name = basename(this.file)
    this.watcher = watch(dirname(this.file), { persistent: false }, (_event, changed) => {
      if (changed !== null && changed !== name && changed !== '..data') return
      clearTimeout(this.timer)
      this.timer = setTimeout(() => void this.reloadIfChanged(), this.debounceMs)
      this.timer.unref()
    })
    this.watcher.on('error', (err) =>
      this.logger.warn({ err: { message: err.message } }, 'config watch failed'),
    )
  }

  private async reloadIfChanged(): Promise<void> {
    const { readFile } = await import('node:fs/promises')
    let text: string
    try {
      text = await readFile(this.file, 'utf8')
    } catch {
      return // mid-swap: the next event brings the new file
    }
    if (text === this.lastText) return
    this.lastText = text
    await this.reload('file changed')
  }

  /** Remember the text that is running, so a touch without a change is not a reload. */
  async prime(): Promise<void> {
    const { readFile } = await import('node:fs/promises')
    this.lastText = await readFile(this.file, 'utf8').catch(() => '')
  }

  close(): void {
    this.watcher?.close()
    clearTimeout(this.timer)
  }
}
