"""``vpa-config edit``: the validate-on-save loop, and an edit is never lost."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import click

from vpa_config.cli import render
from vpa_config.cli.context import AppContext, pass_app
from vpa_config.cli.options import change_options


@click.command("edit")
@click.argument("file")
@change_options
@pass_app
def edit_cmd(
    app: AppContext,
    file: str,
    reason: str,
    actor: str | None,
    dry_run: bool,
    as_json: bool,
) -> int:
    """Open FILE in $VISUAL or $EDITOR; validate on save; then commit.

    If the edit is invalid, every error is shown and you choose: edit again
    (your text is kept), discard it, or keep the draft in a file whose path is
    printed. With no terminal to ask on (stdin is not one), the draft is kept
    without asking. A new FILE starts empty; a FILE with uncommitted hand
    edits is refused before the editor opens (commit or discard them first).
    With neither $VISUAL nor $EDITOR set, the default editor needs a terminal:
    with none on stdin, the edit is refused before any editor starts.
    Exit 0 committed (or no change), 1 refused (the edit is invalid or in
    the way of another change), 2 no editor set and no terminal.
    """
    from vpa_config.errors import RefusedError
    from vpa_config.fsutil import clean_name

    store = app.store()
    name = clean_name(file)
    _refuse_without_an_editor(name)
    try:
        return _edit(store, name, reason, actor, dry_run, as_json)
    except RefusedError as exc:  # before or after the editor: recorded as a set's
        if not dry_run:
            store.record_refused(name, exc, kind="edit", actor=actor, reason=reason)
        raise


def _edit(
    store: Any, name: str, reason: str, actor: str | None, dry_run: bool,
    as_json: bool,
) -> int:
    """The edit loop; a refusal it raises is recorded by the caller."""
    from vpa_config.errors import InvalidConfigError, NotFoundError

    # The editor would show HEAD's text, not the hand-edited file: refused
    # before it opens, as the commit would be, so that no editing is lost.
    store.refuse_hand_edits([name])
    _refuse_a_name_no_content_passes(store, name)
    try:
        base: bytes | None = store.read_bytes(name)
    except NotFoundError:
        base = None
    text = base.decode("utf-8", "replace") if base is not None else ""
    original = text

    while True:
        edited = _run_editor(store, name, text, text != original)
        if edited is None or edited == original:
            click.echo("no change; nothing committed")
            return 0
        text = edited
        problems = store.check(name, text.encode())
        recorded = False  # whether the refusal is in the audit trail already
        if not problems:
            committed = _commit(
                store, name, text, base, actor, reason, dry_run, as_json
            )
            if isinstance(committed, int):
                return committed
            problems, recorded = committed, True
        count = len(problems)
        click.echo(
            f"{name}: the edit is invalid ({count} problem{'' if count == 1 else 's'}):",
            err=True,
        )
        for problem in problems:
            click.echo(f"  {problem}", err=True)
        choice = _ask()
        if choice == "e":
            continue
        if choice == "d":
            outcome = "edit discarded; nothing written"
        else:
            draft = _keep_draft(store.repo.controldir, name, text)
            asked = "" if choice == "k" else " (no terminal to ask on)"
            outcome = f"draft kept in {draft}; nothing committed{asked}"
        if not (recorded or dry_run):  # as a refused set is: who, file, keys
            note = outcome[:1].upper() + outcome[1:]
            refusal = InvalidConfigError(problems, note=note)
            store.record_refused(
                name, refusal, kind="edit", actor=actor, reason=reason
            )
        return _refused(problems, outcome, as_json)


def _refuse_a_name_no_content_passes(store: Any, name: str) -> None:
    """Refuse, before the editor opens, a file whose name alone is refused.

    A name that is no config file's (``notes.txt``) fails whatever is
    written in it; a config file no rule covers is still edited, since the
    text may name its schema with a ``$schema`` key.
    """
    from vpa_config.errors import InvalidConfigError

    problems = [p for p in store.check(name, b"") if p.rule == "file-type"]
    if problems:
        raise InvalidConfigError(problems)


def _refused(problems: list[Any], outcome: str, as_json: bool) -> int:
    """End an invalid edit: what became of it, and with --json the error document."""
    from vpa_config.cli import echo_json_error
    from vpa_config.errors import InvalidConfigError

    click.echo(outcome, err=True)
    refusal = InvalidConfigError(problems)
    if as_json:
        echo_json_error(refusal, f"the edit is invalid; {outcome}")
    return refusal.exit_code


def _commit(
    store: Any,
    name: str,
    text: str,
    base: bytes | None,
    actor: str | None,
    reason: str,
    dry_run: bool,
    as_json: bool,
) -> int | list[Any]:
    """Commit the edit: an exit code, or the problems of a refused edit.

    ``base`` is what the file held when the editor opened (None: no file): a
    change committed to it meanwhile refuses the edit rather than be undone.
    Any other refusal (that conflict, hand edits in the way, the store locked)
    keeps the text as a draft before the error is shown: an edit is never lost.
    """
    from vpa_config.errors import InvalidConfigError, VpaConfigError

    try:
        result = store.import_file(
            name, text.encode(), actor=actor, reason=reason, dry_run=dry_run,
            kind="edit", expect=base,
        )
    except InvalidConfigError as exc:
        return list(exc.problems)
    except VpaConfigError as exc:
        draft = _keep_draft(store.repo.controldir, name, text)
        click.echo(f"vpa-config: {exc}", err=True)
        click.echo(f"draft kept in {draft}; nothing committed", err=True)
        return exc.exit_code
    return render.change_result(result, as_json)


def _run_editor(store: Any, name: str, text: str, is_draft: bool) -> str | None:
    """The edited text (None: not saved); an editor that fails is a one-line error.

    When ``text`` is an earlier round's edit, it is kept as a draft first.
    """
    from vpa_config.errors import RefusedError

    try:
        return click.edit(text, extension=Path(name).suffix or ".txt",
                          require_save=False)
    except click.ClickException as exc:
        kept = ""
        if is_draft:
            kept = f"; draft kept in {_keep_draft(store.repo.controldir, name, text)}"
        raise RefusedError(
            f"{name}: the editor failed ({exc.format_message()}); nothing "
            f"committed{kept}. Set $VISUAL or $EDITOR to an editor that exits with "
            "status 0."
        ) from None


def _refuse_without_an_editor(name: str) -> None:
    """Refuse when the only editor to run is a default one and it has no terminal.

    With neither variable set, click falls back to sensible-editor, vim or nano:
    terminal editors, which without a terminal print escape codes and fail. An
    editor that is set is run as it is, terminal or not (it may need none).
    """
    import sys

    from vpa_config.errors import UsageError

    if any(os.environ.get(key) for key in ("VISUAL", "EDITOR")):
        return
    if sys.platform == "win32" or _stdin_is_a_terminal():
        return  # click's default there is notepad, or the terminal is at hand
    raise UsageError(
        f"{name}: no editor is set ($VISUAL and $EDITOR are empty) and stdin is "
        "not a terminal to run a default one in; nothing written. Set $EDITOR "
        "to an editor to run."
    )


def _ask() -> str:
    """``e``, ``d`` or ``k`` as answered; ``""`` when there is no one to ask.

    Only a terminal is asked: a prompt on a pipe or a closed stdin would wait
    for an answer no one gives, or take a line meant for something else.
    """
    if not _stdin_is_a_terminal():
        return ""
    try:
        return click.prompt(
            "[e]dit again, [d]iscard, or [k]eep the draft in a file?",
            type=click.Choice(["e", "d", "k"]),
            default="e",
            err=True,
        )
    except (click.Abort, EOFError):
        # No answer (end of input): the safe answer keeps the text.
        return "k"


def _stdin_is_a_terminal() -> bool:
    import sys

    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (OSError, ValueError):  # a closed stdin
        return False


def _keep_draft(controldir: Path, name: str, text: str) -> Path:
    """Keep an edit's text in a new file; readable by its owner only (it may hold
    secrets). An existing draft is never overwritten."""
    folder = controldir / "vpa-config-drafts"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    safe = name.replace("/", "__")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    count = 1
    while True:
        path = folder / _draft_name(stamp, safe, count)
        try:
            fd = os.open(path, flags, 0o600)
        except FileExistsError:
            count += 1
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        return path


def _draft_name(stamp: str, safe: str, count: int) -> str:
    """``STAMP-NAME`` for the first draft of a file in a second, then
    ``STAMP.02-NAME``, ``STAMP.03-NAME``: each sorts after the ones before it
    (``-`` sorts before ``.``; the counter has two digits up to 99)."""
    if count == 1:
        return f"{stamp}-{safe}"
    return f"{stamp}.{count:02d}-{safe}"
