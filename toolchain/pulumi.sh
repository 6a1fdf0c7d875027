#!/usr/bin/env bash
# `npm run pulumi -- <args>`: the pinned Pulumi CLI with the project's environment (toolchain/env.sh):
# local file state unless PULUMI_BACKEND_URL says otherwise, no update checks, no plugin downloads.
#
# Secrets provider passphrase, per stack, in this order:
#   1. PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE from the caller;
#   2. stacks/<stack>.passphrase, committed only for throwaway stacks whose secrets protect nothing
#      (the lab), so they run with no variable set.
# Stacks whose Pulumi.<stack>.yaml declares network isolation (`homelab:isolateNetwork: true`) run
# inside a network namespace with only loopback, so no command can reach their real addresses
# from a machine that must not (see README, "Network isolation").
set -euo pipefail
source "$(dirname "$0")/env.sh"
bash "$HOMELAB_ROOT/toolchain/setup.sh" --quiet

stack=""
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    -s | --stack) stack="${args[$((i + 1))]:-}" ;;
    --stack=*) stack="${args[$i]#--stack=}" ;;
  esac
done
if [[ -z "$stack" ]]; then
  stack="$(cd "$HOMELAB_ROOT" && pulumi stack --show-name 2>/dev/null || true)"
fi

if [[ -n "$stack" && -z "${PULUMI_CONFIG_PASSPHRASE:-}" && -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" &&
  -f "$HOMELAB_ROOT/stacks/$stack.passphrase" ]]; then
  export PULUMI_CONFIG_PASSPHRASE_FILE="$HOMELAB_ROOT/stacks/$stack.passphrase"
fi

cd "$HOMELAB_ROOT"
if [[ -n "$stack" ]] && grep -Eq '^\s+homelab:isolateNetwork:\s*"?true"?\s*$' "Pulumi.$stack.yaml" 2>/dev/null; then
  exec unshare --net -- bash -c 'ip link set lo up && exec pulumi "$@"' pulumi "$@"
fi
exec pulumi "$@"
