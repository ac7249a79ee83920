#!/usr/bin/env bash
# Start a throwaway PostgreSQL server for the test suite and print its URL (for SCIMAPP_TEST_DATABASE_URL).
#   tools/pg_test_server.sh [PORT]      (default port 54329; data in a temporary folder; fsync off: tests only)
# Needs Debian's postgresql package. Runs the server as the 'postgres' user when started as root.
set -euo pipefail
PORT="${1:-54329}"
PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
[ -x "$PGBIN/initdb" ] || { echo "PostgreSQL is not installed (Debian: apt-get install postgresql)" >&2; exit 1; }
DATA="$(mktemp -d -t scimapp-pg.XXXXXX)"
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$DATA"
as_pg "'$PGBIN/initdb' -D '$DATA' -A trust -U postgres -E UTF8 >'$DATA.initdb.log' 2>&1"
as_pg "'$PGBIN/pg_ctl' -D '$DATA' -w -l '$DATA/server.log' -o \"-p $PORT -k '$DATA' -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300\" start >/dev/null"
echo "postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres"
