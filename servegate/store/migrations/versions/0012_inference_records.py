"""inference tables: each captured request of an endpoint

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inference_records",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("client_request_id", sa.Text()),
        sa.Column("endpoint_id", sa.String(32), nullable=False),
        sa.Column("endpoint_name", sa.String(63), nullable=False),
        sa.Column("served_model_name", sa.String(255)),
        sa.Column("model_name", sa.String(255)),
        sa.Column("model_version", sa.String(64)),
        sa.Column("timestamp_ms", sa.BigInteger(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("execution_time_ms", sa.Double(), nullable=False),
        sa.Column("requester", sa.String(255), nullable=False),
        sa.Column("request", sa.Text()),
        sa.Column("response", sa.Text()),
    )
    op.create_index(
        "ix_inference_records_endpoint_time", "inference_records", ["endpoint_id", "timestamp_ms"]
    )


def downgrade() -> None:
    op.drop_index("ix_inference_records_endpoint_time", "inference_records")
    op.drop_table("inference_records")
