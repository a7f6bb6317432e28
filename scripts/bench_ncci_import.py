#!/usr/bin/env python
"""Benchmark: import a full-size SYNTHETIC NCCI quarter (issue 13) into a fresh report DB.

    python scripts/bench_ncci_import.py [--db sqlite,postgresql] [--ptp-rows 1500000] [--mue-rows 15000]
                                        [--work var/bench/ncci] [--json FILE]

The quarter (one table: PTP split into four zips + MUE, see scripts/ncci_synthetic.py) is written
once under --work and reused. Per database: read + validate the files, write them in one
transaction (the whole import, as ``claimaudit reference import-ncci`` runs it), then the same
import again (idempotent: nothing written). Target: the whole import <= 60 s on each database.
PostgreSQL: a scratch database on 127.0.0.1:5432, dropped afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "include"))
sys.path.insert(0, str(ROOT / "scripts"))

TARGET_S = 60.0


def _pg_url():
    import psycopg

    for user in ("postgres", "root"):
        try:
            admin = psycopg.connect(host="127.0.0.1", port=5432, dbname="test", user=user, autocommit=True)
        except psycopg.OperationalError:
            continue
        name = f"bench_ncci_{secrets.token_hex(4)}"
        admin.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://{user}@127.0.0.1:5432/{name}", admin, name
    raise RuntimeError("PostgreSQL not reachable on 127.0.0.1:5432")


def bench(kind: str, paths: list[Path], work: Path) -> dict:
    from sqlalchemy import func, select

    from claimaudit.ncci.importer import import_ncci, read_files, write_plans
    from claimaudit.ncci.tables import ncci_ptp
    from claimaudit.store.db import engine_for, ensure_schema

    admin = name = None
    if kind == "sqlite":
        db = work / "bench.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{db}"
    else:
        url, admin, name = _pg_url()
    engine = engine_for(url)
    try:
        ensure_schema(engine)
        t0 = time.perf_counter()
        plans = read_files(paths)
        t1 = time.perf_counter()
        write_plans(engine, plans)
        t2 = time.perf_counter()
        again = import_ncci(engine, paths)
        t3 = time.perf_counter()
        with engine.connect() as conn:
            rows = conn.execute(select(func.count()).select_from(ncci_ptp)).scalar_one()
        return {"db": kind, "ptp_rows": rows, "mue_rows": sum(p.rows for p in plans if p.kind == "mue"),
                "read_s": round(t1 - t0, 1), "write_s": round(t2 - t1, 1), "import_s": round(t2 - t0, 1),
                "reimport_s": round(t3 - t2, 1), "reimport_added": len(again.added)}
    finally:
        engine.dispose()
        if admin is not None:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default="sqlite,postgresql")
    ap.add_argument("--ptp-rows", type=int, default=1_500_000)
    ap.add_argument("--mue-rows", type=int, default=15_000)
    ap.add_argument("--work", type=Path, default=ROOT / "var" / "bench" / "ncci")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    from ncci_synthetic import write_quarter

    files = args.work / f"quarter-{args.ptp_rows}-{args.mue_rows}"
    if not files.is_dir():
        print(f"writing the synthetic quarter into {files} ...", flush=True)
        write_quarter(files, "2025Q2", args.ptp_rows, args.mue_rows, ["practitioner"], 13)
    paths = sorted(files.glob("*.zip"))
    print(f"machine: {os.cpu_count()} cores (shared with other work while measured); {len(paths)} zip files", flush=True)
    rows = []
    for kind in [k.strip() for k in args.db.split(",") if k.strip()]:
        r = bench(kind, paths, args.work)
        rows.append(r)
        ok = "OK" if r["import_s"] <= TARGET_S else "MISSED"
        print(f"{kind}: {r['ptp_rows']:,} PTP + {r['mue_rows']:,} MUE rows: read {r['read_s']} s, write {r['write_s']} s, "
              f"import {r['import_s']} s (target {TARGET_S:.0f}) -> {ok}; same files again {r['reimport_s']} s, "
              f"{r['reimport_added']} edit set(s) added", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
