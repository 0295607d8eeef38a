"""``vpa-config events``: read the audit trail of user actions."""

from __future__ import annotations

from typing import Any

import click

from vpa_config.cli import render
from vpa_config.cli.context import AppContext, pass_app
from vpa_config.cli.options import json_option


@click.command("events")
@click.option(
    "--since", help="Only records at or after this time (ISO 8601, '2h ago')."
)
@click.option("--until", help="Only records at or before this time.")
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    help="Only this kind of action (set, restore, history_rewritten...) or "
    "outcome (committed, refused, failed); repeatable.",
)
@click.option("--actor", help="Only records whose actor contains this text.")
@click.option("--limit", "-n", type=click.IntRange(min=1), help="Only the newest N.")
@json_option
@pass_app
def events_cmd(
    app: AppContext,
    since: str | None,
    until: str | None,
    kinds: tuple[str, ...],
    actor: str | None,
    limit: int | None,
    as_json: bool,
) -> int:
    """List the audit trail's records, oldest first.

    One record per user action on the store: what, when, who, from where,
    the files and keys, the outcome and the revisions before and after.
    Refused and failed changes are recorded too. With --json, one JSON
    object a line, exactly as recorded. "vpa-config verify" checks the
    trail's hash chain.
    """
    from vpa_config import audittrail
    from vpa_config.timeparse import parse_time

    low = parse_time(since) if since else None
    high = parse_time(until) if until else None
    records = list(audittrail.records(app.store()))
    wanted = [
        record for record in records if _matches(record, low, high, kinds, actor)
    ]
    _note_unknown_kinds(kinds, records)
    if limit is not None:
        wanted = wanted[-limit:]
    for record in wanted:
        if as_json:
            render.echo_json_line(record)
        else:
            click.echo(_line(record))
    return 0


def _note_unknown_kinds(kinds: tuple[str, ...], records: list[dict[str, Any]]) -> None:
    """Say on stderr which --kind names no record of the trail has, and what does."""
    seen = {str(record.get(field)) for record in records
            for field in ("kind", "outcome") if record.get(field)}
    unknown = [kind for kind in kinds if kind not in seen]
    if unknown:
        names = ", ".join(repr(kind) for kind in unknown)
        click.echo(
            f"vpa-config: no record has the kind or outcome {names}; the trail "
            f"has: {', '.join(sorted(seen)) or 'no records'}",
            err=True,
        )


def _epoch(stamp: Any) -> float | None:
    from datetime import datetime

    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _matches(
    record: dict[str, Any],
    low: int | None,
    high: int | None,
    kinds: tuple[str, ...],
    actor: str | None,
) -> bool:
    when = _epoch(record.get("time"))
    if low is not None and (when is None or when < low):
        return False
    if high is not None and (when is None or when > high + 1):
        return False
    if kinds and not {record.get("kind"), record.get("outcome")} & set(kinds):
        return False
    return not (actor and actor.lower() not in str(record.get("actor") or "").lower())


def _line(record: dict[str, Any]) -> str:
    when = str(record.get("time", "?"))[:19].replace("T", " ")
    before = (record.get("revision_before") or "-")[:12]
    after = (record.get("revision_after") or "-")[:12]
    revisions = before if before == after else f"{before} -> {after}"
    who = record.get("actor") or "-"
    text = (
        f"{when}  {record.get('outcome', '?'):<9} {record.get('kind', '?'):<8} "
        f"{revisions}  {who}  {record.get('subject', '')}"
    )
    if record.get("reason"):
        text += f"  ({record['reason']})"
    if record.get("recovered"):
        text += f"  [recorded by recovery, pid {record.get('recovered_by_pid')}]"
    if record.get("error"):
        text += "\n    " + str(record["error"]).splitlines()[0]
    return text
