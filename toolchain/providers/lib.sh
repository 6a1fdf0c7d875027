# shellcheck shell=bash
# Shared helpers for the provider build scripts in this folder (sourced, not run).
# Each script: source lib.sh, call provider_init NAME VERSION OUTPUT, build into $PROVIDER_TMP_BIN,
# then call provider_install.

# Defaults for the environment the caller normally exports.
: "${HOMELAB_CACHE:=$HOME/.cache/homelab-iac}"
export HOMELAB_CACHE
export GOMODCACHE="${GOMODCACHE:-$HOMELAB_CACHE/go/mod}"
export GOCACHE="${GOCACHE:-$HOMELAB_CACHE/go/build}"
export GOFLAGS="${GOFLAGS:--mod=mod}"
export CGO_ENABLED="${CGO_ENABLED:-0}"
# The provider modules are built as-is; never let go.mod's toolchain line start a download.
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"

# provider_init NAME VERSION OUTPUT: sets PROVIDER_NAME, PROVIDER_VERSION, PROVIDER_OUT (absolute),
# PROVIDER_WORK ($HOMELAB_CACHE/work/NAME-VERSION), PROVIDER_TMP_BIN, PROVIDER_T0.
provider_init() {
  PROVIDER_NAME=$1
  PROVIDER_VERSION=$2
  local out=$3
  mkdir -p "$(dirname "$out")"
  PROVIDER_OUT="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
  PROVIDER_WORK="$HOMELAB_CACHE/work/$PROVIDER_NAME-$PROVIDER_VERSION"
  PROVIDER_TMP_BIN="$PROVIDER_OUT.tmp.$$"
  PROVIDER_T0=$(date +%s)
  mkdir -p "$PROVIDER_WORK" "$GOMODCACHE" "$GOCACHE"
  trap 'rm -f "$PROVIDER_TMP_BIN"' EXIT
  echo "provider $PROVIDER_NAME $PROVIDER_VERSION: building -> $PROVIDER_OUT"
}

# module_dir MODULE@VERSION: downloads the module through the proxy and prints its cache folder.
module_dir() {
  local dir
  dir=$(cd "$PROVIDER_WORK" && GOFLAGS=-mod=mod go mod download -json "$1" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
  if [ -z "$dir" ] || [ ! -d "$dir" ]; then
    (cd "$PROVIDER_WORK" && go mod download -json "$1") >&2 || true
    echo "provider $PROVIDER_NAME: cannot download $1" >&2
    return 1
  fi
  printf '%s\n' "$dir"
}

# writable_copy MODULE@VERSION DEST: a fresh, writable copy of a module out of the module cache.
writable_copy() {
  local src
  src=$(module_dir "$1")
  rm -rf "$2"
  mkdir -p "$(dirname "$2")"
  cp -R "$src" "$2"
  chmod -R u+w "$2"
}

# provider_install: moves the freshly built binary into place and prints the closing line.
provider_install() {
  chmod 0755 "$PROVIDER_TMP_BIN"
  mv -f "$PROVIDER_TMP_BIN" "$PROVIDER_OUT"
  local size
  size=$(du -h "$PROVIDER_OUT" | cut -f1)
  echo "provider $PROVIDER_NAME $PROVIDER_VERSION: done in $(($(date +%s) - PROVIDER_T0))s ($size) -> $PROVIDER_OUT"
}
