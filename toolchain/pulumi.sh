#!/usr/bin/env bash
# `npm run pulumi -- <args>`: the pinned Pulumi CLI with the project's environment (toolchain/env.sh):
# local file state unless PULUMI_BACKEND_URL says otherwise, no update checks, no plugin downloads.
#
# The stack's passphrase: from the caller, from Age (stacks/<stack>.passphrase.age), or a
# committed throwaway one (the lab); see toolchain/passphrase.sh.
# Stacks whose Pulumi.<stack>.yaml declares network isolation (`homelab:isolateNetwork: true`) run
# inside a network namespace with only loopback, so no command can reach their real addresses
# from a machine that must not (see README, "Network isolation").
# `preview` and `up` run the policy pack in policy/ (pinned versions, no plaintext secrets,
# protected datasets, LoadBalancers only at the ingress, host paths for storage only).
set -euo pipefail
source "$(dirname "$0")/env.sh"
source "$(dirname "$0")/passphrase.sh"
source "$(dirname "$0")/isolation.sh"
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

if [[ -n "$stack" ]]; then
  resolve_passphrase "$stack" || exit 2
fi

# Every preview and up runs the project's policy pack (policy/), unless one is named explicitly.
case "${args[0]:-}" in
  preview | up | update)
    [[ " ${args[*]} " == *" --policy-pack"* ]] || set -- "$@" --policy-pack "$HOMELAB_ROOT/policy"
    ;;
esac

cd "$HOMELAB_ROOT"
exec_for_stack "$stack" pulumi "$@"
