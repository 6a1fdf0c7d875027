#!/usr/bin/env bash
# Builds pulumi-resource-random (Terraform-bridged) from the Go module proxy.
# usage: bash toolchain/providers/random.sh <output-binary-path>
#
# The proxy does not serve github.com/pulumi/pulumi-random/provider at any release, so the plugin is
# assembled from the pieces it does serve: the Terraform random provider at the commit that
# pulumi-random RANDOM_PROVIDER_VERSION wraps, the same pulumi-terraform-bridge release, and our
# own glue in random/ (token mapping as in @pulumi/random). Two steps: tfgen writes schema.json and
# bridge-metadata.json, then the plugin is compiled with both embedded.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=../versions.env
source "$here/../versions.env"
# shellcheck source=lib.sh
source "$here/lib.sh"

provider_init random "$RANDOM_PROVIDER_VERSION" "${1:?usage: random.sh <output-binary-path>}"

tf_path=${RANDOM_TERRAFORM_MODULE%@*}
# The checksum database does not answer for the Terraform provider's pseudo-version; check it
# against the go.sum lines pinned in versions.env instead.
export GONOSUMDB="${GONOSUMDB:+$GONOSUMDB,}$tf_path"
tf_sum="$tf_path ${RANDOM_TERRAFORM_MODULE#*@} $RANDOM_TERRAFORM_SUM
$tf_path ${RANDOM_TERRAFORM_MODULE#*@}/go.mod $RANDOM_TERRAFORM_GOMOD_SUM"

# The folder is named provider/ and tfgen runs from its parent: that is where tfgen looks for the
# Go module whose requirements locate the Terraform provider's docs.
src="$PROVIDER_WORK/provider"
rm -rf "$src"
mkdir -p "$src"
cp -R "$here/random/." "$src/"
cd "$src"

# The shim module: the provider constructor sits in an internal package, reachable only from a
# package under the provider's import path, so shim/ is a local module with that path.
cat > shim/go.mod <<GOMOD
module $tf_path/shim

go 1.24

require $(echo "$RANDOM_TERRAFORM_MODULE" | tr @ " ")
GOMOD
printf '%s\n' "$tf_sum" > shim/go.sum

cat > go.mod <<GOMOD
module homelab-iac.local/provider-random

go 1.24

require (
	$(echo "$RANDOM_BRIDGE_MODULE" | tr @ ' ')
	$(echo "$RANDOM_TERRAFORM_MODULE" | tr @ ' ')
	$tf_path/shim v0.0.0
)

replace $tf_path/shim => ./shim

replace github.com/hashicorp/terraform-plugin-sdk/v2 => $(echo "$RANDOM_PLUGIN_SDK_FORK" | tr @ ' ')
GOMOD
printf '%s\n' "$tf_sum" > go.sum

ldflags="-s -w -X homelab-iac.local/provider-random/glue.Version=$RANDOM_PROVIDER_VERSION"
go build -trimpath -ldflags "$ldflags" -o "$PROVIDER_WORK/tfgen" ./cmd/tfgen
# --skip-examples: converting the HCL examples in the docs would try to fetch a converter plugin
# over the network (a minute of time-outs here) and only changes doc text.
(cd "$PROVIDER_WORK" && ./tfgen schema --skip-examples --out provider/cmd/provider >tfgen.log 2>&1) ||
  { tail -n 40 "$PROVIDER_WORK/tfgen.log" >&2; exit 1; }
go build -trimpath -ldflags "$ldflags" -o "$PROVIDER_TMP_BIN" ./cmd/provider
provider_install
