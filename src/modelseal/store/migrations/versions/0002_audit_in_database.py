"""the audit log in the registry's database, and the registry's change counter

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_meta",
        sa.Column("key", sa.String(length=64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.create_table(
        "audit_entries",
        sa.Column("idx", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("record", sa.Text(), nullable=False),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("size", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("note", sa.Text(), nullable=False),
    )
    meta = sa.table("audit_meta", sa.column("key", sa.String), sa.column("value", sa.Text))
    op.bulk_insert(meta, [{"key": "head", "value": "0"}])
    state = op.create_table(
        "registry_state",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
    )
    op.bulk_insert(state, [{"id": 1, "generation": 0}])


def downgrade() -> None:
    for table in ("registry_state", "audit_checkpoints", "audit_entries", "audit_meta"):
        op.drop_table(table)
