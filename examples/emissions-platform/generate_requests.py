"""Write requests.jsonl: realistic access requests with the decision each should get.

The expected decision comes from `expected_decision` below, a plain reading of
policy.yaml written rule by rule, independently of the GreenLang engine. The
two must agree on every request; `run_main_job.py` checks that they do.
Rerun with `python generate_requests.py` after changing the policy.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).parent
ORGS = ["acme", "globex", "initech"]
SITES = ["site-rotterdam", "site-lyon", "plant-7"]
DATASETS = ["scope1-2026-q3", "scope2-market-2026", "scope3-cat1-2026"]
SUBJECTS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "mallory"]
ACTIONS = ["read", "write", "create", "export", "delete", "approve", "manage"]
STATUSES = ["draft", "submitted", "approved", "published", None]
TIMES = [
    "2026-12-03T12:00:00Z",  # an ordinary day
    "2026-12-25T09:30:00Z",  # inside the year-end data freeze
    "2026-12-31T22:59:59Z",  # erin's grant still valid
    "2026-12-31T23:00:01Z",  # erin's grant expired (2027-01-01T00:00:00+01:00)
]
FREEZE = (datetime(2026, 12, 24, tzinfo=UTC), datetime(2026, 12, 27, tzinfo=UTC))

# subject -> [(role, org scope or None, valid_from, expires_at)]
GRANTS: dict[str, list[tuple[str, str | None, datetime | None, datetime | None]]] = {
    "alice": [("analyst", "acme", None, None)],
    "bob": [("viewer", "acme", None, None)],
    "carol": [("org-admin", "globex", None, None)],
    "dave": [("viewer", "globex", None, None), ("analyst", "initech", None, None)],
    "erin": [("auditor", "acme", datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 12, 31, 23, tzinfo=UTC))],
    "grace": [("auditor", "globex", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 6, 30, tzinfo=UTC))],
    "frank": [("platform-admin", None, None, None)],
    "mallory": [],
}
INCLUDES = {
    "viewer": {"viewer"},
    "analyst": {"analyst", "viewer"},
    "org-admin": {"org-admin", "analyst", "viewer"},
    "auditor": {"auditor"},
    "platform-admin": {"platform-admin"},
}


def active_roles(subject: str, org: str | None, now: datetime) -> set[str]:
    roles: set[str] = set()
    for role, scope, start, end in GRANTS[subject]:
        if start is not None and now < start:
            continue
        if end is not None and now >= end:
            continue
        if scope is not None and org != scope:
            continue
        roles |= INCLUDES[role]
    return roles


def expected_decision(subject: str, action: str, resource: str, context: dict, now: datetime) -> bool:
    segments = resource.split(":")
    kind = segments[0]
    org = context.get("org")
    has_org = org is not None
    report = context.get("report", {})
    status = report.get("status")
    roles = active_roles(subject, org, now)
    data = kind in ("emissions", "reports") and len(segments) >= 2

    allow = "platform-admin" in roles
    if "auditor" in roles and action == "read" and kind in ("emissions", "reports", "audit"):
        allow = True
    if roles & {"viewer", "analyst", "org-admin"} and has_org and data and action == "read":
        allow = True
    if roles & {"analyst", "org-admin"} and has_org and data:
        if action == "write" and kind == "emissions":
            allow = True
        if action == "create" and kind == "reports":
            allow = True
        if action == "export" and kind == "reports" and status in ("approved", "published"):
            allow = True
    if "org-admin" in roles and has_org:
        if kind == "reports" and len(segments) >= 2 and action == "delete":
            allow = True
        if kind == "reports" and len(segments) >= 2 and action == "approve" and status == "submitted":
            allow = True
        if segments[:2] == ["platform", "users"] and len(segments) == 3 and action == "manage":
            allow = True
        if kind == "audit" and len(segments) == 2 and action == "read":
            allow = True

    # Denies. A deny whose condition cannot be evaluated (attribute missing) applies.
    deny = False
    if roles & {"analyst", "org-admin"} and has_org and kind == "reports" and len(segments) >= 2 and action == "delete":
        deny = status is None or status == "published"
    if action == "export" and kind == "reports" and report.get("confidential") is not False:
        deny = True
    if action == "write" and kind == "emissions" and FREEZE[0] <= now < FREEZE[1]:
        deny = True
    return allow and not deny


HOME = {
    "alice": ["acme"],
    "bob": ["acme"],
    "carol": ["globex"],
    "dave": ["globex", "initech"],
    "erin": ["acme"],
    "grace": ["globex"],
}


def random_request(rng: random.Random, subject: str) -> dict:
    home = HOME.get(subject, ORGS)
    org = rng.choice(home) if rng.random() < 0.75 else rng.choice(ORGS)
    kind = rng.choices(["emissions", "reports", "audit", "platform"], weights=[4, 5, 1, 1])[0]
    context: dict = {"org": org}
    if kind == "emissions":
        resource = f"emissions:{org}:{rng.choice(SITES)}:{rng.choice(DATASETS)}"
        action = rng.choice(["read", "read", "write", "write", "delete", "export"])
    elif kind == "reports":
        resource = f"reports:{org}:2026:{rng.choice(['csrd-e1', 'ghg-inventory', 'sbti-progress'])}"
        action = rng.choice(["read", "create", "export", "export", "delete", "approve"])
        report: dict = {}
        status = rng.choice(STATUSES)
        if status is not None:
            report["status"] = status
        confidential = rng.choice([True, False, False, None])
        if confidential is not None:
            report["confidential"] = confidential
        if report:
            context["report"] = report
    elif kind == "audit":
        resource = f"audit:{org}"
        action = rng.choice(["read", "read", "write"])
    else:
        resource = f"platform:users:{org}"
        action = rng.choice(["manage", "read"])
    if rng.random() < 0.08:
        del context["org"]  # the application forgot to say whose data this is
    return {"resource": resource, "action": action, "context": context}


def main() -> None:
    rng = random.Random(20261203)  # fixed seed: the file is reproducible
    lines = []
    for number in range(1, 241):
        subject = rng.choice(SUBJECTS)
        request = random_request(rng, subject)
        now_text = rng.choices(TIMES, weights=[6, 2, 1, 1])[0]
        now = datetime.fromisoformat(now_text)
        allowed = expected_decision(subject, request["action"], request["resource"], request["context"], now)
        lines.append(
            {
                "id": f"req-{number:03d}",
                "subject": subject,
                "action": request["action"],
                "resource": request["resource"],
                "context": request["context"],
                "now": now_text,
                "expect": "allow" if allowed else "deny",
            }
        )
    out = HERE / "requests.jsonl"
    out.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    allowed = sum(line["expect"] == "allow" for line in lines)
    print(f"wrote {len(lines)} requests to {out.name}: {allowed} allow, {len(lines) - allowed} deny")


if __name__ == "__main__":
    main()
