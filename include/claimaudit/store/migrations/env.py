"""Alembic environment, run programmatically by claimaudit.store.db.ensure_schema.

The caller passes an open connection already inside its write transaction (and lock), so the
migrations join that transaction: on SQLite and PostgreSQL, DDL is transactional.
"""

from alembic import context

from claimaudit.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through claimaudit.store.db.ensure_schema(engine)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTERs go through table copies
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
