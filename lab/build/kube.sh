#!/usr/bin/env bash
# Builds the lab's Kubernetes control plane from Go modules: kube-apiserver and
# kube-controller-manager from k8s.io/kubernetes, etcd and etcdutl from go.etcd.io/etcd.
# usage: bash lab/build/kube.sh <output-dir>   (versions: LAB_KUBERNETES_VERSION, LAB_ETCD_VERSION)
#
# k8s.io/kubernetes pins its staging modules at v0.0.0 with ./staging replaces, which a dependent
# module cannot use: the wrapper module replaces each with its published v0.<minor>.<patch>.
set -euo pipefail
source "$(dirname "$0")/../../toolchain/env.sh"
out="${1:?usage: kube.sh <output-dir>}"
k8s="$LAB_KUBERNETES_VERSION"
staging="v0.${k8s#v1.}"
work="$HOMELAB_CACHE/work/kube-$k8s"
mkdir -p "$work/k8s" "$work/etcd" "$out"

# --- kube-apiserver, kube-controller-manager ---
cd "$work/k8s"
go mod download -json "k8s.io/kubernetes@$k8s" >/dev/null
upstream_mod="$GOMODCACHE/cache/download/k8s.io/kubernetes/@v/$k8s.mod"
{
  echo "module homelab.local/lab-kube"
  echo
  echo "go 1.26"
  echo
  echo "require k8s.io/kubernetes $k8s"
  echo
  echo "replace ("
  # Every `k8s.io/<name> => ./staging/src/k8s.io/<name>` becomes the published release.
  sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/src/k8s.io/[a-z0-9-]*$#\t\1 => \1 '"$staging"'#p' "$upstream_mod"
  echo ")"
} >go.mod
cat >tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
GO
go mod tidy
minor="${k8s#v1.}"; minor="${minor%%.*}"
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$k8s -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
for cmd in kube-apiserver kube-controller-manager; do
  [[ -x "$out/$cmd" ]] && continue
  echo "[lab] building $cmd $k8s"
  go build -trimpath -tags providerless -ldflags "$ldflags" -o "$out/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd"
  mv "$out/$cmd.tmp" "$out/$cmd"
done

# --- etcd, etcdutl ---
cd "$work/etcd"
cat >go.mod <<GOMOD
module homelab.local/lab-etcd

go 1.26

require (
	go.etcd.io/etcd/server/v3 $LAB_ETCD_VERSION
	go.etcd.io/etcd/etcdutl/v3 $LAB_ETCD_VERSION
)
GOMOD
rm -rf cmd && mkdir -p cmd/etcd
cat >cmd/etcd/main.go <<'GO'
// etcd for the lab: the upstream server's own entry point.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
# etcdutl's module root is its main package; this keeps it (at the pinned version) in go.mod.
cat >tools.go <<'GO'
//go:build tools

package tools

import _ "go.etcd.io/etcd/etcdutl/v3"
GO
go mod tidy
for cmd in etcd etcdutl; do
  [[ -x "$out/$cmd" ]] && continue
  echo "[lab] building $cmd $LAB_ETCD_VERSION"
  pkg=./cmd/etcd
  [[ $cmd == etcdutl ]] && pkg=go.etcd.io/etcd/etcdutl/v3
  go build -trimpath -ldflags "-s -w" -o "$out/$cmd.tmp" "$pkg"
  mv "$out/$cmd.tmp" "$out/$cmd"
done
