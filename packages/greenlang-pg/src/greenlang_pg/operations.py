"""Every store operation, written once as a generator of requests (see ``protocol``).

The rules are those of ``greenlang.auth.backends.base`` and the SQLite store:
each policy write appends its audit event and moves the revision in the same
transaction; names are unique; roles name only existing permissions and
parents, never in a cycle; references keep within a tenant
(``greenlang.auth.tenancy``); deletes cascade and say so in the audit details.

Every writer, policy or audit, first locks the one audit chain head row, so
writers in every process take turns: the checks below (unique names,
references, cycles) cannot race, the chain stays one line, and with a single
lock there is no order to get wrong and no deadlock.
"""

# ruff: noqa: S608
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from greenlang.audit.bulk import BULK_VERB, chunks, details_json
from greenlang.audit.chain import GENESIS_HASH, ChainHead, ChainReport, ChainWalk, link
from greenlang.audit.events import AuditEvent
from greenlang.auth import tenancy
from greenlang.auth.graph import check_parents, check_parents_exist, on_cycles, refuse_cycle
from greenlang.auth.permissions import Permission
from greenlang.auth.policies import Policy
from greenlang.auth.roles import Role, RoleAssignment
from greenlang.errors import ConflictError, DuplicateError, NotFoundError, StoreError
from greenlang.ids import new_uuid
from greenlang.jsonvalue import MAX_DETAILS_BYTES, canonical_json
from greenlang.model import Record
from greenlang.timeutil import isoformat
from greenlang.validation import parse
from greenlang_pg.protocol import Copy, Op, Rows, Run
from greenlang_pg.rows import (
    ASSIGNMENTS,
    AUDIT_LOGS,
    AUDIT_LOGS_TYPES,
    PERMISSIONS,
    POLICIES,
    ROLES,
    Table,
    json_text,
    naive_utc,
    parse_json,
)

__all__ = ["Operations", "Touched", "REVISION_KEY"]

M = TypeVar("M", bound=Record)

_ACTIONS = {"created": "create", "updated": "update", "deleted": "delete", BULK_VERB: "create"}
_COPY_AT = 16
"""Batches at least this long are loaded with COPY; shorter ones with INSERT, which needs no setup."""

_VERIFY_PAGE = 2000
_TYPED = ", ".join(f"${i}::{sql_type}" for i, sql_type in enumerate(AUDIT_LOGS_TYPES, start=1))
_N = len(AUDIT_LOGS_TYPES)
_APPEND_AFTER = (
    f"WITH moved AS (UPDATE audit_chain_head SET sequence = ${_N + 1}, hash = ${_N + 2} "
    f"WHERE id = 1 AND sequence = ${_N + 3} AND hash = ${_N + 4} RETURNING 1) "
    f"INSERT INTO audit_logs ({', '.join(AUDIT_LOGS.columns)}) SELECT {_TYPED} FROM moved"
)
_HEAD_MISSING = (
    "the audit chain head row was deleted outside greenlang, so nothing can be appended or verified against it; "
    "restore it from a backup, or from the head `greenlang audit export` printed and you kept"
)
REVISION_KEY = ("greenlang_meta", "revision")
"""The revision's place in the read cache; every policy write invalidates it."""

Touched = set[tuple[str, str]]
"""(table, key) pairs a transaction changed, so caches here and in other processes drop them."""


class Operations:
    """The logic of each operation; ``clock`` stamps audit events and ``updated_at``."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock

    # building blocks ----------------------------------------------------------
    def lock_writers(self) -> Op[None]:
        """Take the one lock every writer takes first, so writers in all processes go one at a time."""
        rows = yield Rows("SELECT 1 FROM audit_chain_head WHERE id = 1 FOR UPDATE")
        if not rows:
            raise StoreError(_HEAD_MISSING)

    def revision(self) -> Op[int]:
        rows = yield Rows("SELECT value FROM greenlang_meta WHERE key = 'revision'")
        if not rows:
            raise StoreError("the store's revision counter is missing; run `greenlang db upgrade` to repair the schema")
        return int(rows[0][0])

    def get(self, table: Table[M], key: str) -> Op[M | None]:
        rows = yield Rows(f"{table.select()} WHERE {table.key} = $1", (key,))
        return table.decode(rows[0]) if rows else None

    def exists(self, table: Table[M], key: str) -> Op[bool]:
        rows = yield Rows(f"SELECT 1 FROM {table.name} WHERE {table.key} = $1", (key,))
        return bool(rows)

    def find(
        self, table: Table[M], where: Mapping[str, Any] | None = None, limit: int | None = None, offset: int = 0
    ) -> Op[list[M]]:
        """Rows whose columns equal ``where``'s values, in insertion order."""
        where = where or {}
        clauses = [f"{column} = ${index}" for index, column in enumerate(where, start=1)]
        sql = table.select()
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += f" ORDER BY {table.ordered_by} LIMIT ${len(where) + 1} OFFSET ${len(where) + 2}"
        rows = yield Rows(sql, (*where.values(), limit, offset))
        return [table.decode(row) for row in rows]

    def load(self, table: Table[M], tenant: str | None = None) -> Op[list[M]]:
        """Every row in insertion order, or ``tenant``'s and the shared ones, rebuilt without validating again."""
        rows = yield Rows(table.load_sql(tenant is not None), () if tenant is None else (tenant,))
        rebuild = table.rebuild
        return [rebuild(row) for row in rows]

    def count(self, table: Table[M]) -> Op[int]:
        rows = yield Rows(f"SELECT count(*) FROM {table.name}")
        return int(rows[0][0])

    # checks -------------------------------------------------------------------------
    def check_unique_name(self, table: Table[M], column: str, name: str, own_key: str) -> Op[None]:
        rows = yield Rows(f"SELECT {table.key} FROM {table.name} WHERE {column} = $1", (name,))
        if rows and rows[0][0] != own_key:
            raise DuplicateError(
                f"a {table.what} named {name!r} already exists; choose another {column} or update the existing "
                f"{table.what}"
            )

    def check_role(self, role: Role) -> Op[None]:
        found = yield from self.tenants_of(PERMISSIONS, role.permissions)
        _check_permissions(role, found)
        names, parents_of = yield from self.role_graph()
        check_parents(role.role_id, role.role_name, role.parent_roles, names, parents_of)
        parents = yield from self.tenants_of(ROLES, role.parent_roles)
        tenancy.check_role_tenants(role, found, parents)

    def check_assignment(self, assignment: RoleAssignment) -> Op[None]:
        found = yield from self.tenants_of(ROLES, [assignment.role_id])
        if assignment.role_id not in found:
            raise NotFoundError(
                f"role assignment names role {assignment.role_id!r}, which does not exist; create the role first"
            )
        tenancy.check_assignment_tenant(assignment, found[assignment.role_id])

    def tenants_of(self, table: Table[M], keys: Iterable[str]) -> Op[dict[str, str | None]]:
        """The tenant of each of ``keys`` stored in ``table``; a key not stored is absent."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        rows = yield Rows(
            f"SELECT {table.key}, tenant_id FROM {table.name} WHERE {table.key} = ANY($1::varchar[])", (wanted,)
        )
        return {str(row[0]): None if row[1] is None else str(row[1]) for row in rows}

    def check_move(self, old: Permission | Role, new: Permission | Role) -> Op[None]:
        """Refuse moving a permission or role to another tenant while a record of another tenant references it.

        Only the first such record is read: it is the one the refusal names.
        """
        if new.tenant_id is None or new.tenant_id == old.tenant_id:
            return
        if isinstance(new, Permission):
            column, target, what = "permissions", new.permission_id, f"permission {new.permission_id!r}"
            verb = "lists it"
        else:
            column, target, what = "parent_roles", new.role_id, f"role {new.role_name!r}"
            verb = "names it as a parent role"
        rows = yield Rows(
            f"SELECT role_name, tenant_id FROM roles WHERE {column} @> $1::jsonb "
            "AND tenant_id IS DISTINCT FROM $2 ORDER BY insert_order LIMIT 1",
            (json_text([target]), new.tenant_id),
        )
        referrers = [tenancy.Referrer(f"role {row[0]!r}", row[1], verb) for row in rows]
        if not referrers and isinstance(new, Role):
            rows = yield Rows(
                "SELECT assignment_id, tenant_id FROM role_assignments WHERE role_id = $1 "
                "AND tenant_id IS DISTINCT FROM $2 ORDER BY insert_order LIMIT 1",
                (target, new.tenant_id),
            )
            referrers = [tenancy.Referrer(f"role assignment {row[0]!r}", row[1], "names it") for row in rows]
        tenancy.check_move(what, new.tenant_id, referrers)

    def existing(self, table: Table[M], keys: Iterable[str], column: str | None = None) -> Op[dict[str, str]]:
        """Which of ``keys`` are stored in ``column`` (the table's key by default): each found value, its row's key."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        column = column or table.key
        rows = yield Rows(
            f"SELECT {column}, {table.key} FROM {table.name} WHERE {column} = ANY($1::varchar[])", (wanted,)
        )
        return {str(row[0]): str(row[1]) for row in rows}

    def role_graph(self) -> Op[tuple[dict[str, str], dict[str, list[str]]]]:
        """Every stored role's name and parents."""
        names: dict[str, str] = {}
        parents_of: dict[str, list[str]] = {}
        for role_id, role_name, parents in (yield Rows("SELECT role_id, role_name, parent_roles::text FROM roles")):
            names[role_id] = role_name
            parents_of[role_id] = _id_list(parents)
        return names, parents_of

    def check(self, record: Record) -> Op[None]:
        if isinstance(record, Role):
            yield from self.check_unique_name(ROLES, "role_name", record.role_name, record.role_id)
            yield from self.check_role(record)
        elif isinstance(record, Policy):
            yield from self.check_unique_name(POLICIES, "policy_name", record.policy_name, record.policy_id)
        elif isinstance(record, RoleAssignment):
            yield from self.check_assignment(record)

    # audit trail --------------------------------------------------------------------
    def head(self, *, lock: bool = False) -> Op[ChainHead | None]:
        rows = yield Rows(f"SELECT sequence, hash FROM audit_chain_head WHERE id = 1{' FOR UPDATE' if lock else ''}")
        if not rows:
            raise StoreError(_HEAD_MISSING)
        sequence, digest = int(rows[0][0]), str(rows[0][1])
        return None if sequence == 0 else ChainHead(sequence, digest)

    def append(self, events: Sequence[AuditEvent], details: Sequence[bytes] | None = None) -> Op[list[AuditEvent]]:
        """Link ``events`` after the stored head and store them; the head is locked, read and moved once.

        ``details``, when given, holds each event's details as canonical JSON, made by the caller.
        """
        seen: set[str] = set()
        for event in events:
            if event.log_id in seen:
                raise ConflictError(
                    f"audit event log_id {event.log_id!r} appears twice in one batch; leave log_id unset for new ones"
                )
            seen.add(event.log_id)
        current = yield from self.head(lock=True)
        taken = yield Rows("SELECT log_id FROM audit_logs WHERE log_id = ANY($1::varchar[])", (list(seen),))
        if taken:
            raise ConflictError(
                f"audit event log_id {taken[0][0]!r} is already in the trail; leave log_id unset for a new one"
            )
        linked: list[AuditEvent] = []
        for index, event in enumerate(events):
            event = link(event, current, details[index] if details else None)
            current = ChainHead(event.sequence or 0, event.provenance_hash or "")
            linked.append(event)
        texts = [{"details": text.decode()} for text in details] if details else None
        yield from self.insert(AUDIT_LOGS, linked, texts=texts)
        if current is not None:
            yield Run(
                "UPDATE audit_chain_head SET sequence = $1, hash = $2 WHERE id = 1", (current.sequence, current.hash)
            )
        return linked

    def append_after(self, event: AuditEvent, guess: ChainHead | None) -> Op[AuditEvent | None]:
        """Store ``event`` linked after ``guess`` in one statement, if ``guess`` is still the stored head.

        The head row's UPDATE matches only the guessed sequence and hash and
        the INSERT happens only if it did, so a stale guess stores nothing (the
        answer is ``None``) and can never link an event to the wrong place.
        Concurrent writers wait on the head row's lock, then see it moved.
        """
        linked = link(event, guess)
        values = AUDIT_LOGS.encode(linked)
        count = yield Run(
            _APPEND_AFTER,
            (
                *values,
                linked.sequence,
                linked.provenance_hash,
                guess.sequence if guess else 0,
                guess.hash if guess else GENESIS_HASH,
            ),
        )
        return linked if count == 1 else None

    def verify(self) -> Op[ChainReport]:
        """Walk the whole trail against the stored head, a page at a time; run it in one snapshot."""
        head = yield from self.head()
        walk = ChainWalk()
        after = 0
        while True:
            rows = yield Rows(
                f"{AUDIT_LOGS.select()} WHERE sequence > $1 ORDER BY sequence LIMIT $2", (after, _VERIFY_PAGE)
            )
            for row in rows:
                try:
                    event = AUDIT_LOGS.decode(row)
                except StoreError as exc:
                    return walk.broken(head, str(exc))
                report = walk.step(event, head)
                if report is not None:
                    return report
            if len(rows) < _VERIFY_PAGE:
                return walk.finish(head)
            after = int(rows[-1][AUDIT_LOGS.columns.index("sequence")])

    def read_events(self, after_sequence: int, limit: int | None) -> Op[list[AuditEvent]]:
        rows = yield Rows(
            f"{AUDIT_LOGS.select()} WHERE sequence > $1 ORDER BY sequence LIMIT $2", (after_sequence, limit)
        )
        return [AUDIT_LOGS.decode(row) for row in rows]

    def insert(
        self,
        table: Table[M],
        records: Sequence[M],
        dumped: Sequence[Mapping[str, Any]] | None = None,
        texts: Sequence[Mapping[str, str]] | None = None,
    ) -> Op[None]:
        """Store ``records`` (``dumped``: their JSON forms; ``texts``: JSON column texts, if already made).

        Many at once go by COPY.
        """
        rows = [
            table.encode(record, dumped[i] if dumped else None, texts[i] if texts else None)
            for i, record in enumerate(records)
        ]
        if len(rows) >= _COPY_AT:
            yield Copy(table.name, table.columns, rows)
            return
        sql = table.insert_sql()
        for row in rows:
            yield Run(sql, row)

    def policy_events(
        self,
        kind: str,
        verb: str,
        changes: Iterable[tuple[str | None, dict[str, Any]]],
        actor: str | None,
        touched: Touched,
    ) -> Op[None]:
        """Append one audit event per changed record and move the revision by as many, in this transaction.

        The event's own fields are validated once, on a template; each record's
        ``details`` are JSON forms of records already validated, so only their
        size needs a check, and only when they come near the limit.
        """
        fields = self._event_fields(kind, verb, actor)
        template = parse(AuditEvent, fields, "audit event")
        events = []
        for key, details in changes:
            if _may_be_too_large(details):
                events.append(parse(AuditEvent, {**fields, "resource": key, "details": details}, "audit event"))
            else:
                events.append(template.model_copy(update={"log_id": new_uuid(), "resource": key, "details": details}))
        yield from self.append(events)
        yield from self.bump_revision(len(events), touched)

    def _event_fields(self, kind: str, verb: str, actor: str | None) -> dict[str, Any]:
        return {
            "timestamp": self.clock(),
            "event_type": f"{kind}.{verb}",
            "user_id": actor,
            "action": _ACTIONS[verb],
            "result": "success",
        }

    # record writes ----------------------------------------------------------------
    def create(self, table: Table[M], record: M, actor: str | None, touched: Touched) -> Op[M]:
        key = getattr(record, table.key)
        if (yield from self.exists(table, key)):
            raise DuplicateError(f"{table.what} {key!r} already exists; use update_{table.kind} to change it")
        yield from self.check(record)
        dumped = record.model_dump(mode="json")
        yield from self.insert(table, [record], [dumped])
        touched.add((table.name, key))
        yield from self.policy_events(table.kind, "created", [(key, {"after": dumped})], actor, touched)
        return record

    def create_many(self, table: Table[M], records: Sequence[M], actor: str | None, touched: Touched) -> Op[list[M]]:
        """Check ``records`` in order as single creates would, store them together and audit them as bulk events.

        Each check reads what it needs for the whole batch in one query (the
        role graph once), so a batch costs a few round trips, not several per
        record, and time grows with its size rather than its square.
        """
        if not records:
            return []
        batch = _Batch(table, records)
        batch.taken = yield from self.existing(table, batch.keys)
        if batch.name_column:
            batch.named = yield from self.existing(table, batch.names, batch.name_column)
        if table is ROLES:
            batch.found = yield from self.tenants_of(PERMISSIONS, batch.referenced(PERMISSIONS))
            batch.graph = yield from self.role_graph()
            batch.role_tenants = yield from self.tenants_of(ROLES, batch.referenced(ROLES))
        elif table is ASSIGNMENTS:
            batch.role_tenants = yield from self.tenants_of(ROLES, batch.referenced(ROLES))
        batch.check()
        dumps = [record.model_dump(mode="json") for record in records]
        yield from self.insert(table, records, dumps)
        touched.update((table.name, key) for key in batch.keys)
        yield from self.bulk_events(table.kind, dumps, actor, touched)
        return list(records)

    def load_permissions(
        self, items: Sequence[Any], incoming: Callable[[Any, int], Permission], actor: str | None, touched: Touched
    ) -> Op[list[Permission]]:
        """Validate, encode and COPY permissions in one stream, then audit them as bulk events.

        Permissions name no other record, so nothing needs checking row by row:
        the server loads rows while the next ones are still being validated, and
        the primary key refuses a taken or repeated id (``DuplicateError``).
        """
        records: list[Permission] = []
        dumps: list[dict[str, Any]] = []

        def rows() -> Iterator[tuple[Any, ...]]:
            for index, item in enumerate(items):
                record = incoming(item, index)
                dump = record.model_dump(mode="json")
                records.append(record)
                dumps.append(dump)
                yield PERMISSIONS.encode(record, dump)

        if len(items) >= _COPY_AT:
            yield Copy(PERMISSIONS.name, PERMISSIONS.columns, rows())
        else:
            for row in rows():
                yield Run(PERMISSIONS.insert_sql(), row)
        touched.update((PERMISSIONS.name, record.permission_id) for record in records)
        yield from self.bulk_events(PERMISSIONS.kind, dumps, actor, touched)
        return records

    def bulk_events(self, kind: str, dumps: Sequence[dict[str, Any]], actor: str | None, touched: Touched) -> Op[None]:
        """One ``<kind>.bulk_created`` event per chunk; each record is made canonical JSON once, for size and hash."""
        if not dumps:
            return
        canonical = [canonical_json(dump) for dump in dumps]
        template = parse(AuditEvent, self._event_fields(kind, BULK_VERB, actor), "audit event")
        events: list[AuditEvent] = []
        details: list[bytes] = []
        for chunk in chunks(dumps, [len(text) for text in canonical]):
            created = list(dumps[chunk.start : chunk.stop])
            events.append(template.model_copy(update={"log_id": new_uuid(), "details": {"created": created}}))
            details.append(details_json(canonical[chunk.start : chunk.stop]))
        yield from self.append(events, details)
        yield from self.bump_revision(len(events), touched)

    def bump_revision(self, writes: int, touched: Touched) -> Op[None]:
        touched.add(REVISION_KEY)
        yield Run("UPDATE greenlang_meta SET value = value + $1 WHERE key = 'revision'", (writes,))

    def update(self, table: Table[M], record: M, actor: str | None, touched: Touched) -> Op[M]:
        key = getattr(record, table.key)
        old = yield from self.get(table, key)
        if old is None:
            raise NotFoundError(f"{table.what} {key!r} does not exist; create it first")
        changes: dict[str, Any] = old.model_dump(include={"created_at", "created_by"})
        if "updated_at" in table.model.model_fields:
            changes["updated_at"] = self.clock()
        new = record.replace(**changes)
        yield from self.check(new)
        if isinstance(old, Permission | Role) and isinstance(new, Permission | Role):
            yield from self.check_move(old, new)
        yield Run(table.update_sql(), table.encode(new))
        touched.add((table.name, key))
        details = {"before": old.model_dump(mode="json"), "after": new.model_dump(mode="json")}
        yield from self.policy_events(table.kind, "updated", [(key, details)], actor, touched)
        return new

    def delete(self, table: Table[M], key: str, actor: str | None, touched: Touched) -> Op[bool]:
        old = yield from self.get(table, key)
        if old is None:
            return False
        details: dict[str, Any] = {"before": old.model_dump(mode="json")}
        now = self.clock()
        if table is PERMISSIONS or table is ROLES:
            details["cascaded_at"] = isoformat(now)
        if table is PERMISSIONS:
            details["removed_from_roles"] = yield from self.unlink("permissions", key, now, touched)
        elif table is ROLES:
            details["removed_from_parents_of"] = yield from self.unlink("parent_roles", key, now, touched)
            held = yield from self.find(ASSIGNMENTS, {"role_id": key})
            if held:
                yield Run("DELETE FROM role_assignments WHERE role_id = $1", (key,))
                touched.update((ASSIGNMENTS.name, a.assignment_id) for a in held)
            details["deleted_assignments"] = [a.model_dump(mode="json") for a in held]
        yield Run(f"DELETE FROM {table.name} WHERE {table.key} = $1", (key,))
        touched.add((table.name, key))
        yield from self.policy_events(table.kind, "deleted", [(key, details)], actor, touched)
        return True

    def unlink(self, column: str, removed_id: str, when: datetime, touched: Touched) -> Op[list[str]]:
        """Remove ``removed_id`` from every role's ``column`` list; the ids of the roles changed, in order."""
        rows = yield Rows(
            f"WITH changed AS (UPDATE roles SET {column} = {column} - $1::text, updated_at = $2 "
            f"WHERE {column} @> $3::jsonb RETURNING role_id, insert_order) "
            "SELECT role_id FROM changed ORDER BY insert_order",
            (removed_id, naive_utc(when), json_text([removed_id])),
        )
        changed = [str(row[0]) for row in rows]
        touched.update((ROLES.name, role_id) for role_id in changed)
        return changed


def _check_permissions(role: Role, found: Mapping[str, str | None]) -> None:
    for permission_id in role.permissions:
        if permission_id not in found:
            raise NotFoundError(
                f"role {role.role_name!r} lists permission {permission_id!r}, which does not exist; "
                "create it first or remove it from the role"
            )


class _Batch:
    """What ``create_many`` checks for a batch, from lookups made once; each record as a single create would be."""

    def __init__(self, table: Table[Any], records: Sequence[Record]) -> None:
        self.table = table
        self.records = records
        self.keys = [str(getattr(record, table.key)) for record in records]
        self.name_column = {ROLES.name: "role_name", POLICIES.name: "policy_name"}.get(table.name)
        self.names = [str(getattr(record, self.name_column)) for record in records] if self.name_column else []
        self.taken: dict[str, str] = {}
        self.named: dict[str, str] = {}
        self.found: dict[str, str | None] = {}
        """Each stored permission the batch's roles list: its tenant."""
        self.role_tenants: dict[str, str | None] = {}
        """Each stored role the batch names (as a parent, or an assignment's role): its tenant."""
        self.graph: tuple[dict[str, str], dict[str, list[str]]] = ({}, {})

    def referenced(self, target: Table[Any]) -> list[str]:
        """The ids of ``target`` records the batch names: roles' permissions and parents, assignments' roles."""
        if target is PERMISSIONS:
            return [pid for record in self.records if isinstance(record, Role) for pid in record.permissions]
        parents = [rid for record in self.records if isinstance(record, Role) for rid in record.parent_roles]
        return parents + [record.role_id for record in self.records if isinstance(record, RoleAssignment)]

    def check(self) -> None:
        table = self.table
        names, parents_of = self.graph
        owners = dict(self.named)
        added: list[Role] = []
        for index, record in enumerate(self.records):
            key = self.keys[index]
            if key in self.taken:
                raise DuplicateError(f"{table.what} {key!r} already exists; use update_{table.kind} to change it")
            self.taken[key] = key
            if self.name_column:
                name = self.names[index]
                owner = owners.setdefault(name, key)
                if owner != key:
                    raise DuplicateError(
                        f"a {table.what} named {name!r} already exists; choose another {self.name_column} or "
                        f"update the existing {table.what}"
                    )
            if isinstance(record, Role):
                _check_permissions(record, self.found)
                check_parents_exist(record.role_id, record.role_name, record.parent_roles, names)
                tenancy.check_role_tenants(record, self.found, self.role_tenants)
                names[record.role_id] = record.role_name
                parents_of[record.role_id] = list(record.parent_roles)
                self.role_tenants[record.role_id] = record.tenant_id
                added.append(record)
            elif isinstance(record, RoleAssignment):
                if record.role_id not in self.role_tenants:
                    raise NotFoundError(
                        f"role assignment names role {record.role_id!r}, which does not exist; create the role first"
                    )
                tenancy.check_assignment_tenant(record, self.role_tenants[record.role_id])
        cyclic = on_cycles(parents_of, (role.role_id for role in added))
        for role in added:
            if role.role_id in cyclic:
                refuse_cycle(role.role_id, role.role_name, names, parents_of)


def _may_be_too_large(details: dict[str, Any]) -> bool:
    """Whether ``details`` could exceed the audit details limit; one key per JSON value is a safe upper bound."""
    budget = MAX_DETAILS_BYTES // 4
    return len(json.dumps(details, ensure_ascii=False)) > budget


def _id_list(text: str | None) -> list[str]:
    if text is None:
        return []
    value = parse_json(text)
    return [str(item) for item in value] if isinstance(value, list) else []
