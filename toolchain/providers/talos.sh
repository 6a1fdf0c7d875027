#!/usr/bin/env bash
# Builds pulumi-resource-talos (Terraform-bridged over siderolabs/terraform-provider-talos) from
# the Go module proxy.
# usage: bash toolchain/providers/talos.sh <output-binary-path>
#
# The proxy does not serve github.com/pulumiverse/pulumi-talos/provider at any release, so the
# plugin is assembled from the Terraform talos provider, pulumi-terraform-bridge and our own glue in
# talos/. Two steps: tfgen writes schema.json and bridge-metadata.json, then the plugin is compiled
# with both embedded. Its schema is the source of the locally generated @pulumiverse/talos SDK.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=../versions.env
source "$here/../versions.env"
# shellcheck source=lib.sh
source "$here/lib.sh"

provider_init talos "$TALOS_PROVIDER_VERSION" "${1:?usage: talos.sh <output-binary-path>}"

tf_path=${TALOS_TERRAFORM_MODULE%@*}
# The checksum database answers 404 for the siderolabs modules (the Terraform provider and the
# Talos modules it uses): skip the look-up for them, and check them against pinned go.sum lines
# instead (versions.env for the provider, talos/siderolabs.sum for the rest).
export GONOSUMDB="${GONOSUMDB:+$GONOSUMDB,}github.com/siderolabs"

# The folder is named provider/ and tfgen runs from its parent: that is where tfgen looks for the
# Go module whose requirements locate the Terraform provider's docs.
src="$PROVIDER_WORK/provider"
rm -rf "$src"
mkdir -p "$src"
cp -R "$here/talos/." "$src/"
cd "$src"

cat > go.mod <<GOMOD
module homelab-iac.local/provider-talos

go 1.24

require (
	$(echo "$TALOS_BRIDGE_MODULE" | tr @ ' ')
	$(echo "$TALOS_TERRAFORM_MODULE" | tr @ ' ')
)

replace github.com/hashicorp/terraform-plugin-sdk/v2 => $(echo "$TALOS_PLUGIN_SDK_FORK" | tr @ ' ')
GOMOD
cat > go.sum <<GOSUM
$tf_path ${TALOS_TERRAFORM_MODULE#*@} $TALOS_TERRAFORM_SUM
$tf_path ${TALOS_TERRAFORM_MODULE#*@}/go.mod $TALOS_TERRAFORM_GOMOD_SUM
GOSUM
grep -v "^#" siderolabs.sum >> go.sum

ldflags="-s -w -X homelab-iac.local/provider-talos/glue.Version=$TALOS_PROVIDER_VERSION"
go build -trimpath -ldflags "$ldflags" -o "$PROVIDER_WORK/tfgen" ./cmd/tfgen
# --skip-examples: converting the HCL examples in the docs would try to fetch a converter plugin
# over the network (a minute of time-outs here) and only changes doc text.
(cd "$PROVIDER_WORK" && ./tfgen schema --skip-examples --out provider/cmd/provider >tfgen.log 2>&1) ||
  { tail -n 40 "$PROVIDER_WORK/tfgen.log" >&2; exit 1; }
go build -trimpath -ldflags "$ldflags" -o "$PROVIDER_TMP_BIN" ./cmd/provider
provider_install
