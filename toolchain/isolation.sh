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
#
# An isolated stack can still keep its state in a shared PostgreSQL backend (PULUMI_BACKEND_URL
# postgres://...): a tunnel carries exactly that one address and port into the namespace and
# nothing else. Outside, socat relays a unix socket (the filesystem is shared) to the backend;
# inside, the backend's address is put on the namespace's loopback (its name, if it has one, in
# a private /etc/hosts) and socat relays that address and port to the socket. TLS still checks
# the backend's certificate against its own name or address. Every other address stays
# unreachable, the NAS's other ports on the same address included.
run_for_stack() {
  local stack=$1
  shift
  if ! stack_is_isolated "$stack"; then
    "$@"
    return
  fi
  local inside='ip link set lo up && exec "$@"' relay_pid="" endpoint=()
  if [[ "${PULUMI_BACKEND_URL:-}" =~ ^postgres(ql)?:// ]]; then
    # host, address, port of the backend, resolved here, outside the namespace.
    mapfile -t endpoint < <(node -e '
      const u = new URL(process.argv[1]);
      const host = u.hostname.replace(/^\[|\]$/g, "") || "localhost";
      require("dns").lookup(host, { family: 4 }, (err, address) => {
        if (err) { console.error(`state tunnel: cannot resolve ${host}: ${err.message}`); process.exit(1); }
        console.log(host); console.log(address); console.log(u.port || "5432");
      });' "$PULUMI_BACKEND_URL")
    local host=${endpoint[0]} address=${endpoint[1]} port=${endpoint[2]} socket="$TMPDIR/state-tunnel.sock"
    socat "UNIX-LISTEN:$socket,fork,mode=600" "TCP:$address:$port" </dev/null >/dev/null 2>&1 &
    relay_pid=$!
    for _ in $(seq 50); do [[ -S "$socket" ]] && break; sleep 0.1; done
    printf '127.0.0.1 localhost\n%s %s\n' "$address" "$host" >"$TMPDIR/state-tunnel.hosts"
    inside="ip link set lo up && { [[ $address == 127.* ]] || ip addr add $address/32 dev lo; }"
    inside+=" && mount --bind $TMPDIR/state-tunnel.hosts /etc/hosts"
    inside+=" && { socat TCP-LISTEN:$port,bind=$address,fork,reuseaddr UNIX-CONNECT:$socket </dev/null >/dev/null 2>&1 & }"
    # The relay ends with the command (not exec'd: nothing may outlive it holding its pipes).
    inside+=' && relay=$! && for _ in $(seq 50); do ss -Hltn | grep -q . && break; sleep 0.1; done'
    inside+=' && { "$@"; status=$?; kill "$relay"; exit "$status"; }'
  fi
  local status=0
  unshare --net --mount -- bash -c "$inside" isolated "$@" || status=$?
  [[ -z "$relay_pid" ]] || kill "$relay_pid" 2>/dev/null
  return "$status"
}
