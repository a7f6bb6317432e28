"""Issue 18 without Airflow: a whole-hospital extract keeps only its radiation-oncology claims
(every claim and line still counted), and a day stages through an S3-compatible server (moto on
127.0.0.1) with the same findings as through a local folder."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from claimaudit.samples.x12_writer import Claim, Interchange, Line, Patient, render_837
from claimaudit.settings import Settings
from tests.test_e2e_dag import _imrt_claim

DAY = date(2025, 6, 3)
RO = Patient("SCALE001", "RADONC", "ANN", date(1951, 2, 3))
TC = Patient("SCALE002", "TCCASE", "BOB", date(1949, 4, 5))
CARDIO = Patient("SCALE003", "CARDIO", "CAL", date(1960, 7, 8))


def mixed_inbox(inbox: Path) -> None:
    """One day of a hospital's extract: two radiation-oncology claims among other departments',
    and a cardiology claim that only carries a chest X-ray and an office visit."""
    folder = inbox / DAY.isoformat()
    folder.mkdir(parents=True)
    created = datetime(2025, 6, 3, 22, 0)
    hospital = render_837(Interchange("P", [
        _imrt_claim("RO-CLEAN", RO, Line("77386", DAY, charge=900.0, dx_pointers=(1, 2))),
        Claim("CARD-1", CARDIO, [Line("99213", DAY), Line("71046", DAY), Line("93000", DAY)],
              diagnoses=("I10",), facility_code="11"),
        Claim("CARD-2", CARDIO, [Line("99214", DAY)], diagnoses=("I10",), facility_code="11"),
        _imrt_claim("RO-TC", TC, Line("77386", DAY, modifiers=("TC",), charge=900.0, dx_pointers=(1, 2))),
    ], control=701, created=created))
    lab = render_837(Interchange("P", [
        Claim("LAB-1", CARDIO, [Line("80053", DAY), Line("85025", DAY)], diagnoses=("I10",), facility_code="11"),
    ], control=702, created=created))
    (folder / "HOSPITAL_837P_0001.x12").write_bytes(hospital)
    (folder / "HOSPITAL_837P_0002.x12").write_bytes(lab)


def _settings(tmp_path: Path, name: str, db_url: str, **extra) -> Settings:
    return Settings.from_env({"AUDIT_INBOX": str(tmp_path / "inbox"), "AUDIT_VAR_DIR": str(tmp_path / name),
                              "AUDIT_DB_URL": db_url, **extra})


def _rows(db_url: str):
    from claimaudit.store.db import engine_for
    from claimaudit.store.schema import audit_finding, audit_run, claim, ingested_file

    with engine_for(db_url).connect() as conn:
        findings = conn.execute(select(audit_finding.c.rule_id, audit_finding.c.claim_id, audit_finding.c.line_number)
                                .where(audit_finding.c.audit_date == DAY)
                                .order_by(audit_finding.c.rule_id, audit_finding.c.claim_id)).all()
        run = conn.execute(select(audit_run).where(audit_run.c.audit_date == DAY)).one()
        files = conn.execute(select(ingested_file.c.source_file, ingested_file.c.claims, ingested_file.c.lines,
                                    ingested_file.c.claims_read, ingested_file.c.lines_read)
                             .order_by(ingested_file.c.source_file)).all()
        claims = sorted(conn.scalars(select(claim.c.claim_id)))
    return findings, run, files, claims


def test_whole_extract_keeps_radiation_oncology_and_counts_everything(tmp_path, db_url):
    from claimaudit import pipeline

    mixed_inbox(tmp_path / "inbox")
    out = pipeline.audit_day(DAY, _settings(tmp_path, "var", db_url))
    findings, run, files, claims = _rows(db_url)

    assert claims == ["RO-CLEAN", "RO-TC"]
    assert [tuple(f) for f in files] == [("HOSPITAL_837P_0001.x12", 2, 4, 4, 8), ("HOSPITAL_837P_0002.x12", 0, 0, 1, 2)]
    assert (run.files, run.claims, run.lines, run.claims_read, run.lines_read) == (2, 2, 4, 5, 10)
    assert [f.rule_id for f in findings] == ["R77386-MOD-TC"]
    from email import policy
    from email.parser import BytesParser

    message = BytesParser(policy=policy.default).parsebytes(Path(out["outbox"]).read_bytes())
    assert "5 claims read, 2 audited" in message.get_body(preferencelist=("plain",)).get_content()


def test_keep_all_claims_setting_stores_every_department(tmp_path, db_url):
    from claimaudit import pipeline

    mixed_inbox(tmp_path / "inbox")
    pipeline.audit_day(DAY, _settings(tmp_path, "var", db_url, AUDIT_KEEP_ALL_CLAIMS="true"))
    findings, run, files, claims = _rows(db_url)
    assert claims == ["CARD-1", "CARD-2", "LAB-1", "RO-CLEAN", "RO-TC"]
    assert (run.claims, run.claims_read, run.lines_read) == (5, 5, 10)
    assert [f.rule_id for f in findings] == ["R77386-MOD-TC"]


def test_replacement_without_radiation_codes_still_supersedes(tmp_path, sqlite_engine):
    """A corrected claim that drops its radiation-oncology lines is kept: it must supersede the
    version the findings were raised on."""
    from claimaudit import pipeline
    from claimaudit.store.schema import claim

    url = str(sqlite_engine.url)
    mixed_inbox(tmp_path / "inbox")
    pipeline.audit_day(DAY, _settings(tmp_path, "var", url))
    nextday = DAY.replace(day=DAY.day + 1)
    folder = tmp_path / "inbox" / nextday.isoformat()
    folder.mkdir()
    (folder / "HOSPITAL_837P_0003.x12").write_bytes(render_837(Interchange("P", [
        Claim("RO-TC-FIX", TC, [Line("99213", DAY)], frequency_code="7", original_claim_ref="RO-TC",
              facility_code="11"),
        Claim("CARD-3", CARDIO, [Line("99213", nextday)], frequency_code="7", original_claim_ref="CARD-9",
              diagnoses=("I10",), facility_code="11"),
    ], control=703, created=datetime(2025, 6, 4, 22, 0))))
    pipeline.audit_day(nextday, _settings(tmp_path, "var", url))
    with sqlite_engine.connect() as conn:
        rows = dict(conn.execute(select(claim.c.claim_id, claim.c.superseded_by)).all())
    assert sorted(rows) == ["RO-CLEAN", "RO-TC", "RO-TC-FIX"]  # CARD-3 corrects nothing kept
    assert rows["RO-TC"] is not None and rows["RO-TC-FIX"] is None


# ---------------------------------------------------------------- staging on an S3-compatible server

def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def s3_server(tmp_path):
    """moto's S3-compatible server on 127.0.0.1, a bucket in it; yields fsspec options for it."""
    exe = Path(sys.executable).with_name("moto_server")
    if not exe.exists():
        pytest.skip("moto[server] is not installed (requirements.txt pins it)")
    port = _free_port()
    log = open(tmp_path / "moto.log", "wb")
    proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    options = {"key": "testing", "secret": "testing", "client_kwargs": {"endpoint_url": endpoint,
                                                                       "region_name": "eu-west-1"}}
    try:
        import s3fs

        deadline = time.monotonic() + 30
        while True:
            try:
                fs = s3fs.S3FileSystem(**options, skip_instance_cache=True)
                fs.mkdir("audit-staging")
                break
            except Exception:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.3)
        yield options, fs
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def test_day_staged_through_s3_matches_local_staging(tmp_path, s3_server, monkeypatch):
    import json

    from claimaudit import pipeline, staging_store

    options, fs = s3_server
    inbox = tmp_path / "inbox"
    mixed_inbox(inbox)
    local_db, s3_db = f"sqlite:///{tmp_path / 'local.db'}", f"sqlite:///{tmp_path / 's3.db'}"
    pipeline.audit_day(DAY, _settings(tmp_path, "var-local", local_db))

    monkeypatch.setenv("AUDIT_STAGING_OPTIONS", json.dumps(options))
    staging_store._filesystem.cache_clear()
    s3 = _settings(tmp_path, "var-s3", s3_db, AUDIT_STAGING_URL="s3://audit-staging/claims")
    # Step by step, to see the staged objects between the steps.
    files = pipeline.begin_day(DAY, s3)
    for path in files:
        pipeline.parse_file(path, DAY, s3)
    staged = sorted(p.split("audit-staging/claims/", 1)[1] for p in fs.find("audit-staging/claims"))
    stems = [pipeline._stage_name(n) for n in ("HOSPITAL_837P_0001.x12", "HOSPITAL_837P_0002.x12")]
    assert staged == sorted([f"{DAY}/inbox.json"] + [f"{DAY}/files/{stem}{ext}" for stem in stems
                                                      for ext in (".json", ".stage")])
    assert not (tmp_path / "var-s3" / "staging").exists()  # nothing staged on the local disk
    loaded = pipeline.load_history(DAY, s3)
    rules = [pipeline.run_rules(DAY, share, s3) for share in pipeline.plan_rules(DAY, s3)]
    assert all(r.staged.startswith("s3://audit-staging/claims/") for r in rules)
    pipeline.write_findings(DAY, "s3-run", rules, loaded, datetime.now(), s3)
    fs.invalidate_cache()
    assert fs.find("audit-staging/claims") == []  # write_findings dropped the day's staging

    local, via_s3 = _rows(local_db), _rows(s3_db)
    assert via_s3[0] == local[0] and [f.rule_id for f in via_s3[0]] == ["R77386-MOD-TC"]
    assert via_s3[2] == local[2] and via_s3[3] == local[3]
