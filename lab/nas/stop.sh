#!/usr/bin/env bash
# Stops the lab's NAS started by lab/nas/start.sh: its sshd, then exports the pool (so the image
# on disk is consistent and zfs-fuse's cache forgets it), then zfs-fuse itself unless it was
# already running before start.sh. Keys, the pool image and logs stay. Idempotent.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
lock

# stop <pidfile> <tenths of a second>: TERM, wait, then KILL as a last resort.
stop() {
  alive "$1" || { rm -f "$1"; return 0; }
  local pid; pid="$(cat "$1")"
  kill "$pid"
  wait_for "$2" eval "! kill -0 $pid 2>/dev/null" || { echo "[nas] $pid ignores TERM; killing" >&2; kill -9 "$pid"; }
  rm -f "$1"
}

# Only the listener: sessions already open finish on their own.
stop "$RUN/nas-sshd.pid" 50

if our_pool; then
  echo "[nas] exporting pool $POOL" >&2
  # -f only if something still holds a file open in the mounted datasets.
  zpool export "$POOL" || zpool export -f "$POOL"
fi

if [[ -e "$RUN/zfs-fuse.external" ]]; then
  echo "[nas] leaving zfs-fuse running: it was running before start.sh" >&2
else
  # zfs-fuse gives its worker threads up to 10 s to finish before it exits.
  stop "$RUN/zfs-fuse.pid" 150
fi
rm -f "$RUN/zfs-fuse.external"
# This lab no longer holds the machine's lab addresses and pool (lab/nas/start.sh).
if [[ "$(cat /run/homelab-lab.owner 2>/dev/null)" == "$LAB_DIR" ]]; then rm -f /run/homelab-lab.owner; fi
