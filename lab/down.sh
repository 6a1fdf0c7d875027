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
# Every simulated Talos node: the lab stack's and those of other lab stacks (lab/start.sh).
for pidfile in "$HOMELAB_LAB_DIR"/run/talos*.pid; do
  [[ -f "$pidfile" ]] && LAB_TALOS_NAME="$(basename "$pidfile" .pid)" bash "$here/talos/stop.sh"
done
[[ -f "$here/nas/stop.sh" ]] && bash "$here/nas/stop.sh"
bash "$here/postgres/stop.sh"
exit 0
