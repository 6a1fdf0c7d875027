#!/usr/bin/env bash
# Starts the lab's real parts for one lab stack (default: lab) and points the stack at them:
#   NAS:    sshd + zfs-fuse, pool `default` (shared by every lab stack)   lab/nas/start.sh
#   Talos:  one machine-API simulator per node of the stack, at the node's address; control
#           planes run etcd (one cluster: the bootstrapped one's, joined by the others),
#           kube-apiserver, kube-controller-manager and share the stack's VIP; workers join
#           through it                                                     lab/talos/start-stack.sh
#   Charts: static Helm repository of stand-in charts (shared)            lab/charts/serve.sh
# The NAS's pinned host key and the client key are written into the stack's config.
# usage: bash lab/start.sh [stack]
set -euo pipefail
source "$(dirname "$0")/../toolchain/env.sh"
cd "$HOMELAB_ROOT"
stack="${1:-lab}"
# The daemons started here outlive this command: they must not use its private TMPDIR, which is
# removed when it ends (toolchain/env.sh use_private_tmpdir).
export TMPDIR="${HOMELAB_OUTER_TMPDIR:-${TMPDIR:-/tmp}}"
export HOMELAB_LAB_DIR="${HOMELAB_LAB_DIR:-$HOMELAB_ROOT/.lab}"
mkdir -p "$HOMELAB_LAB_DIR/logs" "$HOMELAB_LAB_DIR/run"
[[ -f "Pulumi.$stack.yaml" ]] || { echo "[lab] no stack file Pulumi.$stack.yaml" >&2; exit 2; }
pulumi_stack() { bash toolchain/pulumi.sh "$@" --stack "$stack"; }

t0=$SECONDS
# Kubernetes control-plane binaries for the Talos simulator, built once from Go modules.
bash lab/build/ensure.sh

# The stack must exist in this clone's backend before its config can be written.
if [[ -z "${PULUMI_CONFIG_PASSPHRASE:-}${PULUMI_CONFIG_PASSPHRASE_FILE:-}" && -f "stacks/$stack.passphrase" ]]; then
  export PULUMI_CONFIG_PASSPHRASE_FILE="$HOMELAB_ROOT/stacks/$stack.passphrase"
fi
pulumi stack select "$stack" --create >/dev/null

# NAS: its keys are made once per lab; the pinned host key and the client key go into the stack.
nas_out="$(bash lab/nas/start.sh)"
host_key="$(sed -n 's/^host-key: //p' <<<"$nas_out")"
client_key="$(sed -n 's/^client-key: //p' <<<"$nas_out")"
[[ -n "$host_key" && -f "$client_key" ]] || { echo "[lab] NAS start did not report its keys" >&2; exit 1; }
if [[ "$(pulumi_stack config get --path homelab:nas.hostKey 2>/dev/null)" != "$host_key" ]]; then
  pulumi_stack config set --path homelab:nas.hostKey "$host_key"
fi
if [[ "$(pulumi_stack config get homelab:nasSshPrivateKey 2>/dev/null)" != "$(cat "$client_key")" ]]; then
  pulumi_stack config set --secret homelab:nasSshPrivateKey <"$client_key"
fi

# Talos: one simulator per node, at the node's address (lab/talos/start-stack.sh): the lab
# stack's single node is `talos` (state .lab/talos), another single-node stack's `talos-<stack>`,
# and each node of a multi-node stack `talos-<stack>-<node>`.
bash lab/talos/start-stack.sh "$stack"

bash lab/charts/serve.sh
echo "[lab] services for stack $stack up in $((SECONDS - t0))s"
