"""What greenlang-core's model needs beyond the seed.

Revision ID: 002
Revises: 001
Create Date: 2026-12-03

* roles.parent_roles and policies.valid_from;
* the role_assignments table;
* an insertion order on every record table, so lists are stable;
* audit_logs.sequence, the audit_chain_head row and the greenlang_meta
  revision counter.

Audit events already in the table (written before the chain existed) are
numbered in (timestamp, log_id) order and linked into the chain here; each
one's earlier provenance_hash is kept in details as ``legacy_provenance_hash``.
The revision counter starts at the number of policy writes among them, so a
database taken below 002 and back keeps a revision its trail agrees with.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "002"
down_revision: str | None = "001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NOW = sa.text("CURRENT_TIMESTAMP")
_RECORD_TABLES = {"permissions": "permission", "roles": "role", "policies": "policy"}


def _add_insert_order(table: str, index: str) -> None:
    op.add_column(table, sa.Column("insert_order", sa.BigInteger(), sa.Identity(always=False), nullable=False))
    op.create_index(index, table, ["insert_order"], unique=True)


def upgrade() -> None:
    op.add_column("roles", sa.Column("parent_roles", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")))
    op.add_column("policies", sa.Column("valid_from", sa.TIMESTAMP()))
    for table, kind in _RECORD_TABLES.items():
        _add_insert_order(table, f"idx_{kind}_order")
    op.create_index("idx_permission_scope", "permissions", ["scope"])

    op.create_table(
        "role_assignments",
        sa.Column("assignment_id", sa.String(64), primary_key=True),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column(
            "role_id",
            sa.String(64),
            sa.ForeignKey("roles.role_id", name="role_assignments_role_id_fkey"),
            nullable=False,
        ),
        sa.Column("scope", sa.String(255)),
        sa.Column("valid_from", sa.TIMESTAMP()),
        sa.Column("expires_at", sa.TIMESTAMP()),
        sa.Column("metadata", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("created_at", sa.TIMESTAMP(), nullable=False, server_default=_NOW),
        sa.Column("created_by", sa.String(255)),
        sa.Column("insert_order", sa.BigInteger(), sa.Identity(always=False), nullable=False),
    )
    op.create_index("idx_assignment_subject", "role_assignments", ["subject"])
    op.create_index("idx_assignment_role", "role_assignments", ["role_id"])
    op.create_index("idx_assignment_order", "role_assignments", ["insert_order"], unique=True)

    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.SmallInteger(), primary_key=True, autoincrement=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.CheckConstraint("id = 1", name="audit_chain_head_single_row"),
    )
    op.create_table(
        "greenlang_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.BigInteger(), nullable=False),
    )
    op.add_column("audit_logs", sa.Column("sequence", sa.BigInteger()))
    head_sequence, head_hash, policy_writes = _adopt_legacy_events()
    op.execute(
        sa.text("INSERT INTO greenlang_meta (key, value) VALUES ('revision', :writes)").bindparams(writes=policy_writes)
    )
    op.execute(
        sa.text("INSERT INTO audit_chain_head (id, sequence, hash) VALUES (1, :sequence, :hash)").bindparams(
            sequence=head_sequence, hash=head_hash
        )
    )
    op.alter_column("audit_logs", "sequence", nullable=False)
    op.create_index("idx_audit_sequence", "audit_logs", ["sequence"], unique=True)


def _adopt_legacy_events() -> tuple[int, str, int]:
    """Link events written before this revision into the chain; the new head and the policy writes among them."""
    from greenlang_pg.legacy import adopt_events

    return adopt_events(op.get_bind())


def downgrade() -> None:
    op.drop_index("idx_audit_sequence", table_name="audit_logs")
    op.drop_column("audit_logs", "sequence")
    op.drop_table("greenlang_meta")
    op.drop_table("audit_chain_head")
    op.drop_table("role_assignments")
    op.drop_index("idx_permission_scope", table_name="permissions")
    for table, kind in _RECORD_TABLES.items():
        op.drop_index(f"idx_{kind}_order", table_name=table)
        op.drop_column(table, "insert_order")
    op.drop_column("policies", "valid_from")
    op.drop_column("roles", "parent_roles")
