#!/usr/bin/env bash
# Builds the talos-ops tool (this directory's Go module) into <output-binary>.
# usage: bash toolchain/talos-ops/build.sh <output-binary>
#
# Idempotent: the build is reproducible (-trimpath, no build IDs from paths) and cached by Go, so
# a second run only compiles nothing and leaves an identical binary untouched. The new binary
# replaces the old one with a rename, so a stack running the tool never sees half a file.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../env.sh"

if [[ $# -ne 1 || -z "$1" ]]; then
  echo "usage: $0 <output-binary>" >&2
  exit 2
fi

# Resolve the output against the caller's directory before the build changes into ours.
mkdir -p "$(dirname "$1")"
out="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"

# The temporary file sits next to the output, so the final mv is a rename on one file system.
tmp="$(mktemp "$out.tmp.XXXXXX")"
trap 'rm -f "$tmp"' EXIT

start=$SECONDS
(cd "$here" && go build -trimpath -ldflags "-s -w" -o "$tmp" .)

if [[ -x "$out" ]] && cmp -s "$tmp" "$out"; then
  echo "[talos-ops] $out is up to date ($((SECONDS - start))s)"
  exit 0
fi

chmod 755 "$tmp"
mv -f "$tmp" "$out"
echo "[talos-ops] built $out in $((SECONDS - start))s"
