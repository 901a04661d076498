"""``greenlang check``: one decision, or a batch of them from JSONL."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import click

from greenlang.audit.events import AuditEvent, AuditResult
from greenlang.auth.decision import Decision
from greenlang.auth.engine import Authorizer
from greenlang.cli.app import App, cli, pass_app
from greenlang.errors import InputError
from greenlang.jsonvalue import loads_strict

__all__ = ["parse_context", "BatchRequest", "read_batch"]


def _value(name: str, text: str) -> Any:
    """JSON if it parses (``true``, ``3``, ``"x"``, ``[1,2]``), else the text itself."""
    try:
        return loads_strict(text)
    except json.JSONDecodeError:
        return text
    except ValueError as exc:
        raise InputError(f"--ctx {name}: {exc}") from None


def parse_context(pairs: Sequence[str]) -> dict[str, Any]:
    """``["report.status=published", "org=acme"]`` -> a flat dict the engine expands."""
    context: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--ctx {pair!r} must look like key=value, e.g. --ctx org=acme")
        name = key.strip()
        if name in context:
            raise InputError(f"--ctx {name} is given twice; give each attribute once")
        context[name] = _value(name, raw)
    return context


@dataclass(frozen=True)
class BatchRequest:
    line: int
    id: str | None
    subject: str
    action: str
    resource: str
    context: dict[str, Any]
    now: datetime | None
    expect: bool | None


_FIELDS = {"id", "subject", "action", "resource", "context", "now", "expect"}


def read_batch(stream: TextIO, source: str) -> list[BatchRequest]:
    """Parse every line first, so a bad line stops the batch before any decision is logged."""
    requests = []
    for number, text in enumerate(stream, start=1):
        if not text.strip():
            continue
        where = f"{source} line {number}"
        try:
            item = loads_strict(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{where} is not JSON ({exc.msg})") from None
        except ValueError as exc:
            raise InputError(f"{where}: {exc}") from None
        if not isinstance(item, dict):
            raise InputError(f"{where} must be a JSON object with subject, action and resource")
        unknown = sorted(set(item) - _FIELDS)
        if unknown:
            raise InputError(f"{where} has unknown field {unknown[0]!r}; allowed: {', '.join(sorted(_FIELDS))}")
        for name in ("subject", "action", "resource"):
            if not isinstance(item.get(name), str):
                raise InputError(f"{where} needs a string {name!r}")
        context = item.get("context", {})
        if not isinstance(context, dict):
            raise InputError(f"{where}: 'context' must be a JSON object")
        expect = item.get("expect")
        if expect not in (None, "allow", "deny"):
            raise InputError(f'{where}: \'expect\' must be "allow" or "deny"')
        now = item.get("now")
        try:
            when = datetime.fromisoformat(now) if isinstance(now, str) else None
        except ValueError:
            raise InputError(f"{where}: 'now' must be an ISO-8601 timestamp such as 2026-12-31T23:00:00Z") from None
        if now is not None and when is None:
            raise InputError(f"{where}: 'now' must be an ISO-8601 timestamp string")
        requests.append(
            BatchRequest(
                number,
                str(item["id"]) if "id" in item else None,
                item["subject"],
                item["action"],
                item["resource"],
                context,
                when,
                None if expect is None else expect == "allow",
            )
        )
    return requests


def _decision_event(decision: Decision, context: dict[str, Any], tenant: str | None) -> AuditEvent:
    """The decision as an audit event; with the tenant whose view decided it, so it can be checked again."""
    details = {**decision.as_dict(), "context": context}
    if tenant is not None:
        details["tenant"] = tenant
    return AuditEvent(
        event_type="authz.decision",
        user_id=decision.subject,
        resource=decision.resource,
        action=decision.action,
        result=AuditResult.SUCCESS if decision.allowed else AuditResult.FAILURE,
        details=details,
    )


def _now_option(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"--now {value!r} must be an ISO-8601 timestamp such as 2026-12-31T23:00:00Z") from None


@cli.command("check")
@click.argument("request", nargs=-1)
@click.option(
    "--ctx",
    "ctx_pairs",
    multiple=True,
    metavar="KEY=VALUE",
    help="Context attribute; repeatable. VALUE is JSON or text.",
)
@click.option("--explain", is_flag=True, help="Show every rule considered and why it applied or not.")
@click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON.")
@click.option("--now", "now_text", default=None, help="Evaluate as of this ISO-8601 time instead of now.")
@click.option(
    "--batch",
    "batch_file",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    default=None,
    help="Decide every request in a JSONL file.",
)
@click.option("--audit/--no-audit", default=True, show_default=True, help="Record decisions in the audit trail.")
@click.option("--tenant", default=None, help="Decide with only this tenant's rows and the shared ones.")
@pass_app
@click.pass_context
def check(
    ctx: click.Context,
    app: App,
    request: tuple[str, ...],
    ctx_pairs: tuple[str, ...],
    explain: bool,
    as_json: bool,
    now_text: str | None,
    batch_file: Path | None,
    audit: bool,
    tenant: str | None,
) -> None:
    """May SUBJECT do ACTION on RESOURCE? Exit 0 if allowed, 1 if denied.

    With --batch FILE.jsonl, each line is {"subject", "action", "resource",
    "context"?, "now"?, "expect"?, "id"?}. Decisions go to stdout as JSONL, a
    summary to stderr; exit 1 if any decision differs from its "expect".
    """
    if batch_file is not None:
        if request or ctx_pairs or explain:
            raise click.UsageError("--batch takes no SUBJECT ACTION RESOURCE, --ctx or --explain")
        ctx.exit(_run_batch(app, batch_file, audit, tenant))
    if len(request) != 3:
        raise click.UsageError("check needs SUBJECT ACTION RESOURCE (or --batch FILE)")
    subject, action, resource = request
    context = parse_context(ctx_pairs)
    authorizer = Authorizer(app.backend(), tenant=tenant)
    now = _now_option(now_text)
    if explain:
        explanation = authorizer.explain(subject, action, resource, context, now=now)
        decision = explanation.decision
    else:
        decision = authorizer.check(subject, action, resource, context, now=now)
    if audit:
        app.backend().append_audit_event(_decision_event(decision, context, tenant))
    if as_json:
        body = explanation.as_dict() if explain else decision.as_dict()
        click.echo(json.dumps(body, indent=2))
    else:
        verdict = "ALLOW" if decision.allowed else "DENY"
        click.echo(f"{verdict}: {decision.reason}")
        if decision.deciding_rules:
            click.echo(f"deciding rules: {', '.join(decision.deciding_rules)}")
        if explain:
            for line in explanation.trace:
                mark = "applied" if line.applied else "skipped"
                effect = line.effect.value if line.effect else line.kind.value
                via = f" via role {line.role_name}" if line.role_name else ""
                click.echo(f"  {mark:<7} {effect:<10} {line.rule_id}{via}: {line.reason}")
    ctx.exit(0 if decision.allowed else 1)


def _progress(total: int) -> Iterator[None]:
    """A rich progress bar on a terminal; nothing when stderr is a pipe or file."""
    if not sys.stderr.isatty():
        for _ in range(total):
            yield
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("checking", total=total)
        for _ in range(total):
            yield
            progress.advance(task)


def _run_batch(app: App, batch_file: Path, audit: bool, tenant: str | None) -> int:
    if str(batch_file) == "-":
        requests = read_batch(sys.stdin, "stdin")
    else:
        try:
            with batch_file.open(encoding="utf-8") as stream:
                requests = read_batch(stream, str(batch_file))
        except OSError as exc:
            raise InputError(f"cannot read batch file {str(batch_file)!r}: {exc.strerror}") from None
    authorizer = Authorizer(app.backend(), tenant=tenant)
    decisions: list[tuple[BatchRequest, Decision]] = []
    for request, _ in zip(requests, _progress(len(requests)), strict=False):
        try:
            decision = authorizer.check(
                request.subject, request.action, request.resource, request.context, now=request.now
            )
        except InputError as exc:
            raise InputError(f"line {request.line}: {exc}") from None
        decisions.append((request, decision))
    if audit and decisions:
        app.backend().append_audit_events([_decision_event(d, r.context, tenant) for r, d in decisions])
    allowed = mismatched = expected = 0
    for request, decision in decisions:
        allowed += decision.allowed
        row: dict[str, Any] = {"line": request.line, **decision.as_dict()}
        if request.id is not None:
            row = {"id": request.id, **row}
        if request.expect is not None:
            expected += 1
            row["expected"] = "allow" if request.expect else "deny"
            row["match"] = request.expect == decision.allowed
            mismatched += not row["match"]
        click.echo(json.dumps(row))
    summary = f"{len(decisions)} checks: {allowed} allowed, {len(decisions) - allowed} denied"
    if expected:
        summary += f"; {expected - mismatched}/{expected} match expectations"
    click.echo(summary, err=True)
    for request, decision in decisions:
        if request.expect is not None and request.expect != decision.allowed:
            click.echo(
                f"mismatch at line {request.line}: expected {'allow' if request.expect else 'deny'}, "
                f"got {'allow' if decision.allowed else 'deny'} ({decision.reason})",
                err=True,
            )
    return 1 if mismatched else 0
