"""Commands that judge: validate, schema add/list/show, verify."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from vpa_config.cli import render
from vpa_config.cli.context import AppContext, pass_app
from vpa_config.cli.options import change_options, json_option, read_source


@click.command("validate")
@click.argument("files", nargs=-1)
@click.option(
    "--schema",
    "schema",
    metavar="SCHEMA",
    help="Validate FILES anywhere against this schema file (or shipped schema name).",
)
@click.option(
    "--staged",
    is_flag=True,
    help="Validate what git would commit (its index), as the store's hook does.",
)
@json_option
@pass_app
def validate_cmd(
    app: AppContext,
    files: tuple[str, ...],
    schema: str | None,
    staged: bool,
    as_json: bool,
) -> int:
    """Validate the store's files (default: all of them), or any FILES with --schema.

    Every problem is shown at once, each with its file, line and column, key
    path (dotted and JSON Pointer), the failing rule and what was expected.
    Secret values never appear. Exit 0 valid, 1 invalid, 2 usage error, 5 a
    FILE does not exist and every file that does is valid (the others are
    still validated; an invalid file makes it 1, whatever is missing).
    """
    if staged and (files or schema):
        raise click.UsageError("--staged takes no FILES and no --schema")
    if schema is not None:
        if not files:
            raise click.UsageError("--schema needs at least one FILE to validate")
        from vpa_config.filecheck import file_verdicts

        verdicts = file_verdicts([Path(name) for name in files], schema)
    elif staged:
        verdicts = app.store().validate(staged=True, index_path=_git_index(app))
    else:
        verdicts = _store_verdicts(app.store(), files)
    return _report(verdicts, as_json)


def _store_verdicts(store: Any, files: Sequence[str]) -> list[Any]:
    """The store files' verdicts, in the order named (default: every file).

    A FILE the store does not have is a verdict of its own ("no such file"),
    so the others are still judged and an invalid one still decides the exit.
    """
    if not files:
        return list(store.validate())
    from vpa_config import fsutil
    from vpa_config.errors import Problem
    from vpa_config.filecheck import MISSING_RULE, FileVerdict

    on_disk = set(fsutil.working_files(store.root))
    names = [fsutil.clean_name(_in_store(store.root, name)) for name in files]
    present = [name for name in names if name in on_disk]
    judged = iter(store.validate(present) if present else ())
    return [
        next(judged) if name in on_disk else FileVerdict(
            name, None,
            (Problem(name, (), _missing(name), MISSING_RULE, source="store"),),
        )
        for name in names
    ]


def _in_store(root: Path, name: str) -> str:
    """A FILE as the store names it: an absolute path inside the store is made
    relative to it; one outside is refused, saying how such a file is checked."""
    if not os.path.isabs(name):
        return name
    from vpa_config.errors import UsageError

    path, top = Path(os.path.abspath(name)), Path(os.path.abspath(root))
    if path == top or top not in path.parents:
        raise UsageError(
            f"{name} is outside the store {top}; validate such a file with "
            "--schema SCHEMA"
        )
    return path.relative_to(top).as_posix()


def _missing(name: str) -> str:
    """The problem of a FILE the store does not have (said how to check it if
    it is a file here, outside the store)."""
    if os.path.isfile(name):
        return (
            "no such file in the store (a file outside the store is validated "
            "with --schema SCHEMA)"
        )
    return "no such file in the store"


def _git_index(app: AppContext) -> Path | None:
    """The index a running ``git commit`` hands its hook, if any."""
    value = os.environ.get("GIT_INDEX_FILE")
    if not value:
        return None
    path = Path(value)
    return path if path.is_absolute() else app.store().root / path


def _report(verdicts: Sequence[Any], as_json: bool) -> int:
    from vpa_config.filecheck import MISSING_RULE

    failed = [verdict for verdict in verdicts if not verdict.valid]
    missing = [
        verdict for verdict in failed
        if all(problem.rule == MISSING_RULE for problem in verdict.problems)
    ]
    invalid = [verdict for verdict in failed if verdict not in missing]
    # An invalid file outranks a missing one: exit 5 only when every file
    # that failed is one that does not exist.
    code = 0 if not failed else 1 if invalid else 5
    if as_json:
        render.echo_json({
            "valid": not failed,
            "exit_code": code,
            "missing": [verdict.file for verdict in missing],
            "files": [verdict.to_dict() for verdict in verdicts],
        })
        return code
    for verdict in failed:
        for problem in verdict.problems:
            click.echo(problem_line(problem))
    files = f"{len(verdicts)} file{'s' if len(verdicts) != 1 else ''}"
    if not failed:
        click.echo(f"{files}: all valid")
        return 0
    parts = []
    if invalid:
        count = sum(len(verdict.problems) for verdict in invalid)
        parts.append(f"{len(invalid)} invalid, {count} problem{'s' * (count != 1)}")
    if missing:
        parts.append(f"{len(missing)} missing")
    click.echo(f"{files}: {', '.join(parts)}")
    return code


def problem_line(problem: Any) -> str:
    """``FILE:LINE:COL: KEY: message [rule, /pointer]``."""
    pointer = problem.pointer or "/"
    rule = problem.rule or "syntax"
    return f"{problem}  [{rule} at {pointer}]"


# --- schema ---------------------------------------------------------------------


@click.group("schema")
def schema_group() -> None:
    """Add, list and show the schemas the store validates with.

    A file's schema is the first settings rule whose glob matches it, else
    the schema its own $schema key names. Store schemas live in
    .vpa-config/schemas/ and are versioned with the config; vpa-config ships
    more in its schemas/ folder.
    """


@schema_group.command("add")
@click.argument("schema_file", metavar="SCHEMA", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--for",
    "patterns",
    multiple=True,
    metavar="PATTERN",
    help="A glob of store files this schema applies to (repeatable).",
)
@click.option("--as", "as_name", help="Its name in the store (default: SCHEMA's file name).")
@click.option(
    "--replace", is_flag=True,
    help="Replace a different schema the store has under this name.",
)
@change_options
@pass_app
def schema_add_cmd(
    app: AppContext,
    schema_file: Path,
    patterns: tuple[str, ...],
    as_name: str | None,
    replace: bool,
    reason: str,
    actor: str | None,
    dry_run: bool,
    as_json: bool,
) -> int:
    """Add SCHEMA to the store, with a settings rule for each --for PATTERN.

    The schema is checked against its metaschema and every $ref resolved
    first; the files the rule reaches must then validate, or nothing is
    written. A different schema already stored under the same name is
    refused unless --replace is given.
    """
    from vpa_config.schema_admin import add_schema

    content = read_source(schema_file, "SCHEMA")
    result = add_schema(
        app.store(), content, as_name or schema_file.name, patterns,
        actor=actor, reason=reason, dry_run=dry_run, replace=replace,
    )
    return render.change_result(result, as_json)


@schema_group.command("list")
@json_option
@pass_app
def schema_list_cmd(app: AppContext, as_json: bool) -> int:
    """List the store's schemas and the shipped ones, with the files they apply to."""
    from vpa_config.schema_admin import list_schemas

    infos = list_schemas(app.store())
    if as_json:
        render.echo_json([info.to_dict() for info in infos])
        return 0
    for info in infos:
        used = ", ".join(info.used_by) or "-"
        click.echo(f"{info.origin:8} {info.name}  {info.draft}  sha256:{info.digest}")
        click.echo(f"         for: {used}" + (f"  ({info.title})" if info.title else ""))
    return 0


@schema_group.command("show")
@click.argument("name")
@json_option
@pass_app
def schema_show_cmd(app: AppContext, name: str, as_json: bool) -> int:
    """Print the schema NAME (the store's if it has one, else the shipped one).

    Values it gives secret keys (a password's default) are hidden; a schema
    with any is printed as indented JSON rather than as its own text.
    """
    import json

    from vpa_config.schema_admin import show_schema

    info, source, hidden = show_schema(app.store(), name)
    if as_json:
        schema = source.load() if hidden is None else hidden
        render.echo_json({**info.to_dict(), "schema": schema})
    elif hidden is not None:
        click.echo(json.dumps(hidden, indent=2, ensure_ascii=False))
    else:
        click.echo(source.content.decode("utf-8", "replace"), nl=False)
    return 0


# --- verify ---------------------------------------------------------------------


@click.command("verify")
@click.option("--full", is_flag=True, help="Re-check revisions that passed before, too.")
@click.option(
    "--accept-rewrite", is_flag=True,
    help="Record (with -m) that the revisions the audit trail names but history "
    "lost were dropped on purpose, then verify.",
)
@click.option(
    "--accept", "accept_revs", multiple=True, metavar="REV",
    help="Record (with -m) that REV's findings are known and accepted (repeatable).",
)
@click.option(
    "-m", "--reason", default="", help="Why (with --accept or --accept-rewrite)."
)
@click.option("--actor", help='Who accepts, "Name <email>" (default: as for changes).')
@click.option(
    "--dry-run", is_flag=True,
    help="With --accept or --accept-rewrite: say what, record nothing.",
)
@json_option
@pass_app
def verify_cmd(
    app: AppContext,
    full: bool,
    accept_rewrite: bool,
    accept_revs: tuple[str, ...],
    reason: str,
    actor: str | None,
    dry_run: bool,
    as_json: bool,
) -> int:
    """Re-validate every revision against the schemas of its day.

    Lists the revisions that would not pass, for example one committed with
    "git commit --no-verify", and logs each as a security event. Revisions
    that passed before are remembered; --full checks them again. A change
    forced past validation is listed as accepted by whoever forced it;
    --accept REV -m REASON records the acceptance of any other finding (only
    of the REVs that have one: when none has, it is refused with exit 1 and
    nothing is recorded), and --accept-rewrite -m REASON that of the
    revisions an intended history rewrite dropped. --dry-run says what would
    be recorded, refuses alike, and reports (and exits) as verify would once
    it is recorded. Exit 0 when every check passes (accepted findings pass),
    1 otherwise.
    """
    from vpa_config.verify import verify_store

    if not (accept_rewrite or accept_revs) and (reason or actor or dry_run):
        from vpa_config.errors import UsageError

        raise UsageError(
            "-m/--reason, --actor and --dry-run go with --accept or --accept-rewrite"
        )
    store = app.store()
    accepted: Sequence[str] = ()
    dropped: Sequence[str] = ()
    if accept_revs:
        accepted = _accept_findings(store, accept_revs, actor, reason, dry_run)
    if accept_rewrite:
        from vpa_config.verify import accept_rewrite as accept

        dropped = accept(store, actor, reason, dry_run=dry_run)
        count = f"{len(dropped)} revision{'' if len(dropped) == 1 else 's'}"
        _echo_accepted(dry_run, f"{count} dropped from history:", dropped)
    with _progress("verifying revisions") as progress:
        # A dry run reports as the store would be once the acceptance is recorded.
        report = verify_store(
            store, progress, full=full,
            would_accept=accepted if dry_run else (),
            would_drop=dropped if dry_run else (),
        )
    if as_json:
        render.echo_json(report.to_dict())
        return 0 if report.ok else 1
    for check in report.checks:
        click.echo(f"{check.name}: {check.summary}")
        for finding in check.findings:
            _echo_finding(finding)
        for note in check.notes:
            click.echo(f"  note: {note}")
    return 0 if report.ok else 1


def _accept_findings(
    store: Any, specs: Sequence[str], actor: str | None, reason: str, dry_run: bool
) -> list[str]:
    """Record (``dry_run``: only say) the acceptance of the REVs with findings."""
    from vpa_config.verify import accept_findings, accepted_revisions

    before = accepted_revisions(store)
    with _progress("finding the revisions to accept") as progress:
        accepted = accept_findings(
            store, list(specs), actor, reason, dry_run=dry_run, progress=progress
        )
    _echo_accepted(dry_run, "the findings of", accepted)
    for sha in dict.fromkeys(store.repo.resolve(spec) for spec in specs):
        if sha in accepted:
            continue
        if sha in before:
            why = f"already accepted ({before[sha]}); not recorded again"
        else:
            why = "has no finding; not recorded"
        click.echo(f"note: {sha[:12]} {why}", err=True)
    return accepted


def _echo_accepted(dry_run: bool, what: str, revisions: Sequence[str]) -> None:
    """``accepted WHAT REV, REV`` on stderr (``would accept`` in a dry run)."""
    verb = "would accept" if dry_run else "accepted"
    named = ", ".join(revision[:12] for revision in revisions)
    click.echo(f"{verb} {what} {named}", err=True)


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr, and the callback that moves it."""
    with click.progressbar(
        length=1, label=label, file=sys.stderr, show_pos=True
    ) as bar:

        def progress(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        yield progress


def _echo_finding(finding: Any) -> None:
    if not hasattr(finding, "problems"):
        click.echo(f"  {finding}")
        return
    how = "direct git commit" if finding.direct else finding.kind
    forced = ", forced" if finding.forced else ""
    click.echo(f"  {finding.revision[:12]}  {finding.author}  ({how}{forced})")
    click.echo(f"      {finding.subject}")
    if finding.accepted:
        click.echo(f"      accepted: {finding.accepted}")
    for problem in finding.problems:
        click.echo(f"      {problem_line(problem)}")
