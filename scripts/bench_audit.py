#!/usr/bin/env python
"""End-to-end benchmark of the nightly audit: one day against growing history, and a one-shot month.

    python scripts/bench_audit.py [--db sqlite,postgresql] [--history 100000,300000,1000000]
                                  [--day-lines 50000] [--oneshot-lines 1000000] [--workers 2]
                                  [--batch-lines N] [--skip-days] [--skip-flat] [--skip-oneshot]
                                  [--full-history] [--work var/bench] [--json FILE] [--ncci DIR]

Data: claimaudit.samples.generator writes business days of about ``--day-lines`` service lines
each (patients_per_day = day_lines / 2), from 2025-06-02, as many days as the largest history
needs plus one. The inbox is cached under ``--work`` and reused by later runs.

Every audit runs the pipeline's steps in DAG order, each task in a process of its own as
Airflow runs it (its imports and memory are its own): parse_file per file, load_history,
plan_rules, run_rules per batch of patients, write_findings, build_digest + write_outbox. The
mapped tasks (parse_file, run_rules) run ``--workers`` at a time, as LocalExecutor with that
parallelism does. Airflow's own scheduling overhead per task is not counted. Peak RSS is sampled
every 50 ms over all the processes together.

Scenarios, per database:
- day: history grows in one report DB. For each history size H the days before the audited day
  (together >= H lines) are loaded with parse_file + load_history (no rules; ``--full-history``
  runs the whole audit for them), then the next day is audited.
- flat: the same day (the third) against its own two days of history plus a growing history of
  other patients (seed 8, received before the window) up to each size H: the rules read only
  the day's patients, so the time per day should stay flat.
- one-shot: the files of the first ``--oneshot-lines`` lines of the window are linked into a
  single inbox day and audited in a fresh report DB (a month onboarded at once).
- mixed (issue 18): three months of radiation-oncology days (generated as the claims the audit
  scope keeps) loaded as history, then a day of ``--mixed-lines`` lines of which ``--mixed-share``
  are radiation oncology (the rest other departments' 837P files) audited whole.
- ``--store-year DAYS`` (issue 18, alone): DAYS mixed days of ``--year-lines`` lines loaded with
  parse_file + load_history into one report DB; the store's size and rows every ``--year-every`` days.

PostgreSQL: a scratch database on 127.0.0.1:5432 is created with psycopg and dropped afterwards.
--ncci DIR (issue 13): every fresh report DB first imports the NCCI edit-set zips in DIR (the
synthetic full-size quarter of scripts/ncci_synthetic.py), so NCCI-PTP/NCCI-MUE check the day;
compare with a run without it. Target: <= 10 % more time for the 50k-line day.
Targets (issue 8): day of 50k lines against 1M history <= 60 s, one-shot 1M <= 120 s, peak RSS
<= 2 GiB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from datetime import date, datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "include"))

FIRST_DAY = date(2025, 6, 2)
OTHER_FIRST_DAY = date(2025, 3, 3)  # other patients' history: business days before FIRST_DAY
ONESHOT_DAY = date(2025, 8, 1)  # after every generated day: the one-shot inbox folder
PG_HOST, PG_PORT, PG_ADMIN_DB = "127.0.0.1", 5432, "test"
PG_USERS = ("postgres", "root")
TARGETS = {"day_1M_s": 60.0, "oneshot_s": 120.0, "rss_mib": 2048.0, "mixed_s": 45.0}


# ------------------------------------------------------------------------------------------- child side

def _settings(cfg: dict):
    from claimaudit.settings import Settings

    env = {"AUDIT_INBOX": cfg["inbox"], "AUDIT_VAR_DIR": cfg["var_dir"], "AUDIT_DB_URL": cfg["db_url"]}
    if cfg.get("batch_lines"):
        env["AUDIT_RULE_BATCH_LINES"] = str(cfg["batch_lines"])
    if cfg.get("workers"):  # as a deployment sets it: one rule task per worker that can run at once
        env["AUDIT_RULE_TASKS"] = str(cfg["workers"])
    if cfg.get("keep_all"):  # issue 18: store every department's claims
        env["AUDIT_KEEP_ALL_CLAIMS"] = "true"
    return Settings.from_env(env)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _parse_day(pipeline, day: date, s, cfg: dict, pool) -> tuple[float, int]:
    t0 = time.perf_counter()
    files = pipeline.begin_day(day, s)
    list(pool.map(_parse_task, [(f, day.isoformat(), cfg) for f in files]))
    return time.perf_counter() - t0, len(files)


def child_load(cfg: dict) -> dict:
    """History days: parse + load only (or the whole audit with full_history)."""
    from claimaudit import pipeline

    s = _settings(cfg)
    parse_s = load_s = 0.0
    lines = lines_read = 0
    pool = _pool(cfg["workers"], fresh=False)  # the parse workers serve every day (not timed per day)
    for text in cfg["days"]:
        day = date.fromisoformat(text)
        if cfg.get("full_history"):
            lines += pipeline.audit_day(day, s)["loaded"]["day_lines"]
            continue
        seconds, _ = _parse_day(pipeline, day, s, cfg, pool)
        parse_s += seconds
        t0 = time.perf_counter()
        loaded = pipeline.load_history(day, s)
        load_s += time.perf_counter() - t0
        lines += loaded.day_lines
        lines_read += loaded.lines_read
        shutil.rmtree(s.staging_dir / text, ignore_errors=True)  # write_findings drops it in a real run
    pool.shutdown()
    return {"days": len(cfg["days"]), "lines": lines, "lines_read": lines_read, "parse_s": parse_s,
            "load_s": load_s, "rss_mib": _peak_rss_mib()}


class TreeRss:
    """Samples the resident memory of this process and all its descendants (the parallel task
    workers included) every 50 ms; ``peak_mib`` is the largest total seen: the step's real
    concurrent peak, not a sum of the workers' separate peaks."""

    def __init__(self, interval: float = 0.05):
        import threading

        self.interval = interval
        self.peak_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _children(pid: int) -> list[int]:
        out = []
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as fh:
                    out += [int(c) for c in fh.read().split()]
        except OSError:  # the process ended between two reads
            pass
        return out

    @staticmethod
    def _rss_kib(pid: int) -> int:
        try:
            with open(f"/proc/{pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def sample(self) -> float:
        todo, total = [os.getpid()], 0
        while todo:
            pid = todo.pop()
            total += self._rss_kib(pid)
            todo += self._children(pid)
        self.peak_mib = max(self.peak_mib, total / 1024)
        return total / 1024

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> "TreeRss":
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _parse_task(args: tuple[str, str, dict]) -> float:
    """One parse_file task (a mapped Airflow task): returns the worker's peak RSS so far."""
    from claimaudit import pipeline

    path, day, cfg = args
    pipeline.parse_file(path, day, _settings(cfg))
    return _peak_rss_mib()


def _rules_task(args: tuple[str, dict, dict]) -> dict:
    """One run_rules task (one batch of patients) in a fresh process, as Airflow runs a task:
    importing Great Expectations is part of its cost."""
    from claimaudit import pipeline

    day, batch, cfg = args
    out = pipeline.run_rules(day, batch, _settings(cfg)).as_xcom()
    out["rss_mib"] = _peak_rss_mib()
    return out


def _load_task(day: str, cfg: dict) -> tuple[dict, float]:
    from claimaudit import pipeline

    return pipeline.load_history(day, _settings(cfg)).as_xcom(), _peak_rss_mib()


def _plan_task(day: str, cfg: dict) -> tuple[list[dict], float]:
    from claimaudit import pipeline

    return [share.as_xcom() for share in pipeline.plan_rules(day, _settings(cfg))], _peak_rss_mib()


def _write_task(day: str, cfg: dict, rules: list[dict], loaded: dict, started: str) -> tuple[dict, float]:
    from claimaudit import pipeline

    return pipeline.write_findings(day, f"bench__{day}", rules, loaded, started, _settings(cfg)), _peak_rss_mib()


def _email_task(day: str, cfg: dict) -> tuple[str, float]:
    from claimaudit import pipeline

    s = _settings(cfg)
    message = pipeline.build_digest(day, s)
    return (str(pipeline.write_outbox(message, day, s)) if message is not None else ""), _peak_rss_mib()


def _task(fn, *args):
    """One task in a process of its own, as Airflow runs it (its memory is returned when it ends)."""
    with _pool(1, fresh=True) as pool:
        return pool.submit(fn, *args).result()


def _pool(workers: int, fresh: bool):
    from concurrent.futures import ProcessPoolExecutor

    if fresh:  # a new interpreter per task
        return ProcessPoolExecutor(max_workers=workers, max_tasks_per_child=1)
    import multiprocessing

    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def child_audit(cfg: dict) -> dict:
    """One day through the pipeline's steps in DAG order, each timed. parse_file and run_rules are
    mapped tasks: they run on ``workers`` processes at once, as LocalExecutor runs them."""
    from claimaudit import pipeline

    s = _settings(cfg)
    day = date.fromisoformat(cfg["day"])
    started = datetime.now(timezone.utc)
    total0 = time.perf_counter()
    with TreeRss() as tree:
        out = _audit_steps(pipeline, cfg, s, day, started, total0)
    out["rss_mib"] = tree.peak_mib
    return out


def _audit_steps(pipeline, cfg: dict, s, day: date, started: datetime, total0: float) -> dict:
    """pipeline.STEPS in their order (the DAG's), each timed; a step this lacks is an error."""
    workers = cfg["workers"]
    did: dict = {}

    def parse_files():
        with _pool(workers, fresh=False) as pool:
            did["parse_peaks"] = list(pool.map(_parse_task, [(f, day.isoformat(), cfg) for f in did["files"]]))

    def run_rules():
        with _pool(workers, fresh=True) as pool:
            did["rules"] = list(pool.map(_rules_task, [(day.isoformat(), share, cfg) for share in did["plan"]]))

    run_step = {
        "resolve_day": lambda: None,  # the day and start time are given
        "find_files": lambda: did.update(files=pipeline.begin_day(day, s)),
        "parse_file": parse_files,
        "load_history": lambda: did.update(zip(("loaded", "load_peak"), _task(_load_task, day.isoformat(), cfg))),
        "plan_rules": lambda: did.update(plan=_task(_plan_task, day.isoformat(), cfg)[0]),
        "run_rules": run_rules,
        "write_findings": lambda: _task(_write_task, day.isoformat(), cfg,  # run_rules' results, as XCom has them
                                        [{k: v for k, v in r.items() if k != "rss_mib"} for r in did["rules"]],
                                        did["loaded"], started.isoformat()),
        "send_summary": lambda: _task(_email_task, day.isoformat(), cfg),
    }
    step_s: dict[str, float] = {}
    for step in pipeline.STEPS:
        t0 = time.perf_counter()
        run_step[step.task_id]()
        step_s[step.task_id] = time.perf_counter() - t0
    files, parse_peaks, loaded, load_peak = did["files"], did["parse_peaks"], did["loaded"], did["load_peak"]
    plan, rules = did["plan"], did["rules"]
    parse_s, load_s, plan_s = step_s["find_files"] + step_s["parse_file"], step_s["load_history"], step_s["plan_rules"]
    rules_s, findings_s, email_s = step_s["run_rules"], step_s["write_findings"], step_s["send_summary"]
    total_s = time.perf_counter() - total0
    stages: dict[str, float] = {}
    for r in rules:  # phase seconds summed over the parts (tasks overlap in time)
        for name, seconds in r["stages"].items():
            stages[name] = stages.get(name, 0.0) + seconds
    # Each step's own peak: the largest worker of parse_file and of run_rules, the loader's process.
    peaks = {"parse": max(parse_peaks, default=0.0), "load": load_peak,
             "rules": max((r["rss_mib"] for r in rules), default=0.0)}
    return {
        # issue 18: what the day's files held, before the audit scope kept the radiation-oncology claims.
        "claims_read": loaded.get("claims_read", loaded["day_claims"]), "lines_read": loaded.get("lines_read", 0),
        "day": day.isoformat(), "files": len(files), "lines": loaded["day_lines"], "claims": loaded["day_claims"],
        "lines_audited": sum(r["lines_audited"] for r in rules), "history_rows": sum(r["history_rows"] for r in rules),
        "batches": len(plan), "parts": sum(len(b["parts"]) for b in plan), "workers": workers,
        "findings": sum(r["findings"] for r in rules), "parse_s": parse_s, "load_s": load_s, "plan_s": plan_s,
        "rules_s": rules_s, "rule_stages": stages, "findings_s": findings_s, "email_s": email_s, "total_s": total_s,
        "lines_per_s": loaded["day_lines"] / total_s if total_s else 0.0, "rss_by_step": peaks,
        "ncci_unchecked": sum(sum(r.get("ncci", {}).get("unchecked", {}).values()) for r in rules),
    }


# ------------------------------------------------------------------------------------------ parent side

def run_child(kind: str, cfg: dict) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", kind, json.dumps(cfg)], cwd=ROOT,
                          stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{kind} step failed (exit {proc.returncode}); its stderr is above")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def prepare_inbox(work: Path, day_lines: int, days: int, *, first_day: date = FIRST_DAY,
                  seed: int = 7, patients: int | None = None,
                  radonc_share: float | None = None) -> tuple[Path, list[tuple[str, int, list[str]]]]:
    """Generate (or reuse) the window; returns the inbox and (day, lines, files) per business day.
    ``patients``: the census (default ``day_lines / 2``); ``radonc_share``: the generator's (1 =
    radiation-oncology claims only)."""
    from claimaudit.samples.calendar import BusinessDays
    from claimaudit.samples.generator import generate

    patients = patients or max(1, day_lines // 2)
    end = BusinessDays(first_day)[days - 1]
    share = "" if radonc_share is None else f"-r{radonc_share:g}"
    inbox = work / f"inbox-p{patients}-s{seed}{share}-{first_day.isoformat()}-{end.isoformat()}"
    manifest_path = inbox / "manifest.json"
    if not manifest_path.exists():
        shutil.rmtree(inbox, ignore_errors=True)
        t0 = time.perf_counter()
        generate(inbox, first_day, end, patients_per_day=patients, seed=seed, radonc_share=radonc_share)
        print(f"generated {inbox.name} in {time.perf_counter() - t0:.1f} s", flush=True)
    else:
        print(f"reusing {inbox.name}", flush=True)
    manifest = json.loads(manifest_path.read_text())
    out = []
    for text, info in sorted(manifest["days"].items()):
        out.append((text, info["lines"], [f["path"] for f in info["files"]]))
    return inbox, out


def _pg_admin():
    """An autocommit connection to the admin database, as the first user that can log in."""
    import psycopg

    last = None
    for user in PG_USERS:
        try:
            return psycopg.connect(host=PG_HOST, port=PG_PORT, dbname=PG_ADMIN_DB, user=user, autocommit=True), user
        except psycopg.OperationalError as exc:
            last = exc
    raise last


class Database:
    """A report DB for one scenario: a SQLite file, or a scratch PostgreSQL database."""

    def __init__(self, kind: str, folder: Path, label: str):
        self.kind = kind
        self.folder = folder
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        if kind == "sqlite":
            self.url = f"sqlite:///{folder / 'audit.db'}"
            self.name = ""
        else:
            self.name = f"claimaudit_bench_{label}_{os.getpid()}"
            conn, user = _pg_admin()
            with conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.name}"')
                conn.execute(f'CREATE DATABASE "{self.name}"')
            self.url = f"postgresql+psycopg://{user}@{PG_HOST}:{PG_PORT}/{self.name}"
        _load_ncci(self.url)

    def size_mib(self) -> float:
        if self.kind == "sqlite":
            return sum(p.stat().st_size for p in self.folder.glob("audit.db*")) / 2**20
        conn, _ = _pg_admin()
        with conn:
            return conn.execute("SELECT pg_database_size(%s)", (self.name,)).fetchone()[0] / 2**20

    def drop(self) -> None:
        if self.kind == "postgresql":
            conn, _ = _pg_admin()
            with conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        shutil.rmtree(self.folder, ignore_errors=True)


RUN_OPTIONS = {"workers": 2, "batch_lines": None, "ncci": []}  # set from the command line


def _load_ncci(url: str) -> None:
    """--ncci: import the edit sets into the fresh report DB before anything is audited (issue 13)."""
    if not RUN_OPTIONS.get("ncci"):
        return
    from claimaudit.ncci.importer import import_ncci
    from claimaudit.store.db import engine_for, ensure_schema

    engine = engine_for(url)
    try:
        ensure_schema(engine)
        t0 = time.perf_counter()
        report = import_ncci(engine, RUN_OPTIONS["ncci"])
        print(f"  NCCI edit sets imported in {time.perf_counter() - t0:.1f} s: "
              f"{', '.join(a['label'] for a in report.added)}", flush=True)
    finally:
        engine.dispose()


def _cfg(inbox: Path, db: Database) -> dict:
    return {"inbox": str(inbox), "var_dir": str(db.folder / "var"), "db_url": db.url, **RUN_OPTIONS}


def bench_days(kind: str, inbox: Path, days, sizes: list[int], work: Path, full_history: bool) -> list[dict]:
    db = Database(kind, work / f"{kind}-days", "days")
    rows = []
    try:
        loaded_upto = 0  # days[:loaded_upto] are in the history
        history_lines = 0
        for size in sizes:
            k = loaded_upto
            while k < len(days) - 1 and history_lines + sum(d[1] for d in days[loaded_upto:k]) < size:
                k += 1
            todo = [d[0] for d in days[loaded_upto:k]]
            load = {"parse_s": 0.0, "load_s": 0.0, "rss_mib": 0.0, "lines": 0}
            if todo:
                load = run_child("load", {**_cfg(inbox, db), "days": todo, "full_history": full_history})
                history_lines += load["lines"]
                print(f"  [{kind}] history +{len(todo)} day(s), {load['lines']} lines: parse {load['parse_s']:.1f} s, "
                      f"load {load['load_s']:.1f} s, peak RSS {load['rss_mib']:.0f} MiB", flush=True)
            audit = run_child("audit", {**_cfg(inbox, db), "day": days[k][0]})
            audit.update(db=kind, scenario=f"day vs {size // 1000}k", history_lines=history_lines,
                         history_load=load, db_mib=db.size_mib())
            rows.append(audit)
            _print_audit(audit)
            history_lines += audit["lines"]
            loaded_upto = k + 1
    finally:
        db.drop()
    return rows


def bench_flat(kind: str, inbox: Path, days, other_inbox: Path, other_days, sizes: list[int], work: Path) -> list[dict]:
    """The same day against growing history of *other* patients. For each size a fresh report DB
    holds the day's own patients' history (the two business days before it) and other patients'
    history (seed 8, received before the window) up to that size; then the day is audited, its
    first time in that DB. The rules read only the day's patients, so the time should stay flat."""
    rows = []
    for size in sizes:
        db = Database(kind, work / f"{kind}-flat", "flat")
        try:
            own = run_child("load", {**_cfg(inbox, db), "days": [d[0] for d in days[:2]], "full_history": False})
            history_lines, todo = own["lines"], []
            for day in other_days:
                if history_lines + sum(d[1] for d in todo) >= size:
                    break
                todo.append(day)
            if todo:
                load = run_child("load", {**_cfg(other_inbox, db), "days": [d[0] for d in todo], "full_history": False})
                history_lines += load["lines"]
            audit = run_child("audit", {**_cfg(inbox, db), "day": days[2][0]})
            audit.update(db=kind, scenario=f"same day vs {size // 1000}k, other patients",
                         history_lines=history_lines, db_mib=db.size_mib())
            rows.append(audit)
            _print_audit(audit)
        finally:
            db.drop()
    return rows


def bench_oneshot(kind: str, inbox: Path, days, lines: int, work: Path) -> dict:
    db = Database(kind, work / f"{kind}-oneshot", "oneshot")
    try:
        one = db.folder / "inbox" / ONESHOT_DAY.isoformat()
        one.mkdir(parents=True)
        total = 0
        for _day, n, files in days:
            if total >= lines:
                break
            for rel in files:
                src = inbox / rel
                dst = one / src.name
                if not dst.exists():  # the redelivered duplicate has the same name on its later day
                    os.link(src, dst)
            total += n
        audit = run_child("audit", {**_cfg(db.folder / "inbox", db), "day": ONESHOT_DAY.isoformat()})
        audit.update(db=kind, scenario=f"one-shot {total // 1000}k", history_lines=0, db_mib=db.size_mib())
        _print_audit(audit)
        return audit
    finally:
        db.drop()


# ------------------------------------------------------------------ issue 18: a health system's whole extract

# Other departments' lines: office visits, labs, imaging, cardiology, therapy, drugs (none in the
# radiation_oncology reference list).
OTHER_CODES = ("99213", "99214", "80053", "85025", "36415", "71046", "93000", "97110", "J1100", "99283",
               "74177", "81001", "G0439", "90471", "96372", "73030")
MIXED_DAYS = 63  # three months of business days of history before the mixed day
# The generator's first weeks ramp up (its courses under way on the first day bill less than a
# steady census): 40 business days are generated before the history and not loaded, so every
# history day is a steady day like the mixed day's (a store that began three months ago).
MIXED_WARMUP_DAYS = 40
MIXED_FIRST_DAY = date(2025, 1, 6)
# Radiation-oncology lines a day per patient of the generator's census once steady (seed 9:
# 30,043 lines on the mixed day at a census of 10,413): the census that gives a day of
# ``--mixed-lines`` x ``--mixed-share`` radiation-oncology lines.
RO_LINES_PER_PATIENT = 2.885


def prepare_ro_days(work: Path, ro_lines: int) -> tuple[Path, list]:
    """Three months of radiation-oncology days plus the mixed day's own: written by the generator
    with radiation-oncology claims only (``radonc_share=1``), so the history is loaded as exactly the
    claims the audit scope would have kept from three months of mixed days."""
    census = max(1, round(ro_lines / RO_LINES_PER_PATIENT))
    ro_inbox, ro_days = prepare_inbox(work, ro_lines, MIXED_WARMUP_DAYS + MIXED_DAYS + 1,
                                      first_day=MIXED_FIRST_DAY, seed=9, patients=census, radonc_share=1.0)
    ro_days = ro_days[MIXED_WARMUP_DAYS:MIXED_WARMUP_DAYS + MIXED_DAYS + 1]
    history = [d[1] for d in ro_days[:-1]]
    print(f"radiation-oncology days at a census of {census:,}: the mixed day {ro_days[-1][0]} has "
          f"{ro_days[-1][1]:,} lines; history {sum(history):,} lines over {len(history)} days "
          f"({ro_days[0][0]}..{ro_days[-2][0]}, {min(history):,}-{max(history):,} a day)", flush=True)
    return ro_inbox, ro_days


def write_other_departments(folder: Path, lines: int, day: date, *, lines_per_file: int = 50_000,
                            seed: int = 11, control: int = 800_000) -> int:
    """837P files of non-radiation-oncology claims (four lines each) totalling ``lines`` lines;
    ISA13 from ``control`` + 1 on (a day's interchanges must not repeat an earlier day's)."""
    import random

    from claimaudit.samples.x12_writer import Claim, Interchange, Line, Patient, render_837

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    written, n_file = 0, 0
    while written < lines:
        n_file += 1
        claims = []
        in_file = min(lines_per_file, lines - written)
        for c in range(0, in_file, 4):
            k = written + c
            patient = Patient(f"H{k:09d}", f"HOSP{k % 9973}", "PAT", date(1940 + k % 60, 1 + k % 12, 1 + k % 28))
            claim_lines = [Line(rng.choice(OTHER_CODES), day, charge=50.0 + k % 7 * 10)
                           for _ in range(min(4, in_file - c))]
            claims.append(Claim(f"HOSP{k:010d}", patient, claim_lines, diagnoses=("I10", "E119"),
                                billing_name="EXAMPLE GENERAL HOSPITAL", facility_code="11"))
        ic = Interchange("P", claims, control=control + n_file, sender="HOSPITALCH",
                         created=datetime(day.year, day.month, day.day, 23, 0))
        (folder / f"HOSPITAL_837P_{day:%Y%m%d}_{n_file:03d}.x12").write_bytes(render_837(ic))
        written += in_file
    return written


def prepare_mixed(work: Path, ro_inbox: Path, ro_days, total_lines: int) -> tuple[Path, int]:
    """The mixed day: the radiation-oncology files of the window's last day linked in, plus other
    departments' files up to ``total_lines``. Cached under ``work``."""
    day, ro_lines, ro_files = ro_days[-1]
    inbox = work / f"mixed-{total_lines}-{ro_inbox.name}"
    folder = inbox / day
    done = inbox / "done.json"
    if done.exists():
        return inbox, json.loads(done.read_text())["other_lines"]
    shutil.rmtree(inbox, ignore_errors=True)
    folder.mkdir(parents=True)
    for rel in ro_files:
        src = ro_inbox / rel
        os.link(src, folder / src.name)
    t0 = time.perf_counter()
    other = write_other_departments(folder, max(0, total_lines - ro_lines), date.fromisoformat(day))
    print(f"generated the mixed day {day}: {ro_lines:,} radiation-oncology + {other:,} other lines in "
          f"{time.perf_counter() - t0:.1f} s", flush=True)
    done.write_text(json.dumps({"other_lines": other, "ro_lines": ro_lines}))
    return inbox, other


def bench_mixed(kind: str, ro_inbox: Path, ro_days, mixed_inbox: Path, work: Path) -> list[dict]:
    """Three months of kept history (parse + load of the radiation-oncology days), then the mixed
    day audited twice in copies of that DB: keeping radiation oncology only, and keeping all."""
    rows = []
    db = Database(kind, work / f"{kind}-mixed", "mixed")
    try:
        history = run_child("load", {**_cfg(ro_inbox, db), "days": [d[0] for d in ro_days[:-1]],
                                      "full_history": False})
        before = db.size_mib()
        print(f"  [{kind}] mixed: history {history['lines']:,} lines over {history['days']} days "
              f"(parse {history['parse_s']:.1f} s, load {history['load_s']:.1f} s), store {before:.0f} MiB "
              f"= {before * 2**20 / max(1, history['lines']):.0f} bytes per stored line", flush=True)
        load_before = os.getloadavg()[0]  # the machine may be shared: say how busy it was
        audit = run_child("audit", {**_cfg(mixed_inbox, db), "day": ro_days[-1][0]})
        audit["loadavg"] = [load_before, os.getloadavg()[0]]
        after = db.size_mib()
        audit.update(db=kind, scenario=f"mixed {audit['lines_read'] // 1000}k lines, keep radiation oncology",
                     history_lines=history["lines"], db_mib=after, db_growth_mib=after - before,
                     store_bytes_per_line=before * 2**20 / max(1, history["lines"]))
        rows.append(audit)
        _print_audit(audit)
        print(f"  [{kind}] read {audit['claims_read']:,} claims / {audit['lines_read']:,} lines, stored "
              f"{audit['claims']:,} claims / {audit['lines']:,} lines; store grew {after - before:.1f} MiB; "
              f"load average {audit['loadavg'][0]:.1f} before, {audit['loadavg'][1]:.1f} after", flush=True)
    finally:
        db.drop()
    return rows


# ------------------------------------------------------------ issue 18: the store over a simulated year

YEAR_SEED = 10


def _store_counts(url: str) -> dict:
    """Rows per table of the claim history (what the store holds, not what was read)."""
    from sqlalchemy import func, select

    from claimaudit.store import schema as t
    from claimaudit.store.db import engine_for

    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            return {table.name: conn.execute(select(func.count()).select_from(table)).scalar()
                    for table in (t.ingested_file, t.interchange, t.claim, t.service_line, t.diagnosis)}
    finally:
        engine.dispose()


def bench_store_year(kind: str, work: Path, days: int, day_lines: int, share: float, every: int) -> list[dict]:
    """A year of mixed days loaded into one report DB with the real parse_file + load_history: each
    day is its radiation-oncology files (the generator, radiation oncology only, after its warm-up)
    plus other departments' files up to ``day_lines``, written just before the day is loaded and
    removed after. Every ``every`` days: the store's size and rows against the lines read and kept."""
    ro_lines = int(day_lines * share)
    census = max(1, round(ro_lines / RO_LINES_PER_PATIENT))
    ro_inbox, ro_all = prepare_inbox(work, ro_lines, MIXED_WARMUP_DAYS + days, first_day=MIXED_FIRST_DAY,
                                     seed=YEAR_SEED, patients=census, radonc_share=1.0)
    ro_days = ro_all[MIXED_WARMUP_DAYS:MIXED_WARMUP_DAYS + days]
    db = Database(kind, work / f"{kind}-year", "year")
    inbox = work / f"year-inbox-{kind}"
    rows: list[dict] = []
    totals = {"read": 0, "kept": 0, "parse_s": 0.0, "load_s": 0.0, "gen_s": 0.0}
    year_days: list[str] = []
    try:
        for first in range(0, len(ro_days), every):
            chunk = ro_days[first:first + every]
            shutil.rmtree(inbox, ignore_errors=True)
            t0 = time.perf_counter()
            for day, n, files in chunk:
                folder = inbox / day
                folder.mkdir(parents=True)
                for rel in files:
                    os.link(ro_inbox / rel, folder / Path(rel).name)
                write_other_departments(folder, max(0, day_lines - n), date.fromisoformat(day),
                                        seed=YEAR_SEED + first, control=800_000 + 1000 * len(year_days))
                year_days.append(day)
            totals["gen_s"] += time.perf_counter() - t0
            load = run_child("load", {**_cfg(inbox, db), "days": [d[0] for d in chunk], "full_history": False})
            shutil.rmtree(inbox, ignore_errors=True)
            totals["read"] += load["lines_read"]
            totals["kept"] += load["lines"]
            totals["parse_s"] += load["parse_s"]
            totals["load_s"] += load["load_s"]
            mib, counts = db.size_mib(), _store_counts(db.url)
            row = {"db": kind, "days": first + len(chunk), "last_day": chunk[-1][0], "lines_read": totals["read"],
                   "lines_kept": totals["kept"], "store_mib": mib, "rows": counts,
                   "bytes_per_stored_line": mib * 2**20 / max(1, counts["service_line"]),
                   "parse_s": totals["parse_s"], "load_s": totals["load_s"], "rss_mib": load["rss_mib"],
                   "loadavg": os.getloadavg()[0]}
            rows.append(row)
            print(f"  [{kind}] year: {row['days']} days to {row['last_day']}: read {row['lines_read']:,} lines, "
                  f"stored {counts['service_line']:,} lines / {counts['claim']:,} claims / "
                  f"{counts['ingested_file']:,} files; store {mib:,.1f} MiB = "
                  f"{row['bytes_per_stored_line']:.0f} bytes per stored line (parse {totals['parse_s']:.0f} s, "
                  f"load {totals['load_s']:.0f} s so far; load average {row['loadavg']:.1f})", flush=True)
    finally:
        shutil.rmtree(inbox, ignore_errors=True)
        db.drop()
    return rows


def _year_table(rows: list[dict]) -> str:
    head = ("| db | days | lines read | lines stored | claims stored | files recorded | store MiB | "
            "bytes per stored line | MiB per 1k stored lines added |")
    out = [head, "|" + "---|" * (head.count("|") - 1)]
    prev = {}
    for r in rows:
        before = prev.get(r["db"], (0, 0.0))
        added = r["rows"]["service_line"] - before[0]
        growth = (r["store_mib"] - before[1]) * 1000 / max(1, added)
        out.append(f"| {r['db']} | {r['days']} | {r['lines_read']:,} | {r['rows']['service_line']:,} | "
                   f"{r['rows']['claim']:,} | {r['rows']['ingested_file']:,} | {r['store_mib']:,.1f} | "
                   f"{r['bytes_per_stored_line']:.0f} | {growth:.3f} |")
        prev[r["db"]] = (r["rows"]["service_line"], r["store_mib"])
    return "\n".join(out)


def _print_audit(a: dict) -> None:
    st = a["rule_stages"]
    rss = a["rss_by_step"]
    print(f"  [{a['db']}] {a['scenario']}: day {a['day']} {a['lines']} lines ({a['files']} files), history slice "
          f"{a['history_rows']} rows in {a['parts']} part(s) over {a['batches']} rule task(s), "
          f"{a['findings']} findings, {a.get('ncci_unchecked', 0)} lines NCCI-unchecked | "
          f"parse {a['parse_s']:.1f} s, load {a['load_s']:.1f} s, plan {a['plan_s']:.1f} s, "
          f"rules {a['rules_s']:.1f} s on {a['workers']} workers (summed over parts: load rules "
          f"{st.get('load_rules', 0):.1f}, read {st.get('read_history', 0):.1f}, views {st.get('views', 0):.1f}, "
          f"ncci {st.get('ncci', 0):.1f}, gx init {st.get('gx_context', 0):.1f}, suites {st.get('suites', 0):.1f}, "
          f"data docs {st.get('data_docs', 0):.1f}), findings write {a['findings_s']:.1f} s, "
          f"email {a['email_s']:.1f} s | total {a['total_s']:.1f} s, {a['lines_per_s']:.0f} lines/s, "
          f"peak RSS {a['rss_mib']:.0f} MiB, all processes together (largest single process: parse "
          f"{rss['parse']:.0f}, load {rss['load']:.0f}, rules {rss['rules']:.0f})", flush=True)


def _table(rows: list[dict]) -> str:
    head = ("| db | scenario | history lines | day lines | slice rows | parts / tasks | findings | parse s | load s | "
            "rules s | read s* | views s* | suites s* | write s | email s | total s | lines/s | peak RSS MiB |")
    out = [head, "|" + "---|" * (head.count("|") - 1)]
    for a in rows:
        st = a["rule_stages"]
        out.append(f"| {a['db']} | {a['scenario']} | {a['history_lines']:,} | {a['lines']:,} | {a['history_rows']:,} | "
                   f"{a['parts']} / {a['batches']} | {a['findings']:,} | {a['parse_s']:.1f} | {a['load_s']:.1f} | "
                   f"{a['plan_s'] + a['rules_s']:.1f} | {st.get('read_history', 0):.1f} | {st.get('views', 0):.1f} | "
                   f"{st.get('suites', 0):.1f} | {a['findings_s']:.1f} | {a['email_s']:.1f} | "
                   f"**{a['total_s']:.1f}** | {a['lines_per_s']:,.0f} | {a['rss_mib']:.0f} |")
    out.append("")
    out.append("\\* summed over the rule parts (tasks run side by side); *rules s* is wall time, plan included.")
    return "\n".join(out)


def _verdict(rows: list[dict], sizes: list[int]) -> list[str]:
    notes = []
    for a in rows:
        over = a["rss_mib"] > TARGETS["rss_mib"]
        if a["scenario"].startswith("mixed"):  # issue 18: parse, load and audit of the whole extract
            ok = a["total_s"] <= TARGETS["mixed_s"] and not over
            notes.append(f"{a['db']} {a['scenario']}: {a['total_s']:.1f} s (target {TARGETS['mixed_s']:.0f}), "
                         f"{a['rss_mib']:.0f} MiB, {a['claims_read']:,} claims read, {a['claims']:,} audited, "
                         f"store {a['store_bytes_per_line']:.0f} bytes per stored line -> {'OK' if ok else 'MISSED'}")
        elif a["scenario"].startswith("one-shot"):
            ok = a["total_s"] <= TARGETS["oneshot_s"] and not over
            notes.append(f"{a['db']} {a['scenario']}: {a['total_s']:.1f} s (target {TARGETS['oneshot_s']:.0f}), "
                         f"{a['rss_mib']:.0f} MiB -> {'OK' if ok else 'MISSED'}")
        elif sizes and a["scenario"] == f"day vs {max(sizes) // 1000}k":
            ok = a["total_s"] <= TARGETS["day_1M_s"] and not over
            notes.append(f"{a['db']} {a['scenario']}: {a['total_s']:.1f} s (target {TARGETS['day_1M_s']:.0f}), "
                         f"{a['rss_mib']:.0f} MiB -> {'OK' if ok else 'MISSED'}")
    return notes


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        import logging

        logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
        fn = {"load": child_load, "audit": child_audit}[sys.argv[2]]
        print(json.dumps(fn(json.loads(sys.argv[3]))))
        return 0

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default="sqlite,postgresql", help="comma list of sqlite, postgresql")
    ap.add_argument("--history", default="100000,300000,1000000", help="history sizes in lines, ascending")
    ap.add_argument("--day-lines", type=int, default=50_000)
    ap.add_argument("--oneshot-lines", type=int, default=1_000_000)
    ap.add_argument("--days-share", type=float, default=1.0,
                    help="the generator's radiation-oncology share for the day, flat and one-shot scenarios (1: "
                         "radiation oncology only, the data the issue 8 targets were set on; the generator's "
                         "own default, 0.3 since issue 18, makes a '1M-line' history about 350k kept lines)")
    ap.add_argument("--skip-days", action="store_true")
    ap.add_argument("--skip-oneshot", action="store_true")
    ap.add_argument("--skip-flat", action="store_true", help="skip the same day against other patients' history")
    ap.add_argument("--full-history", action="store_true", help="audit every history day (slow) instead of "
                                                                "parse + load only")
    ap.add_argument("--workers", type=int, default=2, help="tasks at once, as LocalExecutor's parallelism "
                                                            "(parse_file and run_rules are mapped tasks)")
    ap.add_argument("--batch-lines", type=int, help="AUDIT_RULE_BATCH_LINES (default: the setting's); "
                                                     "AUDIT_RULE_TASKS is --workers")
    ap.add_argument("--mixed-lines", type=int, default=1_000_000,
                    help="issue 18: the mixed day's service lines (all departments)")
    ap.add_argument("--mixed-share", type=float, default=0.03, help="radiation oncology's share of them")
    ap.add_argument("--mixed-only", action="store_true", help="only the mixed-day scenario")
    ap.add_argument("--skip-mixed", action="store_true")
    ap.add_argument("--store-year", type=int, metavar="DAYS", default=0,
                    help="issue 18: only the store-size simulation: DAYS business days of mixed days loaded with "
                         "parse_file + load_history (250: a year); see --year-lines, --year-every")
    ap.add_argument("--year-lines", type=int, default=100_000,
                    help="service lines per simulated day (all departments; --mixed-share of them radiation oncology)")
    ap.add_argument("--year-every", type=int, default=50, help="measure the store every this many days")
    ap.add_argument("--work", type=Path, default=ROOT / "var" / "bench")
    ap.add_argument("--json", type=Path, help="also write every measurement to this file")
    ap.add_argument("--ncci", type=Path, help="folder of NCCI edit-set zips imported into every fresh report DB "
                                              "(scripts/ncci_synthetic.py writes a full-size synthetic quarter)")
    args = ap.parse_args()
    if args.ncci:
        RUN_OPTIONS["ncci"] = [str(p) for p in sorted(args.ncci.glob("*.zip"))]

    RUN_OPTIONS.update(workers=args.workers, batch_lines=args.batch_lines)
    kinds = [k.strip() for k in args.db.split(",") if k.strip()]
    if args.store_year:
        return store_year(args, kinds)
    if args.mixed_only:
        args.skip_days = args.skip_oneshot = True
    sizes = sorted(int(x) for x in args.history.split(",") if x.strip()) if not args.skip_days else []
    # Enough business days for the largest history plus the audited day (and for the one-shot).
    n_days = max(max(sizes + [0]), 0 if args.skip_oneshot else args.oneshot_lines) // args.day_lines + 2
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}", flush=True)
    if sizes or not args.skip_oneshot:
        inbox, days = prepare_inbox(args.work, args.day_lines, n_days, radonc_share=args.days_share)
    if sizes and not args.skip_flat:  # other patients (seed 8), received before the window
        other_inbox, other_days = prepare_inbox(args.work, args.day_lines, max(sizes) // args.day_lines + 1,
                                                first_day=OTHER_FIRST_DAY, seed=8, radonc_share=args.days_share)
    if "postgresql" in kinds:
        subprocess.run(["bash", str(ROOT / "scripts" / "start_postgres.sh")], check=True)

    mixed = None
    if not args.skip_mixed:  # a day's radiation-oncology lines, three months of them as history
        ro_inbox, ro_days = prepare_ro_days(args.work, int(args.mixed_lines * args.mixed_share))
        mixed_inbox, _ = prepare_mixed(args.work, ro_inbox, ro_days, args.mixed_lines)
        mixed = (ro_inbox, ro_days, mixed_inbox)

    rows: list[dict] = []
    for kind in kinds:
        if mixed:
            rows += bench_mixed(kind, *mixed, args.work)
        if sizes:
            rows += bench_days(kind, inbox, days, sizes, args.work, args.full_history)
        if sizes and not args.skip_flat:
            rows += bench_flat(kind, inbox, days, other_inbox, other_days, sizes, args.work)
        if not args.skip_oneshot:
            rows.append(bench_oneshot(kind, inbox, days, args.oneshot_lines, args.work))
    print()
    print(_table(rows))
    for note in _verdict(rows, sizes):
        print(note)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


def store_year(args, kinds: list[str]) -> int:
    args.work.mkdir(parents=True, exist_ok=True)
    if "postgresql" in kinds:
        subprocess.run(["bash", str(ROOT / "scripts" / "start_postgres.sh")], check=True)
    rows: list[dict] = []
    for kind in kinds:
        rows += bench_store_year(kind, args.work, args.store_year, args.year_lines, args.mixed_share, args.year_every)
    print()
    print(_year_table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
