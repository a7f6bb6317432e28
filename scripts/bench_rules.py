"""Rules on the generated demo: every planted problem found exactly once, nothing else; timings.

    python scripts/bench_rules.py [--start 2025-06-02] [--end 2025-06-13] [--patients-per-day 16]
                                  [--db sqlite:///var/bench_rules.db]

Generates the window with claimaudit.samples.generator, then day by day parses each file,
loads it into a fresh report DB, runs claimaudit.rules.runner.run_rules and writes the findings
with store.findings.replace_day (so day and course rules see what earlier days reported).
Prints per day: lines received, lines audited, findings, run_rules seconds; then compares the
findings with the manifest's planted list. Exit status 1 on any missed or unexpected finding.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path

from claimaudit.rules.runner import run_rules
from claimaudit.samples.generator import generate
from claimaudit.settings import EXPECTATIONS_DIR
from claimaudit.store.db import engine_for, ensure_schema
from claimaudit.store.findings import replace_day
from claimaudit.store.history import load_results
from claimaudit.x12.parser import parse_path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--start", type=date.fromisoformat, default=date(2025, 6, 2))
    ap.add_argument("--end", type=date.fromisoformat, default=date(2025, 6, 13))
    ap.add_argument("--patients-per-day", type=int, default=None)
    ap.add_argument("--db", default=None)
    ap.add_argument("--no-check", action="store_true", help="timings only (no manifest comparison)")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench_rules_"))
    manifest = generate(work / "inbox", args.start, args.end, patients_per_day=args.patients_per_day)
    engine = engine_for(args.db or f"sqlite:///{work / 'report.db'}")
    ensure_schema(engine)
    found: dict[str, set] = {}
    print(f"{'day':10} {'lines':>7} {'audited':>7} {'findings':>8} {'load_s':>7} {'rules_s':>7}")
    for day_text, info in manifest.days.items():
        day = date.fromisoformat(day_text)
        t0 = time.perf_counter()
        results = [parse_path(work / "inbox" / f.path) for f in info["files"]]
        load_results(engine, results, day)
        t1 = time.perf_counter()
        result = run_rules(engine, day, EXPECTATIONS_DIR, data_docs_dir=work / "data_docs" / day_text)
        t2 = time.perf_counter()
        replace_day(engine, audit_date=day, run_id=f"bench__{day_text}", ruleset_version=result.ruleset_version,
                    findings=result.findings, stats={"files": len(info["files"]), "claims": info["claims"],
                                                     "lines": result.lines_audited, "rejections": 0},
                    started_at=datetime.now(timezone.utc))
        found[day_text] = {(f.rule_id, f.claim_id, f.line_number) for f in result.findings}
        print(f"{day_text:10} {info['lines']:7d} {result.lines_audited:7d} {len(result.findings):8d} "
              f"{t1 - t0:7.2f} {t2 - t1:7.2f}")
        slow = sorted(result.suites, key=lambda s: -s.seconds)[:3]
        print("           slowest suites: " + ", ".join(f"{s.suite} {s.seconds:.2f}s/{s.rows} rows" for s in slow))
    if args.no_check:
        return 0

    expected = {}
    for e in manifest.planted + manifest.resolved:
        expected.setdefault(e["audit_date"], set()).add((e["rule_id"], e["claim_id"], e["line_number"]))
    missed, extra = [], []
    for day_text in manifest.days:
        missed += [(day_text, *k) for k in sorted(expected.get(day_text, set()) - found[day_text], key=str)]
        extra += [(day_text, *k) for k in sorted(found[day_text] - expected.get(day_text, set()), key=str)]
    planted_rules = sorted({e["rule_id"] for e in manifest.planted + manifest.resolved})
    print(f"planted findings: {sum(len(v) for v in expected.values())} over {len(planted_rules)} rule ids; "
          f"missed {len(missed)}, unexpected {len(extra)}")
    for m in missed:
        print("  MISSED    ", m)
    for x in extra:
        print("  UNEXPECTED", x)
    return 1 if missed or extra else 0


if __name__ == "__main__":
    sys.exit(main())
