#!/usr/bin/env python
"""Write a full-size SYNTHETIC NCCI quarter in the published layouts, for the benchmarks.

    python scripts/ncci_synthetic.py OUT_DIR [--quarter 2025Q2] [--ptp-rows 1500000] [--mue-rows 15000]
                                             [--tables practitioner,hospital] [--seed 13]

Writes, per table, the PTP table split by code range into four zips as CMS ships them
(cci{pra,oph}-vNNMr0-f1.zip .. f4, each holding a tab-delimited .txt) and one MUE zip
(MCR_MUE_{Practitioner,OutpatientHospital}Services_Eff_MM-01-YYYY.zip). Every file says in its
notice lines that it is TEST DATA: the pairs, limits and rationales are invented, not CMS values,
and must never be loaded as a real edit set. The radiation-oncology codes the sample claims use
are in it (so the audit benchmark's lookups find rows), with indicators and limits that mostly do
not fire, as on real claims.

Deterministic for a seed: the same arguments write byte-identical files.
"""

from __future__ import annotations

import argparse
import random
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "include"))

from claimaudit.ncci.importer import normalise_quarter, quarter_bounds  # noqa: E402
from claimaudit.ncci.testfiles import as_text, mue_lines, ptp_lines, write_zip  # noqa: E402

SAMPLE_CODES = ["00501", "77014", "77263", "77280", "77290", "77295", "77300", "77301", "77306", "77334", "77336",
                "77338", "77373", "77385", "77386", "77387", "77402", "77407", "77412", "77418", "77421", "77427",
                "77435", "80840", "G6002", "G6015", "G6016"]
RATIONALES = ["SYNTHETIC: standards of practice (test data)", "SYNTHETIC: mutually exclusive (test data)",
              "SYNTHETIC: more extensive procedure (test data)", "SYNTHETIC: code definition (test data)"]
MUE_RATIONALES = ["SYNTHETIC: clinical data (test data)", "SYNTHETIC: code descriptor (test data)",
                  "SYNTHETIC: nature of service (test data)"]
PARTS = 4


def code_universe(rng: random.Random, n: int) -> list[str]:
    codes = set(SAMPLE_CODES)
    while len(codes) < n:
        if rng.random() < 0.85:
            codes.add(f"{rng.randrange(100, 99999):05d}")
        else:
            codes.add(rng.choice("ABCEGJQ") + f"{rng.randrange(0, 9999):04d}")
    return sorted(codes)


def ptp_rows(rng: random.Random, codes: list[str], total: int, start: date):
    per = max(1, total // len(codes))
    rows = []
    for c1 in codes:
        partners = rng.sample(codes, min(len(codes) - 1, per + 1))
        for c2 in partners:
            if c2 == c1 or len(rows) >= total:
                continue
            old = rng.random() < 0.3
            eff = date(1996, 1, 1) if old else date(rng.randrange(2000, start.year), rng.choice((1, 4, 7, 10)), 1)
            deleted = rng.random() < 0.1
            dele = date(rng.randrange(eff.year + 1, start.year + 1), 1, 1) if deleted else None
            indicator = 9 if deleted and rng.random() < 0.5 else rng.choice((0, 1, 1, 1))
            if c1 in SAMPLE_CODES and c2 in SAMPLE_CODES:
                indicator = 9  # sample claims are clean: their pairs do not fire in the benchmark
            rows.append((c1, c2, old, eff, dele, indicator, rng.choice(RATIONALES)))
    return rows[:total]


def mue_rows(rng: random.Random, codes: list[str], total: int):
    picked = sorted(set(SAMPLE_CODES) | set(rng.sample(codes, min(total, len(codes)))))[:total]
    out = []
    for code in picked:
        mai = rng.choice((1, 2, 3))
        value = rng.choice((1, 2, 3, 4, 6, 10, 50)) if code not in SAMPLE_CODES else 99
        out.append((code, value, mai, rng.choice(MUE_RATIONALES)))
    return out


def write_quarter(out: Path, quarter: str, ptp_total: int, mue_total: int, tables: list[str], seed: int) -> list[Path]:
    start = quarter_bounds(quarter)[0]
    version = f"v{int(quarter[:4]) - 1994}{int(quarter[5]) - 1}r0"  # NCCI version NN.M: year 1994+NN, quarter M+1
    paths = []
    for table in tables:
        rng = random.Random(f"{seed}-{quarter}-{table}")
        codes = code_universe(rng, 16_000)
        rows = ptp_rows(rng, codes, ptp_total, start)
        rows.sort(key=lambda r: (r[0], r[1]))
        prefix = "ccipra" if table == "practitioner" else "ccioph"
        bounds = [len(rows) * k // PARTS for k in range(PARTS + 1)]
        for k in range(PARTS):  # split by code range, as CMS does
            stem = f"{prefix}-{version}-f{k + 1}"
            paths.append(write_zip(out / f"{stem}.zip", {f"{stem}.txt": as_text(ptp_lines(rows[bounds[k]:bounds[k + 1]]))}))
        name = "PractitionerServices" if table == "practitioner" else "OutpatientHospitalServices"
        stem = f"MCR_MUE_{name}_Eff_{start.month:02d}-01-{start.year}"
        paths.append(write_zip(out / f"{stem}.zip", {f"{stem}.txt": as_text(mue_lines(mue_rows(rng, codes, mue_total),
                                                                                        table))}))
    return paths


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--quarter", default="2025Q2")
    ap.add_argument("--ptp-rows", type=int, default=1_500_000)
    ap.add_argument("--mue-rows", type=int, default=15_000)
    ap.add_argument("--tables", default="practitioner,hospital")
    ap.add_argument("--seed", type=int, default=13)
    args = ap.parse_args()
    paths = write_quarter(args.out, normalise_quarter(args.quarter), args.ptp_rows, args.mue_rows,
                          [t.strip() for t in args.tables.split(",") if t.strip()], args.seed)
    for p in paths:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
