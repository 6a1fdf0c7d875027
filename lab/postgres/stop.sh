#!/usr/bin/env bash
# Stops the lab's PostgreSQL (lab/postgres/start.sh); its cluster stays in the lab dir. Idempotent.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PG="${HOMELAB_LAB_DIR:-$ROOT/.lab}/postgres"
bin="$(dirname "$(compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" | sort -V | tail -1)")"
[[ -f "$PG/data/postmaster.pid" ]] && runuser -u postgres -- "$bin/pg_ctl" -D "$PG/data" -m fast -w stop >/dev/null
exit 0
