/** Real upstream servers on port 0: an HTTP server with a handler, and a raw TCP server for byte-level faults. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import {
  type AddressInfo,
  createServer as createTcpServer,
  type Socket,
  type Server as TcpServer,
} from 'node:net'

export interface Upstream {
  server: Server
  port: number
  url: string
  /** Every request seen, with its raw headers. */
  seen: {
    method: string
    url: string
    headers: IncomingMessage['headers']
    rawHeaders: string[]
    body: string
  }[]
  close(): Promise<void>
}

export type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void

/** Reads the whole request body before calling `handler` unless `stream` is set (then body is empty). */
export async function startUpstream(handler: Handler, opts: { stream?: boolean } = {}): Promise<Upstream> {
  const seen: Upstream['seen'] = []
  const server = createServer((req, res) => {
    if (opts.stream) {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: '',
      })
      handler(req, res, Buffer.alloc(0))
      return
    }
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: body.toString(),
      })
      handler(req, res, body)
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as AddressInfo).port
  return {
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  }
}

export interface RawUpstream {
  server: TcpServer
  port: number
  url: string
  /** Bytes received per connection. */
  received: Buffer[]
  connections: number
  close(): Promise<void>
}

/** A TCP server that runs `onConnection` for every socket: write exact bytes, stall, reset... */
export async function startRawUpstream(
  onConnection: (socket: Socket, index: number) => void,
): Promise<RawUpstream> {
  const state: RawUpstream = {
    server: undefined as unknown as TcpServer,
    port: 0,
    url: '',
    received: [],
    connections: 0,
    close: async () => undefined,
  }
  const sockets = new Set<Socket>()
  const server = createTcpServer((socket) => {
    const index = state.connections++
    state.received[index] = Buffer.alloc(0)
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => undefined)
    socket.on('data', (c: Buffer) => {
      state.received[index] = Buffer.concat([state.received[index] as Buffer, c])
    })
    onConnection(socket, index)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  state.server = server
  state.port = (server.address() as AddressInfo).port
  state.url = `http://127.0.0.1:${state.port}`
  state.close = () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy()
      server.close(() => r())
    })
  return state
}

/** A port with nothing listening on it (bound then released). */
export async function deadPort(): Promise<number> {
  const s = createTcpServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as AddressInfo).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}
