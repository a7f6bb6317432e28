"""Shared fixtures: real databases and a real SMTP server, no mocks. The helpers behind them (and
the ones test modules import directly) live in tests/support/.

``db_url``      a fresh, empty report DB, once on SQLite (a temp file) and once on PostgreSQL
                (a database created on 127.0.0.1:5432 with a random name, dropped afterwards).
                Without a reachable PostgreSQL the postgresql case is skipped, unless CI is set:
                then it fails, so CI never passes with half the databases untested.
``smtp_server`` an aiosmtpd server on 127.0.0.1 on a free port, collecting what it receives.
"""

from __future__ import annotations

import os
import sys

import pytest

# One patient-key secret for the whole test session (and the Airflow processes tests start), so
# tests never create a key file under the project's var/. tests/test_patient_keys.py covers the file.
os.environ.setdefault("AUDIT_PATIENT_KEY_SECRET", "claimaudit-tests-only-secret-0123456789")

from support.databases import migrated_engine, scratch_pg_database  # noqa: E402
from support.parse_results import build_parse_result  # noqa: E402
from support.smtp import running_smtp_server  # noqa: E402


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


@pytest.fixture
def smtp_server():
    """A real SMTP server on 127.0.0.1 (plain, no TLS, no auth); ``.messages`` holds what it got."""
    with running_smtp_server() as server:
        yield server


@pytest.fixture
def parse_result():
    """The ``build_parse_result`` factory, for tests that build history rows directly."""
    return build_parse_result
