"""feature tables: their definitions (the values live in the online store)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feature_tables",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("id", sa.String(32), nullable=False, unique=True),
        sa.Column("primary_keys", sa.JSON(), nullable=False),
        sa.Column("columns", sa.JSON(), nullable=False),
        sa.Column("timestamp_key", sa.String(255)),
        sa.Column("ttl_seconds", sa.Double()),
        sa.Column("description", sa.Text()),
        sa.Column("creator", sa.String(255), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("feature_tables")
