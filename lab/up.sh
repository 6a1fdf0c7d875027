#!/usr/bin/env bash
# `npm run lab`: start the lab's real parts on loopback, point the lab stack at them, and
# `pulumi up` the lab stack — the same program the homelab stack runs, differing only in config.
#   NAS:    sshd + zfs-fuse, pool `default`            127.0.10.3:2222  (lab/nas/start.sh)
#   Talos:  machine-API simulator; on bootstrap it starts etcd, kube-apiserver and
#           kube-controller-manager                     127.0.10.2:50000, :6443 (lab/talos/start.sh)
#   Charts: static Helm repository of stand-in charts   127.0.10.4:8879  (lab/charts/serve.sh)
# Extra arguments go to `pulumi up` (e.g. --refresh). Stop everything with lab/down.sh.
set -euo pipefail
source "$(dirname "$0")/../toolchain/env.sh"
cd "$HOMELAB_ROOT"
export HOMELAB_LAB_DIR="${HOMELAB_LAB_DIR:-$HOMELAB_ROOT/.lab}"
mkdir -p "$HOMELAB_LAB_DIR/logs" "$HOMELAB_LAB_DIR/run"
stack=lab
pulumi_lab() { bash toolchain/pulumi.sh "$@" --stack "$stack"; }

t0=$SECONDS
# Kubernetes control-plane binaries for the Talos simulator, built once from Go modules.
kube_bin="$HOMELAB_CACHE/bin/kube-$LAB_KUBERNETES_VERSION"
if [[ ! -x "$kube_bin/kube-apiserver" || ! -x "$kube_bin/etcd" || ! -x "$kube_bin/kube-controller-manager" ]]; then
  echo "[lab] building the Kubernetes control plane $LAB_KUBERNETES_VERSION (cold: tens of minutes)"
  bash lab/build/kube.sh "$kube_bin"
fi

# The stack must exist in this clone's backend before its config can be written.
PULUMI_CONFIG_PASSPHRASE_FILE="stacks/$stack.passphrase" pulumi stack select "$stack" --create >/dev/null

# NAS: its keys are made once per lab; the pinned host key and the client key go into the stack.
nas_out="$(bash lab/nas/start.sh)"
host_key="$(sed -n 's/^host-key: //p' <<<"$nas_out")"
client_key="$(sed -n 's/^client-key: //p' <<<"$nas_out")"
[[ -n "$host_key" && -f "$client_key" ]] || { echo "[lab] NAS start did not report its keys" >&2; exit 1; }
if [[ "$(pulumi_lab config get --path homelab:nas.hostKey 2>/dev/null)" != "$host_key" ]]; then
  pulumi_lab config set --path homelab:nas.hostKey "$host_key"
fi
if [[ "$(pulumi_lab config get homelab:nasSshPrivateKey 2>/dev/null)" != "$(cat "$client_key")" ]]; then
  pulumi_lab config set --secret homelab:nasSshPrivateKey <"$client_key"
fi

bash lab/talos/start.sh
if [[ -f lab/charts/serve.sh ]]; then
  bash lab/charts/serve.sh
fi
echo "[lab] services up in $((SECONDS - t0))s"

pulumi_lab up --yes --skip-preview "$@"
