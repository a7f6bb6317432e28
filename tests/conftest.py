"""Shared fixtures: real databases and a real SMTP server, no mocks.

``db_url``      a fresh, empty report DB, once on SQLite (a temp file) and once on PostgreSQL
                (a database created on 127.0.0.1:5432 with a random name, dropped afterwards).
                Without a reachable PostgreSQL the postgresql case is skipped, unless CI is set:
                then it fails, so CI never passes with half the databases untested.
``smtp_server`` an aiosmtpd server on 127.0.0.1 on a free port, collecting what it receives.
"""

from __future__ import annotations

import os
import secrets
import socket
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

# One patient-key secret for the whole test session (and the Airflow processes tests start), so
# tests never create a key file under the project's var/. tests/test_patient_keys.py covers the file.
os.environ.setdefault("AUDIT_PATIENT_KEY_SECRET", "claimaudit-tests-only-secret-0123456789")

PG_HOST = os.environ.get("TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("TEST_PG_PORT", "5432"))
PG_ADMIN_DB = os.environ.get("TEST_PG_DB", "test")
PG_USERS = [u for u in (os.environ.get("TEST_PG_USER"), "postgres", "root") if u]


def _pg_admin_connect():
    """An autocommit admin connection (CREATE/DROP DATABASE cannot run in a transaction)."""
    import psycopg

    last: Exception | None = None
    for user in PG_USERS:
        try:
            return psycopg.connect(host=PG_HOST, port=PG_PORT, dbname=PG_ADMIN_DB, user=user,
                                   autocommit=True, connect_timeout=3), user
        except psycopg.OperationalError as exc:
            last = exc
    raise last or RuntimeError("no PostgreSQL user to try")


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is required in CI: {reason}")
    pytest.skip(f"PostgreSQL not reachable: {reason}")


@contextmanager
def scratch_pg_database(prefix: str):
    """URL of a new PostgreSQL database on the local server, dropped afterwards. Skips (fails
    in CI) when the server cannot be reached."""
    try:
        admin, user = _pg_admin_connect()
    except Exception as exc:  # noqa: BLE001 - any failure to connect means "not reachable"
        _unavailable(str(exc).strip())
    name = f"{prefix}_{secrets.token_hex(6)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://{user}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        admin, _ = _pg_admin_connect()
        with admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """URL of a fresh, empty database (schema not created: call ensure_schema)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'report.db'}"
        return
    with scratch_pg_database("claimaudit_test") as url:
        yield url


@pytest.fixture(autouse=True)
def _fresh_shared_engines():
    """The pipeline keeps one engine per report DB per process (store.db.shared_engine): each test
    ends by closing them, so no later test reads a dropped database or a deleted file through it."""
    yield
    db = sys.modules.get("claimaudit.store.db")
    if db is not None:
        db.dispose_shared_engines()


@contextmanager
def migrated_engine(url: str):
    """An engine on ``url`` with the report schema migrated to head, disposed afterwards."""
    from claimaudit.store.db import engine_for, ensure_schema

    engine = engine_for(url)
    ensure_schema(engine)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def engine(db_url):
    """A migrated report DB, once on SQLite and once on PostgreSQL."""
    with migrated_engine(db_url) as e:
        yield e


@pytest.fixture
def sqlite_engine(tmp_path):
    """A migrated SQLite report DB, for tests where the database is not the subject."""
    with migrated_engine(f"sqlite:///{tmp_path / 'report.db'}") as e:
        yield e


@dataclass
class SmtpServer:
    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)  # (MAIL FROM, RCPT TO)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, count: int = 1, timeout: float = 10.0) -> list[EmailMessage]:
        """Block until ``count`` messages arrived (the handler runs on the server's thread)."""
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} message(s), got {len(self.messages)}")


class _Collector:
    def __init__(self, server: SmtpServer):
        self.server = server

    async def handle_DATA(self, _server, _session, envelope):
        msg = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        with self.server._lock:
            self.server.messages.append(msg)
            self.server.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server():
    """A real SMTP server on 127.0.0.1 (plain, no TLS, no auth); ``.messages`` holds what it got."""
    from aiosmtpd.controller import Controller

    server = SmtpServer(host="127.0.0.1", port=_free_port())
    controller = Controller(_Collector(server), hostname=server.host, port=server.port)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


# ---------------------------------------------------------------- ParseResult builder for store/report tests

def build_parse_result(source_file: str, claims: list[dict], *, sender: str = "CLINIC01", isa: str = "000000101",
                       isa_date=None, rejections: list[dict] | None = None, content_salt: str = ""):
    """A ParseResult built from compact claim specs, as the parser would produce it.

    claim spec keys: claim_id, lines [(code, modifiers, date_of_service[, units])], and optional
    freq ("1"/"7"/"8"), ref (REF*F8), npi, patient, payer_class, type ("P"/"I"), dx [codes].
    The file hash covers the specs (plus ``content_salt``), so a different file gets a new hash.
    """
    import hashlib
    from datetime import date

    from claimaudit.model import Claim, Diagnosis, Envelope, ParseResult, Rejection, ServiceLine

    isa_date = isa_date or date(2025, 6, 1)
    sha = hashlib.sha256(f"{source_file}|{sender}|{isa}|{claims!r}|{rejections!r}|{content_salt}".encode()).hexdigest()
    kind = claims[0].get("type", "P") if claims else "P"
    result = ParseResult(source_file=source_file, file_sha256=sha)
    if claims:
        result.envelopes.append(Envelope(source_file, sha, isa, sender, "PAYER01", isa_date, "1", "005010X222A1",
                                         "0001", kind))
    for ordinal, spec in enumerate(claims, start=1):
        key = hashlib.sha256(f"{sender}|{isa}|1|0001|{spec['claim_id']}|{ordinal}".encode()).hexdigest()[:32]
        patient = hashlib.sha256(f"PAYER|{spec.get('patient', 'P1')}".encode()).hexdigest()[:32]
        lines = spec.get("lines", [])
        result.claims.append(Claim(
            claim_key=key, claim_id=spec["claim_id"], source_file=source_file, file_sha256=sha,
            interchange_control=isa, sender_id=sender, group_control="1", transaction_control="0001",
            transaction_type=spec.get("type", "P"), patient_key=patient, payer_id="PAYER01",
            payer_class=spec.get("payer_class", "CI"), billing_npi=spec.get("npi", "1234567893"),
            rendering_npi="", total_charge=100.0 * len(lines), facility_code="11", facility_qualifier="B",
            frequency_code=spec.get("freq", "1"), original_claim_ref=spec.get("ref", ""), statement_from=None,
            statement_to=None, claim_service_date=None, line_count=len(lines)))
        for n, line in enumerate(lines, start=1):
            code, mods, dos = line[:3]
            units = line[3] if len(line) > 3 else 1.0
            result.lines.append(ServiceLine(
                claim_key=key, claim_id=spec["claim_id"], line_number=n, procedure_code=code, modifiers=mods,
                charge=100.0, units=units, unit_basis="UN", place_of_service="11", revenue_code="",
                dx_pointers="1", date_of_service=dos, dos_raw=dos.strftime("%Y%m%d") if dos else "",
                rendering_npi=""))
        for pos, code in enumerate(spec.get("dx", ["C61"]), start=1):
            result.diagnoses.append(Diagnosis(claim_key=key, claim_id=spec["claim_id"], position=pos,
                                              qualifier="ABK" if pos == 1 else "ABF", code=code))
    for rej in rejections or []:
        result.rejections.append(Rejection(
            source_file=source_file, file_sha256=sha, unit=rej.get("unit", "file"),
            interchange_control=rej.get("isa", ""), transaction_control=rej.get("st", ""),
            segment_position=rej.get("position"), segment_id=rej.get("segment", ""), reason=rej["reason"]))
    return result


@pytest.fixture
def parse_result():
    """The ``build_parse_result`` factory, for tests that build history rows directly."""
    return build_parse_result
