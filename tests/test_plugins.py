"""The plugin guard in this process: hooks, boundary, policies, breaker, watchdog."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import cli_env, snapshot
from plugin_helpers import ACTOR, Guarded, TopRandom, make_guarded

from vpa_config import plugins
from vpa_config.errors import InvalidConfigError


@pytest.fixture(name="guarded")
def _guarded(store_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Guarded]:
    guarded = make_guarded(store_path, monkeypatch)
    yield guarded
    guarded.store.close()


def set_temperature(guarded: Guarded, value: float) -> object:
    return guarded.store.set("assistant.yaml", "llm.temperature", value, actor=ACTOR)


# --- hooks -------------------------------------------------------------------


def test_validator_refuses_like_a_schema_error_and_writes_nothing(
    guarded: Guarded, store_path: Path
) -> None:
    guarded.enable("good", "vpa_good:Plugin", options={"max_temperature": 1.0})
    before = snapshot(store_path)

    with pytest.raises(InvalidConfigError) as caught:
        set_temperature(guarded, 1.5)

    problem = caught.value.problems[0]
    assert (problem.file, problem.dotted) == ("assistant.yaml", "llm.temperature")
    assert problem.message == "at most 1.0 on this host (plugin good)"
    assert problem.source == "plugin"
    assert snapshot(store_path) == before
    assert set_temperature(guarded, 0.9).committed


def test_plugin_options_are_validated_against_its_schema_with_a_line(
    guarded: Guarded, store_path: Path
) -> None:
    before = snapshot(store_path)

    with pytest.raises(InvalidConfigError) as caught:
        guarded.enable("good", "vpa_good:Plugin", options={"max_temperature": "hot"})

    problem = caught.value.problems[0]
    assert problem.file == ".vpa-config/settings.yaml"
    assert problem.dotted == "plugins.entries.good.options.max_temperature"
    assert problem.line is not None
    assert "number" in problem.message
    assert snapshot(store_path) == before


def test_a_plugin_that_fails_to_import_cannot_be_enabled(
    guarded: Guarded, store_path: Path
) -> None:
    before = snapshot(store_path)

    with pytest.raises(InvalidConfigError) as caught:
        guarded.enable("broken", "vpa_broken:Plugin")

    message = str(caught.value)
    assert "plugins.entries.broken: plugin broken cannot be loaded" in message
    assert "No module named 'vpa_no_such_dependency'" in message
    assert snapshot(store_path) == before


def test_on_commit_sees_revision_actor_and_redacted_secrets(
    guarded: Guarded, tmp_path: Path
) -> None:
    record = tmp_path / "commits.jsonl"
    guarded.enable("good", "vpa_good:Plugin", options={"record_to": str(record)})

    result = set_temperature(guarded, 0.5)

    seen = json.loads(record.read_text().splitlines()[-1])
    assert seen == {
        "revision": result.revision,
        "actor": ACTOR,
        "keys": ["assistant.yaml:llm.temperature"],
    }
    with pytest.raises(InvalidConfigError) as caught:
        guarded.store.set("assistant.yaml", "llm.api_key", "sk-live-1234", actor=ACTOR)
    assert "saw api_key=<redacted>" in str(caught.value)
    assert "sk-live-1234" not in str(caught.value)


def test_a_plugin_allowed_secrets_sees_them(guarded: Guarded) -> None:
    guarded.enable("good", "vpa_good:Plugin", secrets=True)

    with pytest.raises(InvalidConfigError) as caught:
        guarded.store.set("assistant.yaml", "llm.api_key", "sk-live-1234", actor=ACTOR)

    assert "saw api_key=sk-live-1234" in str(caught.value)


def test_change_values_are_read_only() -> None:
    frozen = plugins.freeze({"a": [1, {"b": 2}]})

    with pytest.raises(TypeError):
        frozen["a"] = 1  # type: ignore[index]
    assert frozen["a"][1]["b"] == 2
    assert plugins.thaw(frozen) == {"a": [1, {"b": 2}]}


def test_health_hook_contributes_checks(guarded: Guarded) -> None:
    guarded.enable("good", "vpa_good:Plugin")

    checks = guarded.host.health_checks()

    assert checks == {
        "good": [{"name": "good-check", "status": "healthy", "message": "fine"}]
    }


# --- the error boundary ------------------------------------------------------

MISBEHAVING = [
    ("vpa_misbehave:Raises", "raised", "ValueError: plugin bug", "plugin.failed"),
    ("vpa_misbehave:Exits", "exited", "called exit(3)", "plugin.failed"),
    ("vpa_misbehave:ExitsHard", "exited", "called os._exit(9) to exit with code 9",
     "plugin.failed"),
    ("vpa_misbehave:ExitsHardAndCatches", "exited", "called os._exit(9)",
     "plugin.failed"),
    ("vpa_misbehave:Interrupts", "interrupted", "", "plugin.failed"),
    ("vpa_misbehave:Garbage", "bad_return", "returned int", "plugin.failed"),
    ("vpa_misbehave:GarbageItems", "bad_return", "expected a string", "plugin.failed"),
    ("vpa_misbehave:Mutates", "raised", "TypeError", "plugin.failed"),
    ("vpa_misbehave:Hangs", "timed_out", "abandoned", "plugin.timed_out"),
]


@pytest.mark.parametrize(
    ("spec", "kind", "text", "event"),
    MISBEHAVING,
    ids=[row[0].split(":")[1] for row in MISBEHAVING],
)
def test_misbehaving_validator_fails_closed_and_is_logged(
    guarded: Guarded, store_path: Path, spec: str, kind: str, text: str, event: str
) -> None:
    guarded.enable("bad", spec, timeout_s=0.3)
    head = guarded.store.repo.head()
    before = snapshot(store_path)
    failures = guarded.state("bad").get("failures", 0)

    with pytest.raises(InvalidConfigError) as caught:
        set_temperature(guarded, 0.5)

    message = str(caught.value)
    assert f"plugin bad could not judge the change ({kind}" in message
    assert text in message
    assert "fail-closed" in message
    assert snapshot(store_path) == before
    logged = guarded.named(event)[-1]
    assert logged["plugin"] == "bad"
    assert logged["hook"] == "validate"
    assert logged["reason"] == kind
    assert logged["config_revision"] == head
    assert logged["correlation_id"]
    assert guarded.state("bad")["failures"] == failures + 1


def test_traceback_is_structured(guarded: Guarded) -> None:
    guarded.enable("bad", "vpa_misbehave:Raises")

    with pytest.raises(InvalidConfigError):
        set_temperature(guarded, 0.5)

    failed = guarded.named("plugin.failed")[-1]
    assert failed["plugin_version"] == "6.6.6"
    assert failed["error_type"] == "ValueError"
    last = failed["exception"][-1]
    assert last["file"].endswith("vpa_misbehave.py")
    assert last["function"] == "validate"
    assert "raise ValueError" in last["code"]


def test_fail_open_accepts_the_change_and_marks_the_plugin_degraded(
    guarded: Guarded,
) -> None:
    guarded.enable("bad", "vpa_misbehave:Raises", policy="open")

    result = set_temperature(guarded, 0.5)

    assert result.committed
    assert guarded.named("plugin.degraded")[-1]["plugin"] == "bad"
    assert guarded.status("bad").state == "degraded"


def test_one_failing_plugin_does_not_stop_the_others(guarded: Guarded) -> None:
    guarded.enable("bad", "vpa_misbehave:Raises", policy="open")
    guarded.enable("good", "vpa_good:Plugin", options={"max_temperature": 1.0})

    with pytest.raises(InvalidConfigError) as caught:
        set_temperature(guarded, 1.5)

    assert [p.rule for p in caught.value.problems] == ["plugin:good"]
    assert guarded.named("plugin.failed")[-1]["plugin"] == "bad"


def test_on_commit_failure_keeps_the_commit(guarded: Guarded, store_path: Path) -> None:
    guarded.enable("bad", "vpa_misbehave:Raises", policy="open")
    guarded.events.clear()

    result = set_temperature(guarded, 0.5)

    assert result.committed
    assert guarded.store.repo.head() == result.revision
    failed = guarded.named("plugin.failed")
    assert [e["hook"] for e in failed] == ["validate", "on_commit"]
    assert failed[1]["config_revision"] == result.revision


def test_a_refusing_plugin_can_always_be_disabled(guarded: Guarded) -> None:
    guarded.enable("bad", "vpa_misbehave:Raises")
    with pytest.raises(InvalidConfigError):
        set_temperature(guarded, 0.5)

    plugins.set_enabled(guarded.store, "bad", False, actor=ACTOR)

    assert set_temperature(guarded, 0.5).committed


def test_users_ctrl_c_still_aborts_a_command_stuck_in_a_plugin(
    guarded: Guarded, store_path: Path
) -> None:

    guarded.enable("slow", "vpa_misbehave:Hangs", timeout_s=10)
    before = snapshot(store_path)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()

    with pytest.raises(KeyboardInterrupt):
        set_temperature(guarded, 0.5)

    timer.join()
    assert snapshot(store_path) == before
    assert guarded.store.lock.holder() is None


# --- the circuit breaker -----------------------------------------------------


def test_breaker_opens_admits_one_trial_and_reopens_longer(guarded: Guarded) -> None:
    guarded.guard(breaker_failures=3, breaker_open_s=60, breaker_open_max_s=600)
    guarded.enable("bad", "vpa_misbehave:Raises", policy="open")
    for value in (0.1, 0.2, 0.3):
        set_temperature(guarded, value)
    opened = guarded.named("plugin.breaker_opened")
    assert [e["open_s"] for e in opened] == [60]

    failures = len(guarded.named("plugin.failed"))
    set_temperature(guarded, 0.4)
    assert len(guarded.named("plugin.failed")) == failures  # skipped, not called

    guarded.clock.advance(61)
    slot = guarded.host.slots["bad"]
    assert guarded.host._admit(slot) == (True, "")
    assert guarded.host._admit(slot)[1].startswith("breaker half-open")
    guarded.host._failed(
        slot, "validate", plugins.PluginCallError("raised", "x"), None, trial=True
    )
    assert [e["open_s"] for e in guarded.named("plugin.breaker_opened")] == [60, 120]
    assert guarded.status("bad").breaker == "open"


def test_breaker_trial_success_closes_it(guarded: Guarded, tmp_path: Path) -> None:
    switch = tmp_path / "switch"
    switch.write_text("fail")
    guarded.guard(breaker_failures=2, breaker_open_s=30)
    guarded.enable("flaky", "vpa_flaky:Plugin", options={"switch": str(switch)})
    for value in (0.1, 0.2):
        with pytest.raises(InvalidConfigError):
            set_temperature(guarded, value)
    assert guarded.status("flaky").breaker == "open"
    with pytest.raises(InvalidConfigError, match=r"breaker open for 30\.0 s more"):
        set_temperature(guarded, 0.3)

    switch.unlink()
    guarded.clock.advance(31)
    result = set_temperature(guarded, 0.3)

    assert result.committed
    assert guarded.named("plugin.breaker_closed")[-1]["plugin"] == "flaky"
    assert guarded.status("flaky").state == "active"


def test_breaker_state_is_shared_by_a_new_process(
    guarded: Guarded, store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vpa_config.store import ConfigStore

    guarded.guard(breaker_failures=1)
    guarded.enable("bad", "vpa_misbehave:Raises", policy="open")
    set_temperature(guarded, 0.1)

    other = ConfigStore.open(store_path, plugins=False)
    host = plugins.attach(other, clock=guarded.clock)
    host.refresh()
    verdict = host.call(host.slots["bad"], "validate", None, None)
    other.close()

    assert verdict.reason.startswith("breaker open")


# --- the watchdog: restarts, backoff, quarantine -----------------------------


def test_restart_backoff_doubles_with_jitter_from_one_second_to_the_cap(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    guarded = make_guarded(store_path, monkeypatch, rng=TopRandom())
    guarded.guard(
        restart_base_s=1, restart_cap_s=5, quarantine_restarts=10, breaker_failures=100
    )
    guarded.enable("bad", "vpa_misbehave:Exits", policy="open")
    delays = []
    for value in range(6):
        set_temperature(guarded, value / 10)
        delays.append(guarded.named("plugin.restarting")[-1]["delay_s"])
        guarded.clock.advance(delays[-1])
    guarded.store.close()

    assert delays == [1, 2, 4, 5, 5, 5]


def test_restart_delay_is_never_under_a_second(guarded: Guarded) -> None:
    class Low:
        def uniform(self, a: float, b: float) -> float:
            return 0.0

    guarded.host.rng = Low()  # type: ignore[assignment]
    guarded.enable("bad", "vpa_misbehave:Exits", policy="open")

    set_temperature(guarded, 0.1)

    assert guarded.named("plugin.restarting")[-1]["delay_s"] == 1


def test_crash_loop_backs_off_then_quarantines_until_reset(guarded: Guarded) -> None:
    guarded.guard(quarantine_restarts=2, quarantine_window_s=600, breaker_failures=100)
    guarded.enable("bad", "vpa_misbehave:Exits", policy="open", critical=True)

    set_temperature(guarded, 0.1)
    assert guarded.status("bad").state == "backoff"
    loads = len(guarded.named("plugin.loaded"))
    set_temperature(guarded, 0.2)  # inside the backoff: not called, not loaded
    assert len(guarded.named("plugin.loaded")) == loads
    assert len(guarded.named("plugin.failed")) == 1

    for value in (0.3, 0.4):
        guarded.clock.advance(10)
        set_temperature(guarded, value)
    quarantined = guarded.named("plugin.quarantined")
    assert len(quarantined) == 1
    assert quarantined[0]["category"] == "security"
    assert guarded.status("bad").state == "quarantined"
    assert (
        plugins.plugin_health(guarded.store, guarded.clock)[0]["status"] == "unhealthy"
    )

    guarded.clock.advance(10_000)
    set_temperature(guarded, 0.5)
    assert len(guarded.named("plugin.failed")) == 3  # still quarantined
    assert plugins._blocked({"quarantined": True}, 0, "bad") == (
        'quarantined; run "vpa-config plugins reset bad" to re-admit it'
    )

    plugins.reset(guarded.store, "bad")
    set_temperature(guarded, 0.6)
    assert len(guarded.named("plugin.failed")) == 4
    assert guarded.status("bad").state == "backoff"


def test_restarting_reloads_the_plugin(guarded: Guarded, tmp_path: Path) -> None:
    switch = tmp_path / "switch"
    switch.write_text("exit")
    guarded.enable("flaky", "vpa_flaky:Plugin", options={"switch": str(switch)})
    with pytest.raises(InvalidConfigError, match="exited"):
        set_temperature(guarded, 0.1)
    switch.unlink()

    with pytest.raises(InvalidConfigError, match="backoff"):
        set_temperature(guarded, 0.2)
    guarded.clock.advance(1.5)
    result = set_temperature(guarded, 0.2)

    assert result.committed
    phases = [e["phase"] for e in guarded.named("plugin.restarting")]
    assert phases == ["scheduled", "starting"]
    assert len(guarded.named("plugin.loaded")) >= 2
    assert guarded.status("flaky").state == "active"


def test_quarantined_non_critical_plugin_makes_health_degraded(
    guarded: Guarded,
) -> None:
    guarded.guard(quarantine_restarts=1, breaker_failures=100)
    guarded.enable("bad", "vpa_misbehave:Exits", policy="open")
    set_temperature(guarded, 0.1)
    guarded.clock.advance(10)
    set_temperature(guarded, 0.2)

    health = plugins.plugin_health(guarded.store, guarded.clock)

    assert health[0]["name"] == "plugin:bad"
    assert (health[0]["state"], health[0]["status"]) == ("quarantined", "degraded")


def test_state_file_is_valid_json_after_every_update(guarded: Guarded) -> None:
    guarded.enable("bad", "vpa_misbehave:Raises", policy="open")

    set_temperature(guarded, 0.1)

    path = guarded.store.repo.controldir / plugins.STATE_FILE
    data = json.loads(path.read_text())
    assert data["bad"]["failures"] == 3  # on_commit of the enable, validate, on_commit
    assert data["bad"]["last_error"]["kind"] == "raised"


OWN_EXIT = """
import os
from vpa_config.exitguard import run_refusing_exit

def plugin_call():
    pid = os.fork()
    if pid == 0:
        os._exit(3)  # in a child the plugin forked, os._exit still exits
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])

assert run_refusing_exit(plugin_call) == 3
os._exit(5)  # outside a plugin call, too
"""


def test_os_exit_outside_a_plugin_call_still_ends_the_process(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", OWN_EXIT],
        capture_output=True, text=True, env=cli_env(tmp_path), timeout=60,
    )

    assert done.returncode == 5, done.stderr
