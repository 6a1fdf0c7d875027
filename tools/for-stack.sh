#!/usr/bin/env bash
# `npm run etcd-backup -- <stack>` and friends: a tool of tools/ run for one stack, with the
# stack's passphrase and network isolation (toolchain/run-for-stack.sh).
# usage: bash tools/for-stack.sh <tool.ts> <command> <stack> [args...]
set -euo pipefail
if (($# < 3)) || [[ "$3" == -* ]]; then
  echo "usage: npm run ${1%.ts} -- <stack> [args...]" >&2
  exit 2
fi
tool=$1 command=$2 stack=$3
shift 3
exec bash "$(dirname "$0")/../toolchain/run-for-stack.sh" "$stack" \
  ts-node --transpile-only "tools/$tool" "$command" "$stack" "$@"
