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
        # The head, whatever its id (migrations are re-chained at merge).
        from alembic.script import ScriptDirectory

        from claimaudit.store.db import _alembic_config

        heads = ScriptDirectory.from_config(_alembic_config()).get_heads()
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all() == heads
    engine.dispose()


def test_sqlite_engine_settings(tmp_path):
    engine = engine_for(f"sqlite:///{tmp_path / 'sub' / 'x.db'}")  # missing folder is created
    ensure_schema(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000
    engine.dispose()


def test_upgrade_from_0001_keeps_the_history_and_drops_the_line_foreign_keys(db_url):
    """A report DB made by 0001 (foreign keys from lines and diagnoses to claims) upgrades in place."""
    from alembic import command

    from claimaudit.store.db import _alembic_config, write_transaction

    engine = engine_for(db_url)
    cfg = _alembic_config()
    with write_transaction(engine, "schema") as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    assert sa.inspect(engine).get_foreign_keys("service_line")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO claim VALUES ('k1','C1','2025-06-02','f','sha','000000001','S','1','0001','P','p1','PAYER',"
            "'MB','1234567893','',100.0,'11','B','1','',NULL,NULL,NULL,1,'C1',NULL,1,NULL)")
        conn.exec_driver_sql("INSERT INTO service_line VALUES ('k1',1,'C1','p1','2025-06-02','77386','',100.0,1.0,"
                             "'UN','11','','1','2025-06-02','20250602','')")
    ensure_schema(engine)
    assert schema_is_current(engine)
    assert sa.inspect(engine).get_foreign_keys("service_line") == []
    assert sa.inspect(engine).get_foreign_keys("diagnosis") == []
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT claim_key, line_number FROM service_line").all() == [("k1", 1)]
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
