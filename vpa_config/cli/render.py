"""Turning results into text for people and JSON for programs (stdout only)."""

from __future__ import annotations

import json
import sys

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    from typing import Any


def echo(message: str = "", *, nl: bool = True, err: bool = False) -> None:
    """``click.echo``; the same, without importing click, in a process that never did.

    A command line that ``fast.py`` runs has no click loaded: the text goes
    to the stream as click writes it there (escape sequences taken out when
    the stream is not a terminal, flushed each time). ``fast.plan`` leaves to
    click any stream whose encoding click would replace.
    """
    click = sys.modules.get("click")
    if click is not None:
        click.echo(message, nl=nl, err=err)
        return
    stream = sys.stderr if err else sys.stdout
    out = message + "\n" if nl else message
    if out and not stream.isatty():
        out = _strip_escapes(out)
    if out:
        stream.write(out)
    stream.flush()


_ESCAPES: Any = None


def _strip_escapes(text: str) -> str:
    """Remove terminal escape sequences (what click removes from a pipe)."""
    global _ESCAPES
    if "\033" not in text:
        return text
    if _ESCAPES is None:
        import re

        _ESCAPES = re.compile(r"\033\[[0-?]*[ -/]*[@-~]")
    return _ESCAPES.sub("", text)


def echo_json(data: Any) -> None:
    """One JSON document on stdout."""
    echo(json.dumps(data, ensure_ascii=False, default=str, indent=2))


def echo_json_line(data: Any) -> None:
    """One JSON object on one line (for streams such as ``log --json``)."""
    echo(json.dumps(data, ensure_ascii=False, default=str))


def show_value(value: Any) -> str:
    """A value as text: scalars bare, structures as flow YAML-ish JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def change_result(result: Any, as_json: bool) -> int:
    """Print a change's outcome; return the exit code."""
    if as_json:
        echo_json(_subject_scrubbed(result.to_dict()))
        return 0 if result.valid or result.forced else 1
    for name in result.discarded:
        verb = "would discard" if result.dry_run else "discarded"
        echo(f"{verb} the hand edits of {name}")
    if not result.changed:
        echo("no change; nothing committed")
        return 0
    for change in result.files:
        echo(f"{change.action} {change.path}")
        if change.action != "modified":
            continue  # a whole file added or removed: its keys would be the file
        if change.unparsable:
            echo("  " + _unparsable_line(result, change))
            continue
        mask = change.mask()
        for key in change.keys:
            echo("  " + key_change_line(key, mask))
    for problem in result.problems:
        echo(f"  invalid: {problem}", err=True)
    if result.dry_run:
        if result.valid:
            verdict = "valid"
        elif result.forced:
            count = len(result.problems)
            verdict = (f"INVALID, would be committed forced past {count} "
                       f"problem{'' if count == 1 else 's'}")
        else:
            verdict = "INVALID, would be refused"
        echo(f"dry run: {verdict}; nothing written")
        return 0 if result.valid or result.forced else 1
    forced = " (forced past validation)" if result.forced else ""
    echo(f"committed {result.revision}{forced}")
    return 0


def _subject_scrubbed(data: dict[str, Any]) -> dict[str, Any]:
    """A change's JSON form, its subject (an undo's names the change undone) as
    events have it."""
    from vpa_config.masking import scrub_text

    data["subject"] = scrub_text(data["subject"])
    return data


def _unparsable_line(result: Any, change: Any) -> str:
    """What a change of a file that was, or becomes, unparsable did (no key diff)."""
    if "old" in change.unparsable and "new" in change.unparsable:
        return f"~ (document): unparsable at {_rev(result.parent)} and still unparsable"
    if "old" in change.unparsable:
        return f"~ (document): the file was unparsable at {_rev(result.parent)}; it parses now"
    return f"~ (document): the file is unparsable at {_rev(result.revision)}"


def _rev(revision: str | None) -> str:
    return revision[:12] if revision else "the new revision"


def key_change_line(
    key: Any, mask: Any, base: tuple[Any, ...] = (), label: str | None = None
) -> str:
    """``path: old -> new`` with secret values hidden by ``mask`` (masking.py).

    ``base`` is the key path that ``key.path`` is relative to, if any;
    ``label`` what to print for the key instead of its dotted path.
    """
    path = (*base, *key.path)
    label = key.dotted if label is None else label

    def val(value: Any) -> str:
        return _short(line_value(mask.show(value, path)))

    if key.kind == "added":
        return f"+ {label}: {val(key.new)}"
    if key.kind == "removed":
        return f"- {label}: {val(key.old)}"
    return f"~ {label}: {val(key.old)} -> {val(key.new)}"


def line_value(value: Any) -> str:
    """:func:`show_value`, but a string that reads as another type quoted."""
    if isinstance(value, str) and _reads_as_other(value):
        return json.dumps(value, ensure_ascii=False)
    return show_value(value)


def _reads_as_other(text: str) -> bool:
    """Whether a string printed bare would pass for a number, boolean or null.

    Such a string is quoted in a change line (and in audit and blame), so
    that a change of type (``80 -> "8080"``) shows, as does an empty or
    space-padded string.
    """
    global _TYPED
    if not text or text != text.strip():
        return True
    if _TYPED is None:
        import re

        _TYPED = re.compile(
            r"[-+]?(\.?[0-9][0-9_.eE+-]*|\.?inf|\.?nan|0x[0-9a-fA-F]+|0o[0-7]+)"
            r"|true|false|null|yes|no|on|off|~",
            re.IGNORECASE,
        )
    return _TYPED.fullmatch(text) is not None


_TYPED: Any = None


def _short(text: str, limit: int = 120) -> str:
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def problems(items: list[Any], as_json: bool) -> None:
    """Validation problems, one a line."""
    if as_json:
        echo_json([item.to_dict() for item in items])
        return
    for item in items:
        echo(str(item))
