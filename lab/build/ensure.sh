#!/usr/bin/env bash
# The lab's Kubernetes control plane (kube-apiserver, kube-controller-manager, etcd, etcdutl) in
# the cache, built once from Go modules by lab/build/kube.sh when any of them is missing. Used by
# lab/start.sh (the lab needs it) and by toolchain/setup.sh --extras (the simulator's tests).
set -euo pipefail
source "$(dirname "$0")/../../toolchain/env.sh"
kube_bin="$HOMELAB_CACHE/bin/kube-$LAB_KUBERNETES_VERSION"
for b in kube-apiserver kube-controller-manager etcd etcdutl; do
  if [[ ! -x "$kube_bin/$b" ]]; then
    echo "[lab] building the Kubernetes control plane $LAB_KUBERNETES_VERSION (cold: tens of minutes)" >&2
    bash "$(dirname "$0")/kube.sh" "$kube_bin"
    exit 0
  fi
done
