"""Untrusted plugins in a child process: limits, kills, floods, and the protocol."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import RunCli, snapshot
from plugin_helpers import ACTOR, FIXTURES, Guarded, make_guarded

from vpa_config import sandbox
from vpa_config.errors import InvalidConfigError


@pytest.fixture(name="guarded")
def _guarded(store_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Guarded]:
    guarded = make_guarded(store_path, monkeypatch)
    yield guarded
    guarded.store.close()


def refused_because(guarded: Guarded, store_path: Path) -> str:
    """Try a valid change; it must be refused with nothing written. The message."""
    before = snapshot(store_path)
    with pytest.raises(InvalidConfigError) as caught:
        guarded.store.set("assistant.yaml", "llm.temperature", 0.5, actor=ACTOR)
    assert snapshot(store_path) == before
    return str(caught.value)


def test_a_sandboxed_plugin_works_like_a_trusted_one(guarded: Guarded) -> None:
    guarded.enable(
        "good", "vpa_good:Plugin", trusted=False, options={"max_temperature": 1.0}
    )

    with pytest.raises(InvalidConfigError, match=r"at most 1\.0 on this host"):
        guarded.store.set("assistant.yaml", "llm.temperature", 1.5, actor=ACTOR)
    with pytest.raises(InvalidConfigError, match="api_key=<redacted>"):
        guarded.store.set("assistant.yaml", "llm.api_key", "sk-live-9", actor=ACTOR)

    assert guarded.store.set(
        "assistant.yaml", "llm.temperature", 0.9, actor=ACTOR
    ).committed
    assert guarded.host.slots["good"].runner.sandboxed
    assert guarded.named("plugin.loaded")[-1]["sandboxed"] is True
    assert guarded.named("plugin.loaded")[-1]["plugin_version"] == "1.2.3"


CRASHES = [
    ("ExitsHard", "the sandbox process exited with status 9"),
    ("Segfaults", "the sandbox process was killed by SIGSEGV"),
    ("Aborts", "the sandbox process was killed by SIGABRT"),
]


@pytest.mark.parametrize(("cls", "text"), CRASHES, ids=[c for c, _ in CRASHES])
def test_a_crashing_plugin_is_contained_and_restarted(
    guarded: Guarded, store_path: Path, cls: str, text: str
) -> None:
    guarded.enable("bad", f"vpa_misbehave:{cls}", trusted=False)

    message = refused_because(guarded, store_path)

    assert f"(crashed: {text}" in message
    assert guarded.named("plugin.failed")[-1]["reason"] == "crashed"
    assert guarded.named("plugin.restarting")[-1]["phase"] == "scheduled"
    assert guarded.status("bad").state == "backoff"
    assert guarded.host.slots["bad"].runner is None


def test_a_hung_plugin_has_its_process_group_killed(
    guarded: Guarded, store_path: Path
) -> None:
    guarded.enable("bad", "vpa_misbehave:SpawnsAndHangs", trusted=False, timeout_s=1)
    guarded.host.refresh()
    slot = guarded.host.slots["bad"]
    guarded.host._ensure_loaded(slot, None)
    runner = slot.runner
    pid = runner.proc.pid

    message = refused_because(guarded, store_path)

    assert "timed_out: no answer within 1 s; the process group was killed" in message
    grandchild = int(runner.stderr_tail().split("grandchild=")[1].split()[0])
    assert _gone(pid)
    assert _gone(grandchild)
    assert guarded.named("plugin.timed_out")[-1]["plugin"] == "bad"


def test_a_cpu_spin_is_stopped(guarded: Guarded, store_path: Path) -> None:
    guarded.guard(sandbox_cpu_s=1)
    guarded.enable("bad", "vpa_misbehave:Spins", trusted=False, timeout_s=3)

    message = refused_because(guarded, store_path)

    # Whichever comes first: SIGXCPU from RLIMIT_CPU, or the wall-clock kill.
    assert (
        "killed by SIGXCPU" in message
        or "killed by SIGKILL" in message
        or ("timed_out" in message)
    )


def test_a_memory_bomb_hits_the_address_space_limit(
    guarded: Guarded, store_path: Path
) -> None:
    guarded.guard(sandbox_memory_mb=256)
    guarded.enable("bad", "vpa_misbehave:Allocates", trusted=False, timeout_s=5)

    message = refused_because(guarded, store_path)

    assert "out_of_memory" in message or "crashed" in message


def test_an_output_flood_is_drained_and_capped(
    guarded: Guarded, store_path: Path
) -> None:
    guarded.enable("loud", "vpa_misbehave:Floods", trusted=False, timeout_s=20)

    result = guarded.store.set("assistant.yaml", "llm.temperature", 0.5, actor=ACTOR)

    assert result.committed
    runner = guarded.host.slots["loud"].runner
    assert len(runner._stderr) == sandbox.MAX_STDERR
    assert runner._stderr_dropped > 30 << 20


def test_an_oversized_answer_is_refused(guarded: Guarded, store_path: Path) -> None:
    guarded.enable("big", "vpa_misbehave:HugeAnswer", trusted=False)

    message = refused_because(guarded, store_path)

    assert "bad_return: answer of" in message


def test_a_file_descriptor_flood_hits_the_open_files_limit(
    guarded: Guarded, store_path: Path
) -> None:
    guarded.enable("fds", "vpa_misbehave:FileFlood", trusted=False)

    message = refused_because(guarded, store_path)

    assert "Too many open files" in message


@pytest.mark.parametrize(
    ("cls", "kind"),
    [
        ("Raises", "raised"),
        ("Exits", "exited"),
        ("Garbage", "bad_return"),
        ("Interrupts", "interrupted"),
    ],
)
def test_plain_failures_are_reported_from_the_child(
    guarded: Guarded, store_path: Path, cls: str, kind: str
) -> None:
    guarded.enable("bad", f"vpa_misbehave:{cls}", trusted=False)

    message = refused_because(guarded, store_path)

    assert f"could not judge the change ({kind}" in message
    failed = guarded.named("plugin.failed")[-1]
    assert failed["reason"] == kind


def test_the_child_sees_no_secrets_in_its_environment(
    guarded: Guarded, store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VPA_TEST_SECRET_TOKEN", "hunter2")
    guarded.enable("peek", "vpa_misbehave:EnvPeek", trusted=False)

    message = refused_because(guarded, store_path)

    env = message.split("env=")[1].split(" ")[0].split(",")
    assert sorted(env) == ["HOME", "LANG", "PATH", "TMPDIR"] or sorted(env) == [
        "HOME",
        "LANG",
        "LC_CTYPE",
        "PATH",
        "TMPDIR",
    ]
    assert "hunter2" not in message
    assert "vpa-sandbox-" in message.split("cwd=")[1]


def test_sandbox_all_runs_trusted_plugins_in_a_child(guarded: Guarded) -> None:
    with guarded.store.transaction(subject="sandbox all", actor=ACTOR) as tx:
        text = tx.read(".vpa-config/settings.yaml").decode()
        tx.write(
            ".vpa-config/settings.yaml",
            (text + "plugins:\n  sandbox_all: true\n").encode(),
        )
    guarded.enable("good", "vpa_good:Plugin")

    guarded.store.set("assistant.yaml", "llm.temperature", 0.5, actor=ACTOR)

    assert guarded.host.slots["good"].runner.sandboxed


def test_child_applies_its_limits(tmp_path: Path) -> None:
    probe = (
        "import resource, json, sys\n"
        "from vpa_config.sandbox import apply_limits\n"
        "apply_limits({'cpu_s': 3, 'memory_b': 300 << 20, 'files': 40,"
        " 'file_size_b': 1 << 20})\n"
        "names = ['CORE', 'CPU', 'AS', 'NOFILE', 'FSIZE']\n"
        "print(json.dumps({n: resource.getrlimit(getattr(resource, 'RLIMIT_' + n))"
        " for n in names}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(sandbox.__file__).parent.parent)},
    )

    limits = json.loads(done.stdout)
    assert limits["CORE"] == [0, 0]
    assert limits["CPU"] == [3, 4]
    assert limits["AS"][0] == 300 << 20
    assert limits["NOFILE"][0] == 40
    assert limits["FSIZE"][0] == 1 << 20


def test_protocol_frames_round_trip_and_refuse_oversized(tmp_path: Path) -> None:
    read_fd, write_fd = os.pipe()
    sandbox._send(write_fd, {"ok": True, "value": [1, "two"]})
    os.write(write_fd, struct.pack(">I", sandbox.MAX_MESSAGE + 1))
    os.close(write_fd)

    assert sandbox._receive(read_fd) == {"ok": True, "value": [1, "two"]}
    assert sandbox._receive(read_fd) is None
    os.close(read_fd)


def test_sandboxed_crash_through_the_cli_keeps_the_store_intact(
    run_cli: RunCli, store_path: Path
) -> None:
    assert run_cli("init", "--example", store=store_path).returncode == 0
    done = run_cli(
        "plugins",
        "enable",
        "bad",
        "--spec",
        "vpa_misbehave:Segfaults",
        "--path",
        FIXTURES,
        "--untrusted",
        store=store_path,
    )
    assert done.returncode == 0, done.stderr
    before = snapshot(store_path)

    refused = run_cli(
        "set", "assistant.yaml", "llm.temperature", "0.5", store=store_path
    )

    assert refused.returncode == 1
    assert "killed by SIGSEGV" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert snapshot(store_path) == before
    shown = json.loads(
        run_cli("plugins", "status", "bad", "--json", store=store_path).stdout
    )
    assert shown["last_error"]["kind"] == "crashed"
    assert shown["sandboxed"] is True


PARENT = """
import sys, threading, time, os
sys.path[:0] = [sys.argv[1]]
from vpa_config.plugins import make_slot
from vpa_config.sandbox import SandboxRunner
from vpa_config.settings import PluginEntry, PluginGuardSettings
entry = PluginEntry(spec="vpa_misbehave:Hangs", path=sys.argv[2], trusted=False,
                    timeout_s=60)
runner = SandboxRunner(make_slot("hang", entry, False), PluginGuardSettings())
runner.load()
print(runner.proc.pid, flush=True)
from vpa_config.plugins import Change
change = Change((), "a", "set", "s", None, None, "c")
threading.Thread(target=runner.call, args=("validate", change), daemon=True).start()
time.sleep(0.5)
os._exit(0)
"""


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1].startswith("Z")
    except FileNotFoundError:
        return True


def test_a_busy_child_exits_when_vpa_config_dies() -> None:
    import time

    root = str(Path(sandbox.__file__).parent.parent)
    done = subprocess.run(
        [sys.executable, "-c", PARENT, root, FIXTURES],
        capture_output=True,
        text=True,
        timeout=30,
    )
    pid = int(done.stdout.split()[0])

    deadline = time.monotonic() + 10
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _gone(pid)


def test_an_interrupted_exchange_retires_the_child(guarded: Guarded) -> None:
    import threading

    guarded.enable("slow", "vpa_misbehave:Hangs", trusted=False, timeout_s=10)
    guarded.host.refresh()
    slot = guarded.host.slots["slow"]
    guarded.host._ensure_loaded(slot, None)
    runner = slot.runner
    pid = runner.proc.pid
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()

    with pytest.raises(KeyboardInterrupt):
        guarded.store.set("assistant.yaml", "llm.temperature", 0.5, actor=ACTOR)

    timer.join()
    assert runner.proc is None
    assert _gone(pid)
