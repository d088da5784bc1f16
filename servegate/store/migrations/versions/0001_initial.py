"""endpoints, configs, served entities, tags, tokens

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "endpoints",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(63), nullable=False, unique=True),
        sa.Column("creator", sa.String(255), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("config_update", sa.String(32), nullable=False),
        sa.Column("active_version", sa.Integer()),
        sa.Column("pending_version", sa.Integer()),
        sa.Column("last_version", sa.Integer(), nullable=False),
    )
    op.create_table(
        "endpoint_configs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "endpoint_id",
            sa.String(32),
            sa.ForeignKey("endpoints.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("routes", sa.JSON(), nullable=False),
        sa.Column("auto_capture", sa.JSON()),
        sa.Column("start_time", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("endpoint_id", "version"),
    )
    op.create_table(
        "served_entities",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "config_id",
            sa.Integer(),
            sa.ForeignKey("endpoint_configs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("entity_name", sa.String(255), nullable=False),
        sa.Column("entity_version", sa.String(64), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("legacy_form", sa.Boolean(), nullable=False),
        sa.Column("creator", sa.String(255), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("deployment_state", sa.String(32), nullable=False),
        sa.Column("state_message", sa.Text(), nullable=False),
        sa.UniqueConstraint("config_id", "name"),
    )
    op.create_table(
        "endpoint_tags",
        sa.Column(
            "endpoint_id",
            sa.String(32),
            sa.ForeignKey("endpoints.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("value", sa.Text()),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("principal", sa.String(255), nullable=False),
        sa.Column("comment", sa.Text()),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger()),
    )


def downgrade() -> None:
    for table in ("tokens", "endpoint_tags", "served_entities", "endpoint_configs", "endpoints"):
        op.drop_table(table)
