"""What ``restore`` and ``undo`` do and print: for their click commands and fast.py."""

from __future__ import annotations

from vpa_config.cli import render
from vpa_config.cli.context import AppContext


def restore_files(
    app: AppContext,
    rev: str,
    files: tuple[str, ...] = (),
    force: bool = False,
    hand_edits: str = "refuse",
    reason: str = "",
    actor: str | None = None,
    dry_run: bool = False,
    as_json: bool = False,
) -> int:
    """Bring ``files`` (default: every config file) back as they were at ``rev``."""
    result = app.store().restore(
        rev, files, force=force, hand_edits=hand_edits, actor=actor, reason=reason,
        dry_run=dry_run,
    )
    return render.change_result(result, as_json)


def undo_last(
    app: AppContext,
    hand_edits: str = "refuse",
    reason: str = "",
    actor: str | None = None,
    dry_run: bool = False,
    as_json: bool = False,
) -> int:
    """Restore the state before the last change, as a new revision."""
    result = app.store().undo(
        actor=actor, reason=reason, dry_run=dry_run, hand_edits=hand_edits
    )
    return render.change_result(result, as_json)
