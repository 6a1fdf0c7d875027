#!/usr/bin/env bash
# Smoke test of the lab NAS, driven the way the project drives TrueNAS: ssh as csi with the client
# key, host key pinned (StrictHostKeyChecking=yes against a known_hosts holding only the key that
# start.sh printed: never trust-on-first-use), zfs through sudo by absolute path.
# usage: bash lab/nas/check.sh [--restart]   (--restart: also stop.sh + start.sh, data must survive)
# Prints PASS/FAIL lines; exits non-zero if anything failed.
set -euo pipefail
HERE="$(dirname "${BASH_SOURCE[0]}")"
source "$HERE/common.sh"
ZFS="sudo /usr/sbin/zfs" DS="$POOL/check/x"

started="$(bash "$HERE/start.sh")"
hostkey="$(sed -n 's/^host-key: //p' <<<"$started")"
key="$(sed -n 's/^client-key: //p' <<<"$started")"
tmp="$(mktemp -d "$RUN/nas-check.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
echo "[$ADDR]:$PORT $hostkey" >"$tmp/known_hosts"
# An impostor: the same address pinned to some other key.
ssh-keygen -q -t ed25519 -N '' -f "$tmp/impostor"
echo "[$ADDR]:$PORT $(cut -d' ' -f1,2 "$tmp/impostor.pub")" >"$tmp/wrong_known_hosts"

# ssh_as <user> <known_hosts> <command> [ssh options...]
ssh_as() {
  ssh -F /dev/null -p "$PORT" -i "$key" -o IdentitiesOnly=yes -o BatchMode=yes -o ConnectTimeout=5 \
    -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$2" -o GlobalKnownHostsFile=/dev/null \
    "${@:4}" "$1@$ADDR" "$3"
}
nas() { ssh_as "$USER_NAME" "$tmp/known_hosts" "$1"; }

failed=0
check() { # check <description> <command...>
  if "${@:2}"; then echo "PASS $1"; else echo "FAIL $1"; failed=$((failed + 1)); fi
}

t_started() { [[ "$hostkey" == "ssh-ed25519 "* && "$hostkey" != *" "*" "* && -r "$key" ]]; }
t_list() { nas "$ZFS list -H -o name" | grep -qx "$POOL"; }
t_create() { nas "$ZFS create -p $DS" && [[ "$(nas "$ZFS get -H -o value type $DS")" == filesystem ]]; }
t_prop() {
  nas "$ZFS set org.homelab-iac:managed-by=lab $DS" &&
    [[ "$(nas "$ZFS get -H -o value org.homelab-iac:managed-by $DS")" == lab ]]
}
# ZFS user properties are inherited: a child of a marked dataset reports the marker too, with
# source "inherited from ...", and `get -s local` (what components/nas/zfs.ts reads) prints nothing.
t_inherited() {
  nas "$ZFS create $DS/child" &&
    [[ "$(nas "$ZFS get -H -o value,source org.homelab-iac:managed-by $DS/child")" == "lab	inherited from $DS" ]] &&
    [[ -z "$(nas "$ZFS get -H -s local -o value org.homelab-iac:managed-by $DS/child")" ]] &&
    [[ "$(nas "$ZFS get -H -s local -o value org.homelab-iac:managed-by $DS")" == lab ]]
}
# csi may only run zfs/zpool, so the file is written here as root (the lab NAS *is* this machine),
# shown to live on the dataset's FUSE mount, and read back over ssh as csi.
t_file() {
  local mp; mp="$(nas "$ZFS get -H -o value mountpoint $DS")" && [[ -d "$mp" ]] &&
    echo "written by check.sh" >"$mp/hello.txt" &&
    [[ "$(findmnt -n -o SOURCE -T "$mp/hello.txt")" == "$DS" ]] &&
    [[ "$(nas "cat '$mp/hello.txt'")" == "written by check.sh" ]]
}
# zfs-fuse's first `zfs destroy` of a mounted dataset usually fails with "dataset is busy" (the
# unmount completes asynchronously); a retry a moment later succeeds.
destroy() { wait_for 30 eval "nas '$ZFS destroy -r $1' 2>/dev/null" && ! nas "$ZFS list $1" 2>/dev/null; }
t_destroy() { destroy "$POOL/check"; }
t_impostor() {
  ! ssh_as "$USER_NAME" "$tmp/wrong_known_hosts" true 2>"$tmp/err" &&
    grep -q 'Host key verification failed' "$tmp/err"
}
t_pubkey_only() {
  ! ssh_as "$USER_NAME" "$tmp/known_hosts" true -o PubkeyAuthentication=no 2>"$tmp/err" &&
    grep -q 'Permission denied (publickey)' "$tmp/err"
}
t_no_root() { ! ssh_as root "$tmp/known_hosts" true 2>/dev/null; }
t_sudo_limited() { ! nas "sudo -n /bin/cat /etc/shadow" 2>/dev/null; }

check "start.sh printed host-key and client-key" t_started
check "zfs list shows pool $POOL" t_list
check "zfs create -p $DS (a filesystem)" t_create
check "user property org.homelab-iac:managed-by=lab set and read back" t_prop
check "a child inherits the marker; only the parent has it locally (zfs get -s local)" t_inherited
check "file written into $DS's mountpoint, read back over ssh" t_file
check "zfs destroy -r $POOL/check" t_destroy
check "wrong pinned host key: connection refused by the client" t_impostor
check "server offers publickey only (no password)" t_pubkey_only
check "root login refused" t_no_root
check "csi's sudo is limited to zfs/zpool" t_sudo_limited

if [[ "${1:-}" == --restart ]]; then
  RS="$POOL/check-restart"
  t_before() {
    nas "$ZFS create -p -o org.homelab-iac:managed-by=lab $RS" &&
      echo "survives restarts" >"$(nas "$ZFS get -H -o value mountpoint $RS")/data.txt"
  }
  t_restart() { bash "$HERE/stop.sh" && [[ "$(bash "$HERE/start.sh")" == "$started" ]]; }
  t_after() {
    [[ "$(nas "$ZFS get -H -o value org.homelab-iac:managed-by $RS")" == lab ]] &&
      [[ "$(nas "cat \"\$($ZFS get -H -o value mountpoint $RS)/data.txt\"")" == "survives restarts" ]]
  }
  check "dataset $RS with property and file" t_before
  check "stop.sh + start.sh: same host key and client key" t_restart
  check "after restart: $RS, its property and its file are intact" t_after
  check "zfs destroy -r $RS" destroy "$RS"
fi

echo "check: $failed failed"
((failed == 0))
