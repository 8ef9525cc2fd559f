/** The comparison proxy: Fastify + @fastify/reply-from in its simplest configuration. */

import { parseArgs } from 'node:util'
import replyFrom from '@fastify/reply-from'
import Fastify from 'fastify'

const { values } = parseArgs({ options: { port: { type: 'string' }, upstream: { type: 'string' } } })
const app = Fastify({ logger: false })
await app.register(replyFrom, { base: values.upstream as string })
app.all('/*', (request, reply) => reply.from(request.url))
await app.listen({ host: '127.0.0.1', port: Number(values.port) })
process.on('SIGTERM', () => process.exit(0))
