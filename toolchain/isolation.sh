# Network isolation per stack (sourced by pulumi.sh and run-for-stack.sh, never run).
# A stack whose Pulumi.<stack>.yaml declares `homelab:isolateNetwork: true` runs its commands
# inside a network namespace with only loopback, so nothing can reach its real addresses from a
# machine that must not. HOMELAB_ALLOW_NETWORK=<stack> is the operator on that stack's own
# network saying so, per stack.

# stack_is_isolated <stack>
stack_is_isolated() {
  [[ -n "$1" && "${HOMELAB_ALLOW_NETWORK:-}" != "$1" ]] &&
    grep -Eq '^\s+homelab:isolateNetwork:\s*"?true"?\s*$' "$HOMELAB_ROOT/Pulumi.$1.yaml" 2>/dev/null
}

# exec_for_stack <stack> <command> [args...]: replaces the shell with the command, isolated when
# the stack asks for it.
exec_for_stack() {
  local stack=$1
  shift
  if stack_is_isolated "$stack"; then
    exec unshare --net -- bash -c 'ip link set lo up && exec "$@"' isolated "$@"
  fi
  exec "$@"
}
