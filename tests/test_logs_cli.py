"""The CLI's event options, in real subprocesses: JSON lines on stderr, never stdout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import RunCli


@pytest.fixture(name="cli_store")
def _cli_store(run_cli: RunCli, tmp_path: Path) -> Path:
    path = tmp_path / "store"
    done = run_cli("init", "--example", store=path)
    assert done.returncode == 0, done.stderr
    return path


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_json_format_writes_only_json_lines_to_stderr(run_cli: RunCli, cli_store: Path):
    done = run_cli(
        "--log-format",
        "json",
        "--log-level",
        "debug",
        "set",
        "assistant.yaml",
        "llm.temperature",
        "0.3",
        store=cli_store,
    )

    assert done.returncode == 0, done.stderr
    events = json_lines(done.stderr)
    names = [event["event"] for event in events]
    assert "config.committed" in names
    assert names[-1] == "command.completed"
    for event in events:
        assert {
            "timestamp",
            "level",
            "event",
            "config_revision",
            "correlation_id",
        } <= set(event)
    assert len({event["correlation_id"] for event in events}) == 1
    assert '"event"' not in done.stdout


def test_command_summary_has_outcome_and_revisions(run_cli: RunCli, cli_store: Path):
    before = run_cli("--log-level", "info", "status", "--json", store=cli_store)
    done = run_cli(
        "--log-format",
        "json",
        "--log-level",
        "info",
        "set",
        "assistant.yaml",
        "llm.temperature",
        "0.3",
        store=cli_store,
    )

    summary = json_lines(done.stderr)[-1]
    committed = next(
        e for e in json_lines(done.stderr) if e["event"] == "config.committed"
    )
    assert summary["event"] == "command.completed"
    assert summary["command"] == "set"
    assert (summary["outcome"], summary["exit_code"]) == ("success", 0)
    assert summary["duration_s"] > 0
    assert summary["revision_before"] == committed["parent"]
    assert summary["revision_before"] == json.loads(before.stdout)["revision"]
    assert summary["revision_after"] == committed["revision"]


def test_refused_command_logs_command_failed(run_cli: RunCli, cli_store: Path):
    done = run_cli(
        "--log-format",
        "json",
        "--log-level",
        "warning",
        "set",
        "assistant.yaml",
        "llm.temperature",
        "9",
        store=cli_store,
    )

    assert done.returncode == 1
    lines = done.stderr.splitlines()
    events = [json.loads(line) for line in lines if line.startswith("{")]
    human = [line for line in lines if not line.startswith("{")]
    assert [e["event"] for e in events] == ["config.refused", "command.failed"]
    failed = events[-1]
    assert (failed["outcome"], failed["exit_code"], failed["level"]) == (
        "refused",
        1,
        "warning",
    )
    assert failed["revision_before"] == failed["revision_after"]
    assert human and human[0].startswith("vpa-config: assistant.yaml")


def test_default_level_keeps_a_normal_command_quiet(run_cli: RunCli, cli_store: Path):
    done = run_cli(
        "set", "assistant.yaml", "llm.api_key", "new-key-12345", store=cli_store
    )

    assert done.returncode == 0
    assert done.stderr == ""


def test_default_level_leaves_a_refusal_to_its_one_line_message(
    run_cli: RunCli, cli_store: Path
):
    done = run_cli("set", "assistant.yaml", "llm.temperature", "9", store=cli_store)

    assert done.returncode == 1
    assert done.stderr.count("\n") == 1, done.stderr


def test_environment_variables_choose_console_format_and_level(
    run_cli: RunCli, cli_store: Path
):
    done = run_cli(
        "set",
        "assistant.yaml",
        "llm.temperature",
        "0.3",
        store=cli_store,
        env={"VPA_CONFIG_LOG_FORMAT": "console", "VPA_CONFIG_LOG_LEVEL": "info"},
    )

    assert done.returncode == 0
    assert "config.committed" in done.stderr
    assert "command.completed" in done.stderr
    assert not done.stderr.lstrip().startswith("{")


def test_log_file_takes_the_events_and_stderr_stays_empty(
    run_cli: RunCli, cli_store: Path, tmp_path: Path
):
    log = tmp_path / "events.log"

    done = run_cli(
        "--log-file",
        str(log),
        "--log-level",
        "info",
        "set",
        "assistant.yaml",
        "llm.temperature",
        "0.3",
        store=cli_store,
    )

    assert done.returncode == 0
    assert done.stderr == ""
    assert json_lines(log.read_text())[-1]["event"] == "command.completed"


def test_unwritable_log_file_warns_once_and_the_change_succeeds(
    run_cli: RunCli, cli_store: Path, tmp_path: Path
):
    done = run_cli(
        "--log-file",
        str(tmp_path / "missing" / "events.log"),
        "--log-level",
        "info",
        "set",
        "assistant.yaml",
        "llm.temperature",
        "0.3",
        store=cli_store,
    )

    assert done.returncode == 0
    assert done.stderr.count("cannot write the log file") == 1
    assert "committed" in done.stdout


def test_bad_log_level_is_a_usage_error(run_cli: RunCli, cli_store: Path):
    done = run_cli("--log-level", "loud", "status", store=cli_store)

    assert done.returncode == 2
    assert "loud" in done.stderr


def test_correlation_id_can_come_from_the_caller(run_cli: RunCli, cli_store: Path):
    done = run_cli(
        "--log-format",
        "json",
        "--log-level",
        "info",
        "set",
        "assistant.yaml",
        "llm.temperature",
        "0.3",
        store=cli_store,
        env={"VPA_CONFIG_CORRELATION_ID": "deploy-77"},
    )

    assert {e["correlation_id"] for e in json_lines(done.stderr)} == {"deploy-77"}
