/**
 * A small Prometheus registry: counters, gauges and fixed-bucket histograms rendered in the text exposition format.
 * Label values come only from the config (route and upstream names, target URLs) or fixed sets (status class,
 * probe result), never from requests, so cardinality stays bounded.
 */
type Labels = Record<string, string>

function key(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map(
      (k) => `${k}="${String(labels[k]).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`,
    )
    .join(',')
}

abstract class Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: string,
  ) {}
  abstract lines(): string[]
  render(): string {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`, ...this.lines()].join(
      '\n',
    )
  }
}

export class Counter extends Metric {
  private readonly values = new Map<string, number>()
  constructor(name: string, help: string) {
    super(name, help, 'counter')
  }
  inc(labels: Labels = {}, by = 1): void {
    const k = key(labels)
    this.values.set(k, (this.values.get(k) ?? 0) + by)
  }
  lines(): string[] {
    return [...this.values].map(([k, v]) => `${this.name}${k ? `{${k}}` : ''} ${v}`)
  }
}

export class Gauge extends Metric {
  private readonly values = new Map<string, number>()
  private collect: (() => [Labels, number][]) | undefined
  constructor(name: string, help: string, collect?: () => [Labels, number][]) {
    super(name, help, 'gauge')
    this.collect = collect
  }
  set(labels: Labels, value: number): void {
    this.values.set(key(labels), value)
  }
  lines(): string[] {
    const entries: [string, number][] = this.collect
      ? this.collect().map(([l, v]) => [key(l), v])
      : [...this.values]
    return entries.map(([k, v]) => `${this.name}${k ? `{${k}}` : ''} ${v}`)
  }
}

export class Histogram extends Metric {
  private readonly series = new Map<string, { counts: number[]; sum: number; count: number }>()
  constructor(
    name: string,
    help: string,
    readonly buckets: readonly number[],
  ) {
    super(name, help, 'histogram')
  }
  observe(labels: Labels, value: number): void {
    const k = key(labels)
    let s = this.series.get(k)
    if (!s) {
      s = { counts: this.buckets.map(() => 0), sum: 0, count: 0 }
      this.series.set(k, s)
    }
    for (let i = 0; i < this.buckets.length; i++)
      if (value <= (this.buckets[i] as number)) (s.counts[i] as number)++
    s.sum += value
    s.count++
  }
  lines(): string[] {
    const out: string[] = []
    for (const [k, s] of this.series) {
      const sep = k ? `${k},` : ''
      for (const [i, b] of this.buckets.entries())
        out.push(`${this.name}_bucket{${sep}le="${b}"} ${s.counts[i]}`)
      out.push(`${this.name}_bucket{${sep}le="+Inf"} ${s.count}`)
      out.push(`${this.name}_sum${k ? `{${k}}` : ''} ${s.sum}`)
      out.push(`${this.name}_count${k ? `{${k}}` : ''} ${s.count}`)
    }
    return out
  }
}

export class Registry {
  private readonly metrics: Metric[] = []
  add<M extends Metric>(m: M): M {
    this.metrics.push(m)
    return m
  }
  render(): string {
    return `${this.metrics.map((m) => m.render()).join('\n')}\n`
  }
}
