#!/usr/bin/env bash
# Runs a command with the project's environment (toolchain/env.sh) after a quiet, idempotent set-up.
set -euo pipefail
source "$(dirname "$0")/env.sh"
bash "$HOMELAB_ROOT/toolchain/setup.sh" --quiet
cd "$HOMELAB_ROOT"
use_private_tmpdir
"$@"
