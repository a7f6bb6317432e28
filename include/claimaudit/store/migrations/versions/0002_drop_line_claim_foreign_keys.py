"""Drop the foreign keys from service_line and diagnosis to claim.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

The loader (store/history.py) is the only writer of claim, service_line and diagnosis: it
inserts a claim's lines and diagnoses in the same transaction as the claim, and nothing deletes
claims. Checked row by row, the two foreign keys cost 19 of 63 s of a month's load on
PostgreSQL (a trigger and a key-share lock on the claim per line and per diagnosis); the
loader's own tests check that every line and diagnosis has its claim.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0002'
down_revision: Union[str, Sequence[str], None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('service_line') as batch:
        batch.drop_constraint('fk_service_line_claim_key_claim', type_='foreignkey')
    with op.batch_alter_table('diagnosis') as batch:
        batch.drop_constraint('fk_diagnosis_claim_key_claim', type_='foreignkey')


def downgrade() -> None:
    with op.batch_alter_table('diagnosis') as batch:
        batch.create_foreign_key('fk_diagnosis_claim_key_claim', 'claim', ['claim_key'], ['claim_key'],
                                 ondelete='CASCADE')
    with op.batch_alter_table('service_line') as batch:
        batch.create_foreign_key('fk_service_line_claim_key_claim', 'claim', ['claim_key'], ['claim_key'],
                                 ondelete='CASCADE')
