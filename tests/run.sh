#!/usr/bin/env bash
# The whole test suite (`npm test`): type-check everything, then every mocha test — unit tests
# under mocks, and engine tests that drive the real CLI and plugins (tagged @engine).
set -euo pipefail
cd "$(dirname "$0")/.."
tsc --noEmit -p tsconfig.json
# The project's own Go: language host, command provider, upgrade tool, lab simulator.
(cd toolchain/go && go vet ./... && go test ./...)
(cd lab/talos-sim && go test ./...)
(cd toolchain/talos-upgrade && go test ./...)
mocha "$@"
