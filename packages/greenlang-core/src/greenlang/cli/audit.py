"""``greenlang audit``: verify, export and read the trail."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from greenlang.audit.chain import ChainHead, verify_chain
from greenlang.audit.events import AuditEvent
from greenlang.audit.state import verify_policy_state
from greenlang.cli.app import App, cli, pass_app
from greenlang.errors import InputError, VerificationError
from greenlang.jsonvalue import loads_strict
from greenlang.validation import parse


@cli.group("audit")
def audit() -> None:
    """The hash-chained audit trail."""


def _read_export(path: Path) -> Iterator[AuditEvent]:
    try:
        with path.open(encoding="utf-8") as stream:
            for number, line in enumerate(stream, start=1):
                if not line.strip():
                    continue
                try:
                    data = loads_strict(line)
                except json.JSONDecodeError as exc:
                    raise InputError(f"{path} line {number} is not JSON ({exc.msg})") from None
                except ValueError as exc:
                    raise InputError(f"{path} line {number}: {exc}") from None
                yield parse(AuditEvent, data, what=f"{path} line {number}")
    except OSError as exc:
        raise InputError(f"cannot read export {str(path)!r}: {exc.strerror}") from None


@audit.command("verify")
@click.option(
    "--export",
    "export_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Verify an exported JSONL file instead of the store.",
)
@click.option(
    "--head",
    "head_text",
    default=None,
    metavar="SEQ:HASH",
    help="With --export: the chain head you trust, so a cut-off tail is caught too.",
)
@pass_app
def verify(app: App, export_file: Path | None, head_text: str | None) -> None:
    """Walk the whole chain and name the first bad sequence; then check the policy tables against it.

    Exit 1 if the chain is broken, if the store's head differs from --head, or
    if a stored permission, role, policy or assignment differs from what the
    trail says it should be.
    """
    trusted_head = _parse_head(head_text) if head_text else None
    if export_file is not None:
        events = list(_read_export(export_file))
        report = verify_chain(events, trusted_head or _last_head(events))
        if not report.ok:
            raise VerificationError(report.summary())
        click.echo(report.summary())
        return
    backend = app.backend()
    report = backend.verify_audit()
    if not report.ok:
        raise VerificationError(report.summary())
    if trusted_head is not None and report.head != trusted_head:
        stored = f"{report.head.sequence}:{report.head.hash}" if report.head else "empty"
        raise VerificationError(f"the store's chain head is {stored}, not the trusted --head; the trail was rewritten")
    click.echo(report.summary())
    state = verify_policy_state(backend)
    if not state.ok:
        raise VerificationError(state.summary())
    click.echo(state.summary())


def _parse_head(text: str) -> ChainHead:
    sequence, _, digest = text.partition(":")
    if not sequence.isdigit() or not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise InputError("--head must look like SEQUENCE:SHA256HEX, as printed by 'greenlang audit export'")
    return ChainHead(int(sequence), digest)


def _last_head(events: list[AuditEvent]) -> ChainHead | None:
    if not events:
        return None
    last = events[-1]
    return ChainHead(last.sequence or 0, last.provenance_hash or "")


@audit.command("export")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    default=Path("-"),
    show_default=True,
    help="Where to write JSONL.",
)
@pass_app
def export(app: App, output: Path) -> None:
    """Write every event as JSONL, then print the chain head to stderr."""
    backend = app.backend()
    head: ChainHead | None = None
    stream = sys.stdout if str(output) == "-" else output.open("w", encoding="utf-8")
    count = 0
    try:
        with backend.atomic():  # one snapshot: the head printed is the head of what was written
            head = backend.audit_head()
            for event in backend.iter_audit_events():
                stream.write(json.dumps(event.model_dump(mode="json"), sort_keys=True) + "\n")
                count += 1
    finally:
        if stream is not sys.stdout:
            stream.close()
    where = "" if str(output) == "-" else f" to {output}"
    head_text = f"{head.sequence}:{head.hash}" if head else "empty"
    click.echo(f"exported {count} events{where}; chain head {head_text}", err=True)


@audit.command("tail")
@click.option("-n", "count", type=click.IntRange(min=1), default=20, show_default=True, help="How many events.")
@click.option("--json", "as_json", is_flag=True, help="Print JSONL.")
@pass_app
def tail(app: App, count: int, as_json: bool) -> None:
    """Show the most recent events."""
    backend = app.backend()
    head = backend.audit_head()
    start = max(0, (head.sequence if head else 0) - count)
    for event in backend.read_audit_events(after_sequence=start, limit=count):
        if as_json:
            click.echo(json.dumps(event.model_dump(mode="json"), sort_keys=True))
        else:
            who = event.user_id or "-"
            what = " ".join(part for part in (event.action, event.resource) if part)
            click.echo(
                f"{event.sequence:>6}  {event.timestamp.isoformat()}  "
                f"{event.event_type:<20} {event.result.value:<7} {who}  {what}"
            )
