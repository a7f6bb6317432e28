"""The patient key: one person across payer ids, keyed with a secret kept out of the report DB,
refused when the secret changes, and the re-key of an existing history (migration 0003 and
`claimaudit rekey-patients`), on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import os
import stat
from datetime import date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from claimaudit import keying
from claimaudit.errors import ConfigurationError
from claimaudit.samples.x12_writer import Claim, Interchange, Line, Patient, render_837
from claimaudit.store import schema as t
from claimaudit.store.db import engine_for, ensure_schema, write_transaction
from claimaudit.store.history import load_results
from claimaudit.store.patient_keys import stored_fingerprint
from claimaudit.x12.keys import PatientKeyer, patient_key
from claimaudit.x12.parser import parse_bytes

SECRET_A = b"secret-a-for-tests-0123456789abcdef"
SECRET_B = b"secret-b-for-tests-0123456789abcdef"
DOS = date(2025, 6, 2)


def _two_payer_files() -> tuple[bytes, bytes]:
    """The hospital's 837I to a Part A payer id and the physician's 837P to a Part B payer id."""
    part_a = Patient("1EG4-TE5-MK72", "Rivera", "Ana", date(1950, 3, 4), payer_class="MA", payer_id="MCRA01")
    part_b = Patient("1EG4TE5MK72", "RIVERA ", "ANNA", date(1950, 3, 4), payer_class="MB", payer_id="MCRB02")
    facility = Interchange("I", [Claim("H-1", part_a, [Line("77386", DOS)], billing_npi="1234567893")], control=11)
    physician = Interchange("P", [Claim("P-1", part_b, [Line("77014", DOS, ("26",))], billing_npi="1245319599")],
                            control=12)
    return render_837(facility), render_837(physician)


def test_one_person_across_payer_ids_has_one_key():
    facility, physician = (parse_bytes(b, f"f{n}.x12") for n, b in enumerate(_two_payer_files()))
    assert not facility.rejections and not physician.rejections
    assert facility.claims[0].payer_id != physician.claims[0].payer_id
    assert facility.claims[0].patient_key == physician.claims[0].patient_key


def test_other_people_get_other_keys():
    base = ("1EG4TE5MK72", "RIVERA", "19500304")
    keyer = PatientKeyer(SECRET_A)
    assert keyer(*base) != keyer("1EG4TE5MK73", "RIVERA", "19500304")  # another member id
    assert keyer(*base) != keyer("1EG4TE5MK72", "RIVERO", "19500304")  # another surname
    assert keyer(*base) != keyer("1EG4TE5MK72", "RIVERA", "19500305")  # another birth date


def test_a_patient_list_cannot_be_hashed_into_keys_without_the_secret():
    inputs = ("1EG4TE5MK72", "RIVERA", "19500304")
    key_a, key_b = PatientKeyer(SECRET_A)(*inputs), PatientKeyer(SECRET_B)(*inputs)
    assert key_a != key_b
    plain = {hashlib.sha256("|".join(inputs).encode()).hexdigest()[:32],
             hashlib.sha256("".join(inputs).encode()).hexdigest()[:32]}
    assert key_a not in plain and key_b not in plain


def test_default_secret_file_is_created_once_and_private(tmp_path, monkeypatch):
    monkeypatch.delenv(keying.SECRET_ENV, raising=False)
    monkeypatch.delenv(keying.SECRET_FILE_ENV, raising=False)
    monkeypatch.setenv("AUDIT_VAR_DIR", str(tmp_path / "var"))
    keying.reset_cache()
    try:
        first = keying.patient_key_secret()
        file = tmp_path / "var" / "secrets" / "patient-key"
        assert file.is_file() and stat.S_IMODE(file.stat().st_mode) == 0o600
        keying.reset_cache()
        assert keying.patient_key_secret() == first  # read back, not regenerated
        assert len(first) >= 32
    finally:
        keying.reset_cache()


def test_a_short_secret_is_refused(monkeypatch):
    monkeypatch.setenv(keying.SECRET_ENV, "short")
    with pytest.raises(ConfigurationError, match="shorter than"):
        patient_key("1", "X", "19500101")


def _load(engine, data: bytes, name: str, day: date = DOS):
    return load_results(engine, [parse_bytes(data, name)], day)


def test_loading_with_another_secret_is_refused(db_url, monkeypatch):
    facility, physician = _two_payer_files()
    monkeypatch.setenv(keying.SECRET_ENV, SECRET_A.decode())
    engine = engine_for(db_url)
    try:
        ensure_schema(engine)
        _load(engine, facility, "facility.x12")
        with engine.connect() as conn:
            assert stored_fingerprint(conn) == keying.fingerprint(SECRET_A)
        monkeypatch.setenv(keying.SECRET_ENV, SECRET_B.decode())
        with pytest.raises(ConfigurationError, match="patient-key secret differs"):
            _load(engine, physician, "physician.x12")
        with engine.connect() as conn:  # nothing of the refused load was written
            assert conn.execute(sa.select(sa.func.count()).select_from(t.claim)).scalar() == 1
    finally:
        engine.dispose()


def _old_key(payer: str, member: str, last: str, first: str, dob: str) -> str:
    """The 0001/0002 recipe: an unkeyed SHA-256 that included the payer id."""
    return hashlib.sha256(f"{payer}|{member}|{last}|{first}|{dob}".encode()).hexdigest()[:32]


def test_migration_0003_rekeys_and_links_the_history(db_url, tmp_path, monkeypatch):
    """A 0002 store holding old unkeyed keys: claims whose file is in the inbox are re-read and
    linked across payers; a claim whose file is gone keeps a keyed (HMAC) form of its old key."""
    from alembic import command

    from claimaudit.store.db import _alembic_config

    inbox = tmp_path / "inbox"
    facility, physician = _two_payer_files()
    (inbox / DOS.isoformat()).mkdir(parents=True)
    (inbox / DOS.isoformat() / "facility.x12").write_bytes(facility)  # the physician's file is gone
    monkeypatch.setenv("AUDIT_INBOX", str(inbox))
    monkeypatch.setenv(keying.SECRET_ENV, SECRET_A.decode())
    parsed = {name: parse_bytes(data, name) for name, data in (("facility.x12", facility),
                                                                 ("physician.x12", physician))}
    old = {"facility.x12": _old_key("MCRA01", "1EG4-TE5-MK72", "RIVERA", "ANA", "19500304"),
           "physician.x12": _old_key("MCRB02", "1EG4TE5MK72", "RIVERA", "ANNA", "19500304")}
    engine = engine_for(db_url)
    try:
        cfg = _alembic_config()
        with write_transaction(engine, "schema") as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0002")
        with engine.begin() as conn:
            for name, result in parsed.items():
                _insert_0002_history(conn, result, old[name])
        ensure_schema(engine)  # runs 0003
        with engine.connect() as conn:
            keys = dict(conn.execute(sa.select(t.claim.c.claim_id, t.claim.c.patient_key)).all())
            line_keys = dict(conn.execute(sa.select(t.service_line.c.claim_id, t.service_line.c.patient_key)).all())
            fingerprint = stored_fingerprint(conn)
        assert keys["H-1"] == parsed["facility.x12"].claims[0].patient_key  # re-read: the new key
        assert keys["P-1"] == _hmac(SECRET_A, f"unlinked:{old['physician.x12']}")  # file gone: keyed old key
        assert keys["P-1"] != old["physician.x12"]
        assert line_keys == keys
        assert fingerprint == keying.fingerprint(SECRET_A)
    finally:
        engine.dispose()


def _hmac(secret: bytes, text: str) -> str:
    import hmac

    return hmac.new(secret, text.encode(), hashlib.sha256).hexdigest()[:32]


def _insert_0002_history(conn, result, old_key: str) -> None:
    now = datetime(2025, 6, 3, 2, 0)
    c = result.claims[0]
    conn.execute(t.ingested_file.insert().values(
        file_sha256=result.file_sha256, source_file=result.source_file, received_date=DOS, size_bytes=1,
        status="loaded", claims=1, lines=len(result.lines), loaded_at=now))
    conn.execute(t.claim.insert().values(
        claim_key=c.claim_key, claim_id=c.claim_id, received_date=DOS, source_file=c.source_file,
        file_sha256=c.file_sha256, interchange_control=c.interchange_control, sender_id=c.sender_id,
        group_control=c.group_control, transaction_control=c.transaction_control,
        transaction_type=c.transaction_type, patient_key=old_key, payer_id=c.payer_id, payer_class=c.payer_class,
        billing_npi=c.billing_npi, rendering_npi=c.rendering_npi, total_charge=c.total_charge,
        facility_code=c.facility_code, facility_qualifier=c.facility_qualifier, frequency_code=c.frequency_code,
        original_claim_ref=c.original_claim_ref, line_count=len(result.lines), lineage_ref=c.claim_id, load_seq=1))
    for ln in result.lines:
        conn.execute(t.service_line.insert().values(
            claim_key=ln.claim_key, line_number=ln.line_number, claim_id=ln.claim_id, patient_key=old_key,
            received_date=DOS, procedure_code=ln.procedure_code, modifiers=ln.modifiers, charge=ln.charge,
            units=ln.units, unit_basis=ln.unit_basis, place_of_service=ln.place_of_service,
            revenue_code=ln.revenue_code, dx_pointers=ln.dx_pointers, date_of_service=ln.date_of_service,
            dos_raw=ln.dos_raw, rendering_npi=ln.rendering_npi))


def test_rotation_rekeys_the_history_with_the_cli(tmp_path, monkeypatch, capsys):
    """Rotate the secret: loads are refused until `claimaudit rekey-patients` re-keys the history;
    after it, old and new claims of one patient link again."""
    from claimaudit.cli import main

    inbox = tmp_path / "inbox"
    facility, physician = _two_payer_files()
    (inbox / DOS.isoformat()).mkdir(parents=True)
    (inbox / DOS.isoformat() / "facility.x12").write_bytes(facility)
    db = f"sqlite:///{tmp_path / 'report.db'}"
    monkeypatch.setenv("AUDIT_INBOX", str(inbox))
    monkeypatch.setenv("AUDIT_DB_URL", db)
    monkeypatch.setenv("AUDIT_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv(keying.SECRET_ENV, SECRET_A.decode())
    engine = engine_for(db)
    try:
        ensure_schema(engine)
        _load(engine, facility, "facility.x12")
        monkeypatch.setenv(keying.SECRET_ENV, SECRET_B.decode())
        with pytest.raises(ConfigurationError):
            _load(engine, physician, "physician.x12", date(2025, 6, 3))
        assert main(["rekey-patients"]) == 0
        assert "re-keyed 1 claim(s) from 1 source file(s)" in capsys.readouterr().out
        _load(engine, physician, "physician.x12", date(2025, 6, 3))
        with engine.connect() as conn:
            assert len(set(conn.execute(sa.select(t.claim.c.patient_key)).scalars())) == 1
    finally:
        engine.dispose()


def test_cli_turns_a_configuration_error_into_one_line(tmp_path, monkeypatch, capsys):
    from claimaudit.cli import main

    monkeypatch.setenv("AUDIT_DB_URL", f"sqlite:///{tmp_path / 'report.db'}")
    monkeypatch.setenv("AUDIT_INBOX", str(tmp_path / "inbox"))
    monkeypatch.setenv(keying.SECRET_ENV, "short")
    engine = engine_for(f"sqlite:///{tmp_path / 'report.db'}")
    try:
        ensure_schema(engine)
        with engine.begin() as conn:
            conn.execute(t.claim.insert().values(
                claim_key="k", claim_id="C", received_date=DOS, source_file="gone.x12", file_sha256="0" * 64,
                interchange_control="1", sender_id="S", group_control="1", transaction_control="1",
                transaction_type="P", patient_key="p" * 32, payer_id="P", payer_class="CI", billing_npi="1",
                rendering_npi="", facility_code="11", facility_qualifier="B", frequency_code="1",
                original_claim_ref="", line_count=0, lineage_ref="C", load_seq=1))
    finally:
        engine.dispose()
    assert main(["rekey-patients"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("claimaudit: the patient-key secret from") and "\n" not in err
