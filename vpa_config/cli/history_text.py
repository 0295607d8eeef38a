"""What ``audit`` and ``blame`` print: shared by their click commands and fast.py.

Plain functions over an :class:`AppContext`, writing through
:func:`render.echo`, so that a command line run without click prints exactly
what the click command prints.
"""

from __future__ import annotations

import time

from vpa_config.cli import render
from vpa_config.cli.context import AppContext

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    from typing import Any


def history_store(app: AppContext) -> Any:
    """The store, for a command that may first index the history (bar on a terminal)."""
    from vpa_config import keyindex

    keyindex.show_progress()
    return app.store()


def messages(app: AppContext, shown: Any = None) -> Any:
    """How revisions' subjects, reasons and trailers print: secrets hidden.

    The values to hide are those the store's history index knows, and those
    the revision ``shown`` (a RevisionShow) changed; asked for only when a
    text is printed (masking.Messages).
    """
    from vpa_config.masking import Messages

    store = app.store()

    def known() -> list[str]:
        from vpa_config.keyindex import secret_values_of

        found = secret_values_of(store.repo)
        return found if shown is None else [*found, *shown.secret_texts()]

    return Messages(known)


def when(seconds: int) -> str:
    """A commit time as ``YYYY-MM-DD HH:MM:SSZ`` (UTC)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds)) + "Z"


def _value(value: Any, entry: Any) -> str:
    """An audited key's old or new value as shown: absent, or secrets hidden."""
    from vpa_config.keyindex import MISSING

    if value is MISSING:
        return "(absent)"
    return render.line_value(entry.shown(value))


def _entry_lines(entry: Any, file: str) -> list[str]:
    """What changed: the key's values, or the sub-keys that changed within it."""
    where = f" ({entry.file})" if entry.file != file else ""
    if entry.change == "unparsable":
        return [f"    unparsable{where}: {_value(entry.old, entry)} -> "
                "(the file's text does not parse)"]
    subs = entry.sub_changes() if entry.change == "changed" else ()
    if not subs or entry.mask is None:
        return [
            f"    {entry.change}{where}: {_value(entry.old, entry)} -> "
            f"{_value(entry.new, entry)}"
        ]
    from vpa_config.keypath import format_dotted

    base = tuple(entry.parts)
    return [
        "    " + render.key_change_line(
            sub, entry.mask, base, format_dotted((*base, *sub.path)) + where
        )
        for sub in subs
    ]


def show_audit(app: AppContext, file: str, key: str, as_json: bool) -> int:
    """Print every revision that changed ``key`` of ``file``; the exit code."""
    entries = history_store(app).audit(file, key)
    if not entries:
        # Every key some revision had was added by one: none is "never had".
        raise _never_had(file, key)
    shown = messages(app)
    if as_json:
        for entry in entries:
            render.echo_json_line(shown.fields(entry.to_dict()))
        return 0
    lines: list[str] = []
    for entry in entries:
        who = entry.who
        lines.append(f"{who.revision[:12]}  {when(who.time)}  {who.by()}")
        lines.extend(_entry_lines(entry, file))
        if who.reason:
            lines.append(f"    reason: {_indented(shown.text(who.reason))}")
    _echo_lines(lines)
    return 0


def _never_had(file: str, key: str) -> Exception:
    from vpa_config.errors import NotFoundError

    return NotFoundError(f"{file}: key {key} not found in any revision")


def _echo_lines(lines: list[str]) -> None:
    """Lines on stdout in a few large writes rather than one (and a flush) each."""
    for start in range(0, len(lines), 500):
        render.echo("\n".join(lines[start : start + 500]))


def show_blame(app: AppContext, file: str, as_json: bool) -> int:
    """Print the last change of each key of ``file``; the exit code."""
    lines = history_store(app).blame(file)
    if as_json:
        shown = messages(app)
        render.echo_json([shown.fields(line.to_dict()) for line in lines])
        return 0
    width = max((len(line.key) for line in lines), default=0)
    out: list[str] = []
    for line in lines:
        who = line.who
        stamp = f"{who.revision[:12]}  {when(who.time)}  {who.by()}" if who else "?"
        out.append(f"{line.key:<{width}}  {stamp}  = {render.line_value(line.shown())}")
    _echo_lines(out)
    return 0


def show_log(
    app: AppContext,
    file: str | None,
    limit: int | None,
    author: str | None = None,
    since: str | None = None,
    until: str | None = None,
    kind: str | None = None,
    key_spec: str | None = None,
    as_json: bool = False,
) -> int:
    """Print revisions newest first, filtered; the exit code."""
    entries = history_store(app).log(
        file,
        limit=limit,
        author=author,
        since=_moment(since),
        until=_moment(until),
        kind=kind,
        key=key_spec,
    )
    if key_spec and not entries:
        _explain_no_key_change(app, key_spec)
    elif kind and not entries:
        render.echo(
            f"vpa-config: no revision of kind {kind!r} matched; each revision's "
            "kind is the first word in brackets in vpa-config log",
            err=True,
        )
    elif author and not entries:
        render.echo(
            f"vpa-config: no revision by an author matching {author!r}; --author "
            "matches part of the name or email shown after the date in "
            "vpa-config log",
            err=True,
        )
    shown = messages(app)
    if as_json:
        for entry in entries:
            render.echo_json_line(shown.fields(entry.to_dict()))
        return 0
    lines: list[str] = []
    for number, entry in enumerate(entries, 1):
        lines.extend(_log_lines(entry, shown))
        if number % 200 == 0:  # a few large writes rather than one per line
            render.echo("\n".join(lines))
            lines = []
    if lines:
        render.echo("\n".join(lines))
    return 0


def _explain_no_key_change(app: AppContext, key_spec: str) -> None:
    """Not found (exit 5) for a key no revision had; else why nothing matched."""
    file, _, key = key_spec.partition(":")
    if not app.store().audit(file, key):
        raise _never_had(file, key)
    render.echo(
        f"vpa-config: no revision that changed {key} of {file} matched the "
        "other filters",
        err=True,
    )


def _moment(text: str | None) -> int | None:
    """``--since`` or ``--until`` in seconds (timeparse is imported only if given)."""
    if not text:
        return None
    from vpa_config.timeparse import parse_time

    return parse_time(text)


def _log_lines(entry: Any, shown: Any) -> list[str]:
    tool = f", tool {entry.tool}" if entry.tool else ""
    lines = [
        f"{entry.revision[:12]}  {when(entry.time)}  {entry.author}",
        f"    {shown.text(entry.subject)}  [{entry.kind}, {entry.source}{tool}]",
    ]
    if entry.reason:
        lines.append(f"    reason: {_indented(shown.text(entry.reason))}")
    lines.append(f"    files: {', '.join(entry.files) or '(none)'}")
    return lines


def _indented(reason: str) -> str:
    """A reason of several lines, its later lines under its first."""
    return reason.rstrip("\n").replace("\n", "\n" + " " * len("    reason: "))
