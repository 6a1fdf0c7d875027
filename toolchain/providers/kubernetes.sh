#!/usr/bin/env bash
# Builds pulumi-resource-kubernetes from the Go module proxy.
# usage: bash toolchain/providers/kubernetes.sh <output-binary-path>
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=../versions.env
source "$here/../versions.env"
# shellcheck source=lib.sh
source "$here/lib.sh"

provider_init kubernetes "$KUBERNETES_PROVIDER_VERSION" "${1:?usage: kubernetes.sh <output-binary-path>}"

# The provider module replaces its sibling sdk/v4 with ../sdk, which is not in the module zip:
# build inside a writable copy whose go.mod takes the released sdk/v4 of the same version instead.
src="$PROVIDER_WORK/src"
writable_copy "$KUBERNETES_PROVIDER_MODULE" "$src"
cd "$src"
go mod edit \
  -dropreplace=github.com/pulumi/pulumi-kubernetes/sdk/v4 \
  -require="github.com/pulumi/pulumi-kubernetes/sdk/v4@v$KUBERNETES_PROVIDER_VERSION"

# main.go embeds schema-embed.json and terraform-mapping-embed.json (git-ignored upstream);
# its go:generate step writes them from the committed schema.json with the version set.
(cd cmd/pulumi-resource-kubernetes && VERSION="$KUBERNETES_PROVIDER_VERSION" go generate .)

go build -trimpath \
  -ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$KUBERNETES_PROVIDER_VERSION" \
  -o "$PROVIDER_TMP_BIN" ./cmd/pulumi-resource-kubernetes
provider_install
