"""sweep versions landed in the registry

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sweep_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("landed", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("sweep_versions", schema=None) as batch_op:
        batch_op.drop_column("landed")
