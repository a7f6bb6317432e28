"""NCCI edit sets: versioned PTP and MUE tables by quarter; edit-set versions on runs and findings.

Revision ID: 0003_ncci_edit_sets
Revises: 0002
Create Date: 2026-11-29

Adds ncci_edit_set (one row per imported version of a quarter's table), ncci_ptp and ncci_mue
(its rows), and nullable columns on audit_run (edit sets used, unchecked lines) and
audit_finding (edit set a NCCI finding used). audit_finding's existing columns are unchanged.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0003_ncci_edit_sets'
down_revision: Union[str, Sequence[str], None] = '0003_finding_review'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'ncci_edit_set',
        sa.Column('edit_set_id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('kind', sa.String(length=3), nullable=False),
        sa.Column('table_kind', sa.String(length=12), nullable=False),
        sa.Column('quarter', sa.String(length=6), nullable=False),
        sa.Column('valid_from', sa.Date(), nullable=False),
        sa.Column('valid_to', sa.Date(), nullable=False),
        sa.Column('checksum', sa.String(length=64), nullable=False),
        sa.Column('files', sa.Text(), nullable=False),
        sa.Column('row_count', sa.Integer(), nullable=False),
        sa.Column('label', sa.String(length=80), nullable=False),
        sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('edit_set_id', name=op.f('pk_ncci_edit_set')),
    )
    op.create_index('ix_ncci_edit_set_key', 'ncci_edit_set', ['kind', 'table_kind', 'quarter'], unique=False)
    op.create_table(
        'ncci_ptp',
        sa.Column('edit_set_id', sa.Integer(), nullable=False),
        sa.Column('column1', sa.String(length=5), nullable=False),
        sa.Column('column2', sa.String(length=5), nullable=False),
        sa.Column('prior_1996', sa.Boolean(), nullable=False),
        sa.Column('effective_date', sa.Date(), nullable=False),
        sa.Column('deletion_date', sa.Date(), nullable=True),
        sa.Column('modifier_indicator', sa.SmallInteger(), nullable=False),
        sa.Column('rationale', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['edit_set_id'], ['ncci_edit_set.edit_set_id'],
                                name=op.f('fk_ncci_ptp_edit_set_id_ncci_edit_set'), ondelete='CASCADE'),
    )
    op.create_index('ix_ncci_ptp_codes', 'ncci_ptp', ['edit_set_id', 'column1', 'column2'], unique=False)
    op.create_table(
        'ncci_mue',
        sa.Column('edit_set_id', sa.Integer(), nullable=False),
        sa.Column('code', sa.String(length=5), nullable=False),
        sa.Column('mue_value', sa.Integer(), nullable=False),
        sa.Column('mai', sa.SmallInteger(), nullable=False),
        sa.Column('mai_text', sa.String(length=60), nullable=False),
        sa.Column('rationale', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['edit_set_id'], ['ncci_edit_set.edit_set_id'],
                                name=op.f('fk_ncci_mue_edit_set_id_ncci_edit_set'), ondelete='CASCADE'),
    )
    op.create_index('ix_ncci_mue_code', 'ncci_mue', ['edit_set_id', 'code'], unique=True)
    with op.batch_alter_table('audit_run') as batch:
        batch.add_column(sa.Column('ncci_edit_sets', sa.Text(), nullable=True))
        batch.add_column(sa.Column('ncci_unchecked_lines', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('ncci_unchecked', sa.Text(), nullable=True))
    with op.batch_alter_table('audit_finding') as batch:
        batch.add_column(sa.Column('ncci_edit_set', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('audit_finding') as batch:
        batch.drop_column('ncci_edit_set')
    with op.batch_alter_table('audit_run') as batch:
        batch.drop_column('ncci_unchecked')
        batch.drop_column('ncci_unchecked_lines')
        batch.drop_column('ncci_edit_sets')
    op.drop_index('ix_ncci_mue_code', table_name='ncci_mue')
    op.drop_table('ncci_mue')
    op.drop_index('ix_ncci_ptp_codes', table_name='ncci_ptp')
    op.drop_table('ncci_ptp')
    op.drop_index('ix_ncci_edit_set_key', table_name='ncci_edit_set')
    op.drop_table('ncci_edit_set')
