#!/usr/bin/env bash
# Starts the lab's NAS: a real OpenSSH server and real ZFS (Debian's zfs-fuse) standing in for
# the TrueNAS SCALE box that the project drives over SSH as a non-root user with sudo.
# usage: bash lab/nas/start.sh    (env: HOMELAB_LAB_DIR, LAB_NAS_ADDRESS, LAB_NAS_PORT)
#
# Idempotent: whatever already runs is reused. stdout carries exactly two lines for the caller:
#   host-key: ssh-ed25519 AAAA...      (pin this; it survives restarts)
#   client-key: <path to csi's private key>
# Everything else goes to stderr.
set -euo pipefail
exec 3>&1 1>&2 # fd 3 = the caller's stdout; all chatter goes to stderr

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# The lab must never listen beyond loopback.
[[ "$ADDR" == 127.* ]] || { echo "[nas] LAB_NAS_ADDRESS must be in 127.0.0.0/8, not $ADDR"; exit 1; }
lock

# --- one lab per machine ---
# Its addresses, the pool's name and zfs-fuse are machine-wide: a lab from another checkout would
# take the pool from under this one. The running lab's directory is recorded; another refuses.
OWNER_FILE=/run/homelab-lab.owner
if [[ -s "$OWNER_FILE" ]]; then
  other="$(cat "$OWNER_FILE")"
  if [[ "$other" != "$LAB_DIR" ]] && { alive "$other/run/nas-sshd.pid" || alive "$other/run/zfs-fuse.pid"; }; then
    echo "[nas] the lab in $other is running (its NAS, pool and zfs-fuse are machine-wide): stop it first with its lab/down.sh"
    exit 1
  fi
fi
echo "$LAB_DIR" >"$OWNER_FILE"

# detach <log> <command...> : start a daemon in the background ($! is its pid), in its own session,
# with only stdio open: it must never hold our lock (fd 9), the caller's stdout (fd 3) or a pipe.
detach() {
  local log=$1; shift
  {
    for fd in "/proc/$BASHPID/fd/"*; do if ((${fd##*/} > 2)); then eval "exec ${fd##*/}>&-"; fi; done
    exec setsid "$@" </dev/null >>"$log" 2>&1
  } &
}

# --- packages ---
pkgs=(openssh-server openssh-client zfs-fuse sudo)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "[nas] installing ${missing[*]}"
  # Maintainer scripts may start the system sshd (:22) and zfs-fuse unless policy-rc.d forbids it:
  # note what runs now, and afterwards stop only what the install started.
  before=" $(pidof sshd zfs-fuse || true) "
  apt-get -qq -o DPkg::Lock::Timeout=300 update
  DEBIAN_FRONTEND=noninteractive apt-get -qq -o DPkg::Lock::Timeout=300 install -y \
    --no-install-recommends "${missing[@]}" >/dev/null
  for pid in $(pidof sshd zfs-fuse || true); do
    [[ "$before" == *" $pid "* ]] && continue
    echo "[nas] stopping $(cat /proc/"$pid"/comm 2>/dev/null) ($pid) started by the package install"
    kill "$pid" 2>/dev/null || true
    # zfs-fuse takes seconds to shut down; ours must not race it for /var/lock/zfs.
    wait_for 150 eval "! kill -0 $pid 2>/dev/null" || true
  done
fi
# Debian's zfs-fuse ships /sbin/zfs and /sbin/zpool; with bookworm's merged /usr that already is
# /usr/sbin/zfs (the path TrueNAS uses and the stack's zfsPath). Link only on an unmerged system.
for b in zfs zpool; do [[ -e /usr/sbin/$b ]] || ln -s "/sbin/$b" "/usr/sbin/$b"; done

# --- zfs-fuse ---
# One daemon serves the whole machine (hard-coded /var/run/zfs/zfs_socket, /var/lock/zfs):
# reuse one that is already running and remember that it is not ours, so stop.sh leaves it.
if ! alive "$RUN/zfs-fuse.pid"; then
  rm -f "$RUN/zfs-fuse.pid"
  # A daemon whose lab checkout was deleted has nobody left to stop it: unless another lab has
  # since imported a pool into it, stop it (it shuts down in seconds) rather than reuse it.
  for pid in $(pidof zfs-fuse || true); do
    if [[ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" == *" (deleted)" ]] &&
      [[ -z "$(timeout 10 zpool list -H -o name 2>/dev/null)" ]]; then
      echo "[nas] stopping zfs-fuse $pid, left behind by a deleted checkout"
      kill "$pid" 2>/dev/null || true
      wait_for 100 eval "! kill -0 $pid 2>/dev/null" || { echo "[nas] zfs-fuse $pid does not stop"; exit 1; }
    fi
  done
  if pidof zfs-fuse >/dev/null; then
    touch "$RUN/zfs-fuse.external"
  else
    rm -f "$RUN/zfs-fuse.external"
    # A zfs-fuse that died leaves its FUSE mounts behind ("Transport endpoint is not connected"),
    # and the new one could not mount over them: detach them first, deepest first.
    awk -v p="$NAS/mnt/" '$3 == "fuse.zfs" && index($2, p) == 1 { print $2 }' /proc/self/mounts |
      sort -r | xargs -r -n1 umount -l
    echo "[nas] starting zfs-fuse"
    # --no-daemon keeps its messages on stderr, i.e. in our log; we do the detaching.
    # --no-kstat-mount: otherwise it mounts a statistics filesystem at /zfs-kstat.
    # Other settings come from Debian's /etc/zfs/zfsrc.
    detach "$LOGS/zfs-fuse.log" /sbin/zfs-fuse --no-daemon --no-kstat-mount
    echo $! >"$RUN/zfs-fuse.pid"
    # As Debian's init script does: never OOM-kill ZFS (not permitted in every sandbox).
    echo -1000 2>/dev/null >"/proc/$!/oom_score_adj" || true
  fi
fi
# The socket appears before the daemon answers; `zpool list` succeeds once it does.
# A loaded machine (2 cores, a build alongside) can take well over 10 s to get it answering.
if ! wait_for 600 eval 'zpool list -H >/dev/null 2>&1'; then
  if [[ -e "$RUN/zfs-fuse.external" ]]; then
    pid="$(pidof zfs-fuse || true)"
    echo "[nas] zfs-fuse $pid does not answer; it belongs to the lab in $(readlink "/proc/${pid%% *}/cwd" 2>/dev/null || echo '?'): stop that lab first"
  else
    echo "[nas] zfs-fuse does not answer; see $LOGS/zfs-fuse.log"
  fi
  exit 1
fi

# --- the pool: a 512 MiB file, mounted under the lab dir (TrueNAS would use /mnt/<pool>) ---
# zfs-fuse re-imports every pool in its cache when it starts, so another clone's lab pool can be
# imported under our name: export it (it stays intact in that clone's .lab/). Any other pool
# called `default` is left alone and refused below.
if zpool list -H -o name "$POOL" >/dev/null 2>&1 && ! our_pool &&
  zpool status "$POOL" 2>/dev/null | grep -qE '/\.lab/nas/pool\.img'; then
  echo "[nas] exporting another lab's pool $POOL"
  zpool export "$POOL"
fi
if ! zpool list -H -o name "$POOL" >/dev/null 2>&1; then
  if [[ -e "$NAS/pool.img" ]]; then
    echo "[nas] importing pool $POOL"
    zpool import -d "$NAS" "$POOL"
  else
    echo "[nas] creating pool $POOL"
    truncate -s 512M "$NAS/pool.img"
    zpool create -m "$NAS/mnt/$POOL" "$POOL" "$NAS/pool.img" || { rm -f "$NAS/pool.img"; exit 1; }
  fi
fi
# A pool called `default` from elsewhere would be silently shared: refuse it.
our_pool || { echo "[nas] pool $POOL is not $NAS/pool.img"; exit 1; }
# zfs-fuse re-imports the pools in its cache (/var/lib/zfs/zpool.cache) when it starts, e.g. after
# a crash, but mounts nothing itself (Debian's init script runs `zfs mount -a`): mount ours.
# A zfs-fuse that just started (or a pool just imported) can answer "mountpoint or dataset is
# busy" for a moment: retry each mount for a few seconds before giving up.
zfs list -H -o name,mounted,canmount -r "$POOL" | while read -r ds mounted canmount; do
  [[ "$mounted" == yes || "$canmount" != on ]] || wait_for 50 zfs mount "$ds" 2>/dev/null || zfs mount "$ds"
done

# --- the CSI user: POSIX shell, sudo exactly as README "The NAS user" tells the owner to grant ---
home="$NAS/home/$USER_NAME"
mkdir -p "$NAS/home"
if ! getent passwd "$USER_NAME" >/dev/null; then
  # Password '*' = no password login, but not "locked" ('!'), which sshd would refuse outright.
  useradd -U -M -d "$home" -s /bin/sh -p '*' "$USER_NAME"
elif [[ "$(getent passwd "$USER_NAME" | cut -d: -f6,7)" != "$home:/bin/sh" ]]; then
  usermod -d "$home" -s /bin/sh "$USER_NAME"
fi
sudoers=/etc/sudoers.d/lab-nas-csi
# The grant of components/backup/remote.ts sudoersGrant (a lab test compares the two): zfs, and
# tee/mv/rm of one etcd snapshot file at a time in the backup dataset's mountpoint, the file
# arguments as regular expressions that cannot match a space or a slash.
backups="$(printf '%s' "$NAS/mnt/$BACKUP_DATASET" | sed 's/[.]/[.]/g; s/[,:=\\]/\\&/g')"
snapshot='etcd-[0-9T-]+Z[.]db'
rule="$USER_NAME ALL=(root) NOPASSWD: /usr/sbin/zfs, /usr/bin/tee ^${backups}/[.]${snapshot}[.]part\$, /usr/bin/mv ^${backups}/[.]${snapshot}[.]part ${backups}/$snapshot\$, /usr/bin/rm ^-f ${backups}/[.]?$snapshot([.]part)?\$"
if [[ "$(cat "$sudoers" 2>/dev/null)" != "$rule" ]]; then
  echo "$rule" >"$sudoers.tmp" && chmod 440 "$sudoers.tmp" && visudo -cqf "$sudoers.tmp"
  mv "$sudoers.tmp" "$sudoers"
fi

# --- keys, generated once: the pinned host key must stay valid across restarts ---
# RSA, ECDSA and ed25519, as TrueNAS SCALE has: a client that does not limit the negotiation to
# the pinned key's type is offered another key and fails, here as at home.
for type in rsa ecdsa ed25519; do
  [[ -f "$NAS/ssh_host_${type}_key" ]] || ssh-keygen -q -t "$type" -N '' -C lab-nas -f "$NAS/ssh_host_${type}_key"
done
[[ -f "$NAS/id_ed25519" ]] || ssh-keygen -q -t ed25519 -N '' -C "$USER_NAME@lab-nas" -f "$NAS/id_ed25519"
install -d -o "$USER_NAME" -g "$USER_NAME" -m 755 "$home"
install -d -o "$USER_NAME" -g "$USER_NAME" -m 700 "$home/.ssh"
install -o "$USER_NAME" -g "$USER_NAME" -m 600 "$NAS/id_ed25519.pub" "$home/.ssh/authorized_keys"

# --- sshd: our own config, only on $ADDR:$PORT; never the system's /etc/ssh ---
cat >"$NAS/sshd_config.new" <<EOF
# Written by lab/nas/start.sh; the system's /etc/ssh/sshd_config is not used.
ListenAddress $ADDR:$PORT
HostKey $NAS/ssh_host_rsa_key
HostKey $NAS/ssh_host_ecdsa_key
HostKey $NAS/ssh_host_ed25519_key
# Like TrueNAS SCALE's generated sshd_config: no AcceptEnv, so every SSH env request is refused
# (a remote command with \`environment\` fails here as it fails at home).
PidFile $RUN/nas-sshd.pid
# VERBOSE logs each accepted key and each session ("Starting session: command ..."): countable.
LogLevel VERBOSE
AllowUsers $USER_NAME
PermitRootLogin no
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
# No PAM: nothing here needs it, and sudo keeps its own.
UsePAM no
AuthorizedKeysFile .ssh/authorized_keys
StrictModes yes
AllowTcpForwarding no
AllowAgentForwarding no
X11Forwarding no
PermitTunnel no
PrintMotd no
# Pulumi opens one connection per command, many at once.
MaxStartups 64:30:128
MaxSessions 64
Subsystem sftp internal-sftp
EOF
install -d -m 755 /run/sshd # sshd's privilege-separation chroot: it refuses to start without it
/usr/sbin/sshd -t -f "$NAS/sshd_config.new"
if alive "$RUN/nas-sshd.pid"; then
  # Running already: only a changed config needs a reload (SIGHUP makes sshd re-exec and re-read).
  if ! cmp -s "$NAS/sshd_config.new" "$NAS/sshd_config"; then
    mv "$NAS/sshd_config.new" "$NAS/sshd_config"
    echo "[nas] reloading sshd"; kill -HUP "$(cat "$RUN/nas-sshd.pid")"; sleep 0.3
  fi
else
  mv "$NAS/sshd_config.new" "$NAS/sshd_config"
  # sshd daemonizes before it binds, so a taken port would only show in its log: check first.
  if ss -Hltn src "$ADDR:$PORT" | grep -q .; then echo "[nas] $ADDR:$PORT is taken by another process"; exit 1; fi
  echo "[nas] starting sshd on $ADDR:$PORT"
  # sshd forks into the background itself and writes its PidFile.
  detach "$LOGS/nas-sshd.log" /usr/sbin/sshd -f "$NAS/sshd_config" -E "$LOGS/nas-sshd.log"
fi
rm -f "$NAS/sshd_config.new"

# --- ready once the port serves *our* host key (not merely some listener on the port) ---
hostkey="$(cut -d' ' -f1,2 "$NAS/ssh_host_ed25519_key.pub")"
serves_our_key() { [[ "$(ssh-keyscan -T 1 -t ed25519 -p "$PORT" "$ADDR" 2>/dev/null | cut -d' ' -f2,3)" == "$hostkey" ]]; }
wait_for 100 serves_our_key || { echo "[nas] sshd does not serve our host key on $ADDR:$PORT; see $LOGS/nas-sshd.log"; exit 1; }

echo "host-key: $hostkey" >&3
echo "client-key: $NAS/id_ed25519" >&3
