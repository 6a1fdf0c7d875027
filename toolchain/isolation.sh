# shellcheck shell=bash
# Network isolation per stack (sourced by pulumi.sh and run-for-stack.sh, never run).
# A stack's commands run inside a network namespace with only loopback, so nothing can reach its
# real addresses from a machine that must not, unless its Pulumi.<stack>.yaml says
# `homelab:isolateNetwork: false` explicitly: the config module reads the file as YAML
# (tools/stack-guard.ts) and anything else isolates. HOMELAB_ALLOW_NETWORK=<stack> is the
# operator on that stack's own network saying so, per stack.

# stack_guard <stack> [<policy config out>]: reads the stack file once; sets guarded_stack and
# guarded_isolation (isolated or open) and writes the policy pack's config when asked.
stack_guard() {
  guarded_stack=$1
  guarded_isolation="$(ts-node --transpile-only "$HOMELAB_ROOT/tools/stack-guard.ts" "$HOMELAB_ROOT/Pulumi.$1.yaml" ${2:+"$2"})" ||
    guarded_isolation=isolated
}

# stack_is_isolated <stack>
stack_is_isolated() {
  [[ -n "$1" && "${HOMELAB_ALLOW_NETWORK:-}" != "$1" ]] || return 1
  [[ "${guarded_stack:-}" == "$1" ]] || stack_guard "$1"
  [[ "$guarded_isolation" != open ]]
}

# run_for_stack <stack> <command> [args...]: runs the command, isolated when the stack asks for
# it (not exec'd: the caller's private TMPDIR is removed when it ends).
run_for_stack() {
  local stack=$1
  shift
  if stack_is_isolated "$stack"; then
    unshare --net -- bash -c 'ip link set lo up && exec "$@"' isolated "$@"
  else
    "$@"
  fi
}
