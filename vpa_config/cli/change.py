"""Commands that change the store: init, set, unset, import, rm, commit."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from vpa_config.cli import render
from vpa_config.cli.context import AppContext, pass_app
from vpa_config.cli.options import change_options, read_source


@click.command("init")
@click.option("--example", is_flag=True, help="Seed the VPA assistant's example configuration.")
@click.option("--actor", help="Who creates the store.  [env: VPA_CONFIG_ACTOR]")
@click.option("--reason", "-m", default="", help="Why: recorded in the first commit.")
@pass_app
def init_cmd(app: AppContext, example: bool, actor: str | None, reason: str) -> int:
    """Create a store: a folder of config files that is also a git repository.

    The store's settings (.vpa-config/settings.yaml) are committed as the first
    revision; with --example, the VPA assistant's example files too.
    """
    from vpa_config.store import ConfigStore, default_store_path

    path = app.store_path or default_store_path()
    store, result = ConfigStore.init(
        path, example=example, actor=actor, reason=reason, source="cli"
    )
    store.close()
    click.echo(f"created store {path}")
    click.echo(f"committed {result.revision}")
    return 0


@click.command("set")
@click.argument("file")
@click.argument("key")
@click.argument("value")
@click.option("--string", "as_string", is_flag=True, help="Keep VALUE as text, do not read it as YAML.")
@change_options
@pass_app
def set_cmd(
    app: AppContext,
    file: str,
    key: str,
    value: str,
    as_string: bool,
    reason: str,
    actor: str | None,
    dry_run: bool,
    as_json: bool,
) -> int:
    """Set KEY of FILE to VALUE.

    VALUE is read as a YAML 1.2 scalar or flow value: 0.4 is a number, true a
    boolean, [a, b] a list, {a: 1} a mapping, and no or 0755 stay as they look
    (text, decimal). --string keeps it as text, and so is a VALUE with a line
    break unless it reads as a list or mapping. KEY is dotted
    (llm.temperature, plugins.0.name; escape a literal dot as \\.) or a JSON
    Pointer (/llm/temperature).
    """
    from vpa_config.cli.change_text import set_value

    return set_value(app, file, key, value, as_string, reason, actor, dry_run, as_json)


@click.command("unset")
@click.argument("file")
@click.argument("key")
@change_options
@pass_app
def unset_cmd(
    app: AppContext,
    file: str,
    key: str,
    reason: str,
    actor: str | None,
    dry_run: bool,
    as_json: bool,
) -> int:
    """Remove KEY (a key or a list item) from FILE."""
    result = app.store().unset(file, key, actor=actor, reason=reason, dry_run=dry_run)
    return render.change_result(result, as_json)


@click.command("import")
@click.argument("src", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--as", "as_name", help="The file's name in the store (default: SRC's name).")
@change_options
@pass_app
def import_cmd(
    app: AppContext,
    src: Path,
    as_name: str | None,
    reason: str,
    actor: str | None,
    dry_run: bool,
    as_json: bool,
) -> int:
    """Add SRC to the store, or replace the file of that name (- reads stdin).

    SRC is a path on disk, relative to the current directory. A store file
    named by its path, with --as NEW, is copied: the original stays, the
    commit records Vpa-Copied-From, and NEW's history (audit, blame)
    continues from the original's. Problems in the new content are located
    in SRC (its name, its lines).
    """
    from vpa_config.errors import InvalidConfigError

    stdin = str(src) == "-"
    if stdin:
        if not as_name:
            raise click.UsageError("reading stdin (-) needs --as NAME")
        content = sys.stdin.buffer.read()
    else:
        content = _read_src(app, src)
    name = as_name or src.name
    subject = f"import {src.name} as {name}" if as_name and as_name != src.name else None
    source = "<stdin>" if stdin else str(src)
    store = app.store()
    try:
        result = store.import_file(
            name, content, actor=actor, reason=reason, dry_run=dry_run,
            subject=subject, copied_from=None if stdin else _store_name(store, src),
        )
    except InvalidConfigError as exc:
        if source == name:
            raise
        note = f"Nothing was written (importing {source} as {name})."
        raise InvalidConfigError(_in_source(exc.problems, name, source), note) from None
    if result.problems and source != name:
        result = result.copy_with(problems=_in_source(result.problems, name, source))
    return render.change_result(result, as_json)


def _in_source(problems: list[Any], name: str, source: str) -> list[Any]:
    """The problems of the imported content named after where its lines are.

    A file type the store does not take is a fault of NAME, not of SRC's lines.
    """
    return [
        problem.copy_with(file=source)
        if problem.file == name and problem.rule != "file-type"
        else problem
        for problem in problems
    ]


def _read_src(app: AppContext, src: Path) -> bytes:
    """SRC's bytes; a relative SRC missing here but in the store says where that is."""
    from vpa_config.errors import NotFoundError

    try:
        return read_source(src, "SRC")
    except NotFoundError:
        if src.is_absolute():
            raise
        in_store = app.store().root / src
        if not in_store.is_file():
            raise
        raise NotFoundError(
            f"{src}: no such file (SRC is a path from the current directory; "
            f"the store's {src.as_posix()} is {in_store})"
        ) from None


def _store_name(store: object, src: Path) -> str | None:
    """SRC's name inside the store when SRC is one of the store's own files."""
    root = getattr(store, "root")
    try:
        rel = src.resolve().relative_to(root)
    except ValueError:
        return None
    name = rel.as_posix()
    tree = store.repo.files(store.repo.head())  # type: ignore[attr-defined]
    return name if name in tree else None


@click.command("rm")
@click.argument("file")
@change_options
@pass_app
def rm_cmd(
    app: AppContext, file: str, reason: str, actor: str | None, dry_run: bool, as_json: bool
) -> int:
    """Remove FILE from the store (its history stays)."""
    result = app.store().remove(file, actor=actor, reason=reason, dry_run=dry_run)
    return render.change_result(result, as_json)


@click.command("commit")
@click.argument("files", nargs=-1)
@change_options
@pass_app
def commit_cmd(
    app: AppContext,
    files: tuple[str, ...],
    reason: str,
    actor: str | None,
    dry_run: bool,
    as_json: bool,
) -> int:
    """Validate the edits made to the store's files directly, and commit them.

    Without FILES, every edit or none: one invalid file refuses them all (the
    error names the valid ones, to commit alone). With FILES, only the edits
    of those files, each of which must have one (a FILE that is exactly
    HEAD's is refused, exit 1); the others stay uncommitted. Invalid edits
    are refused with every error and left in place, untouched.
    """
    from vpa_config.errors import InvalidConfigError

    store = app.store()
    try:
        result = store.adopt(files, actor=actor, reason=reason, dry_run=dry_run)
    except InvalidConfigError as exc:
        if not files:
            _name_the_valid_edits(store, exc)
        raise
    if not result.changed and not as_json:
        click.echo("no hand edits; nothing committed")
        return 0
    return render.change_result(result, as_json)


def _name_the_valid_edits(store: object, exc: Exception) -> None:
    """Add to a refused ``commit -m`` the command that commits its valid edits."""
    edits = store.status().hand_edits  # type: ignore[attr-defined]
    valid = [edit.path for edit in edits if edit.valid]
    if valid:
        exc.note += (  # type: ignore[attr-defined]
            f' Commit the valid ones alone with "vpa-config commit '
            f'{" ".join(valid)} -m REASON".'
        )
