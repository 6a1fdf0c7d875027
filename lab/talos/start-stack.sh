#!/usr/bin/env bash
# Starts the simulated Talos nodes of one lab stack: one simulator process per node of
# homelab:cluster.nodes, at the node's address (lab/talos/start.sh each, control planes first).
#   a single-node stack: the node is `talos` for the stack lab, `talos-<stack>` for another;
#   a multi-node stack:  each node is `talos-<stack>-<node>` (<node>: its name without a leading
#                        "<stack>-"), e.g. talos-lab-ha-cp1 for lab-ha's lab-ha-cp1.
# Each keeps its state in $HOMELAB_LAB_DIR/<name>, its log in logs/<name>.log, its pid in
# run/<name>.pid; lab/talos/stop-stack.sh stops them, lab/down.sh stops every one.
# The control planes of a multi-node stack share the VIP of their configs; etcd, the VIP and the
# worker's join happen in the simulators once the stack applies its configs and bootstraps.
# usage: bash lab/talos/start-stack.sh [stack] [talos-sim flags...]
set -euo pipefail
source "$(dirname "$0")/../../toolchain/env.sh"
cd "$HOMELAB_ROOT"
stack="${1:-lab}"
shift || true
[[ -f "Pulumi.$stack.yaml" ]] || { echo "[talos] no stack file Pulumi.$stack.yaml" >&2; exit 2; }

# "<simulator name> <address>" per node, control planes first (the rollout order).
nodes="$(node -e '
  const [file, stack] = process.argv.slice(1);
  const doc = require("js-yaml").load(require("fs").readFileSync(file, "utf8"));
  const nodes = doc.config["homelab:cluster"].nodes;
  const ordered = [...nodes.filter(n => n.role === "controlplane"), ...nodes.filter(n => n.role !== "controlplane")];
  for (const n of ordered) {
    const single = stack === "lab" ? "talos" : `talos-${stack}`;
    const name = nodes.length === 1 ? single : `talos-${stack}-${n.name.startsWith(stack + "-") ? n.name.slice(stack.length + 1) : n.name}`;
    console.log(`${name} ${n.address}`);
  }' "Pulumi.$stack.yaml" "$stack")"

while read -r name address; do
  LAB_TALOS_NAME="$name" bash lab/talos/start.sh "$address:50000" "$@"
done <<<"$nodes"
