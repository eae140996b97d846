"""outbox indexes per target: claims in due order, rows under a lease

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 09:00:00.000000
"""

from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_due')
        batch_op.create_index('ix_outbox_claim', ['target', 'state', 'due_at', 'id'], unique=False)
        batch_op.create_index('ix_outbox_lease', ['target', 'lease_until'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_lease')
        batch_op.drop_index('ix_outbox_claim')
        batch_op.create_index('ix_outbox_due', ['state', 'due_at'], unique=False)
