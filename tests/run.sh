#!/usr/bin/env bash
# The test suite in tiers (`npm test` runs them all, in this order; each also on its own):
#   lint    type-check, ESLint (typescript-eslint + Pulumi's rules), Prettier, gofmt, go vet and
#           ShellCheck
#   unit    pure and fast: mocha tests under mocks and on plain data (no tag)
#   tools   the project's Go tests and mocha tests that drive built tools (@tools: promtool,
#           amtool, actionlint, ssh-keygen, the wrappers' shell)
#   engine  the real CLI and plugins without the lab (@engine, not @lab)
#   lab     end to end against the lab, which they reset (@lab)
# usage: bash tests/run.sh [lint|unit|tools|engine|lab ...] [-- mocha args]
set -euo pipefail
cd "$(dirname "$0")/.."
# The tests need the extras of set-up too: promtool, amtool, actionlint, sops, the lab's binaries.
bash toolchain/setup.sh --quiet --extras

# Go modules of the project's own code; files of the provider glue are built inside generated
# modules (toolchain/providers/*.sh), so they are format-checked only.
go_modules=()
for m in $(git ls-files '*go.mod'); do go_modules+=("$(dirname "$m")"); done

tier_lint() {
  tsc --noEmit -p tsconfig.json
  eslint --max-warnings 0 .
  prettier --check --log-level warn "**/*.{ts,mjs}"
  local unformatted
  unformatted="$(git ls-files '*.go' | xargs gofmt -l)"
  [[ -z "$unformatted" ]] || { echo "gofmt would change: $unformatted" >&2; return 1; }
  for m in "${go_modules[@]}"; do (cd "$m" && go vet ./...); done
  git ls-files '*.sh' | xargs shellcheck --severity=warning --external-sources
}
tier_unit() { mocha --grep "@engine|@lab|@tools" --invert "${mocha_args[@]}"; }
tier_tools() {
  for m in "${go_modules[@]}"; do (cd "$m" && go test ./...); done
  mocha --grep "@tools" "${mocha_args[@]}"
}
# mocha takes one --grep: the engine tier is every @engine test that is not also @lab.
tier_engine() { mocha --grep "^(?!.*@lab).*@engine" "${mocha_args[@]}"; }
tier_lab() { mocha --grep "@lab" "${mocha_args[@]}"; }

tiers=()
mocha_args=()
while (($#)); do
  case "$1" in
    --) shift; mocha_args=("$@"); break ;;
    lint | unit | tools | engine | lab) tiers+=("$1") ;;
    *) echo "usage: tests/run.sh [lint|unit|tools|engine|lab ...] [-- mocha args]" >&2; exit 2 ;;
  esac
  shift
done
((${#tiers[@]})) || tiers=(lint unit tools engine lab)
for tier in "${tiers[@]}"; do
  echo "== $tier"
  "tier_$tier"
done
