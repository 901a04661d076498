"""The tables, as SQLAlchemy 2 typed declarative models.

The migrations are the source of truth for the database; these models mirror
them so Alembic's autogenerate can prove the two agree (a test does). Runtime
code never calls ``create_all``. The seed's four tables keep its exact columns,
types, defaults, checks and index names; later additions (role parents,
assignments, the audit sequence and chain head, the revision counter, the
insertion order) come from migration 002, and the tenant columns from 003.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Base",
    "PermissionRow",
    "RoleRow",
    "PolicyRow",
    "AuditLogRow",
    "RoleAssignmentRow",
    "AuditChainHeadRow",
    "MetaRow",
]

Json = Any


class Base(DeclarativeBase):
    metadata = MetaData()


def _order() -> Mapped[int]:
    """Insertion order: lists and the policy snapshot read rows in the order they were written."""
    return mapped_column("insert_order", BigInteger, Identity(always=False), nullable=False)


def _tenant() -> Mapped[str | None]:
    """The tenant a row belongs to; NULL shares it with every tenant. Indexed for ``load_policy_state(tenant=)``."""
    return mapped_column(String(64))


class PermissionRow(Base):
    __tablename__ = "permissions"
    __table_args__ = (
        CheckConstraint("effect IN ('allow', 'deny')", name="permissions_effect_check"),
        Index("idx_resource_action", "resource", "action"),
        Index("idx_effect_scope", "effect", "scope"),
        Index("idx_created_at", "created_at"),
        Index("idx_provenance", "provenance_hash"),
        Index("idx_permission_scope", "scope"),
        Index("idx_permission_order", "insert_order", unique=True),
        Index("idx_permission_tenant", "tenant_id"),
    )

    permission_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(100))
    effect: Mapped[str] = mapped_column(String(10))
    scope: Mapped[str | None] = mapped_column(String(255))
    conditions: Mapped[Json | None] = mapped_column(JSONB)
    metadata_: Mapped[Json | None] = mapped_column("metadata", JSONB)
    created_at: Mapped[datetime] = mapped_column(TIMESTAMP(), server_default=text("CURRENT_TIMESTAMP"))
    updated_at: Mapped[datetime | None] = mapped_column(TIMESTAMP())
    created_by: Mapped[str | None] = mapped_column(String(255))
    provenance_hash: Mapped[str | None] = mapped_column(String(64))
    insert_order: Mapped[int] = _order()
    tenant_id: Mapped[str | None] = _tenant()


class RoleRow(Base):
    __tablename__ = "roles"
    __table_args__ = (
        Index("idx_role_name", "role_name"),
        Index("idx_role_priority", "priority"),
        Index("idx_system_role", "is_system_role"),
        Index("idx_role_order", "insert_order", unique=True),
        Index("idx_role_tenant", "tenant_id"),
    )

    role_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    role_name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    permissions: Mapped[Json | None] = mapped_column(JSONB)
    metadata_: Mapped[Json | None] = mapped_column("metadata", JSONB)
    created_at: Mapped[datetime] = mapped_column(TIMESTAMP(), server_default=text("CURRENT_TIMESTAMP"))
    updated_at: Mapped[datetime | None] = mapped_column(TIMESTAMP())
    created_by: Mapped[str | None] = mapped_column(String(255))
    is_system_role: Mapped[bool | None] = mapped_column(Boolean, server_default=text("false"))
    priority: Mapped[int | None] = mapped_column(Integer, server_default=text("0"))
    parent_roles: Mapped[Json] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    insert_order: Mapped[int] = _order()
    tenant_id: Mapped[str | None] = _tenant()


class PolicyRow(Base):
    __tablename__ = "policies"
    __table_args__ = (
        Index("idx_policy_name", "policy_name"),
        Index("idx_policy_type", "policy_type"),
        Index("idx_policy_enabled", "enabled"),
        Index("idx_policy_priority", "priority"),
        Index("idx_policy_expires", "expires_at"),
        Index("idx_policy_order", "insert_order", unique=True),
        Index("idx_policy_tenant", "tenant_id"),
    )

    policy_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    policy_name: Mapped[str] = mapped_column(String(100), unique=True)
    policy_type: Mapped[str] = mapped_column(String(50))
    rules: Mapped[Json] = mapped_column(JSONB)
    conditions: Mapped[Json | None] = mapped_column(JSONB)
    priority: Mapped[int | None] = mapped_column(Integer, server_default=text("0"))
    enabled: Mapped[bool | None] = mapped_column(Boolean, server_default=text("true"))
    metadata_: Mapped[Json | None] = mapped_column("metadata", JSONB)
    created_at: Mapped[datetime] = mapped_column(TIMESTAMP(), server_default=text("CURRENT_TIMESTAMP"))
    updated_at: Mapped[datetime | None] = mapped_column(TIMESTAMP())
    created_by: Mapped[str | None] = mapped_column(String(255))
    expires_at: Mapped[datetime | None] = mapped_column(TIMESTAMP())
    valid_from: Mapped[datetime | None] = mapped_column(TIMESTAMP())
    insert_order: Mapped[int] = _order()
    tenant_id: Mapped[str | None] = _tenant()


class AuditLogRow(Base):
    __tablename__ = "audit_logs"
    __table_args__ = (
        CheckConstraint("result IN ('success', 'failure', 'error')", name="audit_logs_result_check"),
        Index("idx_audit_timestamp", "timestamp"),
        Index("idx_audit_user", "user_id"),
        Index("idx_audit_event_type", "event_type"),
        Index("idx_audit_session", "session_id"),
        Index("idx_audit_correlation", "correlation_id"),
        Index("idx_audit_result", "result"),
        Index("idx_audit_sequence", "sequence", unique=True),
    )

    log_id: Mapped[str] = mapped_column(String(64), primary_key=True, server_default=text("gen_random_uuid()"))
    timestamp: Mapped[datetime] = mapped_column(TIMESTAMP(), server_default=text("CURRENT_TIMESTAMP"))
    event_type: Mapped[str] = mapped_column(String(50))
    user_id: Mapped[str | None] = mapped_column(String(255))
    resource: Mapped[str | None] = mapped_column(String(255))
    action: Mapped[str | None] = mapped_column(String(100))
    result: Mapped[str] = mapped_column(String(20))
    details: Mapped[Json | None] = mapped_column(JSONB)
    ip_address: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(Text)
    session_id: Mapped[str | None] = mapped_column(String(255))
    correlation_id: Mapped[str | None] = mapped_column(String(64))
    provenance_hash: Mapped[str | None] = mapped_column(String(64))
    sequence: Mapped[int] = mapped_column(BigInteger)


class RoleAssignmentRow(Base):
    __tablename__ = "role_assignments"
    __table_args__ = (
        Index("idx_assignment_subject", "subject"),
        Index("idx_assignment_role", "role_id"),
        Index("idx_assignment_order", "insert_order", unique=True),
        Index("idx_assignment_tenant", "tenant_id"),
    )

    assignment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject: Mapped[str] = mapped_column(String(255))
    role_id: Mapped[str] = mapped_column(String(64), ForeignKey("roles.role_id", name="role_assignments_role_id_fkey"))
    scope: Mapped[str | None] = mapped_column(String(255))
    valid_from: Mapped[datetime | None] = mapped_column(TIMESTAMP())
    expires_at: Mapped[datetime | None] = mapped_column(TIMESTAMP())
    metadata_: Mapped[Json] = mapped_column("metadata", JSONB, server_default=text("'{}'::jsonb"))
    created_at: Mapped[datetime] = mapped_column(TIMESTAMP(), server_default=text("CURRENT_TIMESTAMP"))
    created_by: Mapped[str | None] = mapped_column(String(255))
    insert_order: Mapped[int] = _order()
    tenant_id: Mapped[str | None] = _tenant()


class AuditChainHeadRow(Base):
    """One row: the last linked event. Sequence 0 means an empty trail; appenders lock this row."""

    __tablename__ = "audit_chain_head"
    __table_args__ = (CheckConstraint("id = 1", name="audit_chain_head_single_row"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    sequence: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class MetaRow(Base):
    """Store-wide counters; ``revision`` counts committed policy writes, and policy writers lock it."""

    __tablename__ = "greenlang_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)
