#!/usr/bin/env bash
# `npm run state -- migrate <stack> <to-url>`: tools/state.ts for one stack, with its passphrase,
# network isolation and a private temp dir (toolchain/run-for-stack.sh).
set -euo pipefail
if (($# != 3)) || [[ "$1" != migrate ]]; then
  echo "usage: npm run state -- migrate <stack> <to-url>" >&2
  exit 2
fi
exec bash "$(dirname "$0")/../toolchain/run-for-stack.sh" "$2" ts-node --transpile-only tools/state.ts "$@"
