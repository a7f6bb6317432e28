"""Hostile inputs (issue 16): ignored inbox entries, and digest delivery tracked on its own.

Revision ID: 0003_hostile_inputs
Revises: 0002
Create Date: 2026-11-29

- ``ignored_entry``: what a day's folder held that was not audited (sub-folders, hidden and
  temporary files), with the reason; ``audit_run.ignored`` counts them.
- ``audit_run.delivered_at`` / ``delivered_to``: the digest's delivery. Days audited before this
  migration are taken as delivered (their digest went out or was written then).
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0003_hostile_inputs'
down_revision: Union[str, Sequence[str], None] = '0003_patient_key_v2'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'ignored_entry',
        sa.Column('audit_date', sa.Date(), nullable=False),
        sa.Column('name', sa.Text(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('audit_date', 'name', name=op.f('pk_ignored_entry')),
    )
    with op.batch_alter_table('audit_run') as batch:
        batch.add_column(sa.Column('ignored', sa.Integer(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('delivered_to', sa.Text(), nullable=True))
    op.execute("UPDATE audit_run SET delivered_at = COALESCE(email_sent_at, finished_at), "
               "delivered_to = 'before delivery tracking' WHERE status = 'complete'")


def downgrade() -> None:
    with op.batch_alter_table('audit_run') as batch:
        batch.drop_column('delivered_to')
        batch.drop_column('delivered_at')
        batch.drop_column('ignored')
    op.drop_table('ignored_entry')
