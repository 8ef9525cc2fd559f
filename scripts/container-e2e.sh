#!/usr/bin/env bash
# End-to-end test of the container stack with a real engine: builds the image from the Dockerfile, brings
# docker-compose.yml up, and checks it through the published ports (routing by host and path, HTTPS with the local
# CA, a WebSocket, 503 when an app stops and recovery when it starts, the health checks, SIGTERM, and that `down`
# leaves nothing behind). Exits 0 when everything passed, non-zero with a "FAIL:" line otherwise.
#
# Needs root on Debian 12 (as CI is). Uses podman (runtime runc, low ulimits) behind docker-compose 1.29 through
# podman's Docker API, and creates the node:20-bookworm-slim base image locally because no registry is reachable;
# see ../shared/notes/containers.md for why each step is the way it is. Missing Debian packages are installed.
#
# Environment: E2E_TIMEOUT (seconds, default 600), E2E_CACHE (where the base rootfs tarball is kept,
# default ~/.cache/switchboard-e2e), E2E_HTTP_PORT / E2E_HTTPS_PORT / E2E_ADMIN_PORT (host ports to publish on; unset,
# free ones are picked; set, each must be free or the script stops at once and says which variable to change).
#
# Whatever exit (pass, failure, time limit, INT/TERM to the script or its process group), it removes what it made:
# the stack's containers and their anonymous volumes, its network and named volume, the image it built. Only the
# base image (docker.io/library/node:20-bookworm-slim) and the rootfs tarball in E2E_CACHE stay, as caches.
set -euo pipefail
# The script's own stdout and stderr, for log, fail and cleanup: a failure or a signal during a step whose output
# goes to a log file runs them with that redirection still in place.
exec 3>&1 4>&2
cd "$(dirname "$0")/.."
ROOT=$PWD
START=$SECONDS
TIMEOUT=${E2E_TIMEOUT:-600}
CACHE=${E2E_CACHE:-${HOME:-/root}/.cache/switchboard-e2e}
BASE=docker.io/library/node:20-bookworm-slim
# Per run, so two runs at once (two checkouts on one machine) neither collide nor remove each other's things.
IMAGE=localhost/switchboard:e2e-$$
PROJECT=switchboard-e2e-$$
# The build starts FROM this per-run tag of BASE, so the build's working containers are named
# $PROJECT-working-container* and a build cut short leaves nothing cleanup cannot find.
BUILD_BASE=localhost/$PROJECT:base
WORK=$(mktemp -d /tmp/switchboard-e2e.XXXXXX)
SVC_PID=''
HC_PID=''
BUILT=''

log() { printf '[e2e %3ds] %s\n' "$((SECONDS - START))" "$*" >&3; }
fail() {
  printf '[e2e %3ds] FAIL: %s\n' "$((SECONDS - START))" "$*" >&4
  exit 1
}
left() { echo $((TIMEOUT - (SECONDS - START))); }
# Run a step bounded by what is left of the overall time limit. --foreground keeps the step in this script's process
# group, so a signal to the group (timeout(1) around the script, the test runner) reaches it at once.
bounded() {
  local l
  l=$(left)
  [ "$l" -gt 0 ] || fail "time limit of ${TIMEOUT}s (E2E_TIMEOUT) reached before: $*"
  local rc=0
  timeout --foreground --kill-after=5 "$l" "$@" || rc=$?
  [ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || fail "time limit of ${TIMEOUT}s (E2E_TIMEOUT) reached during: $1 $2"
  return "$rc"
}

# free_ports N: N distinct TCP ports that nothing uses on any IPv4 address, as the kernel hands them out.
free_ports() {
  node -e '
    const net = require("node:net")
    const servers = []
    const next = () => {
      if (servers.length === Number(process.argv[1])) {
        console.log(servers.map((s) => s.address().port).join(" "))
        for (const s of servers) s.close()
        return
      }
      const s = net.createServer()
      servers.push(s)
      s.once("error", (e) => { console.error(e.message); process.exit(1) })
      s.listen(0, "0.0.0.0", next)
    }
    next()' "$1"
}
# port_in_use PORT: true when something listens on PORT on some IPv4 address (a bind to 0.0.0.0 conflicts with it).
port_in_use() {
  node -e '
    const s = require("node:net").createServer()
    s.once("error", (e) => process.exit(e.code === "EADDRINUSE" ? 0 : 2))
    s.listen(Number(process.argv[1]), "0.0.0.0", () => s.close(() => process.exit(1)))' "$1"
}
set_ports() {
  local picked
  picked=$(free_ports 3) || fail "could not find free ports"
  read -r a b c <<<"$picked"
  HTTP_PORT=${E2E_HTTP_PORT:-$a}
  HTTPS_PORT=${E2E_HTTPS_PORT:-$b}
  ADMIN_PORT=${E2E_ADMIN_PORT:-$c}
  [ "$HTTP_PORT" != "$HTTPS_PORT" ] && [ "$HTTP_PORT" != "$ADMIN_PORT" ] && [ "$HTTPS_PORT" != "$ADMIN_PORT" ] ||
    fail "E2E_HTTP_PORT, E2E_HTTPS_PORT and E2E_ADMIN_PORT must differ (got $HTTP_PORT, $HTTPS_PORT, $ADMIN_PORT)"
  export SWITCHBOARD_HTTP_PORT=$HTTP_PORT SWITCHBOARD_HTTPS_PORT=$HTTPS_PORT SWITCHBOARD_ADMIN_PORT=$ADMIN_PORT
}

export CONTAINERS_CONF=$WORK/containers.conf
export COMPOSE_PROJECT_NAME=$PROJECT
export DOCKER_HOST=unix://$WORK/podman.sock
export SWITCHBOARD_IMAGE=$IMAGE
compose() { bounded docker-compose --ansi never "$@"; }

cleanup() {
  local rc=$?
  exec 1>&3 2>&4
  trap - EXIT
  # A second signal must not cut the cleanup short; each step below is bounded instead.
  trap '' INT TERM HUP
  set +e
  [ -n "$HC_PID" ] && kill "$HC_PID" 2>/dev/null && wait "$HC_PID" 2>/dev/null
  if [ -S "$WORK/podman.sock" ] && [ -n "$SVC_PID" ] && kill -0 "$SVC_PID" 2>/dev/null; then
    if [ "$rc" -ne 0 ]; then
      log "logs of the stack (last 40 lines per service):"
      timeout 20 docker-compose --ansi never logs --no-color --tail 40 2>&1 | sed 's/^/    /'
    fi
    timeout 60 docker-compose --ansi never down -v -t 5 >/dev/null 2>&1
  fi
  [ -n "$SVC_PID" ] && kill "$SVC_PID" 2>/dev/null && wait "$SVC_PID" 2>/dev/null
  # Anything the run still owns (after a failure half-way, or when a signal took the podman service down with the
  # script): containers with their anonymous volumes, then the network, the named volume and the image.
  if [ -n "$BUILT" ] && command -v podman >/dev/null; then
    podman ps -aq --filter "label=com.docker.compose.project=$PROJECT" |
      xargs -r timeout 60 podman rm -f -v -t 2 >/dev/null 2>&1
    timeout 30 podman network rm -f "${PROJECT}_default" >/dev/null 2>&1
    timeout 30 podman volume rm -f "${PROJECT}_switchboard-state" >/dev/null 2>&1
    timeout 60 podman rmi -f "$IMAGE" >/dev/null 2>&1
    podman ps -aq --external --filter "name=^$PROJECT-working-container" |
      xargs -r timeout 60 podman rm -f >/dev/null 2>&1
    timeout 30 podman untag "$BUILD_BASE" "$BUILD_BASE" >/dev/null 2>&1
  fi
  # Never delete through a mount (a debootstrap cut short can leave /proc, /sys or /dev mounted in its target).
  grep -o " $WORK/[^ ]*" /proc/mounts 2>/dev/null | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf --one-file-system "$WORK"
  if [ "$rc" -eq 0 ]; then log "PASS in $((SECONDS - START))s"; else log "failed (exit $rc) after $((SECONDS - START))s"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# The host ports: each E2E_*_PORT that is set must be a free port; the others are picked just before the stack starts.
for var in E2E_HTTP_PORT E2E_HTTPS_PORT E2E_ADMIN_PORT; do
  v=${!var:-}
  [ -n "$v" ] || continue
  [[ $v =~ ^[0-9]+$ ]] && [ "$v" -ge 1 ] && [ "$v" -le 65535 ] || fail "$var=$v is not a port number (1-65535)"
  if port_in_use "$v"; then
    fail "port $v is already in use on this machine (find it with: ss -ltnp 'sport = :$v'): set $var to a free port, or unset it to have one picked"
  fi
done

# --- 1. the engine --------------------------------------------------------------------------------------------
[ "$(id -u)" = 0 ] || fail "run as root (podman here runs rootful; CI runs as root)"
PKGS=(podman runc netavark aardvark-dns iptables catatonit debootstrap docker-compose zstd)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  bounded apt-get update -qq
  bounded apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# crun cannot run on this hybrid-cgroup VM and podman's default nofile/nproc limits exceed the hard limits here.
cat >"$CONTAINERS_CONF" <<'EOF'
[containers]
default_ulimits = ["nofile=16384:16384", "nproc=16384:16384"]
[engine]
runtime = "runc"
EOF

# --- 2. the base image, made locally (no registry): Debian bookworm minbase + this machine's node and npm ---------
if podman image exists "$BASE"; then
  log "base image $BASE already present"
else
  mkdir -p "$CACHE"
  T=$CACHE/bookworm-minbase.tar.zst
  if [ ! -s "$T" ]; then
    MIRROR=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources)
    [ -n "$MIRROR" ] || fail "no Debian mirror in /etc/apt/sources.list.d/debian.sources"
    log "debootstrap bookworm (minbase), cached in $T"
    bounded debootstrap --variant=minbase bookworm "$WORK/rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
      fail "debootstrap failed: $(tail -5 "$WORK/debootstrap.log")"
    rm -rf "$WORK"/rootfs/var/lib/apt/lists/* "$WORK"/rootfs/var/cache/apt/*.bin \
      "$WORK"/rootfs/var/cache/apt/archives/*.deb "$WORK"/rootfs/usr/share/doc/* "$WORK"/rootfs/usr/share/man/*
    tar --zstd -C "$WORK/rootfs" -cf "$T.tmp" . && mv "$T.tmp" "$T"
    rm -rf "$WORK/rootfs"
  fi
  log "creating the stand-in $BASE (node $(node --version))"
  R=$WORK/noderoot
  mkdir -p "$R/usr/local/lib/node_modules"
  tar --zstd -C "$R" -xf "$T"
  install -m755 "$(readlink -f "$(command -v node)")" "$R/usr/local/bin/node"
  NPM_DIR=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
  cp -a "$NPM_DIR" "$R/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$R/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$R/usr/local/bin/npx"
  chroot "$R" sh -c 'groupadd -g 1000 node && useradd -u 1000 -g node -s /bin/bash -m node'
  tar -C "$R" -c . | bounded podman import -q \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["node"]' - "$BASE" >/dev/null
  rm -rf "$R"
fi

# --- 3. the image, built offline from the npm cache ---------------------------------------------------------------
# The lockfile has no `resolved` URLs (this machine's npmrc), so `npm ci --offline` needs the packuments in the
# cache: an `npm ci` on the host fills it. Done in a scratch copy so the checkout's node_modules is never touched.
log "filling the npm cache"
mkdir -p "$WORK/npmfill"
cp package.json package-lock.json "$WORK/npmfill/"
(cd "$WORK/npmfill" && bounded npm ci --ignore-scripts --no-audit --no-fund --prefer-offline >"$WORK/npmfill.log" 2>&1) ||
  fail "npm ci (to fill the cache) failed: $(tail -5 "$WORK/npmfill.log")"
rm -rf "$WORK/npmfill"
printf 'offline=true\n' >"$WORK/npmrc"
log "building $IMAGE"
b0=$SECONDS
BUILT=1
podman tag "$BASE" "$BUILD_BASE"
# --format docker keeps the HEALTHCHECK (the OCI format has no field for it). --layers=false: no intermediate images
# are kept (as cache, or half-built after a failure), only the image itself, which cleanup removes.
bounded podman build --format docker --pull=never --network=none --layers=false --force-rm \
  --build-arg "NODE_IMAGE=$BUILD_BASE" \
  -v "${HOME:-/root}/.npm:/root/.npm" -v "$WORK/npmrc:/root/.npmrc:ro" \
  -t "$IMAGE" "$ROOT" >"$WORK/build.log" 2>&1 || fail "podman build failed: $(tail -20 "$WORK/build.log")"
SIZE=$(podman image inspect -f '{{.Size}}' "$IMAGE")
log "built in $((SECONDS - b0))s; image size $((SIZE / 1000000)) MB ($SIZE bytes)"
[ "$(podman image inspect -f '{{.Config.User}}' "$IMAGE")" = node ] || fail "the image does not run as user node"
podman image inspect -f '{{json .Config.Healthcheck}}' "$IMAGE" | grep -q readyz || fail "the image has no HEALTHCHECK"
# Production dependencies only: none of the packages the lockfile marks as dev-only (the build, tests, benchmark).
mapfile -t devpkgs < <(node -e '
  for (const [k, v] of Object.entries(require("./package-lock.json").packages))
    if (v.dev && /^node_modules\/(@[^/]+\/)?[^/]+$/.test(k)) console.log(k.slice("node_modules/".length))')
[ "${#devpkgs[@]}" -gt 0 ] || fail "found no dev-only packages in package-lock.json"
indev=$(bounded podman run --rm --network=none --entrypoint sh "$IMAGE" \
  -c 'cd /app/node_modules && for p; do [ ! -e "$p" ] || echo "$p"; done' sh "${devpkgs[@]}") ||
  fail "could not list the image's node_modules"
[ -z "$indev" ] || fail "the image carries dev-only packages: $(echo $indev)"
log "ok: the image has none of the ${#devpkgs[@]} dev-only packages (@fastify/reply-from among them)"

# --- 4. the stack ----------------------------------------------------------------------------------------------
podman system service --time=0 "unix://$WORK/podman.sock" >"$WORK/service.log" 2>&1 3>&- 4>&- &
SVC_PID=$!
for _ in $(seq 50); do [ -S "$WORK/podman.sock" ] && break; sleep 0.1; done
[ -S "$WORK/podman.sock" ] || fail "podman system service did not start: $(cat "$WORK/service.log")"
compose config -q || fail "docker-compose config rejects docker-compose.yml"
VOLUMES_BEFORE=$(podman volume ls -q | sort)
set_ports
log "docker-compose up (host ports: http $HTTP_PORT, https $HTTPS_PORT, admin 127.0.0.1:$ADMIN_PORT)"
compose up -d --no-build >"$WORK/up.log" 2>&1 || fail "docker-compose up failed: $(cat "$WORK/up.log")"
cid() { docker-compose --ansi never ps -q "$1" 2>/dev/null | head -1; }
SB=$(cid switchboard)
WEB=$(cid web)
API=$(cid api)
[ -n "$SB" ] && [ -n "$WEB" ] && [ -n "$API" ] || fail "not every service has a container: $(docker-compose ps)"
# Without systemd podman never runs health checks on its own: run them on the compose file's schedule.
# Each check is bounded and they run side by side, so one that hangs (a container being restarted) delays no other.
(while sleep 2; do
  for c in "$SB" "$WEB" "$API"; do timeout -k 1 8 podman healthcheck run "$c" </dev/null >/dev/null 2>&1 & done
  wait
done) 3>&- 4>&- &
HC_PID=$!

HOSTP="127.0.0.1:$HTTP_PORT"
# get HOST PATH -> prints "status body"
get() { curl -s -m 5 -o "$WORK/body" -w '%{http_code}' -H "Host: $1" "http://$HOSTP$2" 2>/dev/null || true; }
body() { cat "$WORK/body" 2>/dev/null; }
wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...: retries COMMAND every 0.25s
  local limit=$1 what=$2 t0=$SECONDS
  shift 2
  until "$@"; do
    [ $((SECONDS - t0)) -lt "$limit" ] || fail "$what: not within ${limit}s"
    [ "$(left)" -gt 0 ] || fail "time limit of ${TIMEOUT}s reached waiting for: $what"
    sleep 0.25
  done
}
ready() { [ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADMIN_PORT/readyz")" = 200 ]; }
wait_for 30 "admin /readyz answers 200 on 127.0.0.1:$ADMIN_PORT" ready
log "switchboard is ready"

# --- 5. checks through the published ports ----------------------------------------------------------------------
expect() { # expect HOST PATH STATUS BODY-REGEX
  local s
  s=$(get "$1" "$2")
  [ "$s" = "$3" ] && body | grep -Eq "$4" ||
    fail "GET http://$1$2 (port $HTTP_PORT): expected $3 matching /$4/, got $s: $(body | head -c 300)"
  log "ok: $1$2 -> $s $(body | head -c 120 | tr -d '\n')"
}
apps_up() { [ "$(get app.localhost /)" = 200 ] && [ "$(get api.localhost /)" = 200 ]; }
wait_for 30 "both apps answer through switchboard" apps_up
expect app.localhost / 200 '"app":"web"'
expect app.localhost /api/users 200 '"app":"api".*"url":"/users"'
expect api.localhost /users 200 '"app":"api".*"url":"/users"'
s=$(get www.app.localhost /)
case $s in 30[1278]) log "ok: www.app.localhost/ -> $s (redirect)" ;; *) fail "www.app.localhost/: expected a redirect, got $s" ;; esac
expect nothing.localhost / 404 'SB_NO_ROUTE'

# HTTPS with a certificate from the local CA kept in the state volume.
podman exec "$SB" cat /var/lib/switchboard/ca/rootCA.pem >"$WORK/ca.pem" || fail "no local CA in /var/lib/switchboard"
https_ok() {
  curl -s -m 5 --cacert "$WORK/ca.pem" --resolve "app.localhost:$HTTPS_PORT:127.0.0.1" \
    "https://app.localhost:$HTTPS_PORT/" -o "$WORK/body" -w '%{http_code}' | grep -q 200
}
wait_for 10 "HTTPS on port $HTTPS_PORT with the local CA" https_ok
body | grep -q '"app":"web"' || fail "HTTPS answered by the wrong app: $(body)"
log "ok: https://app.localhost:$HTTPS_PORT/ -> 200 (certificate verified against the stack's local CA)"

# A WebSocket through the proxy: the handshake, then one echoed text frame.
timeout -k 2 15 node --input-type=module -e '
  import { connect } from "node:net"
  import { randomBytes } from "node:crypto"
  const [port] = process.argv.slice(1)
  const s = connect(Number(port), "127.0.0.1")
  const timer = setTimeout(() => { console.error("no WebSocket echo within 5s"); process.exit(1) }, 5000)
  let buf = Buffer.alloc(0)
  s.on("connect", () => s.write("GET /ws HTTP/1.1\r\nHost: app.localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + randomBytes(16).toString("base64") + "\r\n\r\n"))
  s.on("data", (d) => {
    buf = Buffer.concat([buf, d])
    const end = buf.indexOf("\r\n\r\n")
    if (end < 0) return
    const head = buf.subarray(0, end).toString()
    if (!head.startsWith("HTTP/1.1 101")) { console.error("handshake: " + head.split("\r\n")[0]); process.exit(1) }
    if (!s.sent) {
      s.sent = true
      const msg = Buffer.from("hello"), mask = randomBytes(4)
      const frame = Buffer.concat([Buffer.from([0x81, 0x80 | msg.length]), mask, msg.map((b, i) => b ^ mask[i % 4])])
      s.write(frame)
    }
    const rest = buf.subarray(end + 4)
    if (rest.length >= 2 && rest.length >= 2 + rest[1]) {
      const text = rest.subarray(2, 2 + rest[1]).toString()
      if (text !== "web: hello") { console.error("echo: " + text); process.exit(1) }
      console.log("echo: " + text); process.exit(0)
    }
  })
  s.on("error", (e) => { console.error(e.message); process.exit(1) })
' "$HTTP_PORT" >"$WORK/ws.log" 2>&1 || fail "WebSocket through ws://app.localhost:$HTTP_PORT/ws: $(cat "$WORK/ws.log")"
log "ok: WebSocket ws://app.localhost/ws -> 101, $(cat "$WORK/ws.log")"

# The admin API is published on the host's loopback only.
ports=$(podman port "$SB")
echo "$ports" | grep -q "^9901/tcp -> 127.0.0.1:$ADMIN_PORT$" || fail "admin port not bound to 127.0.0.1 only: $ports"
log "ok: admin API published on 127.0.0.1:$ADMIN_PORT only"

# --- 6. an app stops: 503 within its health-check budget (5s interval x fall 3, plus jitter); then it recovers --
log "stopping web"
bounded podman stop -t 3 "$WEB" >/dev/null 2>>"$WORK/podman.log"
t0=$SECONDS
is503() { [ "$(get app.localhost /)" = 503 ]; }
wait_for 20 "503 from switchboard after web stopped" is503
body | grep -q 'SB_NO_HEALTHY_TARGET' || fail "503 without SB_NO_HEALTHY_TARGET: $(body)"
log "ok: app.localhost/ -> 503 SB_NO_HEALTHY_TARGET $((SECONDS - t0))s after web stopped"
expect app.localhost /api/users 200 '"app":"api"'
log "starting web again"
bounded podman start "$WEB" >/dev/null 2>>"$WORK/podman.log"
t0=$SECONDS
web_back() { [ "$(get app.localhost /)" = 200 ] && body | grep -q '"app":"web"'; }
wait_for 30 "web answering again through switchboard after it restarted" web_back
log "ok: app.localhost/ -> 200 from web again $((SECONDS - t0))s after it started"

# --- 7. the health checks report healthy -----------------------------------------------------------------------
health() { podman inspect -f '{{.State.Health.Status}}' "$1" 2>/dev/null; }
for c in "$SB" "$API" "$WEB"; do
  name=$(podman inspect -f '{{.Name}}' "$c")
  t0=$SECONDS
  until [ "$(health "$c")" = healthy ]; do
    [ $((SECONDS - t0)) -lt 30 ] && [ "$(left)" -gt 0 ] ||
      fail "$name does not report healthy within 30s: $(podman inspect -f '{{json .State.Health}}' "$c" | head -c 600)"
    sleep 0.5
  done
  log "ok: $name is healthy"
done

# --- 8. SIGTERM reaches node, which drains and exits 0 ---------------------------------------------------------
t0=$SECONDS
bounded podman stop -t 15 "$SB" >/dev/null 2>>"$WORK/podman.log"
code=$(podman inspect -f '{{.State.ExitCode}}' "$SB")
[ "$code" = 0 ] || fail "switchboard exited $code on SIGTERM (expected 0: drained and stopped)"
[ $((SECONDS - t0)) -lt 12 ] || fail "switchboard took $((SECONDS - t0))s to stop on SIGTERM"
log "ok: SIGTERM -> switchboard exited 0 in $((SECONDS - t0))s"

# --- 9. down leaves nothing behind -----------------------------------------------------------------------------
kill "$HC_PID" 2>/dev/null && wait "$HC_PID" 2>/dev/null || true
HC_PID=''
compose down -v -t 5 >"$WORK/down.log" 2>&1 || fail "docker-compose down failed: $(cat "$WORK/down.log")"
leftc=$(podman ps -aq --filter "label=com.docker.compose.project=$PROJECT")
leftn=$(podman network ls -q --filter "name=^${PROJECT}_")
# Named volumes carry the project's name; anonymous ones (the image's VOLUME, in web and api) do not.
leftv=$(podman volume ls -q --filter "name=^${PROJECT}_"; comm -13 <(echo "$VOLUMES_BEFORE") <(podman volume ls -q | sort))
[ -z "$leftc$leftn$leftv" ] || fail "left behind after down: containers [$leftc] networks [$leftn] volumes [$leftv]"
log "ok: docker-compose down -v left no container, network or volume"
