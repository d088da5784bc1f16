"""principals, group members, permissions; token last use and revocation

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

import time

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    principals = op.create_table(
        "principals",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("display_name", sa.String(255)),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("entitlements", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("kind", "name"),
    )
    op.create_table(
        "group_members",
        sa.Column(
            "group_id",
            sa.String(32),
            sa.ForeignKey("principals.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "member_id",
            sa.String(32),
            sa.ForeignKey("principals.id", ondelete="CASCADE"),
            primary_key=True,
        ),
    )
    op.create_table(
        "permissions",
        sa.Column("object_type", sa.String(64), primary_key=True),
        sa.Column("object_id", sa.String(255), primary_key=True),
        sa.Column(
            "principal_id",
            sa.String(32),
            sa.ForeignKey("principals.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("level", sa.String(32), nullable=False),
    )
    with op.batch_alter_table("tokens") as batch:
        batch.add_column(sa.Column("last_used_at", sa.BigInteger()))
        batch.add_column(sa.Column("revoked_at", sa.BigInteger()))
    # The built-in administrator that the admin token belongs to.
    op.bulk_insert(
        principals,
        [
            {
                "id": "admin",
                "kind": "user",
                "name": "admin",
                "display_name": "Administrator",
                "active": True,
                "is_admin": True,
                "entitlements": [],
                "created_at": int(time.time() * 1000),
            }
        ],
    )


def downgrade() -> None:
    with op.batch_alter_table("tokens") as batch:
        batch.drop_column("revoked_at")
        batch.drop_column("last_used_at")
    op.drop_table("permissions")
    op.drop_table("group_members")
    op.drop_table("principals")
