#!/usr/bin/env bash
# The lab's PostgreSQL: a state backend for lab stacks, as the owner would run one for the homelab
# (README, "Shared state"): Debian's PostgreSQL server, its own cluster in the lab dir, TLS with a
# certificate from the lab's own CA, listening only on $ADDR:$PORT, and least-privilege roles.
#   database pulumi, table pulumi_state (the shape the CLI's postgres backend uses)
#   role pulumi          reads and writes state rows, nothing else (SELECT, INSERT, UPDATE, DELETE)
#   role pulumi_reader   reads them (previews of pull requests)
# usage: bash lab/postgres/start.sh   (env: HOMELAB_LAB_DIR, LAB_PG_ADDRESS, LAB_PG_PORT)
# stdout carries the two backend URLs, one per line (`rw: postgres://...`, `ro: postgres://...`);
# their passwords are generated once and kept in the lab dir. Idempotent.
set -euo pipefail
exec 3>&1 1>&2
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LAB_DIR="${HOMELAB_LAB_DIR:-$ROOT/.lab}"
mkdir -p "$LAB_DIR"
LAB_DIR="$(cd "$LAB_DIR" && pwd)"
ADDR="${LAB_PG_ADDRESS:-127.0.10.5}"
PORT="${LAB_PG_PORT:-5432}"
PG="$LAB_DIR/postgres"
[[ "$ADDR" == 127.* ]] || { echo "[postgres] LAB_PG_ADDRESS must be in 127.0.0.0/8, not $ADDR"; exit 1; }

# --- the server: Debian's, without the system cluster the package would create and start ---
if ! compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; then
  echo "[postgres] installing Debian's postgresql"
  mkdir -p /etc/postgresql-common
  [[ -f /etc/postgresql-common/createcluster.conf ]] || echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
  apt-get -qq -o DPkg::Lock::Timeout=300 update
  RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive apt-get -qq -o DPkg::Lock::Timeout=300 install -y --no-install-recommends postgresql >/dev/null
fi
bin="$(dirname "$(compgen -G "/usr/lib/postgresql/*/bin/postgres" | sort -V | tail -1)")"
as_pg() { runuser -u postgres -- "$@"; }

# The server runs as `postgres` and refuses root: its folder is its own, reachable through ours.
install -d -o postgres -g postgres -m 700 "$PG"
chmod o+x "$LAB_DIR"
if [[ ! -f "$PG/data/PG_VERSION" ]]; then
  echo "[postgres] creating the cluster in $PG/data"
  as_pg "$bin/initdb" -D "$PG/data" --auth-local=peer --auth-host=scram-sha-256 --encoding=UTF8 --locale=C >/dev/null
fi

# --- TLS: a lab CA and a server certificate for $ADDR, made once ---
if [[ ! -f "$PG/ca.crt" ]]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 -subj "/CN=homelab lab postgres CA" \
    -keyout "$PG/ca.key" -out "$PG/ca.crt" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$ADDR" -keyout "$PG/server.key" -out "$PG/server.csr" 2>/dev/null
  openssl x509 -req -in "$PG/server.csr" -CA "$PG/ca.crt" -CAkey "$PG/ca.key" -CAcreateserial -days 3650 \
    -extfile <(printf 'subjectAltName=IP:%s\n' "$ADDR") -out "$PG/server.crt" 2>/dev/null
  chown postgres:postgres "$PG/server.key" "$PG/server.crt" && chmod 600 "$PG/server.key"
  chmod 644 "$PG/ca.crt"
fi

cat >"$PG/lab.conf.new" <<CONF
# Written by lab/postgres/start.sh.
listen_addresses = '$ADDR'
port = $PORT
unix_socket_directories = '$PG'
ssl = on
ssl_cert_file = '$PG/server.crt'
ssl_key_file = '$PG/server.key'
password_encryption = 'scram-sha-256'
hba_file = '$PG/data/hba.conf'
fsync = off
CONF
cat >"$PG/hba.conf.new" <<CONF
# Only TLS connections with a password from the network; the superuser only over the socket.
local all postgres peer
# Lab clients connect from loopback (the kernel picks 127.0.0.1 as their source).
hostssl pulumi pulumi,pulumi_reader 127.0.0.0/8 scram-sha-256
CONF
for f in lab.conf hba.conf; do
  cmp -s "$PG/$f.new" "$PG/data/$f" || install -o postgres -g postgres -m 600 "$PG/$f.new" "$PG/data/$f"
  rm -f "$PG/$f.new"
done
grep -q "^include 'lab.conf'" "$PG/data/postgresql.conf" || echo "include 'lab.conf'" >>"$PG/data/postgresql.conf"

if as_pg "$bin/pg_ctl" -D "$PG/data" status >/dev/null 2>&1; then
  as_pg "$bin/pg_ctl" -D "$PG/data" reload >/dev/null 3>&-
else
  echo "[postgres] starting on $ADDR:$PORT"
  # The server must hold none of our pipes (fd 3 is the caller's stdout): it outlives this script.
  as_pg "$bin/pg_ctl" -D "$PG/data" -l "$PG/server.log" -w start </dev/null >/dev/null 2>&1 3>&-
fi

# --- database, table and roles ---
psql_su() { as_pg psql -h "$PG" -p "$PORT" -v ON_ERROR_STOP=1 -qAt "$@"; }
password() { # <role>: generated once
  [[ -s "$PG/$1.password" ]] || { openssl rand -hex 24 >"$PG/$1.password"; chmod 600 "$PG/$1.password"; }
  cat "$PG/$1.password"
}
[[ "$(psql_su -d postgres -c "select 1 from pg_database where datname = 'pulumi'")" == 1 ]] || psql_su -d postgres -c "create database pulumi"
for role in pulumi pulumi_reader; do
  pw="$(password "$role")"
  psql_su -d postgres -c "do \$\$ begin
    if not exists (select from pg_roles where rolname = '$role') then create role $role login; end if;
  end \$\$; alter role $role login password '$pw'; revoke all on database pulumi from $role; grant connect on database pulumi to $role;" >/dev/null
done
# The table the CLI's postgres backend would create (pkg/backend/diy/postgres, schema.sql: key,
# data, updated_at, and a prefix index on key), made by the owner so the roles need no CREATE;
# tests/state.test.ts compares it with the one the CLI makes itself.
psql_su -d pulumi -c "revoke create on schema public from public;
  create table if not exists pulumi_state (key text primary key, data json not null, updated_at timestamp with time zone not null default now());
  create index if not exists pulumi_state_key_prefix_idx on pulumi_state (key text_pattern_ops);
  grant usage on schema public to pulumi, pulumi_reader;
  grant select, insert, update, delete on pulumi_state to pulumi;
  grant select on pulumi_state to pulumi_reader;" >/dev/null

url() { printf 'postgres://%s:%s@%s:%s/pulumi?sslmode=verify-full&sslrootcert=%s' "$1" "$(password "$1")" "$ADDR" "$PORT" "$PG/ca.crt"; }
echo "rw: $(url pulumi)" >&3
echo "ro: $(url pulumi_reader)" >&3
