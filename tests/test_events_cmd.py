"""``vpa-config events``: the audit trail read back, in real subprocesses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import RunCli, git


@pytest.fixture(name="busy_store")
def _busy_store(run_cli: RunCli, tmp_path: Path) -> Path:
    path = tmp_path / "store"
    steps = [
        ("init", "--example"),
        ("set", "assistant.yaml", "llm.temperature", "0.3", "-m", "calmer"),
        ("set", "assistant.yaml", "llm.temperature", "9"),
        (
            "--log-level",
            "critical",
            "set",
            "assistant.yaml",
            "llm.model",
            "gpt-x",
            "--actor",
            "Grace Hopper <grace@example.org>",
        ),
    ]
    for args in steps:
        run_cli(*args, store=path)
    return path


def records(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_events_json_lists_every_action_as_recorded(run_cli: RunCli, busy_store: Path):
    done = run_cli("events", "--json", store=busy_store)

    assert done.returncode == 0, done.stderr
    found = records(done.stdout)
    assert [(r["kind"], r["outcome"]) for r in found] == [
        ("init", "committed"),
        ("set", "committed"),
        ("set", "refused"),
        ("set", "committed"),
    ]
    assert found[1]["reason"] == "calmer"
    assert found[2]["argv"][-4:] == ["set", "assistant.yaml", "llm.temperature", "9"]
    assert [r["seq"] for r in found] == [1, 2, 3, 4]


def test_events_text_shows_outcome_actor_and_error(run_cli: RunCli, busy_store: Path):
    done = run_cli("events", store=busy_store)

    lines = done.stdout.splitlines()
    assert done.returncode == 0
    assert any(
        "refused" in line and "set assistant.yaml llm.temperature" in line
        for line in lines
    )
    assert any("expected at most 2" in line for line in lines)
    assert "Grace Hopper" in done.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--kind", "refused"), [("set", "refused")]),
        (
            ("--kind", "init", "--kind", "refused"),
            [("init", "committed"), ("set", "refused")],
        ),
        (("--actor", "grace"), [("set", "committed")]),
        (("--since", "1 hour ago", "--limit", "1"), [("set", "committed")]),
        (("--since", "2999-01-01T00:00:00Z"), []),
        (("--until", "2000-01-01"), []),
    ],
    ids=["kind", "kinds", "actor", "since-limit", "future", "past"],
)
def test_events_filters(run_cli: RunCli, busy_store: Path, args: tuple, expected: list):
    done = run_cli("events", "--json", *args, store=busy_store)

    assert done.returncode == 0, done.stderr
    assert [(r["kind"], r["outcome"]) for r in records(done.stdout)] == expected


def test_events_names_a_kind_no_record_has(run_cli: RunCli, busy_store: Path):
    done = run_cli("events", "--kind", "bogus", "--kind", "init", store=busy_store)

    assert done.returncode == 0, done.stderr
    assert "init" in done.stdout and "bogus" not in done.stdout
    [note] = done.stderr.splitlines()
    assert "no record has the kind or outcome 'bogus'" in note
    assert "committed" in note and "refused" in note and "set" in note


def test_events_rejects_an_unreadable_time(run_cli: RunCli, busy_store: Path):
    done = run_cli("events", "--since", "last blue moon", store=busy_store)

    assert done.returncode == 2
    assert "last blue moon" in done.stderr
    assert done.stderr.count("\n") == 1


def test_a_rewrite_is_reported_once_on_stderr_and_recorded(
    run_cli: RunCli, busy_store: Path
):
    git(busy_store, "reset", "-q", "--hard", "HEAD~2")

    first = run_cli("status", store=busy_store)
    second = run_cli("status", store=busy_store)
    trail = run_cli("events", "--json", "--kind", "history_rewritten", store=busy_store)

    assert first.returncode == 0 and second.returncode == 0
    assert "security.history_rewritten" in first.stderr
    assert second.stderr == ""
    (record,) = records(trail.stdout)
    assert record["outcome"] == "detected"
    assert record["revision_after"] == git(busy_store, "rev-parse", "HEAD").strip()


def test_events_help_names_its_options(run_cli: RunCli):
    done = run_cli("events", "--help")

    assert done.returncode == 0
    for option in ("--since", "--until", "--kind", "--actor", "--json"):
        assert option in done.stdout
