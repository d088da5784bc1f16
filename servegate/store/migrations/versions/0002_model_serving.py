"""per-model serving, its events, and the version a served entity resolves to

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_serving",
        sa.Column("model_name", sa.String(255), primary_key=True),
        sa.Column("creator", sa.String(255), nullable=False),
        sa.Column("enabled_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "model_serving_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("model_name", sa.String(255), nullable=False, index=True),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("version", sa.String(64)),
        sa.Column("message", sa.Text(), nullable=False),
    )
    with op.batch_alter_table("served_entities") as batch:
        batch.add_column(sa.Column("resolved_version", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("served_entities") as batch:
        batch.drop_column("resolved_version")
    op.drop_table("model_serving_events")
    op.drop_table("model_serving")
