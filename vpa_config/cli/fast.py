"""The plainest command lines of the history reads, run without click.

Importing click costs about as much as answering ``audit`` or ``blame`` from
a current key index, so :func:`plan` recognises the forms scripts and people
type most (``[--store DIR] audit [--json] FILE KEY``, ``blame [--json]
FILE``, ``log [FILE]`` with any of ``-n N`` (``-nN``, ``--max-count``),
``--json``, ``--author``, ``--since``, ``--until``, ``--kind`` and ``--key``,
``set FILE KEY VALUE``, ``restore REV [FILE...]`` and ``undo`` with their
change options (``-m``, ``--actor``, ``--dry-run``, ``--json``, ``--string``,
``--force``, ``--discard-edits`` or ``--commit-edits``), in any order) and
:func:`run` calls the
same functions as the click commands. Anything else (another option, ``--help``,
a wrong number of arguments, an environment that sets an option, a stream
click would re-encode) returns None from :func:`plan`, and click parses the
command line as it always did: usage errors and help come only from click.
"""

from __future__ import annotations

# TODO(#9): what a history read from a current index still spends beyond the
# interpreter is mostly imports: json, threading, sqlite3's C module and the
# code of the store's modules (store, keyindex, audit, gitrepo, fsutil are
# loaded whole although a read runs a small part of each).
# ``get``, ``status``, ``show`` and ``diff`` still import click (they read
# objects and refs without dulwich now; with a current index, ``get`` could
# take HEAD's blob id from it and the parse from the fact cache, as
# ``blame`` does).
# A plain ``set`` imports no dulwich (gitrepo.py, packread.py), no
# dataclasses (records.py), no concurrent.futures (workers.py), no OpenSSL
# (digests.py) and no typing; of what it still imports, PyYAML (about 6 ms)
# is needed.

import errno
import os
import sys
from collections import namedtuple
from collections.abc import Callable
from pathlib import Path

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    from typing import Any

# Environment variables that set a global option, or ask for shell completion:
# click reads and checks them.
_OPTION_ENV = (
    "VPA_CONFIG_LOG_FORMAT", "VPA_CONFIG_LOG_LEVEL", "VPA_CONFIG_LOG_FILE",
    "_VPA_CONFIG_COMPLETE",
)
STORE_ENV = "VPA_CONFIG_STORE"


class Plan(namedtuple("Plan", "command store args as_json")):
    """A command line :func:`run` can answer without click.

    A collections.namedtuple: typing.NamedTuple's class form compiles each
    (postponed) annotation, and the first compile of a process costs about
    a millisecond of its start.
    """

    __slots__ = ()


def plan(argv: list[str]) -> Plan | None:
    """What to run for ``argv``, or None when click must parse it."""
    if any(name in os.environ for name in _OPTION_ENV) or not _plain_streams():
        return None
    store, rest = _global_options(argv)
    if rest is None or not rest:
        return None
    command, words = rest[0], rest[1:]
    if command in _CHANGES:
        found = _CHANGES[command](words)
        if found is None or store is _REFUSED:
            return None
        return Plan(command, store, found[0], found[1])
    if command == "log":
        found = _log_args(words)
        if found is None or store is _REFUSED:
            return None
        return Plan(command, store, found[0], found[1])
    positional = [word for word in words if word != "--json"]
    if any(word.startswith("-") for word in positional):
        return None
    as_json = len(positional) != len(words)
    args = _command_args(command, positional)
    if args is None or store is _REFUSED:
        return None
    return Plan(command, store, args, as_json)


def run(found: Plan, state: dict[str, Any]) -> int:
    """Run a planned command as the click group would: options, context, close."""
    import importlib

    from vpa_config import logs
    from vpa_config.cli.context import AppContext

    logs.configure(format=None, level=logs.CLI_DEFAULT_LEVEL, file=None)
    state["command"] = found.command
    module, function = _COMMANDS[found.command]
    show: Callable[..., int] = getattr(
        importlib.import_module(f"vpa_config.cli.{module}"), function
    )
    app = AppContext(store_path=found.store)
    try:
        try:
            return show(app, *found.args, as_json=found.as_json)
        finally:
            app.close()
    except (EOFError, KeyboardInterrupt):
        return _aborted()
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        _broken_pipe()
    raise AssertionError("unreachable")  # pragma: no cover


# What click's Command.main does (outside standalone mode) when a command is
# interrupted or its reader goes away; the same here, so that the answer,
# the exit code and the events stay those of the click command.


def _aborted() -> int:
    from vpa_config.cli.render import echo

    echo(err=True)  # the blank line after the terminal's ^C
    echo("Aborted.", err=True)  # what cli.main prints for click's Abort
    return 130


def _broken_pipe() -> None:
    from vpa_config.cli import EXIT_BROKEN_PIPE, note_committed

    note_committed()
    sys.stdout = _QuietFlush(sys.stdout)  # type: ignore[assignment]
    sys.stderr = _QuietFlush(sys.stderr)  # type: ignore[assignment]
    raise SystemExit(EXIT_BROKEN_PIPE)


class _QuietFlush:
    """A stream whose flush ignores a closed pipe (the interpreter flushes at exit)."""

    def __init__(self, wrapped: Any) -> None:
        self.wrapped = wrapped

    def flush(self) -> None:
        try:
            self.wrapped.flush()
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)


# command -> the module and function that run it (what its click command calls).
_COMMANDS: dict[str, tuple[str, str]] = {
    "audit": ("history_text", "show_audit"),
    "blame": ("history_text", "show_blame"),
    "log": ("history_text", "show_log"),
    "set": ("change_text", "set_value"),
    "restore": ("restore_text", "restore_files"),
    "undo": ("restore_text", "undo_last"),
}
_REFUSED: Any = object()


def _command_args(command: str, words: list[str]) -> tuple[Any, ...] | None:
    if command == "audit" and len(words) == 2:
        return (words[0], words[1])
    if command == "blame" and len(words) == 1:
        return (words[0],)
    return None


_SET_FLAGS = {"--string": "as_string", "--dry-run": "dry_run", "--json": "as_json"}
_SET_VALUED = {"-m": "reason", "--reason": "reason", "--actor": "actor"}


def _set_args(words: list[str]) -> tuple[tuple[Any, ...], bool] | None:
    """(file, key, value, as_string, reason, actor, dry_run) and as_json, or None."""
    parsed = _options(words, _SET_FLAGS, _SET_VALUED)
    if parsed is None:
        return None
    given, positional = parsed
    if len(positional) != 3:
        return None
    # VPA_CONFIG_ACTOR is read by vpa_config.identity, which records its origin.
    actor = given.get("actor")
    args = (
        *positional, given.get("as_string", False), given.get("reason", ""), actor,
        given.get("dry_run", False),
    )
    return args, given.get("as_json", False)


_UNDO_FLAGS = {
    "--dry-run": "dry_run", "--json": "as_json", "--discard-edits": "discard",
    "--commit-edits": "commit",
}
_RESTORE_FLAGS = {**_UNDO_FLAGS, "--force": "force"}


def _restore_args(words: list[str]) -> tuple[tuple[Any, ...], bool] | None:
    """(rev, files, force, hand_edits, reason, actor, dry_run) and as_json, or None."""
    parsed = _options(words, _RESTORE_FLAGS, _SET_VALUED)
    if parsed is None or not parsed[1]:
        return None
    given, positional = parsed
    policy = _hand_edits(given)
    if policy is None:
        return None
    args = (
        positional[0], tuple(positional[1:]), given.get("force", False), policy,
        given.get("reason", ""), given.get("actor"),
        given.get("dry_run", False),
    )
    return args, given.get("as_json", False)


def _undo_args(words: list[str]) -> tuple[tuple[Any, ...], bool] | None:
    """(hand_edits, reason, actor, dry_run) and as_json, or None."""
    parsed = _options(words, _UNDO_FLAGS, _SET_VALUED)
    if parsed is None or parsed[1]:
        return None
    given = parsed[0]
    policy = _hand_edits(given)
    if policy is None:
        return None
    args = (
        policy, given.get("reason", ""), given.get("actor"),
        given.get("dry_run", False),
    )
    return args, given.get("as_json", False)


def _hand_edits(given: dict[str, Any]) -> str | None:
    """The hand-edit policy; None for both flags (click's usage error says so)."""
    if given.get("discard") and given.get("commit"):
        return None
    if given.get("discard"):
        return "discard"
    return "commit" if given.get("commit") else "refuse"


_LOG_FLAGS = {"--json": "as_json"}
_LOG_VALUED = {
    "-n": "limit", "--max-count": "limit", "--author": "author", "--since": "since",
    "--until": "until", "--kind": "kind", "--key": "key_spec",
}


def _log_args(words: list[str]) -> tuple[tuple[Any, ...], bool] | None:
    """(file, limit, author, since, until, kind, key_spec) and as_json, or None."""
    if any(word.startswith("-n") and word[2:].isdigit() for word in words):
        words = [  # ``-n5``: click reads a short option's value joined to it
            f"--max-count={word[2:]}" if word.startswith("-n") and word[2:].isdigit()
            else word
            for word in words
        ]
    parsed = _options(words, _LOG_FLAGS, _LOG_VALUED)
    if parsed is None:
        return None
    given, positional = parsed
    limit = given.get("limit")
    if len(positional) > 1 or (limit is not None and not _count(limit)):
        return None
    args = (
        positional[0] if positional else None,
        int(limit) if limit is not None else None,
        *(given.get(name) for name in ("author", "since", "until", "kind", "key_spec")),
    )
    return args, given.get("as_json", False)


def _options(
    words: list[str], flags: dict[str, str], valued: dict[str, str]
) -> tuple[dict[str, Any], list[str]] | None:
    """(options given by name, the positional words), or None for click to parse.

    Flags and options taking a value (``--opt VALUE``, ``--opt=VALUE`` for a
    long one); an option given twice, a value that starts with ``-``, an
    unknown option or ``--`` is left to click.
    """
    given: dict[str, Any] = {}
    positional: list[str] = []
    at = 0
    while at < len(words):
        word = words[at]
        name, equals, inline = word.partition("=")
        if word in flags:
            key, value = flags[word], True
        elif word in valued:
            if at + 1 >= len(words) or words[at + 1].startswith("-"):
                return None
            key, value = valued[word], words[at + 1]
            at += 1
        elif equals and name.startswith("--") and name in valued:
            if not inline or inline.startswith("-"):
                return None
            key, value = valued[name], inline
        elif word.startswith("-"):
            return None
        else:
            positional.append(word)
            at += 1
            continue
        if key in given:
            return None  # given twice: click decides which counts
        given[key] = value
        at += 1
    return given, positional


def _count(word: str) -> bool:
    """A count click's IntRange(min=1) takes as the same number: plain digits."""
    return bool(word) and all("0" <= c <= "9" for c in word) and int(word) >= 1


def _global_options(argv: list[str]) -> tuple[Any, list[str] | None]:
    """(store folder or None, the words after the global options); None if unusual."""
    store: str | None = None
    at = 0
    while at < len(argv) and argv[at].startswith("-"):
        word = argv[at]
        if word == "--store" and at + 1 < len(argv) and not argv[at + 1].startswith("-"):
            store, at = argv[at + 1], at + 2
        elif word.startswith("--store="):
            store, at = word[len("--store="):], at + 1
        else:
            return None, None
    if store is None:
        store = os.environ.get(STORE_ENV)
        if store is None:
            return None, argv[at:]
    return _store_folder(store), argv[at:]


def _store_folder(value: str) -> Any:
    """The folder as click's ``Path(file_okay=False)`` gives it; refused if it would complain."""
    if not value:
        return _REFUSED
    if os.path.exists(value) and not (
        os.path.isdir(value) and os.access(value, os.R_OK)
    ):
        return _REFUSED
    return Path(value)


def _plain_streams() -> bool:
    """stdout and stderr as click writes to them unchanged (not ASCII-only)."""
    import codecs

    for stream in (sys.stdout, sys.stderr):
        encoding = getattr(stream, "encoding", None)
        if stream is None or not encoding:
            return False
        try:
            if codecs.lookup(encoding).name == "ascii":
                return False
        except LookupError:
            return False
    return True


# change command -> its parser (which leaves to click what it does not take)
_CHANGES: dict[str, Callable[[list[str]], Any]] = {
    "set": _set_args, "restore": _restore_args, "undo": _undo_args,
}
