/** The text `switchboard ca` prints: where the local CA certificate is and how to trust it, per system. Pure. */

/** Quotes a path for a POSIX shell when it needs it. */
function sh(path: string): string {
  return /^[\w@%+=:,./~-]+$/.test(path) ? path : `'${path.replaceAll("'", `'\\''`)}'`
}

/** Quotes a path for cmd.exe / PowerShell. */
function win(path: string): string {
  return /[\s&()^%!;,'"]/.test(path) ? `"${path}"` : path
}

export function caHelp(certPath: string): string {
  const p = sh(certPath)
  return `Switchboard's local certificate authority signs the certificates it issues for development hosts
(tls.local). Browsers and tools accept them once they trust this CA certificate:

  ${certPath}

Its private key stays next to it (rootCA-key.pem, readable by you alone). Anyone who can read that key can make
certificates your machine trusts for any name: never copy it, share it or commit it. Remove the CA from the
stores below when you no longer need it.

Debian, Ubuntu (the system store: curl, wget, Go, OpenSSL-based tools):
  sudo cp ${p} /usr/local/share/ca-certificates/switchboard-local-ca.crt
  sudo update-ca-certificates
  (the copy must end in .crt; to remove it: delete the file, then sudo update-ca-certificates --fresh)

Fedora, RHEL, CentOS, Arch (p11-kit):
  sudo trust anchor --store ${p}
  (to remove it: sudo trust anchor --remove ${p})

Chrome and Chromium on Linux (their own NSS store; certutil is in libnss3-tools / nss-tools):
  [ -f "$HOME/.pki/nssdb/cert9.db" ] || { mkdir -p "$HOME/.pki/nssdb" && certutil -d "sql:$HOME/.pki/nssdb" -N --empty-password; }
  certutil -d "sql:$HOME/.pki/nssdb" -A -t C,, -n "Switchboard Local CA" -i ${p}
  (the first line creates the store if the browser has not; to remove the CA: certutil -d "sql:$HOME/.pki/nssdb" -D -n "Switchboard Local CA")

macOS (the System keychain; Safari and Chrome use it):
  sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain ${p}

Windows (from an administrator prompt; Edge and Chrome use it):
  certutil -addstore -f ROOT ${win(certPath)}
  (or, for your user only, without administrator rights: certutil -user -addstore -f ROOT ${win(certPath)})

Firefox (keeps its own store on every system):
  - in the browser: Settings > Privacy & Security > Certificates > View Certificates > Authorities > Import;
  - or per profile, with certutil from libnss3-tools (nss-tools; on macOS: brew install nss):
      certutil -d sql:$HOME/.mozilla/firefox/PROFILE -A -t C,, -n "Switchboard Local CA" -i ${p}
    (PROFILE is the folder ending in .default-release; on snap installs it is under ~/snap/firefox/common/.mozilla);
  - or by enterprise policy: on Windows and macOS, trusting the system store is enough with
    "security.enterprise_roots.enabled" set to true in about:config (or the ImportEnterpriseRoots policy); on any
    system, policies.json can install it: {"policies": {"Certificates": {"Install": ["${certPath.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"]}}}

Node.js (ignores the system store; the variable is read when the process starts):
  export NODE_EXTRA_CA_CERTS=${p}
  (Windows: set NODE_EXTRA_CA_CERTS=${win(certPath)} in cmd, $env:NODE_EXTRA_CA_CERTS = "${certPath}" in PowerShell)

Trust it on the machine that runs the browser: when Switchboard runs in a container or on another host, copy this
file there first (the key stays behind).
`
}
