"""Options several commands share."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def change_options(func: F) -> F:
    """``--reason/-m``, ``--actor`` and ``--dry-run``, for every change."""
    func = click.option(
        "--dry-run",
        is_flag=True,
        help="Show the key-level change and the verdict; write nothing.",
    )(func)
    func = click.option(
        "--actor",
        # Not envvar=: vpa_config.identity reads VPA_CONFIG_ACTOR itself, so the
        # audit trail records where the actor came from.
        help="Who makes the change, 'Name <email>'.  [env: VPA_CONFIG_ACTOR]",
    )(func)
    func = click.option(
        "--reason", "-m", default="", help="Why: recorded in the commit message."
    )(func)
    return json_option(func)


def json_option(func: F) -> F:
    """``--json``: machine-readable output on stdout."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(func)


def read_source(path: Path, param_hint: str) -> bytes:
    """The bytes of a file named on the command line (``import SRC``, ``schema add``).

    A missing file is "not found" (exit 5); any other read error stays a bad
    parameter (exit 2), in click's words.
    """
    from vpa_config.errors import NotFoundError

    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"{path}: no such file") from None
    except OSError as exc:
        raise click.BadParameter(
            f"cannot read {path}: {exc.strerror}", param_hint=param_hint
        ) from None
