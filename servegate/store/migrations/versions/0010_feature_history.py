"""every row upserted into a feature table, for point-in-time training sets

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feature_history",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("table_id", sa.String(32), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("event_time", sa.Double(), nullable=False),
        sa.Column("expires_at", sa.Double()),
        sa.Column("values", sa.JSON(), nullable=False),
    )
    op.create_index(
        "ix_feature_history_lookup", "feature_history", ["table_id", "key", "event_time"]
    )


def downgrade() -> None:
    op.drop_index("ix_feature_history_lookup", "feature_history")
    op.drop_table("feature_history")
