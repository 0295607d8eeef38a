"""Commands that read: get, status, log."""

from __future__ import annotations

import time
from typing import Any

import click

from vpa_config.cli import render
from vpa_config.cli.context import AppContext, pass_app
from vpa_config.cli.options import json_option


@click.command("get")
@click.argument("file")
@click.argument("key", required=False)
@click.option("--rev", help="Read at this revision (hash, HEAD~N, branch, tag).")
@click.option(
    "--at", "at_time",
    help="Read as it was at this time (ISO 8601, '2h ago', 'yesterday' = 00:00 "
    "UTC); also names the revision it came from.",
)
@json_option
@pass_app
def get_cmd(
    app: AppContext,
    file: str,
    key: str | None,
    rev: str | None,
    at_time: str | None,
    as_json: bool,
) -> int:
    """Print FILE as committed, or the value of KEY in it."""
    store = app.store()
    if at_time is not None:
        return _get_at(store, file, key, rev, at_time, as_json)
    if key is None and not as_json:
        # color=True: click would take escape sequences out of a pipe's copy,
        # and a script reading its configuration must get what is stored.
        click.echo(store.read_bytes(file, rev).decode("utf-8", "replace"), nl=False,
                   color=True)
        return 0
    value = store.get(file, key, rev)
    if as_json:
        render.echo_json(value)
    elif isinstance(value, (dict, list)):
        from vpa_config.documents import dump_document

        click.echo(dump_document("value.yaml", value), nl=False, color=True)
    else:
        click.echo(render.show_value(value), color=True)
    return 0


def _revisions_scrubbed(store: Any, data: dict[str, Any]) -> dict[str, Any]:
    """``get --at --json``: the value as stored, the revisions' messages scrubbed."""
    from vpa_config.keyindex import secret_values_of
    from vpa_config.masking import Messages

    shown = Messages(lambda: secret_values_of(store.repo))
    for name in ("revision", "changed_in"):
        if data.get(name):
            shown.fields(data[name])
    return data


def _get_at(
    store: Any, file: str, key: str | None, rev: str | None, at_time: str, as_json: bool
) -> int:
    from vpa_config.timeparse import parse_time

    if rev is not None:
        raise click.UsageError("--rev and --at exclude each other")
    found = store.value_at(file, key, parse_time(at_time))
    if as_json:
        render.echo_json(_revisions_scrubbed(store, found.to_dict()))
        return 0
    value = found.value
    if isinstance(value, (dict, list)):
        from vpa_config.documents import dump_document

        click.echo(dump_document("value.yaml", value), nl=False, color=True)
    else:
        click.echo(render.show_value(value), color=True)
    who = found.set_by or found.who
    click.echo(
        f"# from revision {who.revision[:12]} ({time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(who.time))}Z, "
        f"{who.by()}); current at {found.to_dict()['at']}: {found.who.revision[:12]}",
        err=True,
    )
    return 0


@click.command("status")
@json_option
@pass_app
def status_cmd(app: AppContext, as_json: bool) -> int:
    """Show the revision, whether the files are clean, and any hand edits."""
    status = app.store().status()
    if as_json:
        render.echo_json({
            "store": str(status.root),
            "revision": status.revision,
            "clean": status.clean,
            "lock_holder": status.lock_holder,
            "hand_edits": [
                {
                    "file": edit.path,
                    "state": edit.state,
                    "valid": edit.valid,
                    "problems": [p.to_dict() for p in edit.problems],
                }
                for edit in status.hand_edits
            ],
        })
        return 0
    click.echo(f"store {status.root}")
    click.echo(f"revision {status.revision or '(none)'}")
    if status.lock_holder:
        from vpa_config.lock import describe_holder

        click.echo(f"locked by {describe_holder(status.lock_holder)}")
    if status.clean:
        click.echo("clean: the files are exactly the current revision")
        return 0
    click.echo("hand edits (not committed):")
    for edit in status.hand_edits:
        count = len(edit.problems)
        verdict = "valid" if edit.valid else (
            f"INVALID ({count} problem{'' if count == 1 else 's'})"
        )
        click.echo(f"  {edit.state:8} {edit.path}  {verdict}")
        for problem in edit.problems:
            click.echo(f"      {problem}")
    for line in _hints(status.hand_edits):
        click.echo(line)
    return 0


def _hints(edits: list[Any]) -> list[str]:
    """What to run next: commit the valid edits, and undo or fix the others."""
    valid = [edit.path for edit in edits if edit.valid]
    if len(valid) == len(edits):
        return ['run "vpa-config commit -m REASON" to commit them']
    lines = []
    if valid:
        lines.append(
            f'run "vpa-config commit {" ".join(valid)} -m REASON" to commit the '
            "valid ones (a plain commit -m commits all or none)"
        )
    from vpa_config.documents import SUFFIXES

    at_head = [e.path for e in edits if not e.valid and e.state != "added"]
    added = [e.path for e in edits if not e.valid and e.state == "added"]
    new = [name for name in added if name.lower().endswith(SUFFIXES)]
    other = [name for name in added if name not in new]
    if at_head:
        lines.append(
            "fix the invalid ones, or put back HEAD's with "
            f'"vpa-config restore HEAD {" ".join(at_head)} --discard-edits"'
        )
    if new:
        lines.append(
            f"{' '.join(new)}: not in the store: delete {_them(new)} from the "
            f'folder, or fix {_them(new)} and run "vpa-config commit '
            f'{" ".join(new)} -m REASON" to add {_them(new)}'
        )
    if other:
        lines.append(
            f"{' '.join(other)}: not a config file (a store holds only "
            f"{', '.join(SUFFIXES)} files): move {_them(other)} out of the store's "
            "folder"
        )
    return lines


def _them(names: list[str]) -> str:
    return "it" if len(names) == 1 else "them"


@click.command("log")
@click.argument("file", required=False)
@click.option("-n", "--max-count", "limit", type=click.IntRange(min=1), help="Show at most N revisions.")
@click.option("--author", help="Only revisions whose author contains this text.")
@click.option("--since", help="Only revisions at or after this time (ISO 8601, '2h ago', 'yesterday').")
@click.option("--until", help="Only revisions at or before this time.")
@click.option("--kind", help="Only this kind of change (set, unset, import, rm, edit, restore, undo, ...).")
@click.option("--key", "key_spec", metavar="FILE:KEY", help="Only revisions that changed this key.")
@json_option
@pass_app
def log_cmd(
    app: AppContext,
    file: str | None,
    limit: int | None,
    author: str | None,
    since: str | None,
    until: str | None,
    kind: str | None,
    key_spec: str | None,
    as_json: bool,
) -> int:
    """List revisions, newest first: hash, time, actor, reason, kind, files.

    With --json, one JSON object a line.
    """
    from vpa_config.cli.history_text import show_log

    return show_log(app, file, limit, author, since, until, kind, key_spec, as_json)
