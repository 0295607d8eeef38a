"""Health: aggregation, the runner's timeouts, host thresholds, store checks."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import ACTOR

from vpa_config import logs
from vpa_config.health import (
    HealthCheck,
    HealthMonitor,
    HealthSettings,
    HealthState,
    Observation,
    aggregate,
    build_monitor,
    register_provider,
    unregister_provider,
)
from vpa_config.health.model import CheckResult
from vpa_config.health.settings import CpuThresholds
from vpa_config.health.system import (
    CpuSampler,
    DiskReading,
    MemoryReading,
    SystemReader,
    cpu_observation,
)
from vpa_config.store import ConfigStore

GIB = 1024**3
MIB = 1024**2
H, D, U, N = (
    HealthState.HEALTHY,
    HealthState.DEGRADED,
    HealthState.UNHEALTHY,
    HealthState.UNKNOWN,
)


class FakeReader(SystemReader):
    """Host readings a test sets; nothing is read from the machine."""

    def __init__(self) -> None:
        super().__init__()
        self.cpu = 10.0
        self.mem = MemoryReading(total=8 * GIB, available=4 * GIB, source="host")
        self.disk_reading = DiskReading("/store", 100 * GIB, 50 * GIB, 50 * GIB)

    def cpu_percent(self) -> float:
        return self.cpu

    def memory(self) -> MemoryReading:
        return self.mem

    def disk(self, path: Path) -> DiskReading:
        return self.disk_reading


@pytest.fixture(name="events")
def _events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    seen: list[tuple[str, dict[str, Any]]] = []

    def record(event: str, level: str = "info", **fields: Any) -> None:
        seen.append((event, {"level": level, **fields}))

    monkeypatch.setattr(logs, "emit", record)
    return seen


def result(state: HealthState, critical: bool = True) -> CheckResult:
    return CheckResult(
        name="x", state=state, time=0.0, duration_s=0.0, critical=critical
    )


def quiet_settings(**kwargs: Any) -> HealthSettings:
    """Defaults, with CPU never judged (the test machine is busy) and no cache."""
    kwargs.setdefault("cpu", CpuThresholds(degraded_percent=None))
    kwargs.setdefault("cache_s", 0)
    return HealthSettings(**kwargs)


# --- aggregation ---------------------------------------------------------


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ([], H),
        ([H, H], H),
        ([H, D], D),
        ([D, U, H], U),
        ([N, H], H),
        ([N, D], D),
        ([N, N], N),
    ],
    ids=[
        "none",
        "all-healthy",
        "degraded",
        "worst",
        "unknown-ignored",
        "unknown-and-degraded",
        "all-unknown",
    ],
)
def test_aggregate_is_worst_known_state(
    states: list[HealthState], expected: HealthState
) -> None:
    assert aggregate([result(state) for state in states]) is expected


def test_aggregate_caps_a_non_critical_failure_at_degraded() -> None:
    assert aggregate([result(H), result(U, critical=False)]) is D
    assert aggregate([result(U, critical=False), result(U)]) is U


def test_check_names_must_be_component_measurement() -> None:
    with pytest.raises(ValueError, match="component:measurement"):
        HealthCheck("bad name", lambda: None)


# --- the runner ----------------------------------------------------------


def test_raising_check_reports_its_failure_state_with_the_error() -> None:
    monitor = HealthMonitor(quiet_settings())

    def boom() -> None:
        raise RuntimeError("database gone")

    monitor.add_check("db:reachable", boom)
    monitor.add_check("queue:depth", boom, failure_state="degraded")

    report = monitor.report()

    db = report.result("db:reachable")
    assert db is not None and db.state is U
    assert db.output == "RuntimeError: database gone"
    queue = report.result("queue:depth")
    assert queue is not None and queue.state is D
    assert report.state is U


def test_check_functions_may_return_bools_and_states() -> None:
    monitor = HealthMonitor(quiet_settings())
    monitor.add_check("a:ok", lambda: True)
    monitor.add_check("b:none", lambda: None)
    monitor.add_check("c:false", lambda: False, failure_state=D)
    monitor.add_check("d:state", lambda: HealthState.DEGRADED)

    states = {r.name: r.state for r in monitor.report().results}

    assert states == {"a:ok": H, "b:none": H, "c:false": D, "d:state": D}


def test_hung_check_times_out_unknown_and_escalates_when_critical() -> None:
    release = threading.Event()
    monitor = HealthMonitor(quiet_settings(escalate_after=3))
    monitor.add_check("slow:critical", lambda: release.wait(), timeout_s=0.05)
    monitor.add_check(
        "slow:optional", lambda: release.wait(), timeout_s=0.05, critical=False
    )
    monitor.add_check("fast:ok", lambda: True)
    try:
        reports = [monitor.report() for _ in range(3)]
    finally:
        release.set()

    first = reports[0].result("slow:critical")
    assert first is not None and first.state is N and first.timed_out
    assert first.output == "timeout after 0.05s"
    assert reports[0].state is H  # unknown does not count while others are known
    assert [r.result("slow:critical").state for r in reports] == [N, N, U]  # type: ignore[union-attr]
    assert "escalated" in reports[2].result("slow:critical").output  # type: ignore[union-attr]
    assert reports[2].result("slow:optional").state is N  # type: ignore[union-attr]
    assert monitor.timeouts()["slow:critical"] == 3


def test_a_hung_check_is_not_started_again_while_it_runs() -> None:
    release = threading.Event()
    calls = []

    def hang() -> None:
        calls.append(1)
        release.wait()

    monitor = HealthMonitor(quiet_settings())
    monitor.add_check("slow:thing", hang, timeout_s=0.05)
    try:
        monitor.report()
        monitor.report()
    finally:
        release.set()

    assert len(calls) == 1


def test_results_are_cached_for_cache_s() -> None:
    calls = []
    monitor = HealthMonitor(HealthSettings(cache_s=60))
    monitor.add_check("count:calls", lambda: calls.append(1))

    monitor.report()
    monitor.report()
    monitor.report(max_age_s=0)

    assert len(calls) == 2


def test_state_change_is_logged_once(events: list[tuple[str, dict[str, Any]]]) -> None:
    state = {"now": H}
    monitor = HealthMonitor(quiet_settings(), revision=lambda: "abc123")
    monitor.add_check("flip:flop", lambda: Observation(state["now"], value=1))

    monitor.report()
    state["now"] = U
    monitor.report()
    monitor.report()
    state["now"] = H
    monitor.report()

    changes = [fields for name, fields in events if name == "health.state_changed"]
    assert [(c["old"], c["new"]) for c in changes] == [
        ("healthy", "unhealthy"),
        ("unhealthy", "healthy"),
    ]
    assert changes[0]["check"] == "flip:flop"
    assert changes[0]["revision"] == "abc123"
    assert changes[0]["observed"] == 1
    assert changes[0]["level"] == "warning"


def test_closing_the_monitor_emits_a_security_event(
    events: list[tuple[str, dict[str, Any]]],
) -> None:
    monitor = HealthMonitor(quiet_settings())

    monitor.close(reason="SIGTERM")
    monitor.close(reason="again")

    stopped = [f for name, f in events if name == "health.monitoring_stopped"]
    assert len(stopped) == 1
    assert stopped[0]["category"] == "security"
    assert stopped[0]["reason"] == "SIGTERM"


def test_providers_contribute_checks_and_a_failing_one_is_reported() -> None:
    monitor = HealthMonitor(quiet_settings())
    register_provider(
        "plugins",
        lambda: [
            HealthCheck(
                "plugin.spell:state", lambda: D, critical=False, tags={"ready"}
            ),
        ],
    )
    monitor.add_provider("broken", lambda: 1 / 0)
    try:
        report = monitor.report()
    finally:
        unregister_provider("plugins")

    assert report.result("plugin.spell:state").state is D  # type: ignore[union-attr]
    broken = report.result("broken:provider")
    assert broken is not None and "ZeroDivisionError" in broken.output
    assert report.state is D


def test_report_selects_by_tag_and_by_name_or_component() -> None:
    monitor = HealthMonitor(quiet_settings())
    monitor.add_check("a:one", lambda: True, tags={"ready"})
    monitor.add_check("a:two", lambda: True)
    monitor.add_check("b:one", lambda: True, tags={"live"})

    assert [r.name for r in monitor.report(tags={"ready"}).results] == ["a:one"]
    assert [r.name for r in monitor.report(names={"a"}).results] == ["a:one", "a:two"]
    assert [r.name for r in monitor.report(names={"b:one"}).results] == ["b:one"]


def test_report_dict_has_the_ietf_shape_and_native_states() -> None:
    monitor = HealthMonitor(quiet_settings(), revision=lambda: "f" * 40)
    monitor.add_check("disk:free", lambda: Observation(D, 5, "bytes", "low"))

    data = monitor.report().to_dict()

    assert data["status"] == "warn" and data["state"] == "degraded"
    assert data["releaseId"] == "f" * 40
    entry = data["checks"]["disk:free"][0]
    assert entry["observedValue"] == 5 and entry["observedUnit"] == "bytes"
    assert entry["status"] == "warn" and entry["state"] == "degraded"
    assert entry["output"] == "low" and entry["critical"] is True
    assert entry["time"].endswith("Z") and entry["duration"] >= 0


# --- host checks ---------------------------------------------------------


def system_monitor(reader: FakeReader, **settings: Any) -> HealthMonitor:
    monitor = build_monitor(
        Path("/nonexistent-store"),
        settings=quiet_settings(**settings),
        reader=reader,
    )
    return monitor


@pytest.mark.parametrize(
    ("free", "used", "expected"),
    [
        (50 * GIB, 50 * GIB, H),
        (8 * GIB, 92 * GIB, D),  # 8 % free: under 10 %
        (4 * GIB, 96 * GIB, U),  # 4 % free: under 5 %
        (900 * MIB, 10 * MIB, D),  # 99 % free but under 1 GiB
        (200 * MIB, 1 * MIB, U),  # under 256 MiB
    ],
    ids=[
        "plenty",
        "percent-degraded",
        "percent-unhealthy",
        "bytes-degraded",
        "bytes-unhealthy",
    ],
)
def test_disk_is_judged_by_percent_and_bytes(
    free: int, used: int, expected: HealthState
) -> None:
    reader = FakeReader()
    reader.disk_reading = DiskReading("/store", free + used, used, free)
    monitor = system_monitor(reader)

    disk = monitor.report(names={"disk:free"}).result("disk:free")
    monitor.close()

    assert disk is not None and disk.state is expected, disk
    assert disk.observed_value == free and disk.observed_unit == "bytes"
    assert disk.metrics["disk_free_bytes"] == free


@pytest.mark.parametrize(
    ("available", "expected"),
    [(4 * GIB, H), (700 * MIB, D), (300 * MIB, U), (50 * MIB, U)],
    ids=["half", "under-10-percent", "under-5-percent", "under-100-mib"],
)
def test_memory_thresholds(available: int, expected: HealthState) -> None:
    reader = FakeReader()
    reader.mem = MemoryReading(total=8 * GIB, available=available, source="cgroup v2")
    monitor = system_monitor(reader)

    memory = monitor.report(names={"memory"}).result("memory:available")
    monitor.close()

    assert memory is not None and memory.state is expected
    assert "cgroup v2" in memory.output


def test_cpu_is_unknown_until_a_real_sample_then_judged_on_the_window() -> None:
    sampler = CpuSampler(lambda: 0.0, interval_s=60, window=3)
    limits = CpuThresholds(degraded_percent=80, unhealthy_percent=95)

    assert cpu_observation(sampler, limits).state is N
    for value in (90, 90, 60):
        sampler.record(value)
    assert cpu_observation(sampler, limits).state is D  # mean 80
    for value in (99, 99, 99):
        sampler.record(value)
    assert cpu_observation(sampler, limits).state is U


def test_cpu_sampler_thread_discards_the_priming_call() -> None:
    readings = iter([0.0, 42.0, 43.0, 44.0] + [45.0] * 1000)
    sampler = CpuSampler(lambda: next(readings), interval_s=0.05, window=1)
    sampler.start()
    try:
        assert sampler.wait_first(5)
        latest = sampler.latest()
    finally:
        sampler.stop()

    assert latest is not None and latest[1] >= 42.0


def test_cgroup_v2_limit_is_used_instead_of_host_memory(tmp_path: Path) -> None:
    group = tmp_path / "cg" / "app"
    group.mkdir(parents=True)
    (group / "memory.max").write_text(f"{512 * MIB}\n")
    (group / "memory.current").write_text(f"{400 * MIB}\n")
    (group / "memory.stat").write_text(f"anon 1\ninactive_file {100 * MIB}\n")
    proc = tmp_path / "cgroup"
    proc.write_text("0::/app\n")

    reading = SystemReader(cgroup_root=tmp_path / "cg", proc_cgroup=proc).memory()

    assert reading == MemoryReading(512 * MIB, 212 * MIB, "cgroup v2")


def test_cgroup_v1_limit_and_unlimited_fallback(tmp_path: Path) -> None:
    group = tmp_path / "cg" / "memory"
    group.mkdir(parents=True)
    (group / "memory.limit_in_bytes").write_text(f"{256 * MIB}\n")
    (group / "memory.usage_in_bytes").write_text(f"{200 * MIB}\n")
    (group / "memory.stat").write_text(f"total_inactive_file {50 * MIB}\n")
    proc = tmp_path / "cgroup"
    proc.write_text("4:memory:/\n0::/\n")
    reader = SystemReader(cgroup_root=tmp_path / "cg", proc_cgroup=proc)

    assert reader.memory() == MemoryReading(256 * MIB, 106 * MIB, "cgroup v1")

    (group / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    assert reader.memory().source == "host"


# --- store checks --------------------------------------------------------


def store_report(config_store: ConfigStore, **settings: Any) -> Any:
    monitor = build_monitor(
        config_store, settings=quiet_settings(**settings), system=False
    )
    try:
        return monitor.report()
    finally:
        monitor.close()


def test_fresh_store_is_healthy_and_release_id_is_head(store: ConfigStore) -> None:
    report = store_report(store)

    assert report.state is H, report.summary()
    assert report.revision == store.repo.head()
    assert {r.name for r in report.results} >= {
        "store:open",
        "store:head",
        "store:objects",
        "store:worktree",
        "store:lock",
        "store:commitAge",
        "config:valid",
    }


def test_missing_store_is_unhealthy_with_a_clear_reason(tmp_path: Path) -> None:
    monitor = build_monitor(
        tmp_path / "nowhere", settings=quiet_settings(), system=False
    )
    report = monitor.report()
    monitor.close()

    opened = report.result("store:open")
    assert report.state is U
    assert opened is not None and "no vpa-config store at" in opened.output


def test_hand_edits_valid_degrade_and_invalid_fail(store: ConfigStore) -> None:
    path = store.root / "assistant.yaml"
    text = path.read_text()
    path.write_text(text + "\n# a comment\n")
    assert store_report(store).result("store:worktree").state is D

    path.write_text(text.replace("temperature: 0.7", "temperature: hot"))
    worktree = store_report(store).result("store:worktree")
    assert worktree.state is U
    assert "assistant.yaml" in worktree.output


def test_corrupt_blob_fails_the_objects_check(store: ConfigStore) -> None:
    head = store.repo.head()
    blob = store.repo.files(head)["assistant.yaml"][1]
    loose = store.root / ".git" / "objects" / blob[:2] / blob[2:]
    loose.chmod(0o644)
    import zlib

    loose.write_bytes(zlib.compress(b"blob 5\x00hello"))

    objects = store_report(store).result("store:objects")

    assert objects.state is U, objects.output


def test_lock_held_by_this_live_process_is_healthy(store: ConfigStore) -> None:
    store.lock.acquire(1)
    try:
        lock = store_report(store).result("store:lock")
    finally:
        store.lock.release()

    assert lock.state is H and "held by live pid" in lock.output


def test_lock_held_by_another_program_without_a_record_says_so(
    store: ConfigStore,
) -> None:
    import subprocess
    import sys

    holder = subprocess.Popen(
        [sys.executable, "-c", (
            "import fcntl, os, sys\n"
            "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "print('locked', flush=True)\n"
            "sys.stdin.read()\n"
        ), str(store.lock.path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        lock = store_report(store).result("store:lock")
    finally:
        holder.communicate("")

    assert lock.state is D
    assert "left no holder record" in lock.output and "None" not in lock.output


def test_commit_age_degrades_past_its_threshold(store: ConfigStore) -> None:
    from vpa_config.health.settings import StoreThresholds

    age = store_report(store, store=StoreThresholds(commit_age_degraded_s=0))
    check = age.result("store:commitAge")

    assert check.state is D and not check.critical
    assert age.state is D


def test_invalid_live_config_fails_the_config_check(store: ConfigStore) -> None:
    with store.transaction(subject="forced", force=True, actor=ACTOR) as tx:
        tx.write("assistant.yaml", b"llm:\n  temperature: hot\n")

    config = store_report(store).result("config:valid")

    assert config.state is U
    assert "assistant.yaml" in config.output


def test_thresholds_come_from_the_store_settings(store: ConfigStore) -> None:
    store.set(
        ".vpa-config/settings.yaml",
        "health.disk.degraded_free_percent",
        60,
        actor=ACTOR,
        reason="stricter disk",
    )
    store.set(
        ".vpa-config/settings.yaml", "health.cpu.degraded_percent", None, actor=ACTOR
    )
    monitor = build_monitor(store, reader=FakeReader())  # 50 % free
    try:
        disk = monitor.report(names={"disk"}).result("disk:free")
    finally:
        monitor.close()

    assert monitor.settings.disk.degraded_free_percent == 60
    assert disk is not None and disk.state is D


def test_settings_schema_refuses_a_bad_threshold(store: ConfigStore) -> None:
    from vpa_config.errors import InvalidConfigError

    with pytest.raises(
        InvalidConfigError, match=r"health\.disk\.degraded_free_percent"
    ):
        store.set(
            ".vpa-config/settings.yaml",
            "health.disk.degraded_free_percent",
            150,
            actor=ACTOR,
        )


def test_add_check_works_as_a_decorator() -> None:
    monitor = HealthMonitor(quiet_settings())

    @monitor.add_check("llm:latency", timeout_s=2, critical=False, tags={"ready"})
    def latency() -> Observation:
        return Observation(D, value=0.8, unit="s", output="slow")

    report = monitor.report(tags={"ready"})

    assert latency().value == 0.8
    assert report.state is D and report.result("llm:latency").observed_unit == "s"


def test_interrupted_change_awaiting_recovery_degrades_the_lock_check(
    store: ConfigStore,
) -> None:
    from vpa_config.transaction import JOURNAL

    (store.repo.controldir / JOURNAL).write_text("{}")

    lock = store_report(store).result("store:lock")

    assert lock.state is D and "awaits recovery" in lock.output


def test_an_empty_journal_file_is_no_interrupted_change(store: ConfigStore) -> None:
    from vpa_config.transaction import JOURNAL

    (store.repo.controldir / JOURNAL).write_bytes(b"")

    lock = store_report(store).result("store:lock")

    assert "awaits recovery" not in lock.output


def test_serving_and_stopping_are_security_events(
    events: list[tuple[str, dict[str, Any]]],
) -> None:
    from vpa_config.health import serve

    monitor = HealthMonitor(quiet_settings())
    with serve(monitor, port=0) as server:
        port = server.port
    monitor.close(reason="SIGTERM")

    started = [f for name, f in events if name == "health.monitoring_started"]
    stopped = [f for name, f in events if name == "health.monitoring_stopped"]
    assert started == [
        {"level": "info", "category": "security", "host": "127.0.0.1", "port": port}
    ]
    assert stopped[0]["reason"] == "SIGTERM"


def test_one_shot_close_records_nothing(
    events: list[tuple[str, dict[str, Any]]],
) -> None:
    HealthMonitor(quiet_settings()).close(record=False)

    assert events == []


def test_events_carry_the_live_revision_and_security_names(store: ConfigStore) -> None:
    monitor = build_monitor(store, settings=quiet_settings(), system=False)
    monitor.add_check("app:mood", lambda: D)
    logs.set_live_revision("0" * 40)  # as if another process had committed since
    with logs.capture() as entries:
        monitor.report()
        monitor.close(reason="test")

    changed = [e for e in entries if e["event"] == "health.state_changed"]
    stopped = [e for e in entries if e["event"] == "health.monitoring_stopped"]
    assert changed[0]["check"] == "app:mood"
    assert changed[0]["config_revision"] == store.repo.head()
    assert stopped[0]["category"] == "security"
    assert stopped[0]["security_event"] == "sys_monitor_disabled"


def test_providers_are_cached_and_never_asked_for_liveness() -> None:
    asked = []

    def provider() -> list[HealthCheck]:
        asked.append(1)
        return [HealthCheck("plugin.x:state", lambda: True, tags={"live"})]

    monitor = HealthMonitor(HealthSettings(cache_s=60))
    monitor.add_provider("plugins", provider)

    live = monitor.report(tags={"live"}, touch_store=False)
    monitor.report()
    monitor.report()

    assert live.results == ()
    assert len(asked) == 1
