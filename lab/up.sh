#!/usr/bin/env bash
# `npm run lab`: start the lab's real parts on loopback (lab/start.sh), point the lab stack at
# them, and `pulumi up` the lab stack: the same program the homelab stack runs, differing only
# in config.
#   NAS:    sshd + zfs-fuse, pool `default`            127.0.10.3:2222  (lab/nas/start.sh)
#   Talos:  machine-API simulator; on bootstrap it starts etcd, kube-apiserver and
#           kube-controller-manager                     127.0.10.2:50000, :6443 (lab/talos/start.sh)
#   Charts: static Helm repository of stand-in charts   127.0.10.4:8879  (lab/charts/serve.sh)
# HOMELAB_LAB_STACK picks another lab stack (its own Talos node at its own address; the NAS and
# the charts are shared). Extra arguments go to `pulumi up` (e.g. --refresh). Stop everything
# with lab/down.sh.
# HOMELAB_LAB_BACKEND=postgres keeps the lab stack's state in the lab's own PostgreSQL
# (lab/postgres/start.sh, 127.0.10.5:5432) instead of the file backend, as a shared backend would.
set -euo pipefail
source "$(dirname "$0")/../toolchain/env.sh"
cd "$HOMELAB_ROOT"
stack="${HOMELAB_LAB_STACK:-lab}"
# --as-found: the lab as the owner's homelab is before the stack ever ran (lab/as-found.sh);
# nothing is deployed, the takeover starts from there (README, "Take over the running homelab").
as_found=false
if [[ "${1:-}" == --as-found ]]; then
  as_found=true
  shift
fi
case "${HOMELAB_LAB_BACKEND:-file}" in
  file) ;;
  postgres)
    PULUMI_BACKEND_URL="$(bash lab/postgres/start.sh | sed -n 's/^rw: //p')"
    export PULUMI_BACKEND_URL
    ;;
  *) echo "[lab] HOMELAB_LAB_BACKEND is file or postgres, not ${HOMELAB_LAB_BACKEND}" >&2; exit 2 ;;
esac
bash lab/start.sh "$stack"
if $as_found; then
  exec bash lab/as-found.sh "$stack"
fi
bash toolchain/pulumi.sh up --yes --skip-preview "$@" --stack "$stack"
