#!/usr/bin/env bash
# The whole test suite (`npm test`): type-check everything, then every mocha test — unit tests
# under mocks, and engine tests that drive the real CLI and plugins (tagged @engine).
set -euo pipefail
cd "$(dirname "$0")/.."
tsc --noEmit -p tsconfig.json
mocha "$@"
