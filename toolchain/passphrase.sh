# shellcheck shell=bash
# How a stack's secrets passphrase is found (sourced by pulumi.sh and secrets.sh, never run).
# In order:
#   1. PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE from the caller;
#   2. Age mode: stacks/<stack>.passphrase.age, the passphrase encrypted to the Age recipients in
#      stacks/<stack>.age-recipients, decrypted with the operator's Age identity
#      (SOPS_AGE_KEY_FILE, else ~/.config/sops/age/keys.txt — the key SOPS users already have)
#      into this process's environment only, never onto disk;
#   3. stacks/<stack>.passphrase, committed only for throwaway stacks (the lab).

age_identity() { echo "${SOPS_AGE_KEY_FILE:-$HOME/.config/sops/age/keys.txt}"; }

# decrypt_age_passphrase <stack>: prints the passphrase, or one line on stderr saying why not.
decrypt_age_passphrase() {
  local stack=$1 identity sealed
  identity="$(age_identity)"
  sealed="$HOMELAB_ROOT/stacks/$stack.passphrase.age"
  if [[ ! -f "$identity" ]]; then
    echo "homelab: stack $stack is in Age mode but there is no Age identity at $identity (set SOPS_AGE_KEY_FILE)" >&2
    return 1
  fi
  if ! age -d -i "$identity" "$sealed" 2>/dev/null; then
    echo "homelab: the Age identity $identity is not a recipient of stacks/$stack.passphrase.age (see stacks/$stack.age-recipients)" >&2
    return 1
  fi
}

# resolve_passphrase <stack>: exports what the CLI needs, or fails with one line.
resolve_passphrase() {
  local stack=$1 phrase
  [[ -n "${PULUMI_CONFIG_PASSPHRASE:-}" || -n "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]] && return 0
  if [[ -f "$HOMELAB_ROOT/stacks/$stack.passphrase.age" ]]; then
    phrase="$(decrypt_age_passphrase "$stack")" || return 1
    export PULUMI_CONFIG_PASSPHRASE="$phrase"
  elif [[ -f "$HOMELAB_ROOT/stacks/$stack.passphrase" ]]; then
    export PULUMI_CONFIG_PASSPHRASE_FILE="$HOMELAB_ROOT/stacks/$stack.passphrase"
  fi
}
