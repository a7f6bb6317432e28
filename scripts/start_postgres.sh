#!/usr/bin/env bash
# Start the machine's PostgreSQL cluster when it is not accepting connections on 127.0.0.1:5432.
set -u
if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then exit 0; fi
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "start_postgres: PostgreSQL is down and pg_ctlcluster is not installed" >&2; exit 1
fi
pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && exit 0; sleep 1; done
echo "start_postgres: PostgreSQL did not come up on 127.0.0.1:5432" >&2; exit 1
