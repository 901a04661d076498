"""The decision engine: may a subject do an action on a resource, and why.

Deny overrides allow, no applicable allow means deny, and anything that cannot
be evaluated (a missing context attribute, a wrong type) keeps an allow from
applying but lets a deny apply, so errors never grant. Priority orders the
deciding rules and picks the one the reason names; it never changes the answer.
"""

from __future__ import annotations

import asyncio
import math
import re
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import partial
from time import perf_counter
from typing import Any, NamedTuple

from greenlang.auth.backends.arguments import check_tenant
from greenlang.auth.checker import decide
from greenlang.auth.conditions import MISSING
from greenlang.auth.decision import (
    Decision,
    Explanation,
    Hit,
    Request,
    RuleKind,
    RuleTrace,
    assignment_problem,
    combine,
    note,
    permission_verdict,
    rule_verdict,
)
from greenlang.auth.decision_cache import DEFAULT_MAX_ENTRIES, CacheStats, DecisionCache
from greenlang.auth.patterns import MAX_LENGTH, SEPARATOR, validate_resource
from greenlang.auth.permissions import ACTION_PATTERN, Permission, validate_action
from greenlang.auth.roles import Role
from greenlang.auth.snapshot import (
    ANY_ACTION,
    AsyncPolicySource,
    PolicySnapshot,
    PolicySource,
    PolicyStateLike,
)
from greenlang.errors import InputError
from greenlang.timeutil import Clock, to_utc, utcnow

__all__ = ["Authorizer", "AsyncAuthorizer", "expand_context", "check_backend", "check_options"]

Context = Mapping[str, Any]


# -- request input ---------------------------------------------------------------------------------------------------


def expand_context(context: Context | None, *, reuse: bool = False) -> dict[str, Any]:
    """Nest dotted keys: ``{"report.confidential": True}`` becomes ``{"report": {"confidential": True}}``.

    ``reuse`` hands back the caller's own dict when nothing needs nesting, for callers that only read it.
    """
    if context is None:
        return {}
    if type(context) is not dict and not isinstance(context, Mapping):
        raise InputError("context must be a mapping of attribute names to values, such as {'org': 'acme'}")
    for key, value in context.items():
        if type(key) is not str or type(value) not in _PLAIN or not key or "." in key:
            break
    else:
        return context if reuse and type(context) is dict else dict(context)
    result: dict[str, Any] = {}
    _merge_into(result, context, "")
    return result


_PLAIN = frozenset({str, bool, type(None)})
"""Value types a flat context can hold with nothing to nest or check (numbers are checked for JSON range)."""


MAX_DEPTH = 32
"""How deeply a context may nest; deeper is refused rather than recursed into."""


def _merge_into(target: dict[str, Any], source: Mapping[Any, Any], prefix: str, depth: int = 0) -> None:
    if depth >= MAX_DEPTH:
        raise InputError(f"context nests deeper than {MAX_DEPTH} levels at {prefix[:80]!r}; flatten it")
    for key, value in source.items():
        if not isinstance(key, str) or any(not part for part in key.split(".")):
            raise InputError(
                f"context key {prefix + str(key)!r} must be a dot-path of non-empty names, e.g. 'report.status'"
            )
        *branches, leaf = key.split(".")
        node = target
        for depth, part in enumerate(branches):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                where = prefix + ".".join(branches[: depth + 1])
                raise InputError(f"context gives {where!r} both a value and nested attributes; give one")
            node = child
        path = prefix + key
        existing = node.get(leaf, MISSING)
        if isinstance(value, Mapping):
            if existing is MISSING:
                existing = node[leaf] = {}
            elif not isinstance(existing, dict):
                raise InputError(f"context gives {path!r} both a value and nested attributes; give one")
            _merge_into(existing, value, path + ".", depth + 1)
        elif existing is not MISSING:
            raise InputError(
                f"context gives {path!r} more than once (as a value and as nested attributes); give it once"
            )
        else:
            _check_value(value, path, depth)
            node[leaf] = value


_EXACT_INT = 2**53 - 1


def _check_value(value: Any, path: str, depth: int = 0) -> None:
    """Numbers must mean the same to every JSON reader, and to the audit trail that records them.

    NaN compares false with everything, so it would quietly switch conditions
    off; integers past 2**53 lose precision in most JSON readers.
    """
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"context value {path!r} is {value}; give a finite number")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _EXACT_INT:
        raise InputError(f"context value {path!r} is too large for exact JSON (over 2**53 - 1); give it as a string")
    if isinstance(value, list | tuple | set | frozenset | Mapping):
        if depth >= MAX_DEPTH:
            raise InputError(f"context value {path[:80]!r} nests deeper than {MAX_DEPTH} levels; flatten it")
        if isinstance(value, Mapping):
            for key, item in value.items():
                _check_value(item, f"{path}.{key}", depth + 1)
        else:
            for item in value:
                _check_value(item, path, depth + 1)


def _check_request(subject: Any, action: Any, resource: Any) -> None:
    _check_subject(subject)
    if not isinstance(action, str):
        raise InputError("action must be a string such as 'read'")
    if action == ANY_ACTION:
        raise InputError("action must be a concrete action such as 'read'; '*' is only for permissions and rules")
    try:
        validate_action(action)
    except ValueError as exc:
        raise InputError(f"action: {exc}") from None
    try:
        validate_resource(resource)
    except ValueError as exc:
        raise InputError(f"resource: {exc}") from None


_PLAIN_RESOURCE = re.compile(r"[A-Za-z0-9_.@/+=\-]+(?::[A-Za-z0-9_.@/+=\-]+)*")


_GOOD_ACTIONS: set[str] = set()
"""Actions already found well-formed; a deployment has few, so each is matched once (bounded all the same)."""


def _good_action(action: str) -> bool:
    if action == ANY_ACTION or not ACTION_PATTERN.fullmatch(action):
        return False
    if len(_GOOD_ACTIONS) < 4096:
        _GOOD_ACTIONS.add(action)
    return True


def _check_request_fast(subject: Any, action: Any, resource: Any) -> None:
    """Accept the common well-formed request in one pass; anything else gets ``_check_request``'s full say."""
    if (
        type(subject) is str
        and type(action) is str
        and type(resource) is str
        and 0 < len(subject) <= 255
        and len(resource) <= MAX_LENGTH
        and (action in _GOOD_ACTIONS or _good_action(action))
        and _PLAIN_RESOURCE.fullmatch(resource)
        and subject.strip()
    ):
        return
    _check_request(subject, action, resource)


def _check_subject(subject: Any) -> None:
    if not isinstance(subject, str) or not subject.strip() or len(subject) > 255:
        raise InputError("subject must be a non-empty name of at most 255 characters, such as 'alice@example.com'")


# -- evaluation ------------------------------------------------------------------------------------------------------


def _effective_roles(
    snapshot: PolicySnapshot, request: Request, trace: list[RuleTrace] | None
) -> list[tuple[Role, str]]:
    """Roles held through assignments in force, with inherited ones, as (role, assignment id), by priority."""
    via: dict[str, str] = {}
    for assignment in snapshot.assignments_of(request.subject):
        problem = assignment_problem(assignment, snapshot, request)
        if trace is not None:
            role = snapshot.roles.get(assignment.role_id)
            trace.append(
                RuleTrace(
                    assignment.assignment_id,
                    RuleKind.ASSIGNMENT,
                    None,
                    problem is None,
                    problem or "assignment in force",
                    role.priority if role else 0,
                    assignment.role_id,
                    role.role_name if role else None,
                    assignment.assignment_id,
                )
            )
        if problem is None:
            for role_id in snapshot.inherited(assignment.role_id):
                via.setdefault(role_id, assignment.assignment_id)
    roles = [(snapshot.roles[role_id], assignment_id) for role_id, assignment_id in via.items()]
    roles.sort(key=lambda pair: (-pair[0].priority, pair[0].role_id))
    return roles


def _evaluate(snapshot: PolicySnapshot, request: Request, trace: list[RuleTrace] | None) -> list[Hit]:
    roles = _effective_roles(snapshot, request, trace)
    wanted = None if trace is not None else request.action
    hits: list[Hit] = []
    seen: set[str] = set()
    for role, assignment_id in roles:
        if trace is not None:
            for missing in (pid for pid in role.permissions if pid not in snapshot.permissions):
                trace.append(
                    RuleTrace(
                        missing,
                        RuleKind.PERMISSION,
                        None,
                        False,
                        "permission does not exist; ignored",
                        role.priority,
                        role.role_id,
                        role.role_name,
                        assignment_id,
                    )
                )
        for cp in snapshot.permissions_of_role(role.role_id, wanted):
            if cp.id in seen:
                continue
            seen.add(cp.id)
            applies, why = permission_verdict(cp, request)
            if trace is not None:
                trace.append(
                    RuleTrace(
                        cp.id,
                        RuleKind.PERMISSION,
                        cp.effect,
                        applies,
                        why,
                        role.priority,
                        role.role_id,
                        role.role_name,
                        assignment_id,
                    )
                )
            if applies:
                hits.append(Hit(cp.id, cp.effect, role.priority, cp, role.role_name, note(why)))
    role_names = {role.role_name for role, _ in roles}
    for cr in snapshot.policy_rules(wanted):
        applies, why, via_role = rule_verdict(cr, request, role_names)
        if trace is not None:
            role_id = snapshot.role_ids_by_name.get(via_role) if via_role else None
            trace.append(
                RuleTrace(cr.ref, RuleKind.POLICY_RULE, cr.effect, applies, why, cr.policy.priority, role_id, via_role)
            )
        if applies:
            hits.append(Hit(cr.ref, cr.effect, cr.policy.priority, cr, "", note(why)))
    return hits


# -- entry points shared by the sync and async authorizers -----------------------------------------------------------


def _moment(now: Any, clock: Clock) -> datetime:
    """``now``, or the clock's time, in UTC."""
    return _in_utc(clock(), "the clock") if now is None else _in_utc(now, "now")


def _in_utc(value: Any, source: str) -> datetime:
    """``value`` in UTC; anything but a datetime is refused in a sentence naming where it came from."""
    if not isinstance(value, datetime):
        raise InputError(
            f"{source} gave {type(value).__name__}, not a datetime; pass one such as datetime(2026, 12, 31, tzinfo=UTC)"
        )
    try:
        return to_utc(value)
    except OverflowError:
        raise InputError(f"{source} gave {value.isoformat()}, which is out of range in UTC; pass a real time") from None


def _request(subject: str, action: str, resource: str, context: Context | None, now: datetime) -> Request:
    _check_request(subject, action, resource)
    return Request(subject, action, resource, resource.split(SEPARATOR), expand_context(context), now)


def _run(
    snapshot: PolicySnapshot,
    clock: Clock,
    subject: str,
    action: str,
    resource: str,
    context: Context | None,
    now: datetime | None,
    explain: bool,
) -> Explanation:
    started = time.perf_counter()
    request = _request(subject, action, resource, context, _moment(now, clock))
    trace: list[RuleTrace] | None = [] if explain else None
    hits = _evaluate(snapshot, request, trace)
    return Explanation(combine(snapshot, request, hits, started), tuple(trace or ()))


def _roles(
    snapshot: PolicySnapshot, clock: Clock, subject: str, context: Context | None, now: datetime | None
) -> list[Role]:
    _check_subject(subject)
    moment = _moment(now, clock)
    request = Request(subject, "", "", [], expand_context(context), moment)
    return [role for role, _ in _effective_roles(snapshot, request, None)]


def _permissions(roles: list[Role], snapshot: PolicySnapshot) -> list[Permission]:
    seen: dict[str, Permission] = {}
    for role in roles:
        for cp in snapshot.permissions_of_role(role.role_id):
            seen.setdefault(cp.id, cp.permission)
    return list(seen.values())


def check_backend(backend: Any) -> None:
    """Refuse, when given, anything that is not a store an authorizer can load from."""
    if not (callable(getattr(backend, "revision", None)) and callable(getattr(backend, "load_policy_state", None))):
        raise InputError(
            f"backend must be a store such as open_backend('sqlite', path=...), not {type(backend).__name__}"
        )


def check_options(clock: Any, cache_size: Any, max_staleness: Any) -> None:
    """The authorizer options shared with ``Tenants``, refused when given rather than at the first check."""
    if not callable(clock):
        raise InputError("clock must be a function returning a datetime, such as greenlang.timeutil.utcnow")
    if not isinstance(cache_size, int) or isinstance(cache_size, bool) or cache_size < 0:
        raise InputError("cache_size must be a whole number of decisions, 0 to turn the decision cache off")
    if not isinstance(max_staleness, int | float) or isinstance(max_staleness, bool) or not 0 <= max_staleness <= 3600:
        raise InputError("max_staleness must be seconds from 0 (ask the store before every check) to 3600")


class _Live(NamedTuple):
    """A snapshot and its decision cache, swapped in together so a check never pairs one with the other's."""

    snapshot: PolicySnapshot
    cache: DecisionCache | None


class _Host:
    """What the sync and async authorizers share: the live snapshot, the fast check and the statistics."""

    def __init__(
        self, snapshot: PolicySnapshot | None, clock: Clock, tenant: str | None, cache_size: int, max_staleness: float
    ) -> None:
        check_tenant(tenant)
        check_options(clock, cache_size, max_staleness)
        self._clock = clock
        self._now = partial(datetime.now, UTC) if clock is utcnow else clock
        self._tenant = tenant
        self._cache_size = cache_size
        self._max_staleness = float(max_staleness)
        self._next_poll = 0.0
        self._stats = CacheStats()
        self._reloads = 0
        self._build_ms = 0.0
        self._live: _Live | None = None if snapshot is None else self._wrap(snapshot)

    @property
    def tenant(self) -> str | None:
        """The tenant whose rows this authorizer loads, or ``None`` for the whole store."""
        return self._tenant

    def _recent(self, live: _Live | None) -> bool:
        """Whether ``live`` may answer without asking the store for its revision (within ``max_staleness``)."""
        return live is not None and self._max_staleness > 0 and time.monotonic() < self._next_poll

    def _moved(self, revision: int, live: _Live) -> bool:
        """Whether the store's ``revision``, just read, is not ``live``'s; it stands for ``max_staleness``."""
        self._polled()
        return revision != live.snapshot.revision

    def _polled(self) -> None:
        """The store's revision was just learnt: the next check need not ask for ``max_staleness`` seconds."""
        if self._max_staleness > 0:
            self._next_poll = time.monotonic() + self._max_staleness

    def _wrap(self, snapshot: PolicySnapshot) -> _Live:
        cache = DecisionCache(snapshot, self._stats, self._cache_size) if self._cache_size else None
        return _Live(snapshot, cache)

    def _install(self, state: PolicyStateLike) -> _Live:
        """Build ``state`` and make it live, unless it was read inside a transaction.

        Such a state may yet roll back (and its revision number then go to
        another write), and it holds writes no other caller may see: it
        answers the call that read it, and is never kept or shared.
        """
        if getattr(state, "committed", True) is False:
            return _Live(PolicySnapshot.build(state), None)
        started = time.perf_counter()
        live = self._wrap(PolicySnapshot.build(state))
        self._build_ms = (time.perf_counter() - started) * 1000
        self._reloads += 1
        self._live = live
        self._polled()
        return live

    def _check(
        self, live: _Live, subject: str, action: str, resource: str, context: Context | None, now: datetime | None
    ) -> Decision:
        started = perf_counter()
        expanded = expand_context(context, reuse=True)
        moment = self._now() if now is None else now
        if type(moment) is not datetime or moment.tzinfo is not UTC:
            moment = _in_utc(moment, "the clock" if now is None else "now")
        cache = live.cache
        key = None
        if cache is not None and type(subject) is str and type(action) is str and type(resource) is str:
            # A key is only ever stored after its request passed validation, so a hit needs none.
            key = cache.key(subject, action, resource, expanded)
            if key is not None:
                known = cache.get(key, moment, started)
                if known is not None:
                    return known
        _check_request_fast(subject, action, resource)
        parts = resource.split(SEPARATOR)
        decision = decide(live.snapshot, subject, action, resource, parts, expanded, moment, started)
        if cache is not None and key is not None:
            cache.put(key, moment, decision)
        return decision

    def _statistics(self) -> dict[str, Any]:
        live = self._live
        cache = None if live is None else live.cache
        snapshot = None if live is None else live.snapshot
        return {
            "tenant": self._tenant,
            "revision": None if snapshot is None else snapshot.revision,
            "reloads": self._reloads,
            "last_build_ms": self._build_ms,
            "permissions": 0 if snapshot is None else len(snapshot.permissions),
            "roles": 0 if snapshot is None else len(snapshot.roles),
            "policy_rules": 0 if snapshot is None else len(snapshot.policy_rules()),
            "decision_cache": self._stats.as_dict(0 if cache is None else len(cache), self._cache_size),
        }


class Authorizer(_Host):
    """Answers checks against a snapshot, reloading it from ``backend`` when the store's revision moves.

    ``backend`` is any ``AuthBackend`` (only ``revision()`` and
    ``load_policy_state()`` are used); ``snapshot`` starts from a given view,
    e.g. in tests. ``clock`` supplies "now" unless a call passes ``now``.
    ``tenant`` loads only that tenant's rows and the shared ones.
    ``cache_size`` bounds the decision cache (0 turns it off).
    ``max_staleness`` lets answers lag a write by up to that many seconds, so
    the store's revision is read at most that often instead of before every
    check (a round trip each on PostgreSQL).

    A reload builds the new snapshot beside the old one and swaps it in with
    one assignment; checks arriving meanwhile are answered from the old one,
    and every check runs to the end on the snapshot it started with.
    """

    def __init__(
        self,
        backend: PolicySource | None = None,
        *,
        snapshot: PolicySnapshot | None = None,
        clock: Clock = utcnow,
        tenant: str | None = None,
        cache_size: int = DEFAULT_MAX_ENTRIES,
        max_staleness: float = 0.0,
    ) -> None:
        if backend is None and snapshot is None:
            raise InputError("Authorizer needs a backend or a snapshot; pass one of them")
        if backend is None and tenant is not None:
            raise InputError("tenant needs a backend to load from; pass backend= as well")
        if backend is not None:
            check_backend(backend)
        super().__init__(snapshot, clock, tenant, cache_size, max_staleness)
        self._backend = backend
        self._reloading = threading.Lock()

    def _live_now(self) -> _Live:
        live = self._live
        backend = self._backend
        if backend is None or self._recent(live):
            assert live is not None  # the constructor needs a backend or a snapshot
            return live
        if live is None or self._moved(backend.revision(), live):
            if live is not None and not self._reloading.acquire(blocking=False):
                return live  # another thread is reloading: answer from what we have
            if live is None:
                self._reloading.acquire()
            try:
                if self._live is live:
                    return self._install(self._load(backend))
            finally:
                self._reloading.release()
            assert self._live is not None
            return self._live
        assert live is not None  # the constructor needs a backend or a snapshot
        return live

    def _load(self, backend: PolicySource) -> PolicyStateLike:
        if self._tenant is None:
            return backend.load_policy_state()
        return backend.load_policy_state(tenant=self._tenant)  # type: ignore[call-arg]

    def current(self) -> PolicySnapshot:
        """The snapshot checks use now, rebuilt first if the store's revision has moved on."""
        return self._live_now().snapshot

    def reload(self) -> PolicySnapshot:
        """Rebuild the snapshot from the backend now (a no-op without a backend)."""
        if self._backend is not None:
            with self._reloading:
                return self._install(self._load(self._backend)).snapshot
        assert self._live is not None
        return self._live.snapshot

    def check(
        self, subject: str, action: str, resource: str, context: Context | None = None, *, now: datetime | None = None
    ) -> Decision:
        live = self._live
        if live is None or self._backend is not None:
            live = self._live_now()
        return self._check(live, subject, action, resource, context, now)

    def explain(
        self, subject: str, action: str, resource: str, context: Context | None = None, *, now: datetime | None = None
    ) -> Explanation:
        return _run(self.current(), self._clock, subject, action, resource, context, now, explain=True)

    def roles_of(self, subject: str, *, now: datetime | None = None, context: Context | None = None) -> list[Role]:
        """Roles in force for ``subject``, inherited ones included, highest priority first."""
        return _roles(self.current(), self._clock, subject, context, now)

    def effective_permissions(
        self, subject: str, *, now: datetime | None = None, context: Context | None = None
    ) -> list[Permission]:
        """Every permission those roles hold, each id once; scopes and conditions are left to checks."""
        snapshot = self.current()
        return _permissions(_roles(snapshot, self._clock, subject, context, now), snapshot)

    def get_statistics(self) -> dict[str, Any]:
        """Revision, reload count and build time, rule counts, and the decision cache's hits and hit rate."""
        return self._statistics()


class AsyncAuthorizer(_Host):
    """``Authorizer`` over an ``AsyncAuthBackend``: loading awaits, evaluation is the same code."""

    def __init__(
        self,
        backend: AsyncPolicySource | None = None,
        *,
        snapshot: PolicySnapshot | None = None,
        clock: Clock = utcnow,
        tenant: str | None = None,
        cache_size: int = DEFAULT_MAX_ENTRIES,
        max_staleness: float = 0.0,
    ) -> None:
        if backend is None and snapshot is None:
            raise InputError("AsyncAuthorizer needs a backend or a snapshot; pass one of them")
        if backend is None and tenant is not None:
            raise InputError("tenant needs a backend to load from; pass backend= as well")
        if backend is not None:
            check_backend(backend)
        super().__init__(snapshot, clock, tenant, cache_size, max_staleness)
        self._backend = backend
        self._reloading: asyncio.Lock | None = None

    def _lock(self) -> asyncio.Lock:
        if self._reloading is None:
            self._reloading = asyncio.Lock()
        return self._reloading

    async def _live_now(self) -> _Live:
        live = self._live
        backend = self._backend
        if backend is None or self._recent(live):
            assert live is not None  # the constructor needs a backend or a snapshot
            return live
        if live is None or self._moved(await backend.revision(), live):
            lock = self._lock()
            if lock.locked() and live is not None:
                return live  # another task is reloading: answer from what we have
            async with lock:
                if self._live is live:
                    return self._install(await self._load(backend))
            assert self._live is not None
            return self._live
        assert live is not None  # the constructor needs a backend or a snapshot
        return live

    async def _load(self, backend: AsyncPolicySource) -> PolicyStateLike:
        if self._tenant is None:
            return await backend.load_policy_state()
        return await backend.load_policy_state(tenant=self._tenant)  # type: ignore[call-arg]

    async def current(self) -> PolicySnapshot:
        """The snapshot checks use now, rebuilt first if the store's revision has moved on."""
        return (await self._live_now()).snapshot

    async def reload(self) -> PolicySnapshot:
        """Rebuild the snapshot from the backend now (a no-op without a backend)."""
        if self._backend is not None:
            async with self._lock():
                return self._install(await self._load(self._backend)).snapshot
        assert self._live is not None
        return self._live.snapshot

    async def check(
        self, subject: str, action: str, resource: str, context: Context | None = None, *, now: datetime | None = None
    ) -> Decision:
        return self._check(await self._live_now(), subject, action, resource, context, now)

    async def explain(
        self, subject: str, action: str, resource: str, context: Context | None = None, *, now: datetime | None = None
    ) -> Explanation:
        return _run(await self.current(), self._clock, subject, action, resource, context, now, explain=True)

    async def roles_of(
        self, subject: str, *, now: datetime | None = None, context: Context | None = None
    ) -> list[Role]:
        return _roles(await self.current(), self._clock, subject, context, now)

    async def effective_permissions(
        self, subject: str, *, now: datetime | None = None, context: Context | None = None
    ) -> list[Permission]:
        snapshot = await self.current()
        return _permissions(_roles(snapshot, self._clock, subject, context, now), snapshot)

    def get_statistics(self) -> dict[str, Any]:
        """Revision, reload count and build time, rule counts, and the decision cache's hits and hit rate."""
        return self._statistics()
