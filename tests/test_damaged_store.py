"""A damaged ref or object is reported as such: one line, exit 6, never a bug."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import RunCli, git
from vpa_config.errors import DamagedStoreError, damage_of


def _break_branch(store: Path) -> Path:
    ref = store / ".git" / "refs" / "heads" / "main"
    ref.write_text("garbage\n")
    return ref


def _cut_head_commit(store: Path) -> Path:
    head = git(store, "rev-parse", "HEAD").strip()
    loose = store / ".git" / "objects" / head[:2] / head[2:]
    data = loose.read_bytes()
    os.chmod(loose, 0o644)
    loose.write_bytes(data[:12])
    return loose


def _one_line_refusal(done, code: int, *names: str) -> None:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == code, done.stderr
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "internal error" not in lines[0]
    for name in names:
        assert name in lines[0]


@pytest.mark.parametrize(
    "argv",
    [["status"], ["get", "assistant.yaml", "llm.temperature"], ["log"],
     ["set", "assistant.yaml", "llm.temperature", "0.3"], ["verify"]],
)
def test_a_branch_holding_no_commit_id_is_named_and_exits_6(
    run_cli: RunCli, cli_store: Path, argv: list[str]
) -> None:
    trail = (cli_store / ".git" / "vpa-config-audit.jsonl").read_bytes()
    ref = _break_branch(cli_store)

    done = run_cli(*argv, store=cli_store)

    _one_line_refusal(done, 6, str(ref), "'garbage'", "not a commit id")
    # A read that finds the branch damaged records no rewrite of history.
    assert (cli_store / ".git" / "vpa-config-audit.jsonl").read_bytes() == trail


@pytest.mark.parametrize(
    "argv", [["status"], ["get", "assistant.yaml", "llm.temperature"], ["log"]]
)
def test_a_commit_object_cut_short_is_named_and_exits_6(
    run_cli: RunCli, cli_store: Path, argv: list[str]
) -> None:
    loose = _cut_head_commit(cli_store)

    done = run_cli(*argv, store=cli_store)

    _one_line_refusal(done, 6, "damaged", str(loose))


def test_verify_reports_a_damaged_object_as_a_failed_check(
    run_cli: RunCli, cli_store: Path
) -> None:
    loose = _cut_head_commit(cli_store)

    done = run_cli("verify", "--json", store=cli_store)

    assert done.returncode == 1, done.stderr
    checks = {check["name"]: check for check in json.loads(done.stdout)["checks"]}
    assert not checks["schemas"]["ok"]
    assert str(loose) in checks["schemas"]["summary"]
    assert checks["audit_chain"]["ok"]


def test_health_shows_the_damage_in_its_own_words(
    run_cli: RunCli, cli_store: Path
) -> None:
    ref = _break_branch(cli_store)

    done = run_cli("health", "--json", store=cli_store)

    assert done.returncode == 2, done.stderr
    outputs = [
        entry["output"]
        for entries in json.loads(done.stdout)["checks"].values()
        for entry in entries
        if entry["status"] == "fail"
    ]
    assert any(output.startswith(str(ref)) for output in outputs), outputs


def test_only_errors_of_reading_the_repository_count_as_damage() -> None:
    from dulwich.errors import ObjectFormatException

    def raised(exc: Exception) -> Exception:
        try:
            raise exc
        except Exception as caught:  # noqa: BLE001
            return caught

    found = damage_of(raised(ObjectFormatException("no header")), "commit abc")
    assert isinstance(found, DamagedStoreError) and found.exit_code == 6
    assert "commit abc: no header" in str(found)
    # The same built-in errors raised by anything but dulwich are bugs.
    assert damage_of(raised(ValueError("Invalid object id"))) is None
    assert damage_of(raised(KeyError("x"))) is None
    assert damage_of(raised(RuntimeError("x"))) is None


def test_a_missing_head_is_damage_not_a_new_store(
    run_cli: RunCli, cli_store: Path
) -> None:
    trail = (cli_store / ".git" / "vpa-config-audit.jsonl").read_bytes()
    (cli_store / ".git" / "HEAD").unlink()

    for argv in (["status"], ["set", "assistant.yaml", "llm.temperature", "0.3"]):
        done = run_cli(*argv, store=cli_store)

        _one_line_refusal(done, 6, str(cli_store / ".git" / "HEAD"), "is missing")
    assert (cli_store / ".git" / "vpa-config-audit.jsonl").read_bytes() == trail
