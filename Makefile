# Quick start:   make demo    (the nightly audit on bundled sample extracts)
#                make test    (the test suite)
# Each target bootstraps what it needs: .venv with pinned requirements, Airflow's metadata DB.
SHELL := /bin/bash
ENV := source scripts/env.sh &&
DEMO_FROM ?= 2025-06-02
DEMO_TO ?= 2025-06-13
PYTEST_ARGS ?=

.PHONY: demo audit backfill test bootstrap bench bench-parser resend catalogue postgres clean airflow airflow-stop \
	import-ncci

bootstrap:
	@bash scripts/bootstrap.sh

## The main job: audit the demo fortnight through the DAG (writes sample extracts if the inbox is empty).
demo: bootstrap
	@$(ENV) python scripts/audit_range.py --from $(DEMO_FROM) --to $(DEMO_TO) --generate-if-empty --reprocess --daily-digests

## Audit a range through the DAG, day by day, replacing earlier results: make audit FROM=2025-06-01 TO=2025-06-30
audit: bootstrap
	@test -n "$(FROM)" -a -n "$(TO)" || { echo "usage: make audit FROM=YYYY-MM-DD TO=YYYY-MM-DD"; exit 2; }
	@$(ENV) python scripts/audit_range.py --from $(FROM) --to $(TO) --reprocess

## Re-audit history, resumable: days already audited with the current ruleset are skipped (REPROCESS=1 redoes them).
backfill: bootstrap
	@test -n "$(FROM)" -a -n "$(TO)" || { echo "usage: make backfill FROM=YYYY-MM-DD TO=YYYY-MM-DD [REPROCESS=1]"; exit 2; }
	@$(ENV) python scripts/audit_range.py --from $(FROM) --to $(TO) $(if $(REPROCESS),--reprocess,)

## Resend one day's digest through Airflow's SMTP connection (smtp_default): make resend DATE=2025-06-03
resend: bootstrap
	@test -n "$(DATE)" || { echo "usage: make resend DATE=YYYY-MM-DD"; exit 2; }
	@$(ENV) python scripts/resend_digest.py --date $(DATE)

## Import a quarter's CMS NCCI edit files (zips or folders) into the report DB: make import-ncci PATHS="dl/*.zip"
import-ncci: bootstrap
	@test -n "$(PATHS)" || { echo "usage: make import-ncci PATHS='ccipra-v312r0-f1.zip ... MUE.zip' [QUARTER=2025Q3]"; exit 2; }
	@$(ENV) claimaudit reference import-ncci $(PATHS) $(if $(QUARTER),--quarter $(QUARTER),)

## Start the local PostgreSQL cluster if it is down (tests use 127.0.0.1:5432, database test).
postgres:
	@bash scripts/start_postgres.sh

## A local Airflow (api-server, scheduler, dag-processor, triggerer) with the DAG and the Claims audit view;
## prints the URL and the sign-in; Ctrl-C stops it. AIRFLOW_PORT=8080 by default.
airflow: bootstrap
	@bash scripts/airflow_local.sh

airflow-stop:
	@bash scripts/airflow_local.sh stop

test: bootstrap
	@bash scripts/start_postgres.sh || true
	@$(ENV) python -m pytest -q $(PYTEST_ARGS)

bench: bootstrap
	@$(ENV) python scripts/bench_audit.py $(BENCH_ARGS)

bench-parser: bootstrap
	@$(ENV) PYTHONPATH="$(CURDIR)/tests:$$PYTHONPATH" python scripts/bench_parser.py

catalogue: bootstrap
	@$(ENV) claimaudit catalogue

clean:
	rm -rf var/inbox var/audit.db* var/outbox var/quarantine var/staging var/data_docs
