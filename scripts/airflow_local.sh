#!/usr/bin/env bash
# `make airflow`: a local Airflow with the project's DAG and the "Claims audit" plugin, on 127.0.0.1.
#
# Starts api-server, scheduler, dag-processor and triggerer (LocalExecutor, SQLite metadata DB in
# $AIRFLOW_HOME = var/airflow), prints the URL and the sign-in, and stops all four on Ctrl-C or
# `make airflow-stop`. On first start, when the report DB has no audited day yet, the demo
# fortnight is audited through the DAG first (about a minute) so the view has findings to show.
#
# Sign-in: Airflow's SimpleAuthManager with three local users, one per role the view knows:
#   admin (admin), billing (user: may triage), auditor (viewer: read only).
# Their passwords are generated once into $AIRFLOW_HOME/simple_auth_manager_passwords.json
# (local use only; a real deployment uses a real auth manager) and printed at every start.
#
# Settings (environment): AIRFLOW_PORT (default 8080, or a free port when 8080 is taken),
# AIRFLOW_LOCAL_DEMO=0 (do not audit the demo fortnight on first start), AIRFLOW_HOME, AUDIT_*.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

RUN_DIR="$AIRFLOW_HOME/run"
LOG_DIR="$AIRFLOW_HOME/logs/services"
mkdir -p "$RUN_DIR" "$LOG_DIR"

stop_services() {
  local stopped=0 pid
  for f in "$RUN_DIR"/*.pid; do
    [ -e "$f" ] || continue
    pid="$(cat "$f")"
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      stopped=1
    fi
  done
  if [ "$stopped" = 1 ]; then
    for _ in $(seq 1 30); do
      local alive=0
      for f in "$RUN_DIR"/*.pid; do
        [ -e "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && alive=1
      done
      [ "$alive" = 0 ] && break
      sleep 1
    done
    for f in "$RUN_DIR"/*.pid; do
      [ -e "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && kill -KILL -- "-$(cat "$f")" 2>/dev/null || true
    done
  fi
  rm -f "$RUN_DIR"/*.pid "$RUN_DIR/url"
}

if [ "${1:-}" = "stop" ]; then
  stop_services
  echo "airflow: stopped (AIRFLOW_HOME=$AIRFLOW_HOME)"
  exit 0
fi

for f in "$RUN_DIR"/*.pid; do
  if [ -e "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; then
    echo "airflow: already running ($(cat "$RUN_DIR/url" 2>/dev/null || echo "$AIRFLOW_HOME")); make airflow-stop first" >&2
    exit 1
  fi
done
rm -f "$RUN_DIR"/*.pid

port_free() { python - "$1" <<'PY'
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
PY
}
PORT="${AIRFLOW_PORT:-8080}"
if ! port_free "$PORT"; then
  [ -n "${AIRFLOW_PORT:-}" ] && { echo "airflow: port $PORT is taken" >&2; exit 1; }
  PORT="$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
fi
URL="http://127.0.0.1:$PORT"

# Local secrets, made once: tokens stay valid across restarts, and every component shares them.
SECRETS="$AIRFLOW_HOME/local-secrets.env"
if [ ! -f "$SECRETS" ]; then
  (umask 077; python - >"$SECRETS" <<'PY'
import secrets
print(f"AIRFLOW__API_AUTH__JWT_SECRET={secrets.token_urlsafe(32)}")
print(f"AIRFLOW__API__SECRET_KEY={secrets.token_urlsafe(32)}")
PY
  )
fi
set -a; source "$SECRETS"; set +a

PASSWORDS="$AIRFLOW_HOME/simple_auth_manager_passwords.json"
export AIRFLOW__CORE__AUTH_MANAGER="airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin,billing:user,auditor:viewer"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="$PASSWORDS"
if [ ! -s "$PASSWORDS" ]; then
  (umask 077; python - "$PASSWORDS" <<'PY'
import json, secrets, sys
users = ("admin", "billing", "auditor")
json.dump({u: secrets.token_urlsafe(9) for u in users}, open(sys.argv[1], "w"))
PY
  )
fi

export AIRFLOW__CORE__EXECUTOR=LocalExecutor
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-2}"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="$URL/execution/"
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT="$PORT"
export AIRFLOW__API__BASE_URL="$URL"
export AUDIT_AIRFLOW_BASE_URL="${AUDIT_AIRFLOW_BASE_URL:-$URL}"
export AIRFLOW__LOGGING__LOGGING_LEVEL="${AIRFLOW_LOCAL_LOG_LEVEL:-INFO}"

if [ ! -f "$AIRFLOW_HOME/airflow.db" ] || [ ! -f "$AIRFLOW_HOME/.migrated" ]; then
  airflow db migrate >"$AIRFLOW_HOME/db-migrate.log" 2>&1 || { cat "$AIRFLOW_HOME/db-migrate.log"; exit 1; }
  touch "$AIRFLOW_HOME/.migrated"
fi
claimaudit migrate >/dev/null

audited_days() { python - <<'PY'
from sqlalchemy import func, select
from claimaudit.settings import Settings
from claimaudit.store.db import engine_for
from claimaudit.store.schema import audit_run
with engine_for(Settings.from_env().db_url).connect() as conn:
    print(conn.scalar(select(func.count()).select_from(audit_run)))
PY
}
if [ "${AIRFLOW_LOCAL_DEMO:-1}" != 0 ] && [ "$(audited_days)" = 0 ]; then
  echo "airflow: first start: auditing the demo fortnight through the DAG so the view has findings (about a minute)"
  python scripts/audit_range.py --from "${DEMO_FROM:-2025-06-02}" --to "${DEMO_TO:-2025-06-13}" --generate-if-empty \
    --reprocess >"$LOG_DIR/demo.log" 2>&1 || { tail -30 "$LOG_DIR/demo.log"; exit 1; }
fi

trap 'echo; echo "airflow: stopping"; stop_services; echo "airflow: stopped"; exit 0' INT TERM
start() {
  local name="$1"; shift
  # setsid: each component leads its own process group, so stopping it stops its workers too.
  setsid airflow "$@" >"$LOG_DIR/$name.log" 2>&1 < /dev/null &
  echo $! >"$RUN_DIR/$name.pid"
}
start api-server api-server --host 127.0.0.1 --port "$PORT"
start scheduler scheduler
start dag-processor dag-processor
start triggerer triggerer
echo "$URL" >"$RUN_DIR/url"

for _ in $(seq 1 180); do
  if curl -fs "$URL/api/v2/monitor/health" >/dev/null 2>&1; then break; fi
  for f in "$RUN_DIR"/*.pid; do
    if ! kill -0 "$(cat "$f")" 2>/dev/null; then
      name="$(basename "$f" .pid)"
      echo "airflow: $name exited; last lines of $LOG_DIR/$name.log:" >&2
      tail -30 "$LOG_DIR/$name.log" >&2
      stop_services
      exit 1
    fi
  done
  sleep 1
done
curl -fs "$URL/api/v2/monitor/health" >/dev/null || { echo "airflow: api-server did not answer on $URL" >&2; stop_services; exit 1; }

python - "$PASSWORDS" "$URL" <<'PY'
import json, sys
passwords, url = json.load(open(sys.argv[1])), sys.argv[2]
roles = {"admin": "admin", "billing": "user: may triage findings", "auditor": "viewer: read only"}
print(f"""
Airflow is running on {url}  (DAG claims_audit_nightly; logs in {sys.argv[1].rsplit('/', 1)[0]}/logs/services)
Claims audit view: {url}/claims-audit/findings   (also "Claims audit" in Airflow's navigation)
Sign in (local users, passwords in {sys.argv[1]}):""")
for user, role in roles.items():
    print(f"  {user:8} {passwords.get(user, '?'):14} {role}")
print("Stop: Ctrl-C here, or `make airflow-stop` from another shell.", flush=True)
PY

# Stay in the foreground until Ctrl-C (trap above) or a component dies.
while true; do
  for f in "$RUN_DIR"/*.pid; do
    [ -e "$f" ] || exit 0  # stopped by `make airflow-stop`
    if ! kill -0 "$(cat "$f")" 2>/dev/null; then
      name="$(basename "$f" .pid)"
      echo "airflow: $name exited; see $LOG_DIR/$name.log; stopping the others" >&2
      stop_services
      exit 1
    fi
  done
  sleep 2
done
