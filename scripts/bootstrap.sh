#!/usr/bin/env bash
# Make the project runnable on a fresh machine: virtualenv, pinned requirements, the
# claimaudit package (editable), and a migrated Airflow metadata DB. Safe to run again:
# each step is skipped when its inputs have not changed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

stamp="$VENV/.requirements.sha256"
want="$(cat requirements.txt constraints.txt include/pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: creating virtualenv $VENV (pinned requirements; about 2 minutes the first time)"
  "$PYTHON" -m venv "$VENV"
  log="$ROOT/var/pip-install.log"
  mkdir -p "$ROOT/var"
  pip_install() { "$VENV/bin/python" -m pip install --disable-pip-version-check "$@" >>"$log" 2>&1 \
                    || { grep -v '^WARNING: Location' "$log" | tail -40; echo "bootstrap: pip failed, see $log"; exit 1; }; }
  : > "$log"
  pip_install -r requirements.txt -c constraints.txt
  pip_install --no-deps -e include
  echo "$want" > "$stamp"
fi

mkdir -p "$AIRFLOW_HOME" var
if [ ! -f "$AIRFLOW_HOME/airflow.db" ] || [ ! -f "$AIRFLOW_HOME/.migrated" ]; then
  echo "bootstrap: migrating Airflow metadata DB in $AIRFLOW_HOME"
  airflow db migrate >"$AIRFLOW_HOME/db-migrate.log" 2>&1 || { cat "$AIRFLOW_HOME/db-migrate.log"; exit 1; }
  touch "$AIRFLOW_HOME/.migrated"
fi
