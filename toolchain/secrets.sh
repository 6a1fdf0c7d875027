#!/usr/bin/env bash
# `npm run secrets -- <command> <stack> [...]`: a stack's passphrase sealed to Age recipients,
# and secrets migrated from SOPS + Age files.
#   age-init <stack> <recipient>...   seal the stack's passphrase (the current one, from
#                                     PULUMI_CONFIG_PASSPHRASE[_FILE], or a new random one for a
#                                     stack that has none yet) to these recipients
#   age-add <stack> <recipient>       let one more Age key run the stack
#   age-remove <stack> <recipient>    stop sealing to a key (rotate too: it may have kept a copy)
#   rotate <stack>                    new random passphrase; every secret re-encrypted; resealed
#   import-sops <stack> <file> <pointer>=<key>...
#                                     migrate values from a SOPS + Age file into the stack's
#                                     secret config (see tools/import-sops.ts for pointers)
# Recipients live in stacks/<stack>.age-recipients, the sealed passphrase in
# stacks/<stack>.passphrase.age; both are committed. The passphrase itself is never written to
# disk: it moves through this process's environment and pipes.
set -euo pipefail
source "$(dirname "$0")/env.sh"
source "$(dirname "$0")/passphrase.sh"
# import-sops needs sops, beyond what every command needs.
bash "$HOMELAB_ROOT/toolchain/setup.sh" --quiet --sops
cd "$HOMELAB_ROOT"
use_private_tmpdir

die() { echo "secrets: $*" >&2; exit 2; }
usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

command=${1:-}
stack=${2:-}
[[ -n "$command" && -n "$stack" ]] || usage
recipients="stacks/$stack.age-recipients"
sealed="stacks/$stack.passphrase.age"

# seal: encrypt the passphrase on stdin to every recipient in the recipients file.
seal() {
  grep -q . "$recipients" || die "$recipients lists no recipient: the stack would be sealed to nobody"
  age -a -R "$recipients" -o "$sealed.tmp" && mv "$sealed.tmp" "$sealed"
}

check_recipient() {
  [[ "$1" =~ ^age1[0-9a-z]{58}$ ]] || die "\"$1\" is not an Age recipient (age1... as age-keygen -y prints it)"
}

current_passphrase() {
  if [[ -n "${PULUMI_CONFIG_PASSPHRASE:-}" ]]; then
    printf '%s' "$PULUMI_CONFIG_PASSPHRASE"
  elif [[ -n "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]]; then
    cat "$PULUMI_CONFIG_PASSPHRASE_FILE"
  elif [[ -f "$sealed" ]]; then
    decrypt_age_passphrase "$stack"
  else
    die "no passphrase for stack $stack: set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE"
  fi
}

new_passphrase() { head -c 32 /dev/urandom | base64 | tr -d '\n'; }

case "$command" in
  age-init)
    shift 2
    (($#)) || die "age-init needs at least one recipient"
    [[ ! -f "$sealed" ]] || die "$sealed exists already; use age-add / age-remove"
    for r in "$@"; do check_recipient "$r"; done
    printf '%s\n' "$@" >"$recipients"
    if grep -q '^encryptionsalt:' "Pulumi.$stack.yaml" 2>/dev/null ||
      [[ -n "${PULUMI_CONFIG_PASSPHRASE:-}${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]]; then
      phrase="$(current_passphrase)"
    else
      phrase="$(new_passphrase)"
    fi
    # The stack must accept this passphrase (creating it if it does not exist yet).
    PULUMI_CONFIG_PASSPHRASE="$phrase" PULUMI_CONFIG_PASSPHRASE_FILE="" \
      pulumi stack select "$stack" --create --secrets-provider passphrase >/dev/null
    printf '%s' "$phrase" | seal
    echo "stack $stack: passphrase sealed to $# recipient(s) in $sealed"
    ;;
  age-add | age-remove)
    recipient=${3:-}
    check_recipient "$recipient"
    [[ -f "$sealed" ]] || die "stack $stack is not in Age mode (no $sealed): use age-init"
    phrase="$(current_passphrase)"
    if [[ $command == age-add ]]; then
      grep -qxF "$recipient" "$recipients" || echo "$recipient" >>"$recipients"
    else
      grep -qxF "$recipient" "$recipients" || die "$recipient is not a recipient of $sealed"
      grep -vxF "$recipient" "$recipients" >"$recipients.tmp" || true
      mv "$recipients.tmp" "$recipients"
    fi
    printf '%s' "$phrase" | seal
    echo "stack $stack: sealed to $(grep -c . "$recipients") recipient(s)"
    if [[ $command == age-remove ]]; then
      echo "stack $stack: the removed key may have kept the passphrase: run rotate"
    fi
    ;;
  rotate)
    # Only a sealed stack has somewhere to keep the new passphrase.
    [[ -f "$sealed" ]] || die "stack $stack is not in Age mode (no $sealed): use age-init first"
    old="$(current_passphrase)"
    new="$(new_passphrase)"
    # Non-interactive: the current passphrase comes from the environment, the new one on stdin.
    printf '%s\n' "$new" | PULUMI_CONFIG_PASSPHRASE="$old" PULUMI_CONFIG_PASSPHRASE_FILE="" \
      pulumi stack change-secrets-provider passphrase --stack "$stack" >/dev/null
    printf '%s' "$new" | seal
    echo "stack $stack: new passphrase, every secret re-encrypted, sealed to $(grep -c . "$recipients") recipient(s)"
    ;;
  import-sops)
    # The stack's passphrase (env, Age or the lab's file) encrypts what is imported.
    resolve_passphrase "$stack" || exit 2
    shift
    ts-node --transpile-only tools/import-sops.ts "$@"
    ;;
  *) usage ;;
esac
