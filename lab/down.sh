#!/usr/bin/env bash
# Stops every lab service started by lab/up.sh; their state (pool, node config, etcd) stays in
# .lab/ so the next `npm run lab` finds the same lab.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export HOMELAB_LAB_DIR="${HOMELAB_LAB_DIR:-$here/../.lab}"
pidfile="$HOMELAB_LAB_DIR/run/charts.pid"
if [[ -f "$pidfile" ]]; then
  kill "$(cat "$pidfile")" 2>/dev/null
  rm -f "$pidfile"
fi
[[ -f "$here/talos/stop.sh" ]] && bash "$here/talos/stop.sh"
[[ -f "$here/nas/stop.sh" ]] && bash "$here/nas/stop.sh"
exit 0
