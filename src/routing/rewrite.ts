/** Path and Location rewriting between the public side and a target. Pure. */
import type { RouteDef } from '../config/model.js'
import type { TargetUrl } from '../config/values.js'

/** The path (with query) to send to `target` for a request `path` matched by `route`. */
export function upstreamPath(route: RouteDef, target: TargetUrl, path: string, query: string): string {
  let rest = path
  if (route.stripPrefix && route.path !== '/') {
    rest = path.slice(route.path.length)
    if (rest === '') rest = '/'
  }
  return `${target.basePath}${rest}${query}`
}

/**
 * Rewrites an upstream `Location` the way nginx's default proxy_redirect does: an absolute URL on the target's own
 * origin becomes the public origin; the target's base path is removed and a stripped route prefix put back.
 * Anything else (another origin, a relative reference) passes through, except that an absolute-path reference gets
 * the stripped prefix back.
 */
export function rewriteLocation(
  location: string,
  route: RouteDef,
  target: TargetUrl,
  publicOrigin: string,
): string {
  let path: string
  let absolute = false
  if (location.startsWith('/') && !location.startsWith('//')) {
    path = location
  } else if (location.toLowerCase().startsWith(target.origin.toLowerCase())) {
    const after = location.slice(target.origin.length)
    if (after !== '' && !/^[/?#]/.test(after)) return location
    path = after === '' ? '/' : after.startsWith('/') ? after : `/${after}`
    absolute = true
  } else {
    return location
  }
  if (
    target.basePath !== '' &&
    (path === target.basePath ||
      path.startsWith(`${target.basePath}/`) ||
      path.startsWith(`${target.basePath}?`))
  ) {
    path = path.slice(target.basePath.length) || '/'
    if (!path.startsWith('/')) path = `/${path}`
  }
  if (route.stripPrefix && route.path !== '/') path = path === '/' ? route.path : `${route.path}${path}`
  return absolute ? `${publicOrigin}${path}` : path
}
