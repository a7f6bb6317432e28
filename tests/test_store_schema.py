"""Schema via Alembic on SQLite and PostgreSQL: complete, idempotent, safe to run concurrently."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from claimaudit.store import schema
from claimaudit.store.db import engine_for, ensure_schema, normalise_url, schema_is_current


def test_migrations_build_exactly_the_declared_schema(db_url):
    engine = engine_for(db_url)
    assert not schema_is_current(engine)
    ensure_schema(engine)
    assert schema_is_current(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), schema.metadata)
    assert diff == []
    names = set(sa.inspect(engine).get_table_names())
    assert {t.name for t in schema.metadata.sorted_tables} | {"alembic_version"} == names
    engine.dispose()


def test_finding_contract_columns_exist(db_url):
    engine = engine_for(db_url)
    ensure_schema(engine)
    cols = [c["name"] for c in sa.inspect(engine).get_columns("audit_finding")]
    assert set(schema.FINDING_CONTRACT_COLUMNS) <= set(cols)
    engine.dispose()


def test_ensure_schema_concurrently_and_repeatedly(db_url):
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def worker():
        engine = engine_for(db_url)
        try:
            barrier.wait()
            ensure_schema(engine)
            ensure_schema(engine)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    engine = engine_for(db_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all() == ["0001"]
    engine.dispose()


def test_sqlite_engine_settings_and_foreign_keys(tmp_path):
    engine = engine_for(f"sqlite:///{tmp_path / 'sub' / 'x.db'}")  # missing folder is created
    ensure_schema(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(schema.diagnosis.insert(), dict(claim_key="nope", position=1, claim_id="X", qualifier="ABK",
                                                     code="C61"))
    engine.dispose()


def test_sqlite_ddl_is_transactional(tmp_path):
    """A failed migration must not leave half a schema behind (SQLAlchemy emits BEGIN itself)."""
    engine = engine_for(f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(RuntimeError), engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE half (x INTEGER)")
        raise RuntimeError("migration failed")
    assert "half" not in sa.inspect(engine).get_table_names()
    engine.dispose()


def test_plain_postgresql_urls_use_psycopg3():
    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"
    assert engine_for("postgresql://u@127.0.0.1/db").dialect.driver == "psycopg"
