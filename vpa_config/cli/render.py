"""Turning results into text for people and JSON for programs (stdout only)."""

from __future__ import annotations

import json
from typing import Any

import click

# explain.py is plain Python; validation.py (which re-exports the name) is not
# needed by the read commands that print through here.
from vpa_config.explain import REDACTED


def echo_json(data: Any) -> None:
    """One JSON document on stdout."""
    click.echo(json.dumps(data, ensure_ascii=False, default=str, indent=2))


def echo_json_line(data: Any) -> None:
    """One JSON object on one line (for streams such as ``log --json``)."""
    click.echo(json.dumps(data, ensure_ascii=False, default=str))


def show_value(value: Any) -> str:
    """A value as text: scalars bare, structures as flow YAML-ish JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def change_result(result: Any, as_json: bool) -> int:
    """Print a change's outcome; return the exit code."""
    if as_json:
        echo_json(result.to_dict())
        return 0 if result.valid or result.forced else 1
    if not result.changed:
        click.echo("no change; nothing committed")
        return 0
    for change in result.files:
        click.echo(f"{change.action} {change.path}")
        if change.action != "modified":
            continue  # a whole file added or removed: its keys would be the file
        for key in change.keys:
            secret = change.is_secret(key)
            click.echo("  " + key_change_line(key, secret))
    for problem in result.problems:
        click.echo(f"  invalid: {problem}", err=True)
    if result.dry_run:
        verdict = "valid" if result.valid else "INVALID, would be refused"
        click.echo(f"dry run: {verdict}; nothing written")
        return 0 if result.valid else 1
    forced = " (forced past validation)" if result.forced and result.problems else ""
    click.echo(f"committed {result.revision}{forced}")
    return 0


def key_change_line(key: Any, secret: bool) -> str:
    """``path: old -> new`` with secret values hidden."""
    def val(value: Any) -> str:
        return REDACTED if secret else _short(show_value(value))

    if key.kind == "added":
        return f"+ {key.dotted}: {val(key.new)}"
    if key.kind == "removed":
        return f"- {key.dotted}: {val(key.old)}"
    return f"~ {key.dotted}: {val(key.old)} -> {val(key.new)}"


def _short(text: str, limit: int = 120) -> str:
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def problems(items: list[Any], as_json: bool) -> None:
    """Validation problems, one a line."""
    if as_json:
        echo_json([item.to_dict() for item in items])
        return
    for item in items:
        click.echo(str(item))
