# shellcheck shell=bash disable=SC2034  # variables are for the scripts that source this file
# Sourced by lab/nas/{start,stop,check}.sh: where the lab NAS keeps its state, and small helpers.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# sshd, zfs-fuse, zpool and useradd live in the sbin directories, off a non-login PATH.
case ":$PATH:" in *:/usr/sbin:*) ;; *) export PATH="$PATH:/usr/sbin:/sbin" ;; esac
LAB_DIR="${HOMELAB_LAB_DIR:-$ROOT/.lab}"
LAB_DIR="$(mkdir -p "$LAB_DIR" && cd "$LAB_DIR" && pwd)" # absolute: it ends up in configs
ADDR="${LAB_NAS_ADDRESS:-127.0.10.3}"
PORT="${LAB_NAS_PORT:-2222}"
NAS="$LAB_DIR/nas" RUN="$LAB_DIR/run" LOGS="$LAB_DIR/logs"
POOL=default USER_NAME=csi
# The dataset etcd snapshots go to (homelab:nas.etcdBackups.dataset of the lab stacks).
BACKUP_DATASET="${LAB_NAS_BACKUP_DATASET:-$POOL/etcd-backups}"
mkdir -p "$NAS" "$RUN" "$LOGS"

# lock: start.sh and stop.sh never interleave (fd 9; daemons must not inherit it, see detach).
lock() { exec 9>"$RUN/nas.lock"; flock 9; }
# alive <pidfile>: the process it names is running.
alive() { [[ -s "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
# wait_for <tenths of a second> <command...>: poll until the command succeeds.
wait_for() { local n=$1; shift; for _ in $(seq "$n"); do "$@" && return 0; sleep 0.1; done; return 1; }
# our_pool: pool $POOL is imported and is our image (not some other pool that happens to share the name).
our_pool() { zpool status "$POOL" 2>/dev/null | grep -qF "$NAS/pool.img"; }
