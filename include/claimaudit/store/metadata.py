"""The one ``MetaData`` every report-store table belongs to.

Its own module so that tables defined beside their feature (``claimaudit.ncci.tables``) and
``claimaudit.store.schema`` both import it, and neither has to import the other to get it.
Code that needs every table (create_all, migrations) imports ``metadata`` from
``claimaudit.store.schema``, which loads all of them.
"""

from __future__ import annotations

from sqlalchemy import MetaData

# Named constraints: migrations then name the same objects on SQLite and PostgreSQL.
metadata = MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})
