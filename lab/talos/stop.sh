#!/usr/bin/env bash
# Stops the lab's simulated Talos node started by lab/talos/start.sh, and with it the
# etcd / kube-apiserver / kube-controller-manager it runs. State stays; start.sh resumes it.
# usage: [LAB_TALOS_NAME=<name>] bash lab/talos/stop.sh   (default name: talos)
set -euo pipefail
source "$(dirname "$0")/../../toolchain/env.sh"

lab_dir="${HOMELAB_LAB_DIR:-$HOMELAB_ROOT/.lab}"
pidfile="$lab_dir/run/${LAB_TALOS_NAME:-talos}.pid"

pid="$(cat "$pidfile" 2>/dev/null || true)"
if [[ -z "$pid" || ! -r "/proc/$pid/cmdline" ]] || ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "talos-sim"; then
  echo "[talos] not running"
  rm -f "$pidfile"
  exit 0
fi

# SIGTERM: the simulator stops serving and terminates its children (they get 10 s).
kill -TERM "$pid"
for _ in $(seq 1 30); do
  [[ -d "/proc/$pid" ]] || break
  sleep 0.5
done

# Anything left in the simulator's process group (start.sh made it the group leader; the
# control-plane processes are in it too) after 15 s is killed.
if pgrep -g "$pid" >/dev/null; then
  echo "[talos] talos-sim (pid $pid) did not stop cleanly; killing its process group" >&2
  kill -KILL -- "-$pid" 2>/dev/null || true
fi

rm -f "$pidfile"
echo "[talos] stopped"
