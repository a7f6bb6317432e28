"""Engines and schema for the report store.

SQLite is the default (a file under var/), PostgreSQL the production target. Both get real
transactions: on SQLite SQLAlchemy emits BEGIN itself (the sqlite3 driver's legacy mode would
autocommit DDL and run SELECTs outside the transaction), and writers start with BEGIN IMMEDIATE
so two writers queue on the busy timeout instead of failing with "database is locked".
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 60_000
_WRITE_OPTION = "claimaudit_write"
# One engine per report DB per process (see shared_engine): its pool and the schema check are paid once.
_SHARED: dict[str, Engine] = {}
_SHARED_LOCK = threading.Lock()


def normalise_url(url: str) -> str:
    """Plain ``postgresql://`` (and ``postgres://``) URLs use psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def engine_for(url: str) -> Engine:
    """An engine for the report DB: SQLite gets WAL, foreign keys and a busy timeout."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        # No JIT: our queries are index lookups and one-batch joins, where compiling costs more
        # (about a second per rule batch) than it saves.
        return create_engine(url, pool_pre_ping=True, connect_args={"options": "-c jit=off"})
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN (below)
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; a crash loses at most the last commit
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection):
        immediate = conn.get_execution_options().get(_WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _lock_key(name: str) -> int:
    # pg_advisory_xact_lock takes a signed bigint; crc32 is stable across processes and versions.
    return zlib.crc32(f"claimaudit:{name}".encode())


@contextlib.contextmanager
def write_transaction(engine: Engine, lock: str) -> Iterator[Connection]:
    """One write transaction, serialised with other writers of the same ``lock`` name.

    SQLite: BEGIN IMMEDIATE takes the database write lock up front (waits on busy_timeout).
    PostgreSQL: a transaction-scoped advisory lock, released at commit or rollback.
    """
    with engine.connect() as conn:
        conn = conn.execution_options(**{_WRITE_OPTION: True})
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_key(lock)})
            yield conn


def _alembic_config():
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def schema_is_current(engine: Engine) -> bool:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    heads = set(ScriptDirectory.from_config(_alembic_config()).get_heads())
    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads()) == heads


def ensure_schema(engine: Engine) -> None:
    """Upgrade the report DB to the newest migration. Cheap when already current; concurrent
    callers serialise on the write lock and the later ones find nothing to do."""
    if schema_is_current(engine):
        return
    from alembic import command

    cfg = _alembic_config()
    with write_transaction(engine, "schema") as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def shared_engine(url: str) -> Engine:
    """The process's engine for ``url``, its schema upgraded to head on first use.

    Every pipeline step of a process (all of them under ``dag.test()`` or the CLI, one per task
    process under an executor) shares it, so a day costs one pool and one Alembic check."""
    url = normalise_url(url)
    with _SHARED_LOCK:
        engine = _SHARED.get(url)
        if engine is None:
            engine = engine_for(url)
            ensure_schema(engine)
            _SHARED[url] = engine
        return engine


def dispose_shared_engines() -> None:
    """Close the shared engines' connections and forget them (at exit; tests between cases, so a
    dropped or re-created database is not read through a stale pool)."""
    with _SHARED_LOCK:
        engines = list(_SHARED.values())
        _SHARED.clear()
    for engine in engines:
        engine.dispose()


def _forget_in_child() -> None:
    # A forked child (an executor's task process) must not use the parent's pooled connections:
    # drop them without closing the parent's sockets, and let the child make its own engine.
    global _SHARED_LOCK
    _SHARED_LOCK = threading.Lock()  # a thread of the parent may have held it at the fork
    for engine in _SHARED.values():
        engine.dispose(close=False)
    _SHARED.clear()


atexit.register(dispose_shared_engines)
os.register_at_fork(after_in_child=_forget_in_child)
