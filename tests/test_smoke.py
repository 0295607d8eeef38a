"""The main job end to end through the real CLI."""

from __future__ import annotations

from pathlib import Path

from conftest import RunCli, git, snapshot


def test_init_set_refuse_log_restore(run_cli: RunCli, store_path: Path) -> None:
    assert run_cli("init", "--example", store=store_path).returncode == 0
    done = run_cli("set", "assistant.yaml", "llm.temperature", "0.4", "-m", "calmer",
                   store=store_path)
    assert done.returncode == 0, done.stderr
    before = snapshot(store_path)

    refused = run_cli("set", "assistant.yaml", "llm.temperature", "9", store=store_path)

    assert refused.returncode == 1
    assert "assistant.yaml:15:3: llm.temperature: expected at most 2; got 9" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert snapshot(store_path) == before
    assert "calmer" in run_cli("log", store=store_path).stdout
    assert run_cli("restore", "HEAD~1", store=store_path).returncode == 0
    assert run_cli("get", "assistant.yaml", "llm.temperature",
                   store=store_path).stdout.strip() == "0.7"
    assert git(store_path, "log", "-1", "--format=%an|%cn").strip() == (
        "Ada Lovelace|vpa-config"
    )
