#!/usr/bin/env bash
# `npm run pulumi -- <args>`: the pinned Pulumi CLI with the project's environment (toolchain/env.sh):
# local file state unless PULUMI_BACKEND_URL says otherwise, no update checks, no plugin downloads.
#
# The stack's passphrase: from the caller, from Age (stacks/<stack>.passphrase.age), or a
# committed throwaway one (the lab); see toolchain/passphrase.sh.
# Every stack runs inside a network namespace with only loopback unless its Pulumi.<stack>.yaml says
# `homelab:isolateNetwork: false` (read as YAML by the config module; anything else isolates), so
# no command can reach its real addresses from a machine that must not.
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

# Every preview and up runs the project's policy pack (policy/), unless one is named explicitly,
# with the settings the stack's validated config implies (the datasets it allows to destroy).
case "${args[0]:-}" in
  preview | up | update)
    if [[ " ${args[*]} " != *" --policy-pack"* ]]; then
      policy_config="$HOMELAB_ROOT/.policy/${stack:-none}.json"
      mkdir -p "$HOMELAB_ROOT/.policy"
      [[ -n "$stack" ]] && stack_guard "$stack" "$policy_config" || echo '{}' >"$policy_config"
      set -- "$@" --policy-pack "$HOMELAB_ROOT/policy" --policy-pack-config "$policy_config"
    fi
    ;;
esac

cd "$HOMELAB_ROOT"
use_private_tmpdir
run_for_stack "$stack" pulumi "$@"
