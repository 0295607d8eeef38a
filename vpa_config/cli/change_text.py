"""What ``set`` does and prints: shared by its click command and fast.py."""

from __future__ import annotations

from vpa_config.cli import render
from vpa_config.cli.context import AppContext


def set_value(
    app: AppContext,
    file: str,
    key: str,
    value: str,
    as_string: bool = False,
    reason: str = "",
    actor: str | None = None,
    dry_run: bool = False,
    as_json: bool = False,
) -> int:
    """Set ``key`` of ``file`` to ``value`` (read as YAML unless ``as_string``)."""
    parsed = value if as_string else _parsed(file, key, value)
    _note_changed_number(value, parsed)
    result = app.store().set(
        file, key, parsed, actor=actor, reason=reason, dry_run=dry_run
    )
    return render.change_result(result, as_json)


def _parsed(file: str, key: str, value: str) -> object:
    """VALUE read as YAML; a bad one is refused naming the file and the key.

    A VALUE with a line break is text, kept exactly, unless it reads as a list
    or a mapping: YAML would fold its lines into one (``a\nb`` as ``a b``)
    and drop the indentation and the line breaks at its ends.
    """
    from vpa_config.documents import NOT_FINITE, parse_value
    from vpa_config.errors import ParseError, ValueSyntaxError

    try:
        parsed = parse_value(value)
    except ParseError as exc:
        if NOT_FINITE in exc.detail:  # valid YAML, but not a value to store
            message = f"{key}: VALUE {value.strip()} {NOT_FINITE}"
            raise ParseError(file, message) from None
        where = f"line {exc.line}, column {exc.column}: " if exc.line else ""
        raise ValueSyntaxError(
            file,
            f"{key}: the VALUE is not valid YAML ({where}"
            f"{exc.detail.removeprefix('invalid YAML: ')}); quote it "
            "for the shell, or pass --string to store it as text",
        ) from None
    if _has_line_break(value) and not isinstance(parsed, (list, dict)):
        return value
    return parsed


def _has_line_break(value: str) -> bool:
    return "\n" in value or "\r" in value


def _note_changed_number(text: str, parsed: object) -> None:
    """Say so when a number will not be written as typed (1.10, 0755, 1e3)."""
    if isinstance(parsed, (int, float)) and not isinstance(parsed, bool):
        if str(parsed) != text.strip():
            render.echo(
                f"note: {text.strip()} is read as the number {parsed}; "
                "pass --string to keep it as text",
                err=True,
            )
