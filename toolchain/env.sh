# shellcheck shell=bash
# The project's environment, sourced by every toolchain script (never executed on its own).
# Everything built or downloaded lives under HOMELAB_CACHE, outside the work tree, so a fresh
# clone on the same machine reuses it and `git clean` never throws away an hour of builds.

HOMELAB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export HOMELAB_ROOT
export HOMELAB_CACHE="${HOMELAB_CACHE:-$HOME/.cache/homelab-iac}"

# shellcheck source=versions.env
source "$HOMELAB_ROOT/toolchain/versions.env"

# Go: module and build caches of our own, so builds are keyed by exactly what we pin.
export GOMODCACHE="$HOMELAB_CACHE/go/mod"
export GOCACHE="$HOMELAB_CACHE/go/build"
export GOFLAGS=-mod=mod
export CGO_ENABLED=0
export GOTOOLCHAIN=local

# The CLI and its Node.js language host sit side by side; provider plugins are installed into
# PULUMI_HOME's plugin cache at the exact versions the npm SDKs ask for.
export HOMELAB_PULUMI_BIN="$HOMELAB_CACHE/bin/pulumi-v$PULUMI_VERSION"
export HOMELAB_PROVIDER_BIN="$HOMELAB_CACHE/bin/providers"
export PULUMI_HOME="${PULUMI_HOME:-$HOMELAB_CACHE/pulumi-home}"
# Our own tools the program and the npm scripts run (talos-ops), built by set-up.
export HOMELAB_TOOLS_BIN="$HOMELAB_CACHE/bin/tools"
export PATH="$HOMELAB_PULUMI_BIN:$HOMELAB_TOOLS_BIN:$HOMELAB_ROOT/node_modules/.bin:$PATH"
# The lab runs system daemons and tools (sshd, zfs-fuse, zpool, useradd) from the sbin
# directories, which a non-login or cleaned environment (cron, CI's env -i) leaves off PATH.
case ":$PATH:" in *:/usr/sbin:*) ;; *) export PATH="$PATH:/usr/sbin:/sbin" ;; esac

# Nothing may be fetched at run time: a missing plugin fails at once instead of trying the network.
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=true
export PULUMI_SKIP_CONFIRMATIONS=true

# The command provider (like upstream's) logs in with the SSH agent whenever SSH_AUTH_SOCK is
# set, and an agent that cannot be reached fails the command: the NAS login is the stack's own
# key, never whatever the operator's agent holds.
unset SSH_AUTH_SOCK

# State: a file backend inside the work tree unless the operator points elsewhere
# (s3://..., https://api.pulumi.com, file://...).
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$HOMELAB_ROOT/.pulumi-state}"
# The file backend refuses a folder that does not exist yet.
[[ "$PULUMI_BACKEND_URL" == file://* ]] && mkdir -p "${PULUMI_BACKEND_URL#file://}"

# use_private_tmpdir: this command, and everything it starts, gets its own temporary directory
# (mode 0700), removed when the command ends. The kubernetes provider writes a kubeconfig holding
# the cluster-admin client key into TMPDIR for every Helm operation and never removes it; nothing
# of that may outlive the command. A nested wrapper keeps the outer one's directory. Daemons the
# lab leaves running get HOMELAB_OUTER_TMPDIR instead (lab/start.sh).
use_private_tmpdir() {
  if [[ -n "${HOMELAB_PRIVATE_TMPDIR:-}" && -d "$HOMELAB_PRIVATE_TMPDIR" ]]; then
    export TMPDIR="$HOMELAB_PRIVATE_TMPDIR"
    return 0
  fi
  export HOMELAB_OUTER_TMPDIR="${TMPDIR:-/tmp}"
  HOMELAB_PRIVATE_TMPDIR="$(mktemp -d "$HOMELAB_OUTER_TMPDIR/homelab.XXXXXXXX")"
  export HOMELAB_PRIVATE_TMPDIR TMPDIR="$HOMELAB_PRIVATE_TMPDIR"
  trap 'rm -rf "$HOMELAB_PRIVATE_TMPDIR"' EXIT
}

# Provider plugin names, in build order (small first).
# shellcheck disable=SC2034 # read by the scripts that source this file
HOMELAB_PROVIDERS=(command kubernetes random talos)

provider_version() {
  local var
  var="$(echo "$1" | tr '[:lower:]' '[:upper:]')_PROVIDER_VERSION"
  echo "${!var}"
}
