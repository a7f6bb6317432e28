"""Resend one audited day's digest through Airflow's SMTP connection (``smtp_default``).

    python scripts/resend_digest.py --date 2025-06-03

The digest is rebuilt from the report DB (findings are already committed), so a resend after an
SMTP outage sends exactly what the failed run would have sent. Without an SMTP connection the
digest is written to var/outbox/ instead, as the DAG does.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--date", required=True, type=date.fromisoformat)
    args = ap.parse_args(argv)

    from claimaudit import pipeline

    path = Path(os.environ.get("AIRFLOW__CORE__DAGS_FOLDER", ROOT / "dags")) / "claims_audit_nightly.py"
    spec = importlib.util.spec_from_file_location("claims_audit_nightly", path)
    dag_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dag_module)

    # The same links as the nightly run: its run id is in the report DB, the base URL in Airflow's config.
    from claimaudit.settings import Settings
    from claimaudit.store.db import engine_for
    from claimaudit.store.findings import day_summary

    run = day_summary(engine_for(Settings.from_env().db_url), args.date).run
    base_url = dag_module.airflow_base_url()
    run_url = pipeline.airflow_run_url("claims_audit_nightly", run.run_id, airflow_base_url=base_url) \
        if run is not None and not run.run_id.startswith("local__") else ""
    where = pipeline.deliver_digest(args.date, send=dag_module.send_with_airflow_smtp, run_url=run_url,
                                    airflow_base_url=base_url)
    if where.startswith("smtp:"):
        print(f"{args.date}: digest resent to {where[5:]}")
    elif where.startswith("none:"):
        print(f"{args.date}: {where[6:]}; nothing to send")
    else:
        print(f"{args.date}: no SMTP connection 'smtp_default'; digest written to {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
