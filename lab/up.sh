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
set -euo pipefail
source "$(dirname "$0")/../toolchain/env.sh"
cd "$HOMELAB_ROOT"
stack="${HOMELAB_LAB_STACK:-lab}"
bash lab/start.sh "$stack"
bash toolchain/pulumi.sh up --yes --skip-preview "$@" --stack "$stack"
