"""The issue's PostgreSQL example, as written, against the server named by ``GL_DB_*``.

The database must already be migrated (``greenlang db upgrade``). Only the
connection literals differ from the issue: they come from the environment.
Prints the ids it created, one ``name: value`` per line.
Usage: GL_DB_HOST=... GL_DB_PORT=... GL_DB_NAME=... GL_DB_USER=... GL_DB_PASSWORD=... python seed_usage.py
"""

import os

from greenlang.auth.backends.postgresql import DatabaseConfig, PostgreSQLBackend
from greenlang.auth.permissions import Permission, PermissionEffect

# Initialize backend
config = DatabaseConfig(
    host=os.environ["GL_DB_HOST"],
    port=os.environ["GL_DB_PORT"],
    database=os.environ["GL_DB_NAME"],
    username=os.environ["GL_DB_USER"],
    password=os.environ["GL_DB_PASSWORD"],
    pool_size=20,
    max_overflow=10,
)

backend = PostgreSQLBackend(config)

# Create permission
permission = Permission(
    resource="emissions:data",
    action="read",
    effect=PermissionEffect.ALLOW,
    scope="organization:123",
)

created_perm = backend.create_permission(permission)

# Create role
role_data = {
    "role_name": "emissions_viewer",
    "description": "Can view emissions data",
    "permissions": [created_perm.permission_id],
}

role = backend.create_role(role_data)

# Log audit event
audit_data = {
    "event_type": "permission.granted",
    "user_id": "user123",
    "resource": "emissions:data",
    "action": "read",
    "result": "success",
    "ip_address": "192.168.1.100",
}

log_id = backend.log_audit_event(audit_data)

print(f"permission_id: {created_perm.permission_id}")
print(f"role_id: {role.role_id}")
print(f"log_id: {log_id}")
backend.close()
