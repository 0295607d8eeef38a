"""restore and undo: old states come back as new revisions."""

from __future__ import annotations

import click

from vpa_config.cli.context import AppContext, pass_app
from vpa_config.cli.options import change_options
from vpa_config.cli.restore_text import restore_files, undo_last


def _hand_edit_policy(discard: bool, commit: bool) -> str:
    if discard and commit:
        raise click.UsageError("--discard-edits and --commit-edits exclude each other")
    return "discard" if discard else "commit" if commit else "refuse"


@click.command("restore")
@click.argument("rev")
@click.argument("files", nargs=-1)
@click.option("--force", is_flag=True, help="Commit even if today's schemas refuse the result (recorded).")
@click.option("--discard-edits", is_flag=True, help="Overwrite uncommitted hand edits of these files.")
@click.option("--commit-edits", is_flag=True,
              help="Commit the hand edits of these files first, then restore.")
@change_options
@pass_app
def restore_cmd(
    app: AppContext,
    rev: str,
    files: tuple[str, ...],
    force: bool,
    discard_edits: bool,
    commit_edits: bool,
    reason: str,
    actor: str | None,
    dry_run: bool,
    as_json: bool,
) -> int:
    """Bring FILES (default: every config file) back as they were at REV.

    REV is a full or short hash, HEAD~N, a branch or a tag. The result is
    validated against today's schemas and committed as a NEW revision that
    names REV; history is never rewritten. The store's own settings and
    schemas are restored only when named.
    """
    return restore_files(
        app, rev, files, force, _hand_edit_policy(discard_edits, commit_edits),
        reason, actor, dry_run, as_json,
    )


@click.command("undo")
@click.option("--discard-edits", is_flag=True, help="Overwrite uncommitted hand edits of those files.")
@click.option("--commit-edits", is_flag=True,
              help="Commit the hand edits of those files first, as their own revision.")
@change_options
@pass_app
def undo_cmd(
    app: AppContext,
    discard_edits: bool,
    commit_edits: bool,
    reason: str,
    actor: str | None,
    dry_run: bool,
    as_json: bool,
) -> int:
    """Restore the state before the last change, as a new revision."""
    return undo_last(
        app, _hand_edit_policy(discard_edits, commit_edits), reason, actor, dry_run,
        as_json,
    )
