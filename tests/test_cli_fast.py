"""Command lines run without click (cli/fast.py) answer exactly as click's do (#9).

Setting ``VPA_CONFIG_LOG_LEVEL`` (here to its default) makes every command
line go through click, so each case runs both ways on the same store and
the two answers are compared byte for byte: stdout, stderr and exit code.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import stores
from conftest import RunCli, cli_env, git

from vpa_config.cli import fast

THROUGH_CLICK = {"VPA_CONFIG_LOG_LEVEL": "critical"}

CASES = [
    ("audit", "assistant.yaml", "llm.temperature"),
    ("audit", "--json", "assistant.yaml", "llm.temperature"),
    ("audit", "assistant.yaml", "llm.api_key"),
    ("audit", "assistant.yaml", "llm.api_key", "--json"),
    ("audit", "assistant.yaml", "llm"),
    ("audit", "assistant.yaml", "assistant.persona"),
    ("audit", "assistant.yaml", "no.such.key"),
    ("audit", "assistant.yaml", "llm..x"),
    ("audit", "gone.yaml", "a"),
    ("audit", "--json", "gone.yaml", "a"),
    ("blame", "assistant.yaml"),
    ("blame", "--json", "assistant.yaml"),
    ("blame", "gone.yaml"),
    ("log",),
    ("log", "--json"),
    ("log", "-n", "2"),
    ("log", "-n", "1", "--json", "assistant.yaml"),
    ("log", "--json", "-n", "2"),
    ("log", "-n2", "--json"),
    ("log", "--max-count", "1", "assistant.yaml"),
    ("log", "--max-count=3", "--json"),
    ("log", "--author", "Ada"),
    ("log", "--author", "nobody at all"),
    ("log", "--kind", "set", "--json"),
    ("log", "--kind", "nosuch"),
    ("log", "--key", "assistant.yaml:llm.temperature"),
    ("log", "--key=assistant.yaml", "--json"),
    ("log", "--since", "2000-01-01", "-n", "3"),
    ("log", "--until", "2000-01-01"),
    ("log", "--since", "not a time"),
    ("log", "assistant.yaml"),
    ("log", "gone.yaml"),
]


@pytest.fixture(name="example")
def _example(run_cli: RunCli, store_path: Path) -> Path:
    """The example store with a few changes, one holding a terminal escape."""
    return stores.build_with(
        run_cli, store_path,
        ("init", "--example"),
        ("set", "assistant.yaml", "llm.temperature", "0.3", "-m", "calmer"),
        ("set", "assistant.yaml", "llm.api_key", "sk-new-secret-1234", "-m", "rotate"),
        ("set", "assistant.yaml", "assistant.persona", '"\\e[31mRed\\e[0m and brief"'),
    )


@pytest.mark.parametrize("args", CASES, ids=" ".join)
def test_a_plain_command_line_answers_as_click_does(
    run_cli: RunCli, example: Path, args: tuple[str, ...]
) -> None:
    assert fast.plan(["--store", str(example), *args]) is not None
    clicked = run_cli(*args, store=example, env=THROUGH_CLICK)

    direct = run_cli(*args, store=example)

    assert (direct.returncode, direct.stdout, direct.stderr) == (
        clicked.returncode, clicked.stdout, clicked.stderr,
    )
    assert "sk-new-secret-1234" not in direct.stdout + direct.stderr


def test_the_store_from_the_environment_answers_as_click_does(
    run_cli: RunCli, example: Path
) -> None:
    env = {"VPA_CONFIG_STORE": str(example)}
    clicked = run_cli("blame", "assistant.yaml", env={**env, **THROUGH_CLICK})

    direct = run_cli("blame", "assistant.yaml", env=env)

    assert direct.returncode == clicked.returncode == 0
    assert direct.stdout == clicked.stdout
    assert "Red and brief" in direct.stdout and "\x1b" not in direct.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"], ["-h"], ["--version"], [], ["--store"], ["--store", "", "blame", "f"],
        ["--store", "--json", "blame", "f"], ["--log-level", "info", "blame", "f"],
        ["audit", "f"], ["audit", "f", "k", "x"], ["audit", "-h", "f", "k"],
        ["audit", "--", "f", "k"], ["blame"], ["blame", "--help", "f"],
        ["log", "-n"], ["log", "-n", "0"], ["log", "-n", "x"], ["log", "-n", "-1"],
        ["log", "-n", "+3"], ["log", "-n", " 3"], ["log", "-n0"], ["log", "-n=3"],
        ["log", "-n", "2", "-n", "3"], ["log", "a", "b"], ["log", "--max-count=-3"],
        ["log", "--author"], ["log", "--author="], ["log", "--author", "-x"],
        ["log", "--kind", "set", "--kind", "rm"], ["log", "--since=", "f"],
        ["log", "--json", "--json"], ["log", "--reverse"], ["get", "f"],
        ["set", "f", "k"], ["set", "f", "k", "-1"],
        ["set", "f", "k", "v", "-m"], ["set", "f", "k", "v", "-m", "-x"],
        ["set", "f", "k", "v", "--reason="], ["set", "f", "k", "v", "-mx"],
        ["set", "f", "k", "v", "--", "w"], ["set", "f", "k", "v", "--help"],
        ["unset", "f", "k"], ["restore"], ["restore", "r", "--discard-edits",
        "--commit-edits"], ["restore", "r", "--help"], ["restore", "-1"],
        ["restore", "r", "--", "f"], ["undo", "r"], ["undo", "--force"],
        ["undo", "--commit-edits", "--discard-edits"],
    ],
    ids=repr,
)
def test_anything_else_is_left_to_click(argv: list[str]) -> None:
    assert fast.plan(argv) is None


def test_the_forms_it_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VPA_CONFIG_ACTOR", raising=False)
    folder = str(tmp_path)

    assert fast.plan(["--store", folder, "audit", "f", "k"]) == fast.Plan(
        "audit", tmp_path, ("f", "k"), False
    )
    assert fast.plan([f"--store={folder}", "blame", "--json", "f"]) == fast.Plan(
        "blame", tmp_path, ("f",), True
    )
    nothing = (None,) * 5
    assert fast.plan(["log", "-n", "20"]) == fast.Plan(
        "log", None, (None, 20, *nothing), False
    )
    assert fast.plan(["log", "-n", "3", "f", "--json"]) == fast.Plan(
        "log", None, ("f", 3, *nothing), True
    )
    assert fast.plan(["log", "--json", "-n5"]) == fast.Plan(
        "log", None, (None, 5, *nothing), True
    )
    assert fast.plan(
        ["log", "--max-count=2", "--author", "Ann", "--since", "2h ago", "f",
         "--until=now", "--kind", "set", "--key", "f:a.b"]
    ) == fast.Plan("log", None, ("f", 2, "Ann", "2h ago", "now", "set", "f:a.b"), False)
    assert fast.plan(["restore", "r", "f", "g", "--force", "-m", "w"]) == fast.Plan(
        "restore", None, ("r", ("f", "g"), True, "refuse", "w", None, False), False
    )
    assert fast.plan(["undo", "--discard-edits", "--json"]) == fast.Plan(
        "undo", None, ("discard", "", None, False), True
    )
    assert fast.plan(["set", "f", "k", "v", "-m", "why", "--dry-run"]) == fast.Plan(
        "set", None, ("f", "k", "v", False, "why", None, True), False
    )


def test_a_store_option_click_would_refuse_is_left_to_click(tmp_path: Path) -> None:
    # click's Path(file_okay=False) refuses a file with its own message.
    (tmp_path / "file").write_text("x")

    assert fast.plan(["--store", str(tmp_path / "file"), "blame", "f"]) is None
    assert fast.plan(["--store", str(tmp_path / "new"), "blame", "f"]) is not None


@pytest.mark.parametrize(
    "name", ["VPA_CONFIG_LOG_FORMAT", "VPA_CONFIG_LOG_FILE", "_VPA_CONFIG_COMPLETE"]
)
def test_an_option_set_in_the_environment_is_left_to_click(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv(name, "json")

    assert fast.plan(["blame", "f"]) is None
    assert os.environ[name] == "json"


RESTORE_CASES = [
    ("restore", "HEAD~1", "-m", "back"),
    ("restore", "HEAD~3", "assistant.yaml", "--json"),
    ("restore", "HEAD~2", "--dry-run"),
    ("restore", "--actor", "Bob <b@x.org>", "HEAD~1", "--reason=why", "--force"),
    ("restore", "HEAD~1", "--commit-edits"),
    ("restore", "HEAD~1", "gone.yaml"),
    ("restore", "nosuch"),
    ("restore", "nosuch", "--json"),
    ("undo",),
    ("undo", "-m", "oops", "--json"),
    ("undo", "--dry-run", "--discard-edits"),
]
SET_CASES = [
    ("set", "assistant.yaml", "llm.temperature", "0.4", "-m", "calmer"),
    ("set", "assistant.yaml", "llm.temperature", "0.40", "--reason", "typed"),
    ("set", "--json", "assistant.yaml", "llm.max_tokens", "0755", "--reason=octal?"),
    ("set", "assistant.yaml", "llm.model", "4", "--string", "--actor", "Bob <b@x.org>"),
    ("set", "assistant.yaml", "llm.temperature", "9", "-m", "too hot"),
    ("set", "assistant.yaml", "llm.temperature", "0.2", "--dry-run"),
    ("set", "assistant.yaml", "llm.api_key", "sk-fast-secret-5678", "--json"),
    ("set", "assistant.yaml", "llm.temperature", "[1, 2"),
    ("set", "gone.yaml", "a", "1"),
]


@pytest.mark.parametrize("args", SET_CASES + RESTORE_CASES, ids=" ".join)
def test_a_plain_set_changes_and_answers_as_click_does(
    run_cli: RunCli, example: Path, tmp_path: Path, args: tuple[str, ...]
) -> None:
    twin = tmp_path / "twin"
    shutil.copytree(example, twin, symlinks=True)
    assert fast.plan(["--store", str(example), *args]) is not None
    clicked = run_cli(*args, store=twin, env=THROUGH_CLICK)

    direct = run_cli(*args, store=example)

    def masked(text: str) -> str:
        return re.sub(r"[0-9a-f]{40}", "REV", text)

    assert (direct.returncode, masked(direct.stdout), direct.stderr) == (
        clicked.returncode, masked(clicked.stdout), clicked.stderr,
    )
    assert "sk-fast-secret-5678" not in direct.stdout + direct.stderr
    assert (example / "assistant.yaml").read_bytes() == (twin / "assistant.yaml").read_bytes()
    shown = "--format=%an <%ae>%n%B"
    mine, theirs = git(example, "log", "-1", shown), git(twin, "log", "-1", shown)
    assert re.sub(r"Vpa-Correlation-Id: \w+", "", mine) == re.sub(
        r"Vpa-Correlation-Id: \w+", "", theirs
    )


def test_a_reader_that_goes_away_ends_it_as_click_does(
    example: Path, tmp_path: Path
) -> None:
    # The pipe is closed before the process writes: exit 141, quietly, with
    # click (which would exit 1, a refusal) and without it alike.
    ends = []
    for extra in ({}, THROUGH_CLICK):
        child = subprocess.Popen(
            [sys.executable, "-m", "vpa_config", "--store", str(example), "log"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=cli_env(tmp_path, **extra), cwd=tmp_path,
        )
        assert child.stdout is not None and child.stderr is not None
        child.stdout.close()
        with child.stderr:
            err = child.stderr.read()
        ends.append((child.wait(timeout=60), err))

    assert ends[0] == ends[1]
    assert ends[0][0] == 141
