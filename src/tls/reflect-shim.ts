/**
 * The smallest Reflect metadata API that `@peculiar/x509` needs. Its dependency `tsyringe` refuses to load unless
 * `Reflect.getMetadata` exists (the library's README says to import `reflect-metadata` first), but it only ever
 * calls `getMetadata`, `getOwnMetadata` and `defineMetadata` on a handful of internal classes, with no decorator
 * metadata emitted. Rather than a second dependency that patches the same global, this installs those methods
 * (plus `hasMetadata`/`hasOwnMetadata`) on `Reflect`, and only when nothing has installed them already, so a real
 * polyfill loaded by someone else always wins.
 */

type Store = WeakMap<object, Map<PropertyKey | undefined, Map<unknown, unknown>>>

export function installReflectMetadata(): void {
  const reflect = Reflect as unknown as Record<string, unknown>
  if (typeof reflect['getMetadata'] === 'function') return
  const store: Store = new WeakMap()

  const own = (target: object, property: PropertyKey | undefined, create: boolean) => {
    let byProperty = store.get(target)
    if (byProperty === undefined) {
      if (!create) return undefined
      byProperty = new Map()
      store.set(target, byProperty)
    }
    let entries = byProperty.get(property)
    if (entries === undefined && create) {
      entries = new Map()
      byProperty.set(property, entries)
    }
    return entries
  }
  const chain = function* (target: object): Generator<object> {
    for (let o: object | null = target; o !== null; o = Object.getPrototypeOf(o)) yield o
  }
  const methods: Record<string, (...args: never[]) => unknown> = {
    defineMetadata(key: unknown, value: unknown, target: object, property?: PropertyKey) {
      own(target, property, true)!.set(key, value)
    },
    getOwnMetadata(key: unknown, target: object, property?: PropertyKey) {
      return own(target, property, false)?.get(key)
    },
    hasOwnMetadata(key: unknown, target: object, property?: PropertyKey) {
      return own(target, property, false)?.has(key) ?? false
    },
    getMetadata(key: unknown, target: object, property?: PropertyKey) {
      for (const o of chain(target)) {
        const entries = own(o, property, false)
        if (entries?.has(key)) return entries.get(key)
      }
      return undefined
    },
    hasMetadata(key: unknown, target: object, property?: PropertyKey) {
      for (const o of chain(target)) if (own(o, property, false)?.has(key)) return true
      return false
    },
  }
  for (const [name, fn] of Object.entries(methods)) {
    Object.defineProperty(Reflect, name, { value: fn, writable: true, configurable: true, enumerable: false })
  }
}
