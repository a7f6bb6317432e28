"""Review actions on findings (who, when, why) and the indexes the findings browser filters on.

Revision ID: 0003_finding_review
Revises: 0002
Create Date: 2026-11-29

finding_review is append-only (the audit trail); finding_review_state holds each finding's latest
review status, written in the same transaction. audit_finding gains three indexes for the browser
(claim id; rule and day; finding and day), no column changes: its columns are a contract with
users' BI tools.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0003_finding_review'
down_revision: Union[str, Sequence[str], None] = '0003_hostile_inputs'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'finding_review',
        sa.Column('review_id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('finding_id', sa.String(length=40), nullable=False),
        sa.Column('rule_id', sa.String(length=64), nullable=False),
        sa.Column('claim_key', sa.String(length=40), nullable=False),
        sa.Column('action', sa.String(length=16), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.String(length=32), nullable=True),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('actor', sa.String(length=250), nullable=False),
        sa.Column('acted_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('review_id', name='pk_finding_review'),
    )
    op.create_index('ix_review_finding', 'finding_review', ['finding_id', 'review_id'], unique=False)
    op.create_table(
        'finding_review_state',
        sa.Column('finding_id', sa.String(length=40), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('review_id', sa.Integer(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('finding_id', name='pk_finding_review_state'),
    )
    op.create_index('ix_review_state_status', 'finding_review_state', ['status'], unique=False)
    op.create_index('ix_finding_claim_id', 'audit_finding', ['claim_id'], unique=False)
    op.create_index('ix_finding_rule_day', 'audit_finding', ['rule_id', 'audit_date'], unique=False)
    op.create_index('ix_finding_id_day', 'audit_finding', ['finding_id', 'audit_date'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_finding_id_day', table_name='audit_finding')
    op.drop_index('ix_finding_rule_day', table_name='audit_finding')
    op.drop_index('ix_finding_claim_id', table_name='audit_finding')
    op.drop_index('ix_review_state_status', table_name='finding_review_state')
    op.drop_table('finding_review_state')
    op.drop_index('ix_review_finding', table_name='finding_review')
    op.drop_table('finding_review')
