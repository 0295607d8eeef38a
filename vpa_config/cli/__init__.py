"""The ``vpa-config`` command: a thin click layer over :class:`ConfigStore`.

Subcommands live in small modules and are imported only when run (or when
``--help`` lists them), so ``vpa-config --version`` and ``--help`` stay fast;
the click group itself is in ``group.py``, and the plainest command lines of
the history reads run without click at all (``fast.py``). :func:`main` is the
one place failures become exit codes:

* :class:`VpaConfigError`: one line on stderr, its ``exit_code``;
* click usage errors: click's message, exit 2 (with ``--json``, also the
  same JSON document a refusal prints on stdout);
* Ctrl-C: exit 130;
* anything else is a bug: one line naming a crash log with the traceback,
  exit 3 (``VPA_CONFIG_TRACEBACK=1`` prints the traceback instead).
"""

from __future__ import annotations

import io
import os
import sys
import time
from pathlib import Path

from vpa_config import __version__
from vpa_config.cli import fast
from vpa_config.cli.render import echo

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    from typing import Any

# name -> (module, function, one-line help): loaded on first use.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "init": ("change", "init_cmd", "Create a store (with --example, the VPA example)."),
    "set": ("change", "set_cmd", "Set one key of a file, validated and committed."),
    "unset": ("change", "unset_cmd", "Remove one key of a file."),
    "import": ("change", "import_cmd", "Add or replace a whole file."),
    "rm": ("change", "rm_cmd", "Remove a file from the store."),
    "edit": ("edit", "edit_cmd", "Edit a file in $EDITOR; validated on save."),
    "commit": ("change", "commit_cmd", "Validate and commit hand edits of the files."),
    "get": ("read", "get_cmd", "Print a file, or the value of one key."),
    "status": ("read", "status_cmd", "Show the revision and any hand edits."),
    "log": ("read", "log_cmd", "List revisions: who, when, why, what."),
    "restore": ("restore", "restore_cmd", "Bring files back from a revision, as a new one."),
    "undo": ("restore", "undo_cmd", "Undo the last change, as a new revision."),
    "validate": ("validation", "validate_cmd", "Validate store files, or any files with --schema."),
    "schema": ("validation", "schema_group", "Add, list and show the store's schemas."),
    "verify": ("validation", "verify_cmd", "Re-validate every revision and check the audit trail."),
    "diff": ("history", "diff_cmd", "Key-level diff between revisions or of hand edits."),
    "show": ("history", "show_cmd", "One revision: who, when, why, and its key changes."),
    "audit": ("history", "audit_cmd", "Every revision that changed one key."),
    "blame": ("history", "blame_cmd", "The last change of each key of a file."),
    "events": ("events", "events_cmd", "Read the audit trail of user actions."),
    "health": ("health", "health_group", "Health of the store and its host; serve it over HTTP."),
    "plugins": ("plugins", "plugins_group", "List, enable, disable and reset plugins."),
}


# What main() reports about the command being run.
_RUN: dict[str, Any] = {}
OUTCOMES = {
    0: "success", 1: "refused", 2: "usage_error", 3: "internal_error",
    4: "locked", 5: "not_found", 6: "storage_error", 130: "interrupted",
}


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the process exit code.

    Every command ends with one ``command.completed`` or ``command.failed``
    event: outcome, exit code, duration and the revisions before and after.
    """
    started = time.perf_counter()
    if argv is None:  # the process's own command line
        _collect_less()
        if sys.stdout is None:  # started with stdout closed (">&-")
            sys.stdout = _closed_stdout()
    _start_events()
    _RUN.clear()
    failure: list[BaseException] = []
    code = _run(argv, failure)
    _command_event(code, failure[0] if failure else None, started)
    if argv is None:  # the process's own command line: it ends after this
        _before_exit()
    return code


def _collect_less() -> None:
    """Collect reference cycles after 10,000 new objects rather than 700.

    A command creates its objects and exits: at the interpreter's default,
    the collector ran about twenty times in a ``set`` and found next to
    nothing (a few milliseconds of each process). Cycles are still
    collected, a little later.
    """
    import gc

    _first, *later = gc.get_threshold()
    gc.set_threshold(_COLLECT_AFTER, *later)


_COLLECT_AFTER = 10_000


def _before_exit() -> None:
    """Spare the interpreter's exit the collection of what a command loaded.

    At exit the interpreter tears the modules down and collects the reference
    cycles left (every class and function of every module loaded is in one):
    about a tenth of a ``set`` process, and more of a read's. What such a
    collection would release that matters, the key index's SQLite connection
    (whose close ends its write-ahead log), is closed here; ``gc.freeze`` then
    leaves the rest of the objects to the end of the process.
    """
    keyindex = sys.modules.get("vpa_config.keyindex")
    if keyindex is not None:
        keyindex.close_all()
    import gc

    gc.freeze()


def _run(argv: list[str] | None, failure: list[BaseException]) -> int:
    from vpa_config.errors import VpaConfigError, damage_of

    args = sys.argv[1:] if argv is None else argv
    plan = fast.plan(args)
    try:
        try:
            _refuse_undecodable(args)
            result = fast.run(plan, _RUN) if plan is not None else _run_click(argv, args)
        except Exception as exc:  # noqa: BLE001 (a damaged repository is no bug)
            raise damage_of(exc) or exc from None
    except VpaConfigError as exc:
        failure.append(exc)
        echo(f"vpa-config: {exc}", err=True)
        if _wants_json(args):
            try:
                echo_json_error(exc)
            except OSError as unwritten:  # the refusal's code stands
                unwritten_code = _unwritten_output(unwritten, [])
                if unwritten_code != EXIT_BROKEN_PIPE:
                    return exc.exit_code
                return unwritten_code
        return exc.exit_code
    except KeyboardInterrupt:
        echo("Interrupted.", err=True)
        return 130
    except BrokenPipeError:
        _quiet_broken_pipe()
        note_committed()
        return EXIT_BROKEN_PIPE
    except OSError as exc:
        if not _stdout_failed(exc):
            failure.append(exc)
            return _report_bug(exc)
        return _unwritten_output(exc, failure)
    except Exception as exc:  # noqa: BLE001 (the top-level net for bugs)
        failure.append(exc)
        return _report_bug(exc)
    return result if isinstance(result, int) else 0


def _refuse_undecodable(args: list[str]) -> None:
    """A usage error for an argument whose bytes are not UTF-8.

    Python passes such bytes on as lone surrogates, which no commit, file
    or terminal can hold: refused here, by position, before any command sees
    them (a file name, a value, a reason, a revision alike).
    """
    for number, arg in enumerate(args, start=1):
        if arg.isascii():
            continue
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            from vpa_config.errors import UsageError

            shown = arg.encode("utf-8", "surrogateescape") if _escaped(arg) else arg
            raise UsageError(
                f"argument {number} ({shown!r}) is not valid UTF-8; "
                "expected UTF-8 text"
            ) from None


def _escaped(arg: str) -> bool:
    """Whether every lone surrogate in ``arg`` stands for one undecodable byte."""
    try:
        arg.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return False
    return True


def _run_click(argv: list[str] | None, args: list[str]) -> Any:
    """The command line parsed by click: usage errors and Ctrl-C at a prompt."""
    import click

    from vpa_config.cli.group import cli

    try:
        return cli.main(args=argv, prog_name="vpa-config", standalone_mode=False)
    except SystemExit as exc:
        # click ends a command whose reader went away with exit 1, which
        # means a refusal (and "degraded" to health): that case has its own.
        if exc.code == 1 and _reader_gone():
            note_committed()
            return EXIT_BROKEN_PIPE
        raise
    except click.exceptions.Abort:
        echo("Aborted.", err=True)
        return 130
    except click.ClickException as exc:
        if isinstance(exc, click.exceptions.NoSuchOption):
            _negative_value_hint(exc, args)
        if isinstance(exc, click.UsageError) and exc.ctx is None:
            exc.ctx = _context_of(args)  # click leaves it out of a few errors
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            echo(_usage_line(exc), err=True)
        else:
            exc.show()
        code = _usage_exit_code(exc)
        if _wants_json(args):
            echo_json_error(exc, exc.format_message(), exit_code=code)
        return code


def _usage_line(exc: Any) -> str:
    """A usage error in one line: what is wrong, the usage, where help is.

    ``vpa-config set: Missing argument 'VALUE'. (usage: vpa-config set
    [OPTIONS] FILE KEY VALUE; more in 'vpa-config set --help')``
    """
    path = exc.ctx.command_path
    usage = exc.ctx.get_usage().removeprefix("Usage:").strip()
    return f"{path}: {exc.format_message()} (usage: {usage}; more in '{path} --help')"


def _context_of(args: list[str]) -> Any:
    """The context of the (sub)command that ``args`` name, for a usage line.

    click raises "Option '-m' requires an argument" without one. Words that
    name no command (options, their values, files) are passed over; None
    when something goes wrong, and click's own message is shown then.
    """
    import click

    from vpa_config.cli.group import cli

    try:
        ctx = click.Context(cli, info_name="vpa-config")
        for word in args:
            if not isinstance(ctx.command, click.Group):
                break
            command = None if word.startswith("-") else ctx.command.get_command(ctx, word)
            if command is not None:
                ctx = click.Context(command, info_name=word, parent=ctx)
        return ctx
    except Exception:  # noqa: BLE001 (the plain message is shown instead)
        return None


def _usage_exit_code(exc: Any) -> int:
    """click's exit code, but 3 (unknown) for ``health``'s usage errors.

    ``health`` exits with the state it found, as monitors read it: click's 2
    for a usage error would say "unhealthy".
    """
    import click

    context = getattr(exc, "ctx", None)
    words = context.command_path.split() if context is not None else []
    if isinstance(exc, click.UsageError) and words[1:2] == ["health"]:
        return 3
    return exc.exit_code


def _negative_value_hint(exc: Any, args: list[str]) -> None:
    """A negative number click took for an option: the error says it goes after ``--``.

    The message replaces click's "No such option", so the error is one line.
    click reports ``-0.5`` as the unknown option ``-0``, so the word shown is
    the one of the command line that starts with the option click names.
    """
    word = next(
        (w for w in args if w.startswith(exc.option_name) and _is_negative_number(w)),
        None,
    )
    if word is None:
        return
    import click

    ctx = exc.ctx
    names = []
    if ctx is not None:
        names = [
            param.human_readable_name
            for param in ctx.command.params
            if isinstance(param, click.Argument)
        ]
    command = ctx.command_path if ctx is not None else "vpa-config"
    example = " ".join([command, *names[:-1], "--", word])
    exc.message = (
        f"{word!r} was read as an option; a VALUE that starts with '-' goes "
        f"after '--': {example}"
    )
    exc.possibilities = None


def _is_negative_number(word: str) -> bool:
    """``-3``, ``-0.5``, ``-.5``, ``-1e3``: what ``float`` reads, digits first."""
    lead = word[1:2] if word[1:2] != "." else word[2:3]
    if not word.startswith("-") or not lead.isdigit():
        return False
    try:
        float(word)
    except ValueError:
        return False
    return True


def _wants_json(argv: list[str]) -> bool:
    """Whether ``--json`` was given as an option (not as a value after ``--``)."""
    options = argv[: argv.index("--")] if "--" in argv else argv
    return "--json" in options


def echo_json_error(
    exc: Any, message: str | None = None, exit_code: int | None = None
) -> None:
    """A refusal, or a click usage error, as JSON on stdout.

    So ``--json`` callers always get a document; ``message`` defaults to the
    exception's text.
    """
    from vpa_config.cli.render import echo_json

    problems = getattr(exc, "problems", None) or []
    echo_json({
        "ok": False,
        "error": type(exc).__name__,
        "message": str(exc) if message is None else message,
        "exit_code": exc.exit_code if exit_code is None else exit_code,
        "problems": [problem.to_dict() for problem in problems],
    })


def _start_events() -> None:
    """One correlation id for the command; events on from the environment."""
    from vpa_config import logs

    command_id = os.environ.get("VPA_CONFIG_CORRELATION_ID") or os.urandom(16).hex()
    logs.set_correlation_id(command_id)
    logs.set_process_correlation_id(command_id)
    logs.start_command()
    level = os.environ.get(logs.ENV_LEVEL) or logs.CLI_DEFAULT_LEVEL
    try:
        logs.configure(level=level)
    except ValueError:
        # A bad VPA_CONFIG_LOG_* value: click names it when it parses the
        # options; until then, the defaults.
        logs.configure(level=logs.CLI_DEFAULT_LEVEL, use_env=False)


def _command_event(code: int, error: BaseException | None, started: float) -> None:
    from vpa_config import logs

    before, after = logs.command_revisions()
    fields: dict[str, Any] = {
        "command": _RUN.get("command"),
        "outcome": OUTCOMES.get(code, "failure"),
        "exit_code": code,
        "duration_s": round(time.perf_counter() - started, 6),
        "revision_before": before,
        "revision_after": after,
    }
    if code == 0:
        logs.emit("command.completed", "info", **fields)
        return
    if error is not None:
        fields["error"] = str(error) if code != 3 else type(error).__name__
    if code == 3 and error is not None:
        fields["exc_info"] = error
    logs.emit("command.failed", "error" if code in (3, 6) else "warning", **fields)


# The exit code of a command whose output's reader went away (``| head``):
# 128 + SIGPIPE, what a shell reports for a program the signal ended (git).
EXIT_BROKEN_PIPE = 141


def _reader_gone() -> bool:
    """Whether stdout is a pipe or socket whose reading end is closed."""
    import select

    try:
        fd = sys.__stdout__.fileno() if sys.__stdout__ is not None else 1
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        return any(events & select.POLLERR for _fd, events in poller.poll(0))
    except (OSError, ValueError):
        return False


def _unwritten_output(exc: OSError, failure: list[BaseException]) -> int:
    """Exit code and message for output stdout refused (its reader gone: 141)."""
    _quiet_broken_pipe()  # so the exit's own flush cannot fail again
    if isinstance(exc, BrokenPipeError):
        note_committed()
        return EXIT_BROKEN_PIPE
    refused = _output_error(exc)
    failure[:] = [refused]
    echo(f"vpa-config: {refused}", err=True)
    return refused.exit_code


def note_committed() -> None:
    """Name on stderr a change made by a command whose reader went away.

    Exit 141 says only that the output was cut short; a script that reads it
    as a failure must not make the change again.
    """
    committed = _committed_revision()
    if committed is None:
        return
    try:
        echo(
            "vpa-config: the output's reader went away; the change itself was "
            f"committed as {committed[:12]}",
            err=True,
        )
    except OSError:
        pass  # stderr is gone too


def _stdout_failed(exc: OSError) -> bool:
    """Whether ``exc`` was raised writing a command's output to stdout.

    Output goes through one of two ``echo`` functions (click's, or
    ``render.echo`` where click is not loaded); the failure is stdout's when
    the innermost frame is one of them, writing to stdout (``err`` false).
    """
    if isinstance(exc, StdoutClosed):
        return True
    frame = None
    trace = exc.__traceback__
    while trace is not None:
        frame, trace = trace.tb_frame, trace.tb_next
    if frame is None or frame.f_code.co_name != "echo":
        return False
    module = frame.f_globals.get("__name__")
    writers = ("click.utils", "vpa_config.cli.render")
    return module in writers and not frame.f_locals.get("err")


def _output_error(exc: OSError) -> Any:
    """A storage error for output stdout refused, naming any change committed.

    The command's work is done when its report is written, so a change it
    made stands: the message says so, that a retry does not make it twice.
    """
    from vpa_config.errors import StorageError

    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    message = f"could not write to standard output: {reason}"
    committed = _committed_revision()
    if committed is not None:
        message += (
            f"; the change itself was committed as {committed[:12]} "
            "('vpa-config log -n 1' shows it)"
        )
    return StorageError(message)


def _committed_revision() -> str | None:
    """The revision this command committed, or None when it changed nothing."""
    from vpa_config import logs

    before, after = logs.command_revisions()
    return after if after is not None and after != before else None


def _quiet_broken_pipe() -> None:
    if isinstance(getattr(sys.stdout, "buffer", None), _ClosedWriter):
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (the process's to the end)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


class StdoutClosed(OSError):
    """A write to the standard output the process was started without."""


class _ClosedWriter(io.RawIOBase):
    """Stands in for a closed standard output: every write fails (EBADF).

    Python gives a process started with fd 1 closed no ``sys.stdout``, and
    click then prints nothing, so that a command's answer would be lost with
    exit 0; through this stand-in it is the failure any unwritable output is.
    """

    def write(self, data: Any) -> int:
        import errno

        raise StdoutClosed(errno.EBADF, "standard output is closed")

    def writable(self) -> bool:
        return True


def _closed_stdout() -> Any:
    return io.TextIOWrapper(_ClosedWriter(), encoding="utf-8", write_through=True)


def _redacted_argv() -> list[str]:
    from vpa_config.redaction import Redactor

    return Redactor().scrub_argv(sys.argv)


def _report_bug(exc: BaseException) -> int:
    import traceback

    if os.environ.get("VPA_CONFIG_TRACEBACK"):
        traceback.print_exception(exc)
        return 3
    log = _crash_log_path()
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as handle:
            handle.write(f"vpa-config {__version__}, Python {sys.version.split()[0]}\n")
            handle.write(f"argv: {_redacted_argv()!r}\n")
            traceback.print_exception(exc, file=handle)
            handle.write("\n")
        where = f"details in {log}"
    except OSError:
        where = "set VPA_CONFIG_TRACEBACK=1 to see the traceback"
    echo(
        f"vpa-config: internal error ({type(exc).__name__}); {where}. "
        "Please report it.",
        err=True,
    )
    return 3


def _crash_log_path() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "vpa-config" / "crash.log"


def register(name: str, module: str, function: str, help_text: str) -> None:
    """Add a lazily loaded subcommand (used by modules that add commands)."""
    COMMANDS[name] = (module, function, help_text)


def __getattr__(name: str) -> Any:
    # The click group, for callers that drive it directly (imports click).
    if name in ("cli", "LazyGroup", "EPILOG"):
        from vpa_config.cli import group

        return getattr(group, name)
    raise AttributeError(f"module 'vpa_config.cli' has no attribute {name!r}")


def run(argv: list[str] | None = None) -> Any:
    """Entry point for ``python -m vpa_config``: exit with :func:`main`'s code."""
    raise SystemExit(main(argv))
