/** The comparison proxy: Fastify + @fastify/http-proxy, bare (only `upstream` set). */

import { parseArgs } from 'node:util'
import httpProxy from '@fastify/http-proxy'
import Fastify from 'fastify'

const { values } = parseArgs({ options: { port: { type: 'string' }, upstream: { type: 'string' } } })
const app = Fastify({ logger: false })
await app.register(httpProxy, { upstream: values.upstream as string })
await app.listen({ host: '127.0.0.1', port: Number(values.port) })
process.on('SIGTERM', () => process.exit(0))
