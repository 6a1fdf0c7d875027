#!/usr/bin/env bash
# Builds pulumi-resource-command: the project's own implementation of the command provider
# (toolchain/go/cmd/pulumi-resource-command), since the module proxy refuses upstream's module at
# every release (see versions.env). Stamped with the @pulumi/command SDK version it serves.
# usage: bash toolchain/providers/command.sh <output-binary-path>
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=../versions.env
source "$here/../versions.env"
# shellcheck source=lib.sh
source "$here/lib.sh"

provider_init command "$COMMAND_PROVIDER_VERSION" "${1:?usage: command.sh <output-binary-path>}"
cd "$here/../go"
go build -tags osusergo,grpcnotrace -ldflags "-s -w -X main.version=$COMMAND_PROVIDER_VERSION" \
  -o "$PROVIDER_TMP_BIN" ./cmd/pulumi-resource-command
provider_install
