#!/usr/bin/env bash
# Builds another commit of Switchboard in a temporary worktree, for `npm run bench -- --baseline DIR`.
# Usage: scripts/bench-baseline.sh [REF]   (default HEAD~1); prints the directory.
set -euo pipefail
cd "$(dirname "$0")/.."
REF=${1:-HEAD~1}
DIR=$(mktemp -d /tmp/switchboard-baseline.XXXXXX)
git worktree add -q --detach "$DIR" "$REF"
# Same dependencies as this checkout: the baseline is measured on the same libraries.
ln -s "$PWD/node_modules" "$DIR/node_modules"
(cd "$DIR" && timeout 300 npx tsc -p tsconfig.json) >&2
echo "$DIR"
