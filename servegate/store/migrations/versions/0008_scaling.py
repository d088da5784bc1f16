"""endpoint events, served entities' scaling, and requests to wake entities scaled to zero

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "endpoint_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "endpoint_id",
            sa.String(32),
            sa.ForeignKey("endpoints.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("served_name", sa.String(255)),
        sa.Column("message", sa.Text(), nullable=False),
    )
    op.create_table(
        "wake_requests",
        sa.Column("endpoint_id", sa.String(32), primary_key=True),
        sa.Column("served_name", sa.String(255), primary_key=True),
        sa.Column("requested_at", sa.BigInteger(), nullable=False),
    )
    with op.batch_alter_table("served_entities") as table:
        table.add_column(sa.Column("scaling", sa.JSON()))


def downgrade() -> None:
    with op.batch_alter_table("served_entities") as table:
        table.drop_column("scaling")
    op.drop_table("wake_requests")
    op.drop_table("endpoint_events")
