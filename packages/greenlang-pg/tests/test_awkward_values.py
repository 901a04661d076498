"""Awkward values come back from PostgreSQL exactly as given, or are refused with a clear ``InputError``.

Every test runs against both flavours (psycopg and asyncpg) with the read cache
off, so each read really comes from the server; raw SQL through psycopg checks
what the rows hold. Hypothesis reuses one database per test function, so every
example makes its own unique ids and names.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from greenlang.auth.backends.base import AuthBackend
from greenlang.errors import InputError
from greenlang.jsonvalue import canonical_json
from greenlang.testing import SyncFacade
from greenlang_pg import AsyncPostgreSQLBackend, DatabaseConfig, PostgreSQLBackend

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

# strategies ---------------------------------------------------------------------------------------
SQL_AND_ESCAPES = ["'", "''", '"', ";", "\\", "\\\\", "%", "_", "--", "/*", "*/", "$1", "$$", "%s", "%(x)s", "{}"]
LOOKALIKES = ["\\x00", "\\u0000", "\\0", "NULL", "null", "\\N"]
UNICODE = [
    "\U0001f30d",
    "\U0001f469\u200d\U0001f52c",
    "\U0010ffff",
    "\U00010000",
    "\ufeff",
    "\u2028",
    "e\u0301",
    "\ufffd",
]
WHITESPACE = [" ", "\t", "\n", "\r\n", "\x0b", "\x1f", "\x7f"]

CHARS = st.characters(codec="utf-8", exclude_characters="\x00")
"""Any character PostgreSQL can store: every code point but NUL and the surrogates (which UTF-8 cannot hold)."""

NON_SPACE = st.characters(codec="utf-8", exclude_characters="\x00:", exclude_categories=("Zs", "Zl", "Zp", "Cc"))


def joined(pieces: list[str], chars: st.SearchStrategy[str], **sizes: int) -> st.SearchStrategy[str]:
    return st.lists(st.one_of(st.sampled_from(pieces), st.text(alphabet=chars, max_size=6)), **sizes).map("".join)


AWKWARD = joined(SQL_AND_ESCAPES + LOOKALIKES + UNICODE + WHITESPACE, CHARS, max_size=12)
SCOPE_VALUE = joined(
    [p for p in SQL_AND_ESCAPES + LOOKALIKES + UNICODE if not any(c.isspace() or c == ":" for c in p)],
    NON_SPACE,
    min_size=1,
    max_size=10,
).filter(lambda value: 0 < len(value) <= 200)
WILDCARDS = st.lists(st.sampled_from(["%", "_", "\\", "a", "%%", "\\%", "\\_", "[a]", "^", "$", ".", "*"]), min_size=1)

FLOATS = [1e300, -1e300, 5e-324, -5e-324, 0.1, -0.0, 0.0, float(2**53 + 1), 1.0, 2.5e-7, 1e21, 1e-7, 123456789.0]
JSON_FLOATS = st.one_of(st.sampled_from(FLOATS), st.floats(allow_nan=False, allow_infinity=False))

NUL_STRINGS = st.tuples(AWKWARD, AWKWARD).map(lambda parts: f"{parts[0]}\x00{parts[1]}")
LONE_SURROGATES = st.tuples(AWKWARD, st.characters(categories=("Cs",)), AWKWARD).map("".join)


def token() -> str:
    return uuid.uuid4().hex[:12]


def nested(depth: int, leaf: Any, shape: list[bool]) -> Any:
    """``leaf`` inside ``depth`` containers, a dict where ``shape`` says so, else a list."""
    value = leaf
    for level in range(depth):
        value = {f"level-{level}": value} if shape[level % len(shape)] else [value]
    return value


def depth_of(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth_of(item) for item in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth_of(item) for item in value), default=0)
    return 0


# fixtures ---------------------------------------------------------------------------------------------
@pytest.fixture(params=["psycopg", "asyncpg"])
def backend(request: pytest.FixtureRequest, pg_config: DatabaseConfig) -> Iterator[AuthBackend]:
    if request.param == "psycopg":
        store: Any = PostgreSQLBackend(pg_config, cache_ttl=0)
    else:
        store = SyncFacade(AsyncPostgreSQLBackend(pg_config, cache_ttl=0))
    yield store
    store.close()


@pytest.fixture
def raw(pg_config: DatabaseConfig) -> Iterator[Callable[..., list[tuple[Any, ...]]]]:
    """Run SQL on the test database directly with psycopg (jsonb columns arrive as Python values)."""
    connection = psycopg.connect(**pg_config.libpq_params(), autocommit=True)

    def run(query: str, *params: Any) -> list[tuple[Any, ...]]:
        return connection.execute(query, params).fetchall()

    yield run
    connection.close()


def state(raw: Callable[..., list[tuple[Any, ...]]]) -> tuple[Any, ...]:
    """Everything a refused write must leave alone: row counts, the revision and the chain head."""
    (row,) = raw(
        "SELECT (SELECT count(*) FROM permissions), (SELECT count(*) FROM roles), (SELECT count(*) FROM policies), "
        "(SELECT count(*) FROM role_assignments), (SELECT count(*) FROM audit_logs), "
        "(SELECT value FROM greenlang_meta WHERE key = 'revision'), (SELECT hash FROM audit_chain_head)"
    )
    return row


def assert_chain_verifies(backend: AuthBackend) -> None:
    report = backend.verify_audit()
    assert report.ok, report.reason


# text round trips -------------------------------------------------------------------------------------
@SETTINGS
@given(text=AWKWARD)
def test_text_round_trips_through_every_text_column(
    backend: AuthBackend, raw: Callable[..., list[tuple[Any, ...]]], text: str
) -> None:
    name = f"role-{token()}"
    role = backend.create_role(
        {
            "role_name": name,
            "description": text,
            "metadata": {"note": text, text: [text, {"nested": text}]},
            "created_by": text[:255],
        },
        actor=text[:255] or None,
    )
    assert backend.get_role(role.role_id) == role
    assert backend.get_role_by_name(name) == role
    assert raw("SELECT description, metadata, created_by FROM roles WHERE role_id = %s", role.role_id) == [
        (text, {"note": text, text: [text, {"nested": text}]}, text[:255])
    ]

    event = backend.append_audit_event(
        {
            "event_type": "awkward.text",
            "result": "failure",
            "user_id": text[:255],
            "resource": text[:255],
            "action": text[:100],
            "user_agent": text,
            "session_id": text[:255],
            "correlation_id": text[:64],
            "details": {"text": text, text: text},
        }
    )
    assert backend.read_audit_events(after_sequence=(event.sequence or 1) - 1, limit=1) == [event]
    assert raw("SELECT user_id, user_agent, details FROM audit_logs WHERE log_id = %s", event.log_id) == [
        (text[:255], text, {"text": text, text: text})
    ]
    assert_chain_verifies(backend)


@SETTINGS
@given(value=SCOPE_VALUE, note=AWKWARD)
def test_scopes_and_metadata_round_trip_and_filter_exactly(
    backend: AuthBackend, raw: Callable[..., list[tuple[Any, ...]]], value: str, note: str
) -> None:
    scope = f"t{token()}:{value}"
    permission = backend.create_permission(
        {
            "resource": "emissions:org-1:**",
            "action": "read",
            "effect": "deny",
            "scope": scope,
            "conditions": [{"attribute": "report.note", "operator": "in", "value": [note, value]}],
            "metadata": {"note": note},
            "created_by": note[:255],
        }
    )
    assert backend.get_permission(permission.permission_id) == permission
    assert backend.list_permissions(scope=scope) == [permission]
    [(stored_scope, stored_hash)] = raw(
        "SELECT scope, provenance_hash FROM permissions WHERE permission_id = %s", permission.permission_id
    )
    assert stored_scope == scope
    assert stored_hash == permission.provenance_hash == permission.content_hash()
    assert_chain_verifies(backend)


# LIKE wildcards are plain characters in filters ---------------------------------------------------------
def decoys_for(value: str) -> set[str]:
    """Values a LIKE pattern (or a regex, or an unescaped backslash) made from ``value`` would also match."""
    variants = {
        value.replace("%", "").replace("_", "z"),
        value.replace("%", "anything").replace("_", "y"),
        value.replace("\\", ""),
        value.replace("_", "%"),
        value.upper() if value.upper() != value else value + "Z",
        value + "x",
        "x" + value,
        value + value,
    }
    return {variant for variant in variants if variant and variant != value}


@SETTINGS
@given(pieces=WILDCARDS)
def test_scope_filters_match_exactly_not_as_like_patterns(backend: AuthBackend, pieces: list[str]) -> None:
    value = "".join(pieces)
    attribute = f"t{token()}"
    target = f"{attribute}:{value}"
    decoys = {f"{attribute}:{decoy}" for decoy in decoys_for(value)}
    for scope in [target, *sorted(decoys)]:
        backend.create_permission({"resource": "emissions:data", "action": "read", "effect": "allow", "scope": scope})
    assert [p.scope for p in backend.list_permissions(scope=target)] == [target]
    for decoy in decoys:
        assert [p.scope for p in backend.list_permissions(scope=decoy)] == [decoy]
    assert backend.delete_permissions(scope=target) == 1
    left = {p.scope for p in backend.list_permissions() if p.scope and p.scope.startswith(f"{attribute}:")}
    assert left == decoys


def test_resource_action_and_subject_filters_match_exactly(backend: AuthBackend) -> None:
    resources = ["emissions:a_b", "emissions:axb", "emissions:a%b", "emissions:*", "emissions:**", "emissions:ab"]
    for resource in resources:
        if "%" in resource:
            with pytest.raises(InputError, match="resource"):
                backend.create_permission({"resource": resource, "action": "read", "effect": "allow"})
            continue
        backend.create_permission({"resource": resource, "action": "read_all", "effect": "allow"})
    backend.create_permission({"resource": "emissions:ab", "action": "readXall", "effect": "allow"})
    assert [p.resource for p in backend.list_permissions(resource="emissions:a_b")] == ["emissions:a_b"]
    assert [p.resource for p in backend.list_permissions(resource="emissions:*")] == ["emissions:*"]
    assert backend.list_permissions(resource="emissions:a%b") == []
    assert backend.list_permissions(resource="emissions:%") == []
    assert {p.action for p in backend.list_permissions(action="read_all")} == {"read_all"}
    assert [p.action for p in backend.list_permissions(action="readXall")] == ["readXall"]

    role = backend.create_role({"role_name": f"holder-{token()}"})
    for subject in ["user_1", "userX1", "user%", "user\\_1", "u';DROP-TABLE-roles;--"]:
        backend.create_assignment({"subject": subject, "role_id": role.role_id})
    for subject in ["user_1", "user%", "user\\_1", "u';DROP-TABLE-roles;--"]:
        assert [a.subject for a in backend.list_assignments(subject=subject)] == [subject]
    assert backend.list_assignments(subject="user%1") == []
    assert backend.get_role(role.role_id) == role


# NUL is refused and nothing is stored ------------------------------------------------------------------
def _nul_writes(backend: AuthBackend, bad: str, tag: str) -> dict[str, Callable[[], Any]]:
    """Each write with U+0000 in one place, keyed by the field the error must name."""
    solid = "".join(c for c in bad if not c.isspace())  # for fields whose pattern refuses whitespace first
    permission = {"resource": "emissions:data", "action": "read", "effect": "allow"}
    event = {"event_type": "nul.test", "result": "success"}
    return {
        "role.description": lambda: backend.create_role({"role_name": f"nul-{tag}", "description": bad}),
        "role.metadata": lambda: backend.create_role({"role_name": f"nul-{tag}", "metadata": {"k": [bad]}}),
        "role.created_by": lambda: backend.create_role({"role_name": f"nul-{tag}", "created_by": bad[:255]}),
        "permission.scope": lambda: backend.create_permission({**permission, "scope": f"org:v{solid}"}),
        "permission.metadata": lambda: backend.create_permission({**permission, "metadata": {bad: 1}}),
        "permission.conditions": lambda: backend.create_permission(
            {**permission, "conditions": [{"attribute": "a", "operator": "eq", "value": bad}]}
        ),
        "permission[1].created_by": lambda: backend.bulk_create_permissions(
            [permission, {**permission, "created_by": bad[:255]}]
        ),
        "audit event.user_agent": lambda: backend.append_audit_event({**event, "user_agent": bad}),
        "audit event.user_id": lambda: backend.append_audit_event({**event, "user_id": bad[:255]}),
        "audit event.details": lambda: backend.append_audit_event({**event, "details": {"a": {"b": [bad]}}}),
        "audit event[1].session_id": lambda: backend.append_audit_events([event, {**event, "session_id": bad[:255]}]),
        "role assignment.subject": lambda: backend.create_assignment({"subject": f"u{solid}", "role_id": "r"}),
    }


@SETTINGS
@given(bad=NUL_STRINGS)
def test_nul_is_refused_naming_the_field_and_nothing_is_stored(
    backend: AuthBackend, raw: Callable[..., list[tuple[Any, ...]]], bad: str
) -> None:
    before = state(raw)
    for field, write in _nul_writes(backend, bad, token()).items():
        with pytest.raises(InputError) as caught:
            write()
        message = str(caught.value)
        assert field in message, message
        assert "NUL" in message
        assert "\n" not in message
    assert state(raw) == before


def test_nul_in_an_update_leaves_the_stored_record_alone(
    backend: AuthBackend, raw: Callable[..., list[tuple[Any, ...]]]
) -> None:
    role = backend.create_role({"role_name": f"keep-{token()}", "description": "before"})
    before = state(raw)
    with pytest.raises(InputError, match=r"role\.description.*NUL"):
        backend.update_role({**role.model_dump(), "description": "af\x00ter"})
    assert backend.get_role(role.role_id) == role
    assert state(raw) == before


def test_nul_in_a_lookup_finds_nothing_or_is_refused_naming_the_argument(backend: AuthBackend) -> None:
    lookups: dict[str, Callable[[], Any]] = {
        "scope": lambda: backend.list_permissions(scope="org:a\x00"),
        "subject": lambda: backend.list_assignments(subject="a\x00"),
        "role_name": lambda: backend.get_role_by_name("a\x00"),
        "permission_id": lambda: backend.get_permission("p\x00"),
    }
    for argument, lookup in lookups.items():
        try:
            found = lookup()
        except InputError as exc:
            found = [] if argument in str(exc) else exc
        assert found in ([], None), f"{argument}: {found!r}"


# lone surrogates: UTF-8 cannot hold them, so they are refused --------------------------------------------
@SETTINGS
@given(bad=LONE_SURROGATES)
def test_lone_surrogates_are_refused_naming_the_field(
    backend: AuthBackend, raw: Callable[..., list[tuple[Any, ...]]], bad: str
) -> None:
    before = state(raw)
    attempts = {
        "role.description": lambda: backend.create_role({"role_name": f"s-{token()}", "description": bad}),
        "role.metadata": lambda: backend.create_role({"role_name": f"s-{token()}", "metadata": {"k": bad}}),
        "audit event.user_agent": lambda: backend.append_audit_event(
            {"event_type": "s", "result": "success", "user_agent": bad}
        ),
        "audit event.details": lambda: backend.append_audit_event(
            {"event_type": "s", "result": "success", "details": {bad: 1}}
        ),
    }
    for field, attempt in attempts.items():
        with pytest.raises(InputError) as caught:
            attempt()
        assert field in str(caught.value), str(caught.value)
    assert state(raw) == before


# long values -------------------------------------------------------------------------------------------
def repeat_to(chunk: str, length: int) -> str:
    return (chunk * (length // len(chunk) + 1))[:length]


LONG_CHUNKS = joined(SQL_AND_ESCAPES + UNICODE + WHITESPACE, CHARS, min_size=1, max_size=6).filter(bool)


@settings(SETTINGS, max_examples=10)
@given(chunk=LONG_CHUNKS)
def test_ten_thousand_characters_round_trip_where_the_model_allows_them(
    backend: AuthBackend, raw: Callable[..., list[tuple[Any, ...]]], chunk: str
) -> None:
    long = repeat_to(chunk, 10_000)
    role = backend.create_role({"role_name": f"long-{token()}", "description": long, "metadata": {"long": long}})
    assert backend.get_role(role.role_id) == role
    event = backend.append_audit_event({"event_type": "long", "result": "success", "user_agent": long})
    assert backend.read_audit_events(after_sequence=(event.sequence or 1) - 1) == [event]
    assert raw("SELECT length(description) FROM roles WHERE role_id = %s", role.role_id) == [(10_000,)]
    assert raw("SELECT length(user_agent) FROM audit_logs WHERE log_id = %s", event.log_id) == [(10_000,)]
    assert_chain_verifies(backend)

    before = state(raw)
    too_long = repeat_to(chunk, 10_001)
    with pytest.raises(InputError, match=r"role\.description"):
        backend.create_role({"role_name": f"long-{token()}", "description": too_long})
    with pytest.raises(InputError, match=r"audit event\.user_agent"):
        backend.append_audit_event({"event_type": "long", "result": "success", "user_agent": too_long})
    assert state(raw) == before


# (field, its limit, how to write a value into it), for columns with a fixed VARCHAR length
def _limited(backend: AuthBackend, value: str) -> dict[tuple[str, int], Callable[[], Any]]:
    event = {"event_type": "limit", "result": "success"}
    permission = {"resource": "emissions:data", "action": "read", "effect": "allow"}
    return {
        ("audit event.user_id", 255): lambda: backend.append_audit_event({**event, "user_id": value}),
        ("audit event.session_id", 255): lambda: backend.append_audit_event({**event, "session_id": value}),
        ("audit event.resource", 255): lambda: backend.append_audit_event({**event, "resource": value}),
        ("audit event.action", 100): lambda: backend.append_audit_event({**event, "action": value}),
        ("audit event.correlation_id", 64): lambda: backend.append_audit_event({**event, "correlation_id": value}),
        ("permission.created_by", 255): lambda: backend.create_permission({**permission, "created_by": value}),
        ("role.created_by", 255): lambda: backend.create_role({"role_name": f"c-{token()}", "created_by": value}),
    }


@pytest.mark.parametrize("char", ["a", "\U0001f30d", "\U0010ffff", "'"], ids=["ascii", "emoji", "max", "quote"])
def test_varchar_columns_hold_their_length_in_characters_and_refuse_more(
    backend: AuthBackend, raw: Callable[..., list[tuple[Any, ...]]], char: str
) -> None:
    for field, limit in _limited(backend, ""):
        stored = _limited(backend, char * limit)[(field, limit)]()
        assert getattr(stored, field.rsplit(".", 1)[1]) == char * limit
        before = state(raw)
        with pytest.raises(InputError) as caught:
            _limited(backend, char * (limit + 1))[(field, limit)]()
        assert field in str(caught.value)
        assert str(limit) in str(caught.value)
        assert state(raw) == before
    assert_chain_verifies(backend)


def test_a_long_scope_is_refused_naming_scope(backend: AuthBackend) -> None:
    with pytest.raises(InputError, match=r"permission\.scope.*255"):
        backend.create_permission({"resource": "e:d", "action": "read", "effect": "allow", "scope": "o:" + "v" * 254})
    exact = "o:" + "\U0001f30d" * 253
    created = backend.create_permission({"resource": "e:d", "action": "read", "effect": "allow", "scope": exact})
    assert backend.list_permissions(scope=exact) == [created]


# deep JSON ----------------------------------------------------------------------------------------------
@settings(SETTINGS, max_examples=20)
@given(leaf=st.one_of(AWKWARD, JSON_FLOATS), shape=st.lists(st.booleans(), min_size=1, max_size=7))
def test_json_nested_one_hundred_deep_round_trips(
    backend: AuthBackend, raw: Callable[..., list[tuple[Any, ...]]], leaf: Any, shape: list[bool]
) -> None:
    deep = nested(99, leaf, shape)  # inside metadata/details, which add the hundredth level
    assert depth_of({"deep": deep}) == 100
    role = backend.create_role({"role_name": f"deep-{token()}", "metadata": {"deep": deep}})
    permission = backend.create_permission(
        {"resource": "emissions:data", "action": "read", "effect": "allow", "metadata": {"deep": deep}}
    )
    event = backend.append_audit_event({"event_type": "deep", "result": "success", "details": {"deep": deep}})
    assert backend.get_role(role.role_id) == role
    assert backend.get_permission(permission.permission_id) == permission
    [back] = backend.read_audit_events(after_sequence=(event.sequence or 1) - 1)
    assert back == event
    assert canonical_json(back.details) == canonical_json(event.details)
    assert raw("SELECT jsonb_typeof(details) FROM audit_logs WHERE log_id = %s", event.log_id) == [("object",)]
    assert_chain_verifies(backend)


def test_json_too_deep_to_hash_is_refused_clearly(backend: AuthBackend) -> None:
    with pytest.raises(InputError, match=r"audit event\.details"):
        backend.append_audit_event(
            {"event_type": "deep", "result": "success", "details": {"deep": nested(1000, 1, [True, False])}}
        )


# floats ---------------------------------------------------------------------------------------------------
@SETTINGS
@given(numbers=st.lists(JSON_FLOATS, min_size=1, max_size=12), single=JSON_FLOATS)
def test_floats_of_every_magnitude_survive_jsonb_and_the_chain(
    backend: AuthBackend, raw: Callable[..., list[tuple[Any, ...]]], numbers: list[float], single: float
) -> None:
    payload = {"numbers": numbers, "single": single, "fixed": FLOATS, "by_key": {repr(n): n for n in numbers}}
    event = backend.append_audit_event({"event_type": "floats", "result": "success", "details": payload})
    [back] = backend.read_audit_events(after_sequence=(event.sequence or 1) - 1)
    assert back == event
    assert back.details == payload
    assert canonical_json(back.details) == canonical_json(payload)
    assert back.provenance_hash == event.provenance_hash

    role = backend.create_role({"role_name": f"f-{token()}", "metadata": payload})
    assert backend.get_role(role.role_id) == role
    permission = backend.create_permission(
        {
            "resource": "emissions:data",
            "action": "read",
            "effect": "allow",
            "conditions": [{"attribute": "report.value", "operator": "lte", "value": single}],
            "metadata": payload,
        }
    )
    stored = backend.get_permission(permission.permission_id)
    assert stored == permission
    assert stored is not None
    assert stored.provenance_hash == permission.provenance_hash
    assert_chain_verifies(backend)


def test_the_exact_floats_named_by_the_issue(backend: AuthBackend) -> None:
    payload = {"huge": 1e300, "tiny": 5e-324, "tenth": 0.1, "negative_zero": -0.0, "past_2_53": float(2**53 + 1)}
    event = backend.append_audit_event({"event_type": "floats", "result": "success", "details": payload})
    [back] = backend.read_audit_events(after_sequence=(event.sequence or 1) - 1)
    assert back.details == payload
    for key in ("huge", "tiny", "tenth", "past_2_53"):
        assert type(back.details[key]) is float
        assert repr(back.details[key]) == repr(payload[key])
    # RFC 8785 writes -0.0 as 0, so it hashes the same whichever way it comes back
    assert canonical_json(back.details["negative_zero"]) == b"0"
    assert canonical_json(back.details) == canonical_json(payload)
    assert_chain_verifies(backend)


@pytest.mark.parametrize("number", [2**53, -(2**53), 10**400])
def test_integers_json_readers_disagree_on_are_refused_naming_the_field(
    backend: AuthBackend, raw: Callable[..., list[tuple[Any, ...]]], number: int
) -> None:
    before = state(raw)
    with pytest.raises(InputError, match=r"audit event\.details"):
        backend.append_audit_event({"event_type": "ints", "result": "success", "details": {"n": number}})
    with pytest.raises(InputError, match=r"role\.metadata"):
        backend.create_role({"role_name": f"i-{token()}", "metadata": {"n": number}})
    assert state(raw) == before
