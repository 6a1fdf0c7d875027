#!/usr/bin/env bash
# The lab's static Helm repository: packages every stand-in chart here into
# $HOMELAB_LAB_DIR/charts (a chart archive is a gzip'd tar of <name>/...), writes index.yaml with
# each archive's sha256 digest, and serves the folder over HTTP on loopback, so the stack installs
# them through the production code path (repository URL + chart + version).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
lab="${HOMELAB_LAB_DIR:-$here/../../.lab}"
address="${LAB_CHARTS_ADDRESS:-127.0.10.4}"
port="${LAB_CHARTS_PORT:-8879}"
repo="$lab/charts"
mkdir -p "$repo" "$lab/logs" "$lab/run"

url="http://$address:$port"
index="$repo/index.yaml.tmp"
printf 'apiVersion: v1\nentries:\n' >"$index"
for dir in "$here"/*/; do
  name="$(basename "$dir")"
  version="$(sed -n 's/^version: *//p' "$dir/Chart.yaml")"
  archive="$repo/$name-$version.tgz"
  # Fixed owner and mtime: the same chart source always gives the same archive and digest.
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime='2000-01-01 00:00Z' \
    -C "$here" -cf - "$name" | gzip -n >"$archive"
  digest="$(sha256sum "$archive" | cut -d' ' -f1)"
  cat >>"$index" <<YAML
  $name:
    - apiVersion: v2
      name: $name
      version: $version
      description: Lab stand-in for the upstream $name chart
      digest: $digest
      urls:
        - $url/$name-$version.tgz
YAML
done
printf 'generated: "2000-01-01T00:00:00Z"\n' >>"$index"
mv "$index" "$repo/index.yaml"

pidfile="$lab/run/charts.pid"
if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  exit 0
fi
nohup python3 -m http.server --bind "$address" --directory "$repo" "$port" >"$lab/logs/charts.log" 2>&1 &
echo $! >"$pidfile"
for _ in $(seq 50); do
  curl -fsS "$url/index.yaml" >/dev/null 2>&1 && exit 0
  sleep 0.1
done
echo "[lab] chart repository did not answer on $url" >&2
exit 1
