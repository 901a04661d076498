"""The seed's schema: permissions, roles, policies and audit_logs with its 18 indexes.

Revision ID: 001
Revises:
Create Date: 2026-12-03

Never edit this file: databases in the field were built from it. Changes go in
a later revision.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NOW = sa.text("CURRENT_TIMESTAMP")


def upgrade() -> None:
    op.create_table(
        "permissions",
        sa.Column("permission_id", sa.String(64), primary_key=True),
        sa.Column("resource", sa.String(255), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("effect", sa.String(10), nullable=False),
        sa.Column("scope", sa.String(255)),
        sa.Column("conditions", JSONB),
        sa.Column("metadata", JSONB),
        sa.Column("created_at", sa.TIMESTAMP(), nullable=False, server_default=_NOW),
        sa.Column("updated_at", sa.TIMESTAMP()),
        sa.Column("created_by", sa.String(255)),
        sa.Column("provenance_hash", sa.String(64)),
        sa.CheckConstraint("effect IN ('allow', 'deny')", name="permissions_effect_check"),
    )
    op.create_index("idx_resource_action", "permissions", ["resource", "action"])
    op.create_index("idx_effect_scope", "permissions", ["effect", "scope"])
    op.create_index("idx_created_at", "permissions", ["created_at"])
    op.create_index("idx_provenance", "permissions", ["provenance_hash"])

    op.create_table(
        "roles",
        sa.Column("role_id", sa.String(64), primary_key=True),
        sa.Column("role_name", sa.String(100), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("permissions", JSONB),
        sa.Column("metadata", JSONB),
        sa.Column("created_at", sa.TIMESTAMP(), nullable=False, server_default=_NOW),
        sa.Column("updated_at", sa.TIMESTAMP()),
        sa.Column("created_by", sa.String(255)),
        sa.Column("is_system_role", sa.Boolean(), server_default=sa.text("false")),
        sa.Column("priority", sa.Integer(), server_default=sa.text("0")),
        sa.UniqueConstraint("role_name", name="roles_role_name_key"),
    )
    op.create_index("idx_role_name", "roles", ["role_name"])
    op.create_index("idx_role_priority", "roles", ["priority"])
    op.create_index("idx_system_role", "roles", ["is_system_role"])

    op.create_table(
        "policies",
        sa.Column("policy_id", sa.String(64), primary_key=True),
        sa.Column("policy_name", sa.String(100), nullable=False),
        sa.Column("policy_type", sa.String(50), nullable=False),
        sa.Column("rules", JSONB, nullable=False),
        sa.Column("conditions", JSONB),
        sa.Column("priority", sa.Integer(), server_default=sa.text("0")),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true")),
        sa.Column("metadata", JSONB),
        sa.Column("created_at", sa.TIMESTAMP(), nullable=False, server_default=_NOW),
        sa.Column("updated_at", sa.TIMESTAMP()),
        sa.Column("created_by", sa.String(255)),
        sa.Column("expires_at", sa.TIMESTAMP()),
        sa.UniqueConstraint("policy_name", name="policies_policy_name_key"),
    )
    op.create_index("idx_policy_name", "policies", ["policy_name"])
    op.create_index("idx_policy_type", "policies", ["policy_type"])
    op.create_index("idx_policy_enabled", "policies", ["enabled"])
    op.create_index("idx_policy_priority", "policies", ["priority"])
    op.create_index("idx_policy_expires", "policies", ["expires_at"])

    op.create_table(
        "audit_logs",
        sa.Column("log_id", sa.String(64), primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("timestamp", sa.TIMESTAMP(), nullable=False, server_default=_NOW),
        sa.Column("event_type", sa.String(50), nullable=False),
        sa.Column("user_id", sa.String(255)),
        sa.Column("resource", sa.String(255)),
        sa.Column("action", sa.String(100)),
        sa.Column("result", sa.String(20), nullable=False),
        sa.Column("details", JSONB),
        sa.Column("ip_address", sa.String(45)),
        sa.Column("user_agent", sa.Text()),
        sa.Column("session_id", sa.String(255)),
        sa.Column("correlation_id", sa.String(64)),
        sa.Column("provenance_hash", sa.String(64)),
        sa.CheckConstraint("result IN ('success', 'failure', 'error')", name="audit_logs_result_check"),
    )
    op.create_index("idx_audit_timestamp", "audit_logs", ["timestamp"])
    op.create_index("idx_audit_user", "audit_logs", ["user_id"])
    op.create_index("idx_audit_event_type", "audit_logs", ["event_type"])
    op.create_index("idx_audit_session", "audit_logs", ["session_id"])
    op.create_index("idx_audit_correlation", "audit_logs", ["correlation_id"])
    op.create_index("idx_audit_result", "audit_logs", ["result"])


def downgrade() -> None:
    for table in ("audit_logs", "policies", "roles", "permissions"):
        op.drop_table(table)
