#!/usr/bin/env bash
# Stops the simulated Talos nodes of one lab stack started by lab/talos/start-stack.sh (state
# stays). A stopped node is a node switched off: the others of a multi-node stack go on.
# usage: bash lab/talos/stop-stack.sh [stack]
set -euo pipefail
source "$(dirname "$0")/../../toolchain/env.sh"
stack="${1:-lab}"
lab_dir="${HOMELAB_LAB_DIR:-$HOMELAB_ROOT/.lab}"
single="talos$([[ $stack == lab ]] || echo "-$stack")"
for pidfile in "$lab_dir/run/$single.pid" "$lab_dir/run/talos-$stack-"*.pid; do
  [[ -f "$pidfile" ]] && LAB_TALOS_NAME="$(basename "$pidfile" .pid)" bash "$(dirname "$0")/stop.sh"
done
exit 0
