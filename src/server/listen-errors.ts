/** Turns a failed bind into a sentence that says which port and what to do. */
export class BindError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message)
    this.name = 'BindError'
  }
}

export function bindError(
  err: NodeJS.ErrnoException,
  listener: string,
  host: string | undefined,
  port: number,
): BindError {
  const where = `${host ?? '*'}:${port} (listen.${listener})`
  switch (err.code) {
    case 'EADDRINUSE':
      return new BindError(
        `cannot listen on ${where}: the port is already in use by another process (find it with "ss -ltnp 'sport = :${port}'" or "lsof -i :${port}", stop it or choose another port in routes.yaml)`,
        err.code,
      )
    case 'EACCES':
      return new BindError(
        port < 1024
          ? `cannot listen on ${where}: permission denied; ports below 1024 need privileges. Either run "sudo setcap 'cap_net_bind_service=+ep' $(readlink -f $(which node))", or allow unprivileged low ports with "sudo sysctl net.ipv4.ip_unprivileged_port_start=80", or use a port above 1024 (e.g. listen.http: 8080)`
          : `cannot listen on ${where}: permission denied`,
        err.code,
      )
    case 'EADDRNOTAVAIL':
      return new BindError(
        `cannot listen on ${where}: the address ${host ?? ''} is not on this machine`,
        err.code,
      )
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new BindError(
        `cannot listen on ${where}: the host name ${host ?? ''} does not resolve`,
        err.code,
      )
    default:
      return new BindError(`cannot listen on ${where}: ${err.code ?? err.message}`, err.code)
  }
}
