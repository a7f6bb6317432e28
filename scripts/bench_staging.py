#!/usr/bin/env python
"""Benchmark staging: write and read back a month-sized parse result (the rows load_history reads).

    python scripts/bench_staging.py [--lines 1000000] [--files 10]

Parses a generated 837P of ``--lines / --files`` service lines once, then writes it ``--files``
times to a temporary staging folder and reads every copy back with ``read_staged_rows`` (what
``load_history`` does for a month onboarded as one day: about 1M lines in 252 files). Prints
seconds for write and read and the bytes on disk. Best of ``--repeat``.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "include"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_parser import generate  # noqa: E402

from claimaudit import staging  # noqa: E402
from claimaudit.x12.parser import parse_bytes  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--files", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    result = parse_bytes(generate(args.lines // args.files), "bench.837")
    print(f"one file: {len(result.claims)} claims, {len(result.lines)} lines; x{args.files} files; "
          f"format {staging.FORMAT}")
    best_w = best_r = float("inf")
    size = 0
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            paths = [Path(tmp) / f"f{i}.stage" for i in range(args.files)]
            gc.collect()
            t0 = time.perf_counter()
            for p in paths:
                staging.write_parse_result(result, p)
            best_w = min(best_w, time.perf_counter() - t0)
            size = sum(p.stat().st_size for p in paths)
            gc.collect()
            t0 = time.perf_counter()
            rows = [staging.read_staged_rows(p) for p in paths]
            best_r = min(best_r, time.perf_counter() - t0)
            assert sum(len(r.lines) for r in rows) == len(result.lines) * args.files
            del rows
    print(f"write {best_w:.2f} s, read {best_r:.2f} s, {size / 2**20:.0f} MiB on disk")
    return 0


if __name__ == "__main__":
    sys.exit(main())
