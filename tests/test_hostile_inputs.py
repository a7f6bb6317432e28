"""Issue 16: hostile inputs never stop a day, leak or get lost.

Each test ran against the code before the fix and failed there (see the issue's items); the
database tests run on SQLite and on PostgreSQL (``db_url``)."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from claimaudit import pipeline
from claimaudit.settings import Settings
from claimaudit.store import schema as t
from support.hostile import DAY, extract, imrt_claim, out_of_spec_files, write_day


def settings_for(tmp_path: Path, db_url: str, **kw) -> Settings:
    return dataclasses.replace(Settings.from_env({}), inbox=tmp_path / "inbox", var_dir=tmp_path / "var",
                               db_url=db_url, **kw)


def day_state(db_url: str, day: date = DAY) -> dict:
    """What the store holds for a day, in a form that compares across databases."""
    from claimaudit.store.db import engine_for

    engine = engine_for(db_url)
    with engine.connect() as conn:
        claims = sorted(conn.execute(sa.select(t.claim.c.claim_id, t.claim.c.source_file, t.claim.c.received_date)
                                     .where(t.claim.c.received_date == day)).all())
        rejections = sorted(conn.execute(
            sa.select(t.rejection.c.source_file, t.rejection.c.unit, t.rejection.c.segment_id,
                      t.rejection.c.reason).where(t.rejection.c.audit_date == day)).all())
        run = conn.execute(sa.select(t.audit_run.c.files, t.audit_run.c.claims, t.audit_run.c.lines,
                                     t.audit_run.c.rejections, t.audit_run.c.findings, t.audit_run.c.status)
                           .where(t.audit_run.c.audit_date == day)).first()
        findings = sorted(conn.execute(sa.select(t.audit_finding.c.rule_id, t.audit_finding.c.claim_id,
                                                 t.audit_finding.c.line_number)
                                       .where(t.audit_finding.c.audit_date == day)).all())
    engine.dispose()
    return {"claims": [tuple(r) for r in claims], "rejections": [tuple(r) for r in rejections],
            "run": tuple(run) if run else None, "findings": [tuple(f) for f in findings]}


# ---------------------------------------------------------------- 1. values that do not fit

def test_out_of_spec_values_reject_their_claim_not_the_day(tmp_path, db_url):
    """A 45-character CLM01, a 10-digit GS06, a 12-digit NPI, a six-letter junk segment id, a long
    procedure code, diagnosis and payer id, a huge LX01 and a NUL byte: PostgreSQL refused the
    whole day (StringDataRightTruncation). Now each rejects its claim or transaction set with a
    reason naming the file, the segment and the problem; every sound claim is audited."""
    s = settings_for(tmp_path, db_url)
    write_day(s.inbox, out_of_spec_files())
    pipeline.audit_day(DAY, s)
    state = day_state(db_url)
    loaded = {c[0] for c in state["claims"]}
    assert {"CLEAN-1", "CLEAN-2", "OK-CLM01", "OK-NPI", "OK-JUNK", "OK-CODES", "OK-PAYER", "OK-LX",
            "OK-NUL", "LONG-MODS"} <= loaded
    assert not loaded & {"X" * 45, "LONG-NPI", "JUNK-SEG", "OK-GS06", "LONG-PROC", "LONG-DX", "LONG-PAYER",
                         "HUGE-LX", "NUL\x00CLM"}
    by_file = {}
    for source_file, unit, segment_id, reason in state["rejections"]:
        by_file.setdefault(source_file, []).append((unit, segment_id, reason))
    assert set(by_file) == {"01_long_clm01.x12", "02_long_gs06.x12", "03_long_npi.x12", "04_junk_segment.x12",
                            "05_long_codes.x12", "06_long_payer.x12", "07_huge_lx.x12", "08_nul_byte.x12"}
    assert by_file["01_long_clm01.x12"] == [("claim", "CLM", "claim 'XXXXXXXXXXXXXXXXXXXX…' rejected: CLM01 claim "
                                             "id '" + "X" * 40 + "…' is 45 characters long, at most 38 are "
                                             "allowed")]
    (unit, seg, reason), = by_file["02_long_gs06.x12"]
    assert (unit, seg) == ("transaction", "GS") and "GS06" in reason and "1234567890" in reason
    (unit, seg, reason), = by_file["03_long_npi.x12"]
    assert (unit, seg) == ("claim", "NM1") and "billing provider NPI" in reason and "123456789301" in reason
    (unit, seg, reason), = by_file["04_junk_segment.x12"]
    assert (unit, seg) == ("interchange", "ZZZ") and "segment id 'ZZZZZZ'" in reason
    assert sorted(r[2].split(" rejected")[0] for r in by_file["05_long_codes.x12"]) == [
        "claim 'LONG-DX'", "claim 'LONG-PROC'"]
    assert "payer id" in by_file["06_long_payer.x12"][0][2]
    assert "LX01" in by_file["07_huge_lx.x12"][0][2]
    assert "NUL" in by_file["08_nul_byte.x12"][0][2] and "\x00" not in by_file["08_nul_byte.x12"][0][2]
    assert state["run"][-1] == "complete"
    assert state["run"][3] == sum(len(v) for v in by_file.values())


def test_out_of_spec_values_give_the_same_result_on_sqlite_and_postgresql(tmp_path):
    """The hostile fixtures on both databases, compared row for row."""
    from support.databases import scratch_pg_database

    states = {}
    lite = f"sqlite:///{tmp_path / 'lite.db'}"
    with scratch_pg_database("claimaudit_hostile") as pg:
        for name, url in (("sqlite", lite), ("postgresql", pg)):
            s = settings_for(tmp_path / name, url)
            write_day(s.inbox, out_of_spec_files())
            pipeline.audit_day(DAY, s)
            states[name] = day_state(url)
    assert states["sqlite"]["claims"] and states["sqlite"]["rejections"]
    strip = {k: v for k, v in states["sqlite"].items()}
    assert states["postgresql"] == strip


def test_a_direct_load_of_an_out_of_spec_result_rejects_the_claim(engine, parse_result):
    """The loader itself checks: a caller that skips the pipeline cannot stop the day either."""
    from claimaudit.store.history import load_results

    r = parse_result("direct.837", [{"claim_id": "Y" * 50, "lines": [("77386", "", DAY)]},
                                    {"claim_id": "FITS", "lines": [("77386", "", DAY)], "patient": "P2"}])
    counts = load_results(engine, [r], DAY)
    assert counts["claims"] == 1 and counts["rejections"] == 1


# ---------------------------------------------------------------- 2 and 10. any byte string as a file name

BAD_UTF8 = b"RADONC_\xff\xfe_latin1_caf\xe9.x12"
CRLF = "RADONC_evil\r\nERROR claimaudit forged line\n.x12"


def _odd_names_day(inbox: Path) -> Path:
    import os

    folder = write_day(inbox, {"00_clean.x12": extract(701, [imrt_claim("NAME-OK", 1)])})
    with open(os.path.join(os.fsencode(folder), BAD_UTF8), "wb") as fh:
        fh.write(extract(702, [imrt_claim("NAME-BYTES", 2)]))
    (folder / CRLF).write_bytes(extract(703, [imrt_claim("NAME-CRLF", 3)]))
    # A rejected file with an odd name is quarantined under its escaped name.
    with open(os.path.join(os.fsencode(folder), b"cut_\xff.x12"), "wb") as fh:
        fh.write(extract(704, [imrt_claim("NAME-CUT", 4)])[:300])
    return folder


def test_file_names_that_are_not_utf8_or_hold_newlines_are_recorded_escaped(tmp_path, db_url, caplog):
    """A non-UTF-8 name failed the ingested_file insert (and every rerun); CR/LF in a name wrote
    forged lines into the log. Both are recorded and logged escaped, and the files are audited."""
    import logging

    s = settings_for(tmp_path, db_url)
    _odd_names_day(s.inbox)
    with caplog.at_level(logging.INFO, logger="claimaudit"):
        pipeline.audit_day(DAY, s)
    state = day_state(db_url)
    files = {c[0]: c[1] for c in state["claims"]}
    assert files == {"NAME-OK": "00_clean.x12", "NAME-BYTES": "RADONC_\\xff\\xfe_latin1_caf\\xe9.x12",
                     "NAME-CRLF": "RADONC_evil\\r\\nERROR claimaudit forged line\\n.x12"}
    assert [r[0] for r in state["rejections"]] == ["cut_\\xff.x12"]
    assert (s.quarantine_dir / DAY.isoformat() / "cut_\\xff.x12").is_file()
    for record in caplog.records:
        text = record.getMessage()
        assert "\n" not in text and "\r" not in text, f"a log line was split: {text!r}"
    assert any("RADONC_evil\\r\\nERROR" in r.getMessage() for r in caplog.records)
    # A rerun of the day works the same (it failed on every rerun before).
    pipeline.audit_day(DAY, s)
    assert day_state(db_url)["claims"] == state["claims"]


def test_the_cli_audits_a_day_with_odd_file_names(tmp_path):
    import os
    import subprocess
    import sys

    _odd_names_day(tmp_path / "inbox")
    env = dict(os.environ, AUDIT_INBOX=str(tmp_path / "inbox"), AUDIT_VAR_DIR=str(tmp_path / "var"),
               AUDIT_DB_URL=f"sqlite:///{tmp_path / 'cli.db'}")
    out = subprocess.run([sys.executable, "-m", "claimaudit.cli", "audit", "--from", DAY.isoformat(), "--to",
                          DAY.isoformat()], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "forged line\n" not in out.stdout + out.stderr
    assert len(day_state(env["AUDIT_DB_URL"])["claims"]) == 3


# ---------------------------------------------------------------- 3. links and other non-regular files

def test_links_out_of_the_inbox_and_fifos_are_refused_and_nothing_is_copied(tmp_path, db_url):
    import os

    s = settings_for(tmp_path, db_url)
    folder = write_day(s.inbox, {"00_clean.x12": extract(801, [imrt_claim("LINK-OK", 1)])})
    secret = tmp_path / "outside" / "passwd"
    secret.parent.mkdir()
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    (folder / "passwd.x12").symlink_to(secret)
    (folder / "etc.x12").symlink_to("/etc/passwd")
    (folder / "dangling.x12").symlink_to(folder / "gone.x12")
    os.mkfifo(folder / "pipe.x12")  # reading it would block the task for ever
    inside = folder / "01_real.x12"
    inside.write_bytes(extract(802, [imrt_claim("LINK-INSIDE", 2)]))
    (folder / "02_link_inside.x12").symlink_to(inside)  # a link to a file in the inbox: read (once)

    pipeline.audit_day(DAY, s)
    state = day_state(db_url)
    assert {c[0] for c in state["claims"]} == {"LINK-OK", "LINK-INSIDE"}
    refused = {r[0]: r[3] for r in state["rejections"]}
    assert set(refused) == {"passwd.x12", "etc.x12", "dangling.x12", "pipe.x12"}
    assert "outside the inbox" in refused["etc.x12"] and "fifo" in refused["pipe.x12"]
    assert "dangling" in refused["dangling.x12"]
    quarantine = s.quarantine_dir / DAY.isoformat()
    copied = list(quarantine.iterdir()) if quarantine.exists() else []
    assert copied == [], f"copied to quarantine: {copied}"
    assert state["run"][0] == 7  # every entry counted as received: 3 audited, 4 refused
    assert state["run"][3] == 4


# ---------------------------------------------------------------- 6. a cut file replaced by the full one

def test_a_rejection_of_a_cut_file_goes_when_the_full_file_replaces_it(tmp_path, db_url):
    from claimaudit.store.db import engine_for
    from claimaudit.store.findings import day_summary

    s = settings_for(tmp_path, db_url)
    full = extract(901, [imrt_claim(f"CUT-{i}", i) for i in range(1, 6)])
    folder = write_day(s.inbox, {"00_clean.x12": extract(900, [imrt_claim("CUT-OK", 9)]),
                                 "01_sent.x12": full[: int(len(full) * 0.6)]})
    pipeline.audit_day(DAY, s)
    assert [r[0] for r in day_state(db_url)["rejections"]] == ["01_sent.x12"]
    (folder / "01_sent.x12").write_bytes(full)  # the clearinghouse sends the whole file again
    pipeline.audit_day(DAY, s)
    state = day_state(db_url)
    assert state["rejections"] == []
    assert state["run"][3] == 0
    engine = engine_for(db_url)
    summary = day_summary(engine, DAY)
    engine.dispose()
    assert summary.rejected_files == [] and summary.run.rejections == 0
    assert {c[0] for c in state["claims"]} >= {"CUT-OK", "CUT-1", "CUT-5"}


# ---------------------------------------------------------------- 9. nothing skipped silently

def test_ignored_entries_are_recorded_with_their_reason_and_counted(tmp_path, db_url):
    from claimaudit.store.db import engine_for
    from claimaudit.store.findings import day_summary

    s = settings_for(tmp_path, db_url)
    folder = write_day(s.inbox, {"00_clean.x12": extract(1001, [imrt_claim("IGN-OK", 1)]),
                                 ".hidden.x12": b"x", "~lock.x12": b"x", "_partial.x12": b"x"})
    (folder / "sub").mkdir()
    (folder / "sub" / "inner.x12").write_bytes(extract(1002, [imrt_claim("IGN-INNER", 2)]))
    pipeline.audit_day(DAY, s)
    engine = engine_for(db_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.ignored_entry.c.name, t.ignored_entry.c.kind, t.ignored_entry.c.reason)
                            .order_by(t.ignored_entry.c.name)).all()
        ignored_count = conn.scalar(sa.select(t.audit_run.c.ignored))
    summary = day_summary(engine, DAY)
    engine.dispose()
    assert [(r.name, r.kind) for r in rows] == [(".hidden.x12", "file"), ("_partial.x12", "file"),
                                                ("sub", "folder"), ("~lock.x12", "file")]
    assert all(r.reason for r in rows)
    assert ignored_count == 4 and summary.run.ignored == 4
    text = pipeline.build_digest(DAY, s).get_body(preferencelist=("plain",)).get_content()
    assert "Not audited: 4 inbox entries" in text
    # A rerun after the folder was tidied replaces the list.
    for name in (".hidden.x12", "~lock.x12", "_partial.x12"):
        (folder / name).unlink()
    pipeline.audit_day(DAY, s)
    assert day_state(db_url)["run"] is not None
    engine = engine_for(db_url)
    with engine.connect() as conn:
        assert conn.scalar(sa.select(t.audit_run.c.ignored)) == 1
    engine.dispose()


# ---------------------------------------------------------------- 11. compressed deliveries

def _zip(members: dict[str, bytes], compression=None) -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression or zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_zip_and_gzip_deliveries_are_unpacked_with_limits(tmp_path, db_url):
    import gzip

    s = settings_for(tmp_path, db_url)
    a = extract(1101, [imrt_claim("ZIP-A", 1)])
    b = extract(1102, [imrt_claim("ZIP-B", 2)])
    c = extract(1103, [imrt_claim("GZ-C", 3)])
    d = extract(1104, [imrt_claim("NESTED-D", 4)])
    bomb = b"ISA" + b"\x00" * (50 << 20)  # 50 MiB of zeros: deflates about 1000x
    write_day(s.inbox, {
        "batch.zip": _zip({"a.x12": a, "dir/b.x12": b, "../escape.x12": a, "/abs.x12": b, "inner.x12.gz":
                           gzip.compress(d), "bomb.x12": bomb}),
        "single.x12.gz": gzip.compress(c),
        "deep.zip": _zip({"level2.zip": _zip({"level3.x12.gz": gzip.compress(a)})}),
        "broken.gz": gzip.compress(c)[:40],
    })
    pipeline.audit_day(DAY, s)
    state = day_state(db_url)
    assert {(c[0], c[1]) for c in state["claims"]} == {
        ("ZIP-A", "batch.zip!a.x12"), ("ZIP-B", "batch.zip!dir/b.x12"), ("GZ-C", "single.x12.gz!single.x12"),
        ("NESTED-D", "batch.zip!inner.x12.gz!inner.x12")}
    refused = {r[0]: r[3] for r in state["rejections"]}
    assert set(refused) == {"batch.zip!../escape.x12", "batch.zip!/abs.x12", "batch.zip!bomb.x12",
                            "deep.zip!level2.zip!level3.x12.gz", "broken.gz"}
    assert "leaves" in refused["batch.zip!../escape.x12"] and "absolute" in refused["batch.zip!/abs.x12"]
    assert "zip bomb" in refused["batch.zip!bomb.x12"]
    assert "nested more than once" in refused["deep.zip!level2.zip!level3.x12.gz"]
    assert not (s.inbox.parent / "escape.x12").exists() and not Path("/abs.x12").exists()


def test_a_gzip_bomb_is_stopped_by_the_ratio_before_it_is_unpacked(tmp_path):
    import gzip

    from claimaudit.archives import MAX_RATIO, unpack

    data = gzip.compress(b"\x00" * (200 << 20))  # 200 MiB of zeros in about 200 KiB
    (member,) = unpack("bomb.gz", data)
    assert member.data is None and f"{MAX_RATIO} times" in member.problem


# ---------------------------------------------------------------- 7. a digest that could not be written

def test_a_digest_that_could_not_be_written_is_delivered_by_a_plain_rerun(tmp_path, db_url, monkeypatch):
    """The outbox cannot be written (here a file stands where the folder should be: root ignores
    read-only modes) after the findings are committed. A plain rerun (no --reprocess) used to skip
    the day as done, so the digest was never written."""
    from claimaudit import cli
    from claimaudit.store.db import engine_for

    write_day(tmp_path / "inbox", {"00_clean.x12": extract(1201, [imrt_claim("MAIL-1", 1)])})
    # Daily digests, as the nightly schedule sends them (a range run sends one summary instead,
    # written again by every run of the command).
    for key, value in (("AUDIT_INBOX", tmp_path / "inbox"), ("AUDIT_VAR_DIR", tmp_path / "var"),
                       ("AUDIT_DB_URL", db_url), ("AUDIT_RANGE_DAILY_DIGESTS", "true")):
        monkeypatch.setenv(key, str(value))
    outbox = tmp_path / "var" / "outbox"
    outbox.parent.mkdir(parents=True)
    outbox.write_text("not a folder")
    argv = ["audit", "--from", DAY.isoformat(), "--to", DAY.isoformat()]
    with pytest.raises(OSError):
        cli.main(argv)
    engine = engine_for(db_url)
    assert day_state(db_url)["run"][-1] == "complete"  # the findings were committed

    outbox.unlink()  # the operator fixes the outbox and runs the same command again
    assert cli.main(argv) == 0
    assert outbox.is_dir() and [p.name for p in outbox.iterdir()] == ["77386-audit-2025-06-03.eml"]
    from claimaudit.store.delivery import owed_days

    assert owed_days(engine, DAY, DAY) == []
    with engine.connect() as conn:
        delivered_to = conn.scalar(sa.select(t.audit_run.c.delivered_to))
    engine.dispose()
    assert delivered_to.endswith("77386-audit-2025-06-03.eml")
    # Delivered: a third plain run skips the day.
    assert cli.main(argv) == 0


# ---------------------------------------------------------------- 2, 12. through the DAG: odd names, a quiet console, SIGTERM

ROOT = Path(__file__).resolve().parents[1]


def _range_env(tmp_path: Path) -> dict:
    import os
    import subprocess

    env = dict(os.environ, AIRFLOW_HOME=str(tmp_path / "airflow"), AUDIT_INBOX=str(tmp_path / "inbox"),
               AUDIT_VAR_DIR=str(tmp_path / "var"), AUDIT_DB_URL=f"sqlite:///{tmp_path / 'range.db'}",
               AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"), AIRFLOW__CORE__LOAD_EXAMPLES="False",
               PYTHONPATH=str(ROOT / "include"))
    env.pop("AIRFLOW_CONN_SMTP_DEFAULT", None)
    subprocess.run(["airflow", "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    return env


def _audit_range(*args: str) -> list[str]:
    import sys

    return [sys.executable, str(ROOT / "scripts" / "audit_range.py"), *args]


def test_a_range_through_the_dag_audits_odd_names_and_keeps_airflow_off_the_console(tmp_path):
    """find_files failed on a non-UTF-8 name (the XCom cannot carry it) and the night sat in
    retries; every day printed Airflow's "XCom not found ... offset=1" and warnings."""
    import subprocess

    env = _range_env(tmp_path)
    _odd_names_day(tmp_path / "inbox")
    out = subprocess.run(_audit_range("--from", DAY.isoformat(), "--to", DAY.isoformat()), env=env,
                         capture_output=True, text=True, timeout=600)
    console = out.stdout + out.stderr
    assert out.returncode == 0, console[-3000:]
    assert len(day_state(env["AUDIT_DB_URL"])["claims"]) == 3
    for noise in ("XCom not found", "No tasks to run", "[error", "[warning", "Traceback", "Deprecat"):
        assert noise not in console, f"{noise!r} on the console:\n{console[-3000:]}"
    assert "day 1 of 1" in console and "forged line\n" not in console
    log = (tmp_path / "var" / "logs" / "airflow-range.log").read_text()
    assert "XCom not found" not in log  # the cause (a read past the end of the mapped results) is gone


def test_sigterm_stops_a_range_run_promptly(tmp_path):
    """dag.test() runs tasks in-process and Airflow's task runner replaces the SIGTERM handler:
    a range run (`make audit`) ignored SIGTERM and Ctrl-C and audited on to the end."""
    import signal
    import subprocess
    import time

    env = _range_env(tmp_path)
    _odd_names_day(tmp_path / "inbox")
    for n in range(1, 6):
        write_day(tmp_path / "inbox", {"a.x12": extract(1300 + n, [imrt_claim(f"SIG-{n}", n)])},
                  day=date(2025, 6, 3 + n))
    proc = subprocess.Popen(_audit_range("--from", "2025-06-03", "--to", "2025-06-08"), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 240
        seen = ""
        import selectors

        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline and "day 1 of" not in seen and proc.poll() is None:
            if sel.select(timeout=1):
                seen += proc.stdout.readline()
        assert proc.poll() is None, f"the range ended before it could be stopped:\n{seen}"
        proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        proc.wait(timeout=60)
        assert time.monotonic() - sent < 60
        assert proc.returncode == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------- 5. two ranges at once, or out of order

FORTNIGHT = (date(2025, 6, 2), date(2025, 6, 13))  # the samples redeliver a 06-05 file on 06-12


def _history(db_url: str) -> dict:
    from claimaudit.store.db import engine_for

    engine = engine_for(db_url)
    f = t.audit_finding.c
    with engine.connect() as conn:
        out = {
            "claims": sorted(tuple(r) for r in conn.execute(sa.select(
                t.claim.c.claim_key, t.claim.c.received_date, t.claim.c.superseded_by))),
            "lines": sorted(tuple(r) for r in conn.execute(sa.select(
                t.service_line.c.claim_key, t.service_line.c.line_number, t.service_line.c.received_date))),
            "files": sorted(tuple(r) for r in conn.execute(sa.select(
                t.ingested_file.c.file_sha256, t.ingested_file.c.received_date, t.ingested_file.c.status))),
            "rejections": sorted(tuple(r) for r in conn.execute(sa.select(
                t.rejection.c.audit_date, t.rejection.c.file_sha256, t.rejection.c.seq))),
            "findings": sorted(tuple(r) for r in conn.execute(sa.select(
                f.audit_date, f.rule_id, f.claim_id, f.line_number, f.status))),
        }
    engine.dispose()
    return out


def _cli_env(inbox: Path, var: Path, db_url: str) -> dict:
    import os

    return dict(os.environ, AUDIT_INBOX=str(inbox), AUDIT_VAR_DIR=str(var), AUDIT_DB_URL=db_url,
                PYTHONPATH=str(ROOT / "include"))


def _cli_audit(env: dict, start: date, end: date, *extra: str):
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, "-m", "claimaudit.cli", "audit", "--from", start.isoformat(), "--to",
                             end.isoformat(), *extra], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def _finish(*procs) -> None:
    for p in procs:
        out, _ = p.communicate(timeout=900)
        assert p.returncode == 0, out[-3000:]


@pytest.fixture
def second_db_url(db_url, tmp_path):
    """A second fresh database of the same kind as ``db_url``."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'second.db'}"
        return
    from support.databases import scratch_pg_database

    with scratch_pg_database("claimaudit_second") as url:
        yield url


def test_ranges_out_of_order_and_at_once_give_the_history_of_a_sequential_run(tmp_path, db_url, second_db_url):
    """The later range reached the redelivered file (06-12) before the earlier one reached its
    first delivery (06-05): the claims kept 06-12 as received date, 06-05 found nothing new, and
    no sequential --reprocess repaired it. Loading is now order-independent: the later range run
    first gives the sequential run's history; then both ranges re-audited at once (two real
    processes) and a sequential --reprocess give exactly the sequential run's findings.
    (Four days of the sample fortnight are kept: the two of the redelivery and the day after each.)"""
    import shutil

    from claimaudit.samples.generator import generate

    inbox = tmp_path / "inbox"
    generate(inbox, *FORTNIGHT)
    early, late = (date(2025, 6, 5), date(2025, 6, 6)), (date(2025, 6, 11), date(2025, 6, 12))
    for folder in inbox.iterdir():
        if folder.is_dir() and folder.name not in {d.isoformat() for d in early + late}:
            shutil.rmtree(folder)
    sequential = _cli_env(inbox, tmp_path / "seq", second_db_url)
    _finish(_cli_audit(sequential, early[0], late[1]))  # one process: start-up is most of the time
    expected = _history(second_db_url)
    assert any(r[1] == date(2025, 6, 5) for r in expected["files"])

    env = _cli_env(inbox, tmp_path / "other", db_url)
    _finish(_cli_audit(env, *late))  # a later month backfilled first
    _finish(_cli_audit(env, *early))
    got = _history(db_url)
    for part in ("claims", "lines", "files", "rejections"):
        assert got[part] == expected[part], f"{part} differ from the sequential run"

    _finish(_cli_audit(env, *late, "--reprocess"), _cli_audit(env, *early, "--reprocess"))  # at once
    for part in ("claims", "lines", "files", "rejections"):
        assert _history(db_url)[part] == expected[part], f"{part} differ after two ranges at once"
    _finish(_cli_audit(env, early[0], late[1], "--reprocess"))
    assert _history(db_url) == expected
