#!/usr/bin/env bash
# Starts the lab's simulated Talos node (lab/talos-sim) in the background.
# usage: bash lab/talos/start.sh [listen-address] [talos-sim flags...]
#   listen-address  default 127.0.10.2:50000 (loopback only)
#   flags           passed through, e.g. --fail-first 3 --reboot-window 5s
#
# LAB_TALOS_NAME names the node (default talos; lab/start.sh runs one per lab stack). State (the
# applied config, etcd data, control-plane logs) lives in $HOMELAB_LAB_DIR/<name>, default
# .lab/talos; the simulator's own log in .lab/logs/<name>.log, its pid in .lab/run/<name>.pid. Idempotent: with a live instance it only waits for it to answer.
# The binary is built into $HOMELAB_CACHE/bin/lab/talos-sim-<source stamp> once per revision of
# the module's sources.
set -euo pipefail
source "$(dirname "$0")/../../toolchain/env.sh"

listen="127.0.10.2:50000"
if [[ $# -gt 0 && "$1" != --* ]]; then
  listen="$1"
  shift
fi

# The lab never touches a real network (the simulator refuses other addresses too).
if [[ "$listen" != 127.*:* ]]; then
  echo "[talos] refusing $listen: the lab listens on 127.0.0.0/8 only" >&2
  exit 1
fi

lab_dir="${HOMELAB_LAB_DIR:-$HOMELAB_ROOT/.lab}"
name="${LAB_TALOS_NAME:-talos}"
state_dir="$lab_dir/$name"
log="$lab_dir/logs/$name.log"
pidfile="$lab_dir/run/$name.pid"
src="$HOMELAB_ROOT/lab/talos-sim"
kube_bin="$HOMELAB_CACHE/bin/kube-$LAB_KUBERNETES_VERSION"
mkdir -p "$state_dir" "$(dirname "$log")" "$(dirname "$pidfile")" "$HOMELAB_CACHE/bin/lab"
chmod 700 "$state_dir" # the applied machine config carries every cluster secret

# --- build when the sources changed (stamp: sha256 of go.mod, go.sum and the *.go files) ---
# The binary's name carries the stamp: clones and worktrees of other revisions share the cache
# without rebuilding (or overwriting) each other's simulator, and the nodes of one stack all run
# the same build. The temporary file is this shell's own, so two builds never write one file.
stamp="$(cd "$src" && cat go.mod go.sum ./*.go | sha256sum | cut -d' ' -f1)"
bin="$HOMELAB_CACHE/bin/lab/talos-sim-${stamp:0:16}"
if [[ ! -x "$bin" ]]; then
  echo "[talos] building talos-sim"
  start=$SECONDS
  (cd "$src" && go build -trimpath -o "$bin.tmp.$$" .)
  mv "$bin.tmp.$$" "$bin"
  echo "[talos] built $bin in $((SECONDS - start))s"
fi

# running <pid>: the pid is alive and is a talos-sim (not a recycled pid).
running() {
  [[ -n "$1" && -r "/proc/$1/cmdline" ]] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -q "talos-sim"
}

# answers_tls: the listener speaks TLS (gRPC servers insist on ALPN h2). In normal mode the
# node refuses us for want of a client certificate; that alert is an answer too.
answers_tls() {
  timeout 5 openssl s_client -connect "$listen" -alpn h2 -brief </dev/null 2>&1 |
    grep -qE "CONNECTION ESTABLISHED|alert certificate required"
}

wait_ready() {
  local pid="$1"
  for _ in $(seq 1 60); do
    # Liveness by pid only: until setsid has exec'd, the child's command line is still ours.
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "[talos] talos-sim exited; last log lines:" >&2
      tail -n 20 "$log" >&2
      rm -f "$pidfile"
      exit 1
    fi
    if answers_tls; then
      return 0
    fi
    sleep 0.5
  done
  echo "[talos] talos-sim (pid $pid) does not answer TLS on $listen after 30s" >&2
  exit 1
}

pid="$(cat "$pidfile" 2>/dev/null || true)"
if running "$pid"; then
  wait_ready "$pid"
  echo "[talos] already running (pid $pid, $listen)"
  exit 0
fi

# setsid: its own process group, so stop.sh can take down any straggling child with it.
# Extra flags come last so they may override the defaults.
setsid "$bin" \
  --listen "$listen" \
  --state-dir "$state_dir" \
  --kube-bin-dir "$kube_bin" \
  "$@" \
  >>"$log" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$pidfile"

wait_ready "$pid"
echo "[talos] talos-sim running (pid $pid) on $listen; state $state_dir, log $log"
