"""Patient keys v2: linked across payer ids, keyed (HMAC) with a secret kept outside the DB.

Revision ID: 0003_patient_key_v2
Revises: 0002
Create Date: 2026-11-29

Keys made by 0001/0002 were an unkeyed SHA-256 of payer id, member id, names and birth date:
anyone with a patient list could recompute them, and a patient's Part A and Part B claims never
met. This re-keys the history: claims whose source file is still in the inbox are re-read and
get the new key (linked); the others get an HMAC of their old key (one-way, not re-linked).
The store then records the secret's fingerprint (store_setting), never the secret.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0003_patient_key_v2'
down_revision: Union[str, Sequence[str], None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    from claimaudit.settings import Settings
    from claimaudit.store.patient_keys import rekey_history

    op.create_table(
        'store_setting',
        sa.Column('name', sa.String(64), nullable=False),
        sa.Column('value', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('name', name='pk_store_setting'),
    )
    conn = op.get_bind()
    if conn.execute(sa.text("SELECT 1 FROM claim LIMIT 1")).first() is not None:
        rekey_history(conn, Settings.from_env().inbox)


def downgrade() -> None:
    # The old unkeyed hashes cannot be recomputed from the store (it never held the inputs).
    op.drop_table('store_setting')
