#!/usr/bin/env bash
# Runs a command for one stack with the project's environment, the stack's passphrase
# (toolchain/passphrase.sh) and its network isolation (toolchain/isolation.sh).
# usage: bash toolchain/run-for-stack.sh <stack> <command> [args...]
set -euo pipefail
source "$(dirname "$0")/env.sh"
source "$(dirname "$0")/passphrase.sh"
source "$(dirname "$0")/isolation.sh"
bash "$HOMELAB_ROOT/toolchain/setup.sh" --quiet
(($# >= 2)) || { echo "usage: $0 <stack> <command> [args...]" >&2; exit 2; }
stack=$1
shift
resolve_passphrase "$stack" || exit 2
cd "$HOMELAB_ROOT"
use_private_tmpdir
run_for_stack "$stack" "$@"
