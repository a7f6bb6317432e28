"""Read counts of a whole-hospital extract: claims and lines read per file and per audited day.

Revision ID: 0003_scale_out
Revises: 0003_patient_key_v2
Create Date: 2026-11-29

Issue 18: the history keeps only radiation-oncology claims, so ingested_file.claims/lines and
audit_run.claims/lines count what was kept and audited; claims_read/lines_read count everything
the files held. Existing rows kept every claim they read: their read counts are their counts.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0003_scale_out'
down_revision: Union[str, Sequence[str], None] = '0003_ncci_edit_sets'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_TABLES = ('ingested_file', 'audit_run')


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('claims_read', sa.Integer(), nullable=False, server_default='0'))
            batch.add_column(sa.Column('lines_read', sa.Integer(), nullable=False, server_default='0'))
        op.execute(f"UPDATE {table} SET claims_read = claims, lines_read = lines")


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column('lines_read')
            batch.drop_column('claims_read')
