"""Findings browser on 100,000 findings: how long the list, its filters, sorting, deep pages and
one finding's page take. A benchmark, not a test: prints numbers.

    source scripts/env.sh && python scripts/bench_review.py [--db-url URL] [--findings 100000]

Builds a scratch report DB (SQLite file under var/bench/ unless --db-url), fills audit_finding
with synthetic findings over 90 audited days (a fifth of them found again on a later day), and
reviews 5% of them, then times each query (best of 5, after one warm-up).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import func, select

from claimaudit.review import queries as q
from claimaudit.settings import PROJECT_ROOT
from claimaudit.store import schema as t
from claimaudit.store.db import engine_for, ensure_schema

RULES = [f"R77386-RULE-{n:02d}" for n in range(25)]
PAYERS = ["CI", "MB", "MC", "BL", "16", "HM"]
DAY0 = date(2025, 1, 1)


def fill(engine, n: int, seed: int = 7) -> list[str]:
    rnd = random.Random(seed)
    now = datetime(2025, 6, 1, tzinfo=timezone.utc)
    rows, ids = [], []
    for i in range(n):
        claim_key = hashlib.sha256(f"claim{i // 3}".encode()).hexdigest()[:32]
        rule = RULES[rnd.randrange(len(RULES))]
        fid = hashlib.sha256(f"{rule}|{claim_key}|{i % 3 + 1}".encode()).hexdigest()[:32]
        day = DAY0 + timedelta(days=rnd.randrange(90))
        base = dict(finding_id=fid, run_id=f"scheduled__{day}", audit_date=day, rule_id=rule,
                    severity="error" if rnd.random() < 0.6 else "warning", claim_id=f"CLM{i // 3:08d}",
                    line_number=i % 3 + 1, date_of_service=day - timedelta(days=1), procedure_code="77386",
                    modifiers="", message="A synthetic finding for the benchmark.", source_file=f"f{day}.x12",
                    interchange_control="000000001", billing_npi="1234567893", payer_class=rnd.choice(PAYERS),
                    ruleset_version="bench", first_seen_at=now, claim_key=claim_key,
                    status="resolved" if rnd.random() < 0.05 else "open", resolved_at=None)
        rows.append(base)
        ids.append(fid)
        if rnd.random() < 0.2 and day < DAY0 + timedelta(days=89):  # found again on a later day
            rows.append(dict(base, audit_date=day + timedelta(days=1), run_id=f"scheduled__{day + timedelta(days=1)}"))
    with engine.begin() as conn:
        for i in range(0, len(rows), 5000):
            conn.execute(t.audit_finding.insert(), rows[i:i + 5000])
        reviewed = rnd.sample(ids, n // 20)
        conn.execute(t.finding_review_state.insert(), [
            dict(finding_id=f, status=rnd.choice(["acknowledged", "suppressed", "reopened"]), review_id=k + 1,
                 updated_at=now) for k, f in enumerate(reviewed)])
    return ids


def timed(label: str, fn, repeat: int = 5) -> None:
    fn()
    best = min(_once(fn) for _ in range(repeat))
    print(f"  {label:58} {best * 1000:8.1f} ms")


def _once(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db-url", default="")
    ap.add_argument("--findings", type=int, default=100_000)
    args = ap.parse_args()
    url = args.db_url
    if not url:
        path = PROJECT_ROOT / "var" / "bench" / "review.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    engine = engine_for(url)
    ensure_schema(engine)
    t0 = time.perf_counter()
    ids = fill(engine, args.findings)
    with engine.connect() as conn:
        total_rows = conn.scalar(select(func.count()).select_from(t.audit_finding))
    print(f"{engine.dialect.name}: {args.findings:,} findings ({total_rows:,} rows over 90 days) "
          f"loaded in {time.perf_counter() - t0:.1f} s")
    with engine.begin() as conn:  # planner statistics, as autovacuum / a nightly ANALYZE would leave them
        conn.exec_driver_sql("ANALYZE")
    F = q.FindingFilter
    d = DAY0 + timedelta(days=45)
    with engine.connect() as conn:
        cases = [
            ("list, no filter, newest first (page 1 + total)", lambda: q.list_findings(conn, F())),
            ("list, one audited day", lambda: q.list_findings(conn, F(day_from=d, day_to=d))),
            ("list, a week, errors only", lambda: q.list_findings(conn, F(day_from=d, day_to=d + timedelta(days=6),
                                                                            severity="error"))),
            ("list, one rule, sorted by claim", lambda: q.list_findings(conn, F(rule_id=RULES[3]), sort="claim_id",
                                                                         descending=False)),
            ("list, status suppressed", lambda: q.list_findings(conn, F(status="suppressed"))),
            ("list, status open, payer class MB", lambda: q.list_findings(conn, F(status="open", payer_class="MB"))),
            ("list, one claim id", lambda: q.list_findings(conn, F(claim_id="CLM00012345"))),
            ("list, no filter, page 1000 of 2000", lambda: q.list_findings(conn, F(), page=1000)),
            ("rule page counts (one rule, by status)", lambda: q.status_counts(conn, rule_id=RULES[5])),
            ("rules page counts (every rule, by status)", lambda: q.status_counts_by_rule(conn)),
            ("one finding in context", lambda: q.finding_detail(conn, ids[4242])),
        ]
        for label, fn in cases:
            timed(label, fn)
    engine.dispose()


if __name__ == "__main__":
    main()
