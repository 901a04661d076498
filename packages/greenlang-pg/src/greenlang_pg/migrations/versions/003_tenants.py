"""A tenant on every policy record.

Revision ID: 003
Revises: 002
Create Date: 2026-12-04

* ``tenant_id`` (VARCHAR(64), NULL) on permissions, roles, policies and
  role_assignments, each with an index, so ``load_policy_state(tenant=...)``
  reads one tenant's rows and the shared ones (NULL) without scanning the rest.

Rows already stored keep NULL: shared by every tenant, as they were before.
Downgrading drops the columns and so which tenant each row belonged to; the
rows themselves stay.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "003"
down_revision: str | None = "002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = {"permissions": "permission", "roles": "role", "policies": "policy", "role_assignments": "assignment"}


def upgrade() -> None:
    for table, kind in _TABLES.items():
        op.add_column(table, sa.Column("tenant_id", sa.String(64)))
        op.create_index(f"idx_{kind}_tenant", table, ["tenant_id"])


def downgrade() -> None:
    for table, kind in _TABLES.items():
        op.drop_index(f"idx_{kind}_tenant", table_name=table)
        op.drop_column(table, "tenant_id")
