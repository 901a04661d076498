"""The workload of ``authz_workload`` in pycasbin and in Cedar (cedarpy), each in its usual and its fastest form.

pycasbin, RBAC with domains (``g = _, _, _``), policy lines
``p, <role or user>, <org>, <path>, <action>, <allow|deny>`` and the effect
``some(where (p.eft == allow)) && !some(where (p.eft == deny))``, which is our
deny-overrides-allow with default deny. ``keyMatch2`` reads ``:name`` as a
path parameter, so resources become paths: ``emissions:o:s:r`` is
``/emissions/o/s/r``, ``**`` at the end is ``/*`` and ``*`` in the middle is
``/:site`` (one segment). For four-segment request paths that is exactly our
matching.

- usual: ``Enforcer`` over a CSV file, with the matcher as casbin's RBAC-with-domains
  example writes it (role link first);
- fastest: ``FastEnforcer`` that files policy lines under (domain, action), with
  the cheap comparisons first in the matcher.

Cedar: users are members of roles, roles of their parent roles, reports of
their site and sites of their organisation, so ``emissions:o:**`` is
``resource in Org::"o"``, ``emissions:o:s:**`` is ``resource in Site::"o:s"``,
``emissions:o:*:r`` is ``resource in Org::"o"`` with ``resource.report == "r"``,
and a role's rule is ``principal in Role::"<org>.<role>"``. ``forbid``
overrides ``permit`` and nothing permitted is a deny, as in ours. Every
report a request may name is an entity.

- usual: one ``PolicySet`` handle holding every policy, and one ``Entities`` handle;
- fastest: one ``PolicySet`` per organisation, hand-sliced, picked by the request's org.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import casbin  # type: ignore[import-untyped]
import cedarpy
from authz_workload import Check, Rule, Workload

__all__ = ["Engine", "casbin_enforcer", "casbin_fast", "cedar_all", "cedar_per_org"]

CASBIN_MODEL = """[request_definition]
r = sub, dom, obj, act

[policy_definition]
p = sub, dom, obj, act, eft

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))

[matchers]
m = {matcher}
"""
USUAL_MATCHER = "g(r.sub, p.sub, r.dom) && r.dom == p.dom && keyMatch2(r.obj, p.obj) && r.act == p.act"
CHEAP_FIRST_MATCHER = "r.dom == p.dom && r.act == p.act && g(r.sub, p.sub, r.dom) && keyMatch2(r.obj, p.obj)"


@dataclass
class Engine:
    """A built engine: ``check`` answers one request made ready by ``prepare`` (done before timing)."""

    name: str
    prepare: Callable[[Check], Any]
    check: Callable[[Any], bool]
    build_s: float = 0.0


# -- pycasbin --------------------------------------------------------------------------------------------------------


def casbin_path(resource: str) -> str:
    return "/" + resource.replace(":", "/")


def casbin_pattern(pattern: tuple[str, ...]) -> str:
    parts = ["*" if part == "**" else ":site" if part == "*" else part for part in pattern]
    return "/" + "/".join(parts)


def casbin_files(w: Workload, work: Path, name: str, matcher: str) -> tuple[str, str]:
    """The model and a CSV policy file, for casbin's usual file adapter."""
    model = work / f"casbin-{name}.conf"
    model.write_text(CASBIN_MODEL.format(matcher=matcher), encoding="utf-8")
    lines = [f"p, {r.who}, {r.org}, {casbin_pattern(r.pattern)}, {r.action}, {r.effect}" for r in w.rules]
    lines += [f"g, {m.user}, {role}, {m.org}" for m in w.members for role in m.roles]
    lines += [f"g, {r.name}, {parent}, {r.org}" for r in w.roles for parent in r.parents]
    policy = work / f"casbin-{name}.csv"
    policy.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(model), str(policy)


def _casbin_request(check: Check) -> tuple[str, str, str, str]:
    return check.user, check.org, casbin_path(check.resource), check.action


def casbin_enforcer(w: Workload, work: Path) -> Engine:
    model, policy = casbin_files(w, work, "usual", USUAL_MATCHER)
    started = time.perf_counter()
    enforcer = casbin.Enforcer(model, policy)
    built = time.perf_counter() - started
    return Engine("pycasbin Enforcer (keyMatch2)", _casbin_request, lambda req: bool(enforcer.enforce(*req)), built)


def casbin_fast(w: Workload, work: Path) -> Engine:
    model, policy = casbin_files(w, work, "fast", CHEAP_FIRST_MATCHER)
    started = time.perf_counter()
    enforcer = casbin.FastEnforcer(model, policy, cache_key_order=[1, 3])
    built = time.perf_counter() - started
    return Engine(
        "pycasbin FastEnforcer (by org, action)", _casbin_request, lambda req: bool(enforcer.enforce(*req)), built
    )


# -- Cedar -----------------------------------------------------------------------------------------------------------


def _uid(kind: str, name: str) -> dict[str, str]:
    return {"type": kind, "id": name}


def cedar_entities(w: Workload) -> str:
    entities: list[dict[str, Any]] = []
    parents: dict[str, list[dict[str, str]]] = {}
    for m in w.members:
        parents.setdefault(m.user, []).extend(_uid("Role", f"{m.org}.{role}") for role in m.roles)
    entities += [{"uid": _uid("User", user), "attrs": {}, "parents": ps} for user, ps in parents.items()]
    entities += [
        {"uid": _uid("Role", r.id), "attrs": {}, "parents": [_uid("Role", f"{r.org}.{p}") for p in r.parents]}
        for r in w.roles
    ]
    entities += [{"uid": _uid("Org", org), "attrs": {}, "parents": []} for org in w.orgs]
    sites = sorted({(org, site) for org, site, _ in w.resources()})
    entities += [
        {"uid": _uid("Site", f"{org}:{site}"), "attrs": {}, "parents": [_uid("Org", org)]} for org, site in sites
    ]
    entities += [
        {
            "uid": _uid("Report", f"emissions:{org}:{site}:{report}"),
            "attrs": {"report": report},
            "parents": [_uid("Site", f"{org}:{site}")],
        }
        for org, site, report in w.resources()
    ]
    return json.dumps(entities)


def cedar_policy(rule: Rule) -> str:
    kind = "permit" if rule.effect == "allow" else "forbid"
    principal = (
        f'principal == User::"{rule.who}"' if rule.holder == "user" else f'principal in Role::"{rule.org}.{rule.who}"'
    )
    _, org, *rest = rule.pattern
    when = ""
    if rest == ["**"]:
        resource = f'resource in Org::"{org}"'
    elif rest[-1] == "**":
        resource = f'resource in Site::"{org}:{rest[0]}"'
    elif rest[0] == "*":
        resource = f'resource in Org::"{org}"'
        when = f' when {{ resource.report == "{rest[1]}" }}'
    else:
        resource = f'resource == Report::"{rule.resource}"'
    return f'{kind}({principal}, action == Action::"{rule.action}", {resource}){when};'


def _cedar_request(check: Check) -> dict[str, Any]:
    return {
        "principal": f'User::"{check.user}"',
        "action": f'Action::"{check.action}"',
        "resource": f'Report::"{check.resource}"',
    }


def _cedar_check(policies: cedarpy.PolicySet, entities: cedarpy.Entities, request: dict[str, Any]) -> bool:
    return cedarpy.is_authorized(request, policies, entities).allowed


def cedar_all(w: Workload, _: Path) -> Engine:
    text, entity_json = "\n".join(cedar_policy(r) for r in w.rules), cedar_entities(w)
    started = time.perf_counter()
    policies = cedarpy.PolicySet.from_str(text)
    entities = cedarpy.Entities.from_json_str(entity_json)
    built = time.perf_counter() - started
    return Engine(
        "cedarpy, pre-parsed handles, all policies",
        _cedar_request,
        lambda request: _cedar_check(policies, entities, request),
        built,
    )


def cedar_per_org(w: Workload, _: Path) -> Engine:
    texts: dict[str, list[str]] = {org: [] for org in w.orgs}
    for rule in w.rules:
        texts[rule.org].append(cedar_policy(rule))
    joined, entity_json = {org: "\n".join(items) for org, items in texts.items()}, cedar_entities(w)
    started = time.perf_counter()
    sets = {org: cedarpy.PolicySet.from_str(text) for org, text in joined.items()}
    entities = cedarpy.Entities.from_json_str(entity_json)
    built = time.perf_counter() - started

    def prepare(check: Check) -> tuple[cedarpy.PolicySet, dict[str, Any]]:
        return sets[check.org], _cedar_request(check)

    return Engine(
        "cedarpy, one PolicySet per org (hand-sliced)",
        prepare,
        lambda ready: _cedar_check(ready[0], entities, ready[1]),
        built,
    )
