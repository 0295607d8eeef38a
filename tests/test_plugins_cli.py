"""``vpa-config plugins`` and the guard through the real CLI, across processes.

Stores are prepared through the library (fast); the command under test runs
as a real ``vpa-config`` process.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from plugin_helpers import ACTOR, FIXTURES

from conftest import RunCli, git, snapshot
from vpa_config import plugins
from vpa_config.store import ConfigStore


def prepared(store_path: Path, **entries: dict[str, Any]) -> None:
    """An example store with plugins enabled."""
    store, _ = ConfigStore.init(store_path, example=True, actor=ACTOR)
    for name, fields in entries.items():
        updates = {"path": FIXTURES, **fields}
        plugins.set_enabled(store, name, True, updates=updates, actor=ACTOR)
    store.close()


def set_setting(store_path: Path, key: str, value: Any) -> None:
    store = ConfigStore.open(store_path)
    store.set(".vpa-config/settings.yaml", key, value, actor=ACTOR)
    store.close()


def status(run_cli: RunCli, store: Path, name: str) -> dict[str, Any]:
    done = run_cli("plugins", "status", name, "--json", store=store)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_enable_refuse_disable_through_the_cli(
    run_cli: RunCli, store_path: Path
) -> None:
    ConfigStore.init(store_path, example=True, actor=ACTOR)[0].close()
    enabled = run_cli(
        "plugins",
        "enable",
        "good",
        "--spec",
        "vpa_good:Plugin",
        "--path",
        FIXTURES,
        store=store_path,
    )
    assert enabled.returncode == 0, enabled.stderr
    set_setting(store_path, "plugins.entries.good.options", {"max_temperature": 1})
    before = snapshot(store_path)

    refused = run_cli(
        "set", "assistant.yaml", "llm.temperature", "1.5", store=store_path
    )

    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "vpa-config: assistant.yaml: llm.temperature: at most 1 on this host "
        "(plugin good). Nothing was written."
    )
    assert snapshot(store_path) == before
    assert run_cli("plugins", "disable", "good", store=store_path).returncode == 0
    listed = run_cli("plugins", "list", "--json", store=store_path)
    assert [(p["name"], p["state"]) for p in json.loads(listed.stdout)] == [
        ("good", "disabled")
    ]


def test_raising_plugin_refuses_without_traceback_and_fail_open_commits(
    run_cli: RunCli, store_path: Path
) -> None:
    prepared(store_path, bad={"spec": "vpa_misbehave:Raises"})
    before = snapshot(store_path)

    refused = run_cli(
        "set", "assistant.yaml", "llm.temperature", "0.5", store=store_path
    )

    assert refused.returncode == 1
    assert "plugin bad could not judge the change (raised: ValueError" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert snapshot(store_path) == before

    set_setting(store_path, "plugins.entries.bad.policy", "open")
    done = run_cli("set", "assistant.yaml", "llm.temperature", "0.5", store=store_path)
    assert done.returncode == 0, done.stderr
    assert "committed" in done.stdout
    assert status(run_cli, store_path, "bad")["state"] == "degraded"


def test_plugin_that_stops_importing_backs_off_then_quarantines_until_reset(
    run_cli: RunCli, store_path: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "plugins"
    folder.mkdir()
    module = folder / "vpa_fragile.py"
    module.write_text(
        "class Plugin:\n    def validate(self, change):\n        return []\n"
    )
    prepared(
        store_path,
        fragile={"spec": "vpa_fragile:Plugin", "path": str(folder), "critical": True},
    )
    set_setting(store_path, "plugins.guard.quarantine_restarts", 1)
    module.write_text("import vpa_gone_dependency\n")
    before = snapshot(store_path)

    first = run_cli("set", "assistant.yaml", "llm.temperature", "0.5", store=store_path)

    assert first.returncode == 1
    assert "load_failed: ModuleNotFoundError" in first.stderr
    waiting = status(run_cli, store_path, "fragile")
    assert waiting["restart_attempt"] == 1
    assert waiting["last_error"]["kind"] == "load_failed"
    time.sleep(waiting["restart_in_s"] or 0)  # at most 1 s: the shortest delay
    second = run_cli(
        "set", "assistant.yaml", "llm.temperature", "0.5", store=store_path
    )
    assert second.returncode == 1
    quarantined = status(run_cli, store_path, "fragile")
    assert (quarantined["state"], quarantined["health"]) == ("quarantined", "unhealthy")
    assert snapshot(store_path) == before
    reset = run_cli("plugins", "reset", "fragile", store=store_path)
    assert reset.returncode == 0
    assert reset.stdout.strip() == "fragile: state cleared"
    assert status(run_cli, store_path, "fragile")["state"] == "active"


def test_plugins_help_and_unknown_status(run_cli: RunCli, store_path: Path) -> None:
    ConfigStore.init(store_path, actor=ACTOR)[0].close()

    helped = run_cli("plugins", "--help", store=store_path)
    missing = run_cli("plugins", "status", "nope", store=store_path)

    assert helped.returncode == 0
    assert "quarantined" in helped.stdout
    assert missing.returncode == 5
    assert "no plugin called 'nope'" in missing.stderr


def test_status_and_list_of_a_store_without_plugins_say_so(
    run_cli: RunCli, store_path: Path
) -> None:
    ConfigStore.init(store_path, actor=ACTOR)[0].close()

    for command in ("status", "list"):
        done = run_cli("plugins", command, store=store_path)

        assert done.returncode == 0
        assert done.stdout == "no plugins configured or installed\n", command


def test_disable_and_reset_of_an_unknown_plugin_commit_nothing(
    run_cli: RunCli, store_path: Path
) -> None:
    ConfigStore.init(store_path, actor=ACTOR)[0].close()
    before = snapshot(store_path)

    disabled = run_cli("plugins", "disable", "nope", store=store_path)
    reset = run_cli("plugins", "reset", "nope", store=store_path)

    assert disabled.returncode == 5, disabled.stderr
    assert reset.returncode == 5, reset.stderr
    assert "no plugin called 'nope'" in disabled.stderr
    assert snapshot(store_path) == before


HARD_EXIT = """\
import os


class Validates:
    def validate(self, change):
        os._exit(7)


class OnCommit:
    def on_commit(self, change):
        os._exit(7)
"""


@pytest.mark.parametrize(
    ("trusted", "reason"),
    [
        (True, "exited: called os._exit(7) to exit with code 7; vpa-config did not "
         "exit"),
        (False, "crashed: the sandbox process exited with status 7"),
    ],
    ids=["in-process", "sandboxed"],
)
def test_a_plugin_calling_os_exit_is_refused_as_a_plugin_failure(
    run_cli: RunCli, store_path: Path, tmp_path: Path, trusted: bool, reason: str
) -> None:
    (tmp_path / "vpa_hard_exit.py").write_text(HARD_EXIT)
    entry = {"spec": "vpa_hard_exit:Validates", "path": str(tmp_path)}
    prepared(store_path, exiter={**entry, "trusted": trusted})
    before = snapshot(store_path)

    refused = run_cli(
        "set", "assistant.yaml", "llm.temperature", "0.5", store=store_path
    )

    assert refused.returncode == 1, refused.stderr
    assert refused.stderr == (
        "vpa-config: assistant.yaml: (document): plugin exiter could not judge the "
        f"change ({reason}); refused because its policy is fail-closed (see "
        '"vpa-config plugins status exiter"). Nothing was written.\n'
    )
    assert snapshot(store_path) == before


def test_a_trusted_on_commit_calling_os_exit_leaves_the_commit_whole(
    run_cli: RunCli, store_path: Path, tmp_path: Path
) -> None:
    (tmp_path / "vpa_hard_exit.py").write_text(HARD_EXIT)
    entry = {"spec": "vpa_hard_exit:OnCommit", "path": str(tmp_path)}
    prepared(store_path, exiter=entry)  # its on_commit ran for the enabling commit
    assert run_cli("plugins", "reset", "exiter", store=store_path).returncode == 0
    head = git(store_path, "rev-parse", "HEAD")

    done = run_cli("set", "assistant.yaml", "llm.temperature", "0.5", store=store_path)

    assert done.returncode == 0, done.stderr
    assert git(store_path, "rev-parse", "HEAD~1") == head
    assert "clean:" in run_cli("status", store=store_path).stdout
    failed = status(run_cli, store_path, "exiter")["last_error"]
    assert (failed["hook"], failed["kind"]) == ("on_commit", "exited")
    assert "called os._exit(7)" in failed["message"]
