#!/usr/bin/env bash
# Builds pulumi-resource-command from the Go module proxy.
# usage: bash toolchain/providers/command.sh <output-binary-path>
#
# NOTE: at the time of writing the proxy refuses github.com/pulumi/pulumi-command/provider at every
# version (403 "not available"; see versions.env), so this script stops at the download with
# that message. It is kept so that the build works as-is once a served pin is found.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=../versions.env
source "$here/../versions.env"
# shellcheck source=lib.sh
source "$here/lib.sh"

provider_init command "$COMMAND_PROVIDER_VERSION" "${1:?usage: command.sh <output-binary-path>}"

mod_path=${COMMAND_PROVIDER_MODULE%@*}
if ! module_dir "$COMMAND_PROVIDER_MODULE" >/dev/null; then
  echo "provider command: not built: the Go module proxy refuses $COMMAND_PROVIDER_MODULE (see versions.env)" >&2
  exit 1
fi

# The provider module has no replace lines; build it from a small wrapper module that requires it.
src="$PROVIDER_WORK/wrapper"
rm -rf "$src"
mkdir -p "$src"
cd "$src"
cat > go.mod <<GOMOD
module homelab-iac.local/provider-command

go 1.25

require $(echo "$COMMAND_PROVIDER_MODULE" | tr @ ' ')
GOMOD

go build -trimpath \
  -ldflags "-s -w -X $mod_path/pkg/version.Version=$COMMAND_PROVIDER_VERSION" \
  -o "$PROVIDER_TMP_BIN" "$mod_path/cmd/pulumi-resource-command"
provider_install
