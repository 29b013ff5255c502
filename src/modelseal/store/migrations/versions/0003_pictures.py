"""pictures from modelseal inspect, attached to model versions

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pictures",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("model_version_id", sa.Integer(), sa.ForeignKey("model_versions.id"), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("png", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("model_version_id", "name"),
    )
    op.create_index("ix_pictures_model_version_id", "pictures", ["model_version_id"])


def downgrade() -> None:
    op.drop_index("ix_pictures_model_version_id", table_name="pictures")
    op.drop_table("pictures")
