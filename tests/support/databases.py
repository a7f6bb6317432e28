"""Real report databases for tests: a scratch PostgreSQL database on the local server (dropped
afterwards) and an engine on a report DB migrated to head.

Without a reachable PostgreSQL a test that asks for one is skipped, unless CI is set: then it
fails, so CI never passes with half the databases untested.
"""

from __future__ import annotations

import os
import secrets
from contextlib import contextmanager

import pytest

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


@contextmanager
def migrated_engine(url: str):
    """An engine on ``url`` with the report schema migrated to head, disposed afterwards."""
    # Imported here: conftest imports this module before it has set the test environment.
    from claimaudit.store.db import engine_for, ensure_schema

    engine = engine_for(url)
    ensure_schema(engine)
    try:
        yield engine
    finally:
        engine.dispose()
