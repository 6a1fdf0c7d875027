#!/usr/bin/env bash
# One idempotent set-up step for a fresh machine of this kind (Debian, Go, Node.js, root):
#   1. Debian packages the tools and the lab need;
#   2. the Pulumi CLI and the project's Node.js language host, built from Go modules;
#   3. the provider plugins, built from Go modules and installed into PULUMI_HOME's plugin cache;
#   4. the @pulumiverse/talos Node SDK, generated from the talos plugin into sdks/talos;
#   5. npm dependencies.
# Everything heavy is cached under $HOMELAB_CACHE (default ~/.cache/homelab-iac); a warm run only
# checks stamps. --quiet prints nothing when there is nothing to do. --extras also builds what only
# the tests need (sops, actionlint, promtool, amtool, the lab's control plane), --sops only sops
# (the secrets migration), so `npm run lab` on a fresh machine builds only what the lab uses.
set -euo pipefail
source "$(dirname "$0")/env.sh"

quiet=false
extras=false
sops=false
for arg in "$@"; do
  case "$arg" in
    --quiet) quiet=true ;;
    --extras) extras=true sops=true ;;
    --sops) sops=true ;;
    *) echo "usage: setup.sh [--quiet] [--extras | --sops]" >&2; exit 2 ;;
  esac
done

say() { $quiet || printf '[setup] %s\n' "$*"; }
step() { printf '[setup] %s\n' "$*"; quiet=false; }

mkdir -p "$HOMELAB_CACHE"
# One set-up at a time: `npm test` and `npm run lab` both start with this step.
exec 9>"$HOMELAB_CACHE/setup.lock"
flock 9

started=$SECONDS

# --- 1. Debian packages -------------------------------------------------------------------
# iproute2/util-linux: network namespaces for secret-less previews; openssh + zfs-fuse: lab NAS.
# age: stacks whose passphrase is sealed to Age recipients. shellcheck: actionlint checks the
# workflows' shell steps with it. socat: the tunnel that carries a PostgreSQL state backend into
# an isolated stack's network namespace (toolchain/isolation.sh).
debian_packages=(iproute2 util-linux openssh-server openssh-client zfs-fuse sudo age shellcheck socat)
missing=()
for p in "${debian_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  step "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  # zfs-fuse's and sshd's maintainer scripts try to start services; the lab starts its own.
  RUNLEVEL=1 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- 2. Pulumi CLI + Node.js language host -----------------------------------------------------
build_go_tool() { # <output> <package> ; built from toolchain/go, whose go.sum fixes the graph
  local out=$1 pkg=$2 t0=$SECONDS
  step "building $(basename "$out") v$PULUMI_VERSION (cold: ~10-20 min on 2 cores)"
  mkdir -p "$(dirname "$out")"
  (cd "$HOMELAB_ROOT/toolchain/go" &&
    go build -tags osusergo,grpcnotrace \
      -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
      -o "$out.tmp" "$pkg")
  mv "$out.tmp" "$out"
  step "built $(basename "$out") in $((SECONDS - t0))s"
}
[[ -x "$HOMELAB_PULUMI_BIN/pulumi" ]] ||
  build_go_tool "$HOMELAB_PULUMI_BIN/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
# The host is rebuilt whenever its source changes (it is the project's own code).
lh_stamp="$(cat "$HOMELAB_ROOT"/toolchain/go/go.sum "$HOMELAB_ROOT"/toolchain/go/cmd/pulumi-language-nodejs/*.go | sha256sum | cut -c1-16)"
if [[ "$(cat "$HOMELAB_PULUMI_BIN/.language-host.stamp" 2>/dev/null)" != "$lh_stamp" ]]; then
  build_go_tool "$HOMELAB_PULUMI_BIN/pulumi-language-nodejs" ./cmd/pulumi-language-nodejs
  echo "$lh_stamp" >"$HOMELAB_PULUMI_BIN/.language-host.stamp"
fi

# --- 3. Provider plugins -----------------------------------------------------------------------
# The command provider is the project's own code: rebuilt whenever its source changes.
command_src="$HOMELAB_ROOT/toolchain/go/cmd/pulumi-resource-command"
command_stamp="$(cat "$HOMELAB_ROOT/toolchain/go/go.sum" "$command_src"/*.go | sha256sum | cut -c1-16)"
for name in "${HOMELAB_PROVIDERS[@]}"; do
  version="$(provider_version "$name")"
  bin="$HOMELAB_PROVIDER_BIN/$name-v$version/pulumi-resource-$name"
  if [[ $name == command && "$(cat "$bin.stamp" 2>/dev/null)" != "$command_stamp" ]]; then
    rm -f "$bin"
  fi
  if [[ ! -x "$bin" ]]; then
    step "building provider $name v$version (cold: minutes to tens of minutes)"
    t0=$SECONDS
    bash "$HOMELAB_ROOT/toolchain/providers/$name.sh" "$bin"
    [[ $name == command ]] && echo "$command_stamp" >"$bin.stamp"
    step "built provider $name in $((SECONDS - t0))s"
  fi
  installed="$PULUMI_HOME/plugins/resource-$name-v$version/pulumi-resource-$name"
  if ! cmp -s "$bin" "$installed"; then
    say "installing plugin $name v$version into $PULUMI_HOME"
    pulumi plugin install resource "$name" "$version" --file "$bin" --reinstall >/dev/null
  fi
done

# The Talos operations tool: the stack runs `talos-ops upgrade` once per node when the Talos
# version changes; `npm run etcd-backup` / `etcd-restore` run its etcd commands.
ops_src="$HOMELAB_ROOT/toolchain/talos-ops"
if [[ -f "$ops_src/build.sh" ]]; then
  ops_stamp="$(cat "$ops_src"/go.sum "$ops_src"/*.go 2>/dev/null | sha256sum | cut -c1-16)"
  if [[ "$(cat "$HOMELAB_TOOLS_BIN/talos-ops.stamp" 2>/dev/null)" != "$ops_stamp" ]]; then
    step "building talos-ops"
    bash "$ops_src/build.sh" "$HOMELAB_TOOLS_BIN/talos-ops"
    echo "$ops_stamp" >"$HOMELAB_TOOLS_BIN/talos-ops.stamp"
  fi
  # The tool it replaces: no stale binary on PATH answers for a command that was not renamed.
  rm -f "$HOMELAB_TOOLS_BIN/talos-upgrade" "$HOMELAB_TOOLS_BIN/talos-upgrade.stamp"
fi

# --- extras: what `npm test` and `npm run secrets` need beyond `npm run lab` (--extras) ----------
# Third-party Go tools, each built from its own module at the version pinned in versions.env
# (`go install module@version` takes that module's own go.sum, so the graph is the release's).
install_pinned_go_tool() { # <name> <package@version>
  local name=$1 pkg=$2 t0=$SECONDS
  [[ "$(cat "$HOMELAB_TOOLS_BIN/$name.stamp" 2>/dev/null)" == "$pkg" && -x "$HOMELAB_TOOLS_BIN/$name" ]] && return 0
  step "building $name from $pkg"
  GOBIN="$HOMELAB_TOOLS_BIN" go install -trimpath -ldflags "-s -w" "$pkg"
  echo "$pkg" >"$HOMELAB_TOOLS_BIN/$name.stamp"
  step "built $name in $((SECONDS - t0))s"
}
# sops: reads the SOPS + Age files secrets are migrated from (npm run secrets -- import-sops).
$sops && install_pinned_go_tool sops "github.com/getsops/sops/v3/cmd/sops@v$SOPS_VERSION"
if $extras; then
  # actionlint: the CI workflows under .github/workflows are linted by the tests.
  install_pinned_go_tool actionlint "github.com/rhysd/actionlint/cmd/actionlint@v$ACTIONLINT_VERSION"
  # promtool: the alerting rules are unit-tested with `promtool test rules` (cold: ~5 min).
  install_pinned_go_tool promtool "github.com/prometheus/prometheus/cmd/promtool@v$PROMETHEUS_MODULE_VERSION"
  # amtool: the generated Alertmanager configuration is checked with `amtool check-config`.
  install_pinned_go_tool amtool "github.com/prometheus/alertmanager/cmd/amtool@v$ALERTMANAGER_VERSION"
  # The lab's control plane: the simulator's tests run it before any lab starts (the lab builds
  # it too, lab/start.sh, into the same place).
  bash "$HOMELAB_ROOT/lab/build/ensure.sh"
fi

# --- 4. The talos Node SDK (generated, never committed) ----------------------------------------
talos_sdk="$HOMELAB_ROOT/sdks/talos"
talos_stamp="talos-$TALOS_PROVIDER_VERSION-pulumi-$PULUMI_VERSION"
if [[ "$(cat "$talos_sdk/.generated" 2>/dev/null)" != "$talos_stamp" ]]; then
  step "generating @pulumiverse/talos v$TALOS_PROVIDER_VERSION into sdks/talos"
  rm -rf "$talos_sdk" "$talos_sdk.tmp"
  pulumi package gen-sdk "$HOMELAB_PROVIDER_BIN/talos-v$TALOS_PROVIDER_VERSION/pulumi-resource-talos" \
    --language nodejs --out "$talos_sdk.tmp" >/dev/null
  mv "$talos_sdk.tmp/nodejs" "$talos_sdk"
  rm -rf "$talos_sdk.tmp"
  # The SDK must share the program's single copy of @pulumi/pulumi (two copies break resource
  # identity), so it declares no dependencies of its own; Node finds the root's node_modules.
  node -e '
    const fs = require("fs"); const f = process.argv[1];
    const p = JSON.parse(fs.readFileSync(f, "utf8"));
    p.version = process.argv[2];
    p.main = "bin/index.js"; p.types = "bin/index.d.ts";
    delete p.dependencies; delete p.devDependencies; delete p.scripts;
    fs.writeFileSync(f, JSON.stringify(p, null, 2) + "\n");' \
    "$talos_sdk/package.json" "$TALOS_PROVIDER_VERSION"
  rm -f "$HOMELAB_ROOT/node_modules/.setup-stamp"
fi

# --- 5. npm dependencies -----------------------------------------------------------------------
npm_stamp="$(cat "$HOMELAB_ROOT/package-lock.json" "$talos_sdk/package.json" | sha256sum | cut -c1-16)"
if [[ "$(cat "$HOMELAB_ROOT/node_modules/.setup-stamp" 2>/dev/null)" != "$npm_stamp" ]]; then
  step "installing npm dependencies"
  (cd "$HOMELAB_ROOT" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$npm_stamp" >"$HOMELAB_ROOT/node_modules/.setup-stamp"
fi
# Dynamic providers (the NAS drift sentinels) start through the SDK's launcher script, which finds
# the program's own @pulumi/pulumi; beside the CLI the engine takes it as a bundled plugin.
launcher="$HOMELAB_ROOT/node_modules/@pulumi/pulumi/pulumi-resource-pulumi-nodejs"
if ! cmp -s "$launcher" "$HOMELAB_PULUMI_BIN/pulumi-resource-pulumi-nodejs"; then
  install -m 0755 "$launcher" "$HOMELAB_PULUMI_BIN/pulumi-resource-pulumi-nodejs"
fi
if [[ ! -f "$talos_sdk/bin/index.js" ]]; then
  step "compiling @pulumiverse/talos"
  # The CLI's code generator targets a newer @pulumi/pulumi than the Node.js-20 one we pin: only
  # the generated static `exists()` methods call runtime.existsResource, which this project never
  # uses. tsc still emits everything; any other type error fails set-up.
  tsc_errors="$(cd "$talos_sdk" && "$HOMELAB_ROOT/node_modules/.bin/tsc" -p tsconfig.json || true)"
  if grep -v "Property 'existsResource' does not exist" <<<"$tsc_errors" | grep -q .; then
    echo "$tsc_errors" >&2
    exit 1
  fi
  # The SDK reads its own version (for the plugin it asks the engine for) from bin/package.json.
  cp "$talos_sdk/package.json" "$talos_sdk/bin/package.json"
  echo "$talos_stamp" >"$talos_sdk/.generated"
fi

say "toolchain ready in $((SECONDS - started))s: pulumi v$PULUMI_VERSION, providers:$(for n in "${HOMELAB_PROVIDERS[@]}"; do printf ' %s@%s' "$n" "$(provider_version "$n")"; done)"
