"""Commands that answer who changed what: diff, show, audit, blame."""

from __future__ import annotations

from typing import Any

import click

from vpa_config.cli import render
from vpa_config.cli.context import AppContext, pass_app
from vpa_config.cli.history_text import messages, show_audit, show_blame, when
from vpa_config.cli.options import json_option


def _echo_files(files: list[Any], renames: dict[str, str]) -> None:
    for change in files:
        renamed = f" (from {renames[change.path]})" if change.path in renames else ""
        click.echo(f"{change.action} {change.path}{renamed}")
        if change.problem is not None:
            click.echo(f"    {change.problem}")
        mask = change.mask()
        for key in change.keys:
            click.echo("  " + render.key_change_line(key, mask))


def _split_diff_args(args: tuple[str, ...], store: Any) -> tuple[list[str], str | None]:
    """REV [REV2] [FILE]: a trailing argument that names no revision is the file."""
    from vpa_config.errors import RevisionNotFoundError

    revs = list(args)
    file = None
    if revs and len(revs) == 3:
        file = revs.pop()
    elif revs:
        try:
            store.repo.resolve(revs[-1])
        except RevisionNotFoundError:
            file = revs.pop()
    if len(revs) > 2:
        raise click.UsageError("expected at most two revisions and a file")
    return revs, file


@click.command("diff")
@click.argument("args", nargs=-1, metavar="[REV [REV2]] [FILE]")
@click.option("--unified", is_flag=True, help="The line diff instead (secret values masked).")
@json_option
@pass_app
def diff_cmd(app: AppContext, args: tuple[str, ...], unified: bool, as_json: bool) -> int:
    """Key-level diff: keys added, removed and changed, with old and new values.

    No revision: the working files against HEAD (hand edits). One revision:
    the working files against REV. Two: REV to REV2. A last argument that is
    not a revision limits the diff to that FILE. Secret values show as
    changed, never in clear.

    A file whose text does not parse has no key-level diff: it is listed as
    unparsable with the line and error of the parse, which also goes to
    stderr, and the exit code is 1 (--unified still shows its lines, exit 0).
    """
    from vpa_config.errors import NotFoundError

    if unified and as_json:
        raise click.UsageError(
            "--unified and --json cannot be combined: --unified prints git's line "
            "diff, --json the key-level diff"
        )
    store = app.store()
    revs, file = _split_diff_args(args, store)
    old = revs[0] if revs else None
    new = revs[1] if len(revs) > 1 else None
    try:
        result = store.diff(old, new, file)
    except NotFoundError as exc:
        if file is None or len(args) == 3:
            raise
        # The last argument was taken as a file because no revision has its name.
        detail = str(exc).partition(": ")[2]
        raise NotFoundError(f"{file}: no such revision, and {detail}") from None
    if unified:
        click.echo(result.unified(), nl=False)
        return 0
    if as_json:
        render.echo_json(result.to_dict())
    elif not result.files:
        click.echo("no differences")
    else:
        _echo_files(result.files, result.renames)
    return _unparsable_exit(result.files)


def _unparsable_exit(files: list[Any]) -> int:
    """1, with each parse error on stderr, when some file had no key-level diff."""
    problems = [change.problem for change in files if change.problem is not None]
    for problem in problems:
        click.echo(
            f"vpa-config: {problem} (no key-level diff; diff --unified shows "
            "its lines)",
            err=True,
        )
    return 1 if problems else 0


@click.command("show")
@click.argument("rev", default="HEAD")
@json_option
@pass_app
def show_cmd(app: AppContext, rev: str, as_json: bool) -> int:
    """One revision: author, tool, time, reason, kind, source, trailers, changes."""
    shown = app.store().show(rev)
    message = messages(app, shown)
    if as_json:
        render.echo_json(message.fields(shown.to_dict()))
        return 0
    who = shown.who
    click.echo(f"revision {who.revision}")
    click.echo(f"author   {who.author}")
    if who.tool:
        click.echo(f"tool     {who.tool}")
    click.echo(f"time     {when(who.time)}")
    click.echo(f"kind     {who.kind}  (source {who.source})")
    click.echo(f"subject  {message.text(who.subject)}")
    if who.reason:
        lines = message.text(who.reason).rstrip("\n").split("\n")
        click.echo("reason   " + ("\n" + " " * len("reason   ")).join(lines))
    for key, value in message.trailers(shown.trailers):
        click.echo(f"    {key}: {value}")
    _echo_files(shown.diff.files, shown.diff.renames)
    return 0


@click.command("audit")
@click.argument("file")
@click.argument("key")
@json_option
@pass_app
def audit_cmd(app: AppContext, file: str, key: str, as_json: bool) -> int:
    """Every revision that changed KEY of FILE, newest first.

    Each with its time, author, tool, reason, and the value before and after
    (secret values redacted). Follows keys inside lists, keys that came and
    went, files removed and added back, and files renamed (a
    Vpa-Renamed-From trailer). With --json, one JSON object a line. A KEY
    no revision of FILE ever had is not found (exit 5).
    """
    return show_audit(app, file, key, as_json)


@click.command("blame")
@click.argument("file")
@json_option
@pass_app
def blame_cmd(app: AppContext, file: str, as_json: bool) -> int:
    """For each key of FILE, the revision, author and time of its last change."""
    return show_blame(app, file, as_json)
