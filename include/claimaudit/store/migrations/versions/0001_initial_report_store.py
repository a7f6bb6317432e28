"""Initial report store: claim history, rejections, audit runs and findings.

Revision ID: 0001
Revises:
Create Date: 2026-11-27

Frozen: later schema changes go in new revisions, never edits here.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0001'
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema: one helper per table with its indexes; claim before the tables referring to it."""
    _create_audit_finding()
    _create_audit_run()
    _create_claim()
    _create_ingested_file()
    _create_interchange()
    _create_rejection()
    _create_diagnosis()
    _create_service_line()


def _create_audit_finding() -> None:
    op.create_table('audit_finding',
    sa.Column('finding_id', sa.String(length=40), nullable=False),
    sa.Column('run_id', sa.String(length=250), nullable=False),
    sa.Column('audit_date', sa.Date(), nullable=False),
    sa.Column('rule_id', sa.String(length=64), nullable=False),
    sa.Column('severity', sa.String(length=8), nullable=False),
    sa.Column('claim_id', sa.String(length=38), nullable=False),
    sa.Column('line_number', sa.Integer(), nullable=True),
    sa.Column('date_of_service', sa.Date(), nullable=True),
    sa.Column('procedure_code', sa.String(length=48), nullable=False),
    sa.Column('modifiers', sa.String(length=16), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('source_file', sa.Text(), nullable=False),
    sa.Column('interchange_control', sa.String(length=9), nullable=False),
    sa.Column('billing_npi', sa.String(length=10), nullable=False),
    sa.Column('payer_class', sa.String(length=3), nullable=False),
    sa.Column('ruleset_version', sa.String(length=64), nullable=False),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('claim_key', sa.String(length=40), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('audit_date', 'finding_id', name='pk_audit_finding')
    )
    op.create_index('ix_finding_claim', 'audit_finding', ['claim_key'], unique=False)
    op.create_index('ix_finding_id', 'audit_finding', ['finding_id'], unique=False)
    op.create_index('ix_finding_open', 'audit_finding', ['status', 'audit_date'], unique=False)


def _create_audit_run() -> None:
    op.create_table('audit_run',
    sa.Column('audit_date', sa.Date(), nullable=False),
    sa.Column('run_id', sa.String(length=250), nullable=False),
    sa.Column('ruleset_version', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('files', sa.Integer(), nullable=False),
    sa.Column('claims', sa.Integer(), nullable=False),
    sa.Column('lines', sa.Integer(), nullable=False),
    sa.Column('findings', sa.Integer(), nullable=False),
    sa.Column('errors', sa.Integer(), nullable=False),
    sa.Column('warnings', sa.Integer(), nullable=False),
    sa.Column('rejections', sa.Integer(), nullable=False),
    sa.Column('new_findings', sa.Integer(), nullable=False),
    sa.Column('resolved', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('duration_s', sa.Float(), nullable=True),
    sa.Column('email_sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('audit_date', name=op.f('pk_audit_run'))
    )


def _create_claim() -> None:
    op.create_table('claim',
    sa.Column('claim_key', sa.String(length=40), nullable=False),
    sa.Column('claim_id', sa.String(length=38), nullable=False),
    sa.Column('received_date', sa.Date(), nullable=False),
    sa.Column('source_file', sa.Text(), nullable=False),
    sa.Column('file_sha256', sa.String(length=64), nullable=False),
    sa.Column('interchange_control', sa.String(length=9), nullable=False),
    sa.Column('sender_id', sa.String(length=15), nullable=False),
    sa.Column('group_control', sa.String(length=9), nullable=False),
    sa.Column('transaction_control', sa.String(length=9), nullable=False),
    sa.Column('transaction_type', sa.String(length=1), nullable=False),
    sa.Column('patient_key', sa.String(length=32), nullable=False),
    sa.Column('payer_id', sa.String(length=80), nullable=False),
    sa.Column('payer_class', sa.String(length=3), nullable=False),
    sa.Column('billing_npi', sa.String(length=10), nullable=False),
    sa.Column('rendering_npi', sa.String(length=10), nullable=False),
    sa.Column('total_charge', sa.Float(), nullable=True),
    sa.Column('facility_code', sa.String(length=2), nullable=False),
    sa.Column('facility_qualifier', sa.String(length=1), nullable=False),
    sa.Column('frequency_code', sa.String(length=1), nullable=False),
    sa.Column('original_claim_ref', sa.String(length=50), nullable=False),
    sa.Column('statement_from', sa.Date(), nullable=True),
    sa.Column('statement_to', sa.Date(), nullable=True),
    sa.Column('claim_service_date', sa.Date(), nullable=True),
    sa.Column('line_count', sa.Integer(), nullable=False),
    sa.Column('lineage_ref', sa.String(length=50), nullable=False),
    sa.Column('interchange_date', sa.Date(), nullable=True),
    sa.Column('load_seq', sa.BigInteger(), nullable=False),
    sa.Column('superseded_by', sa.String(length=40), nullable=True),
    sa.PrimaryKeyConstraint('claim_key', name=op.f('pk_claim'))
    )
    op.create_index('ix_claim_file', 'claim', ['file_sha256'], unique=False)
    op.create_index('ix_claim_lineage', 'claim', ['billing_npi', 'lineage_ref'], unique=False)
    op.create_index('ix_claim_patient', 'claim', ['patient_key'], unique=False)
    op.create_index('ix_claim_received', 'claim', ['received_date'], unique=False)


def _create_ingested_file() -> None:
    op.create_table('ingested_file',
    sa.Column('file_sha256', sa.String(length=64), nullable=False),
    sa.Column('source_file', sa.Text(), nullable=False),
    sa.Column('received_date', sa.Date(), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('claims', sa.Integer(), nullable=False),
    sa.Column('lines', sa.Integer(), nullable=False),
    sa.Column('loaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('file_sha256', name=op.f('pk_ingested_file'))
    )


def _create_interchange() -> None:
    op.create_table('interchange',
    sa.Column('sender_id', sa.String(length=15), nullable=False),
    sa.Column('interchange_control', sa.String(length=9), nullable=False),
    sa.Column('file_sha256', sa.String(length=64), nullable=False),
    sa.Column('source_file', sa.Text(), nullable=False),
    sa.Column('received_date', sa.Date(), nullable=False),
    sa.Column('interchange_date', sa.Date(), nullable=True),
    sa.PrimaryKeyConstraint('sender_id', 'interchange_control', name=op.f('pk_interchange'))
    )


def _create_rejection() -> None:
    op.create_table('rejection',
    sa.Column('audit_date', sa.Date(), nullable=False),
    sa.Column('file_sha256', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('source_file', sa.Text(), nullable=False),
    sa.Column('unit', sa.String(length=16), nullable=False),
    sa.Column('interchange_control', sa.String(length=9), nullable=False),
    sa.Column('transaction_control', sa.String(length=9), nullable=False),
    sa.Column('segment_position', sa.Integer(), nullable=True),
    sa.Column('segment_id', sa.String(length=3), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('quarantine_path', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('audit_date', 'file_sha256', 'seq', name=op.f('pk_rejection'))
    )
    op.create_index('ix_rejection_day', 'rejection', ['audit_date'], unique=False)


def _create_diagnosis() -> None:
    op.create_table('diagnosis',
    sa.Column('claim_key', sa.String(length=40), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('claim_id', sa.String(length=38), nullable=False),
    sa.Column('qualifier', sa.String(length=3), nullable=False),
    sa.Column('code', sa.String(length=30), nullable=False),
    sa.ForeignKeyConstraint(['claim_key'], ['claim.claim_key'], name=op.f('fk_diagnosis_claim_key_claim'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('claim_key', 'position', name=op.f('pk_diagnosis'))
    )


def _create_service_line() -> None:
    op.create_table('service_line',
    sa.Column('claim_key', sa.String(length=40), nullable=False),
    sa.Column('line_number', sa.Integer(), nullable=False),
    sa.Column('claim_id', sa.String(length=38), nullable=False),
    sa.Column('patient_key', sa.String(length=32), nullable=False),
    sa.Column('received_date', sa.Date(), nullable=False),
    sa.Column('procedure_code', sa.String(length=48), nullable=False),
    sa.Column('modifiers', sa.String(length=16), nullable=False),
    sa.Column('charge', sa.Float(), nullable=True),
    sa.Column('units', sa.Float(), nullable=True),
    sa.Column('unit_basis', sa.String(length=2), nullable=False),
    sa.Column('place_of_service', sa.String(length=2), nullable=False),
    sa.Column('revenue_code', sa.String(length=48), nullable=False),
    sa.Column('dx_pointers', sa.String(length=16), nullable=False),
    sa.Column('date_of_service', sa.Date(), nullable=True),
    sa.Column('dos_raw', sa.String(length=35), nullable=False),
    sa.Column('rendering_npi', sa.String(length=10), nullable=False),
    sa.ForeignKeyConstraint(['claim_key'], ['claim.claim_key'], name=op.f('fk_service_line_claim_key_claim'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('claim_key', 'line_number', name=op.f('pk_service_line'))
    )
    op.create_index('ix_line_patient_dos', 'service_line', ['patient_key', 'date_of_service'], unique=False)
    op.create_index('ix_line_received', 'service_line', ['received_date'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_line_received', table_name='service_line')
    op.drop_index('ix_line_patient_dos', table_name='service_line')

    op.drop_table('service_line')
    op.drop_table('diagnosis')
    op.drop_index('ix_rejection_day', table_name='rejection')

    op.drop_table('rejection')
    op.drop_table('interchange')
    op.drop_table('ingested_file')
    op.drop_index('ix_claim_received', table_name='claim')
    op.drop_index('ix_claim_patient', table_name='claim')
    op.drop_index('ix_claim_lineage', table_name='claim')
    op.drop_index('ix_claim_file', table_name='claim')

    op.drop_table('claim')
    op.drop_table('audit_run')
    op.drop_index('ix_finding_open', table_name='audit_finding')
    op.drop_index('ix_finding_id', table_name='audit_finding')
    op.drop_index('ix_finding_claim', table_name='audit_finding')

    op.drop_table('audit_finding')
