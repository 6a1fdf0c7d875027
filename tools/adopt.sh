#!/usr/bin/env bash
# `npm run adopt -- <stack> --machine-config <file.sops.yaml> [--apply] [--report <file>]`:
# tools/adopt.ts for one stack, with sops built, the stack's passphrase, its network isolation and
# a private temp dir (toolchain/run-for-stack.sh).
set -euo pipefail
if (($# < 1)) || [[ "$1" == -* ]]; then
  echo "usage: npm run adopt -- <stack> --machine-config <controlplane.sops.yaml> [--apply] [--report <file>]" >&2
  exit 2
fi
bash "$(dirname "$0")/../toolchain/setup.sh" --quiet --sops
exec bash "$(dirname "$0")/../toolchain/run-for-stack.sh" "$1" ts-node --transpile-only tools/adopt.ts "$@"
