"""Host checks: CPU, memory and disk, read through psutil.

This is the only module that imports psutil, and only inside
:class:`SystemReader`, the boundary tests replace with readings of their own.

* CPU is sampled by a background thread (:class:`CpuSampler`): psutil's first
  ``cpu_percent()`` call only starts a measurement and returns 0.0, so that
  value is thrown away and the check reports unknown until a real sample
  exists. The check never blocks on a sample.
* Memory inside a container is the cgroup's limit and usage (v2
  ``memory.max``/``memory.current``, v1 ``memory.limit_in_bytes``/
  ``memory.usage_in_bytes``), less reclaimable page cache (``inactive_file``);
  without a limit it is the host's ``available`` memory.
* Disk is the filesystem holding the store, judged by percent free (as ``df``
  computes it, so root-reserved blocks count as used) and by bytes free.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vpa_config.health.model import HealthState, Observation, judge_low, worst
from vpa_config.health.monitor import HealthMonitor
from vpa_config.health.settings import (
    CpuThresholds,
    DiskThresholds,
    HealthSettings,
    MemoryThresholds,
)

MIB = 1024 * 1024


@dataclass(frozen=True)
class MemoryReading:
    """Memory the process can still use, and the limit it counts against."""

    total: int
    available: int
    source: str  # "cgroup v2", "cgroup v1" or "host"


@dataclass(frozen=True)
class DiskReading:
    """Space on one filesystem, as an unprivileged process sees it."""

    path: str
    total: int
    used: int
    free: int

    @property
    def free_percent(self) -> float:
        """Free space as ``df`` shows it: free / (used + free)."""
        usable = self.used + self.free
        return 100.0 * self.free / usable if usable else 0.0


class SystemReader:
    """Readings of the host; replace it (or subclass it) to inject values."""

    def __init__(
        self,
        cgroup_root: Path = Path("/sys/fs/cgroup"),
        proc_cgroup: Path = Path("/proc/self/cgroup"),
    ) -> None:
        self.cgroup_root = cgroup_root
        self.proc_cgroup = proc_cgroup

    def cpu_percent(self) -> float:
        """CPU use since the previous call, in percent of all CPUs."""
        import psutil

        return float(psutil.cpu_percent(interval=None))

    def cpu_count(self) -> int:
        """Logical CPUs."""
        return os.cpu_count() or 1

    def memory(self) -> MemoryReading:
        """The cgroup's memory when it has a limit, else the host's."""
        import psutil

        host = psutil.virtual_memory()
        limited = self._cgroup_memory(int(host.total))
        if limited is not None:
            return limited
        return MemoryReading(int(host.total), int(host.available), "host")

    def disk(self, path: Path) -> DiskReading:
        """Usage of the filesystem holding ``path`` (or its nearest parent)."""
        import psutil

        target = path
        while not target.exists() and target != target.parent:
            target = target.parent
        usage = psutil.disk_usage(str(target))
        return DiskReading(
            str(target), int(usage.total), int(usage.used), int(usage.free)
        )

    # --- cgroups ---------------------------------------------------------

    def _cgroup_memory(self, host_total: int) -> MemoryReading | None:
        v2, v1 = self._cgroup_paths()
        for folder in _candidates(self.cgroup_root, v2):
            reading = _cgroup_v2(folder, host_total)
            if reading is not None:
                return reading
        for folder in _candidates(self.cgroup_root / "memory", v1):
            reading = _cgroup_v1(folder, host_total)
            if reading is not None:
                return reading
        return None

    def _cgroup_paths(self) -> tuple[str | None, str | None]:
        v2 = v1 = None
        try:
            lines = self.proc_cgroup.read_text().splitlines()
        except OSError:
            return None, None
        for line in lines:
            parts = line.split(":", 2)
            if len(parts) != 3:
                continue
            if parts[0] == "0" and parts[1] == "":
                v2 = parts[2]
            elif "memory" in parts[1].split(","):
                v1 = parts[2]
        return v2, v1


def _candidates(root: Path, relative: str | None) -> list[Path]:
    # Inside a cgroup namespace the process's own group is mounted at the
    # root; outside one, it is the path /proc/self/cgroup names.
    found = []
    if relative and relative != "/":
        found.append(root / relative.lstrip("/"))
    found.append(root)
    return found


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _inactive_file(stat_file: Path, key: str) -> int:
    try:
        for line in stat_file.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key and value.strip().isdigit():
                return int(value)
    except OSError:
        pass
    return 0


def _cgroup_v2(folder: Path, host_total: int) -> MemoryReading | None:
    limit = _read_int(folder / "memory.max")  # "max" (no limit) reads as None
    current = _read_int(folder / "memory.current")
    if limit is None or current is None or limit >= host_total:
        return None
    in_use = max(current - _inactive_file(folder / "memory.stat", "inactive_file"), 0)
    return MemoryReading(limit, max(limit - in_use, 0), "cgroup v2")


def _cgroup_v1(folder: Path, host_total: int) -> MemoryReading | None:
    limit = _read_int(folder / "memory.limit_in_bytes")
    usage = _read_int(folder / "memory.usage_in_bytes")
    if limit is None or usage is None or limit >= host_total:
        return None  # v1 says "no limit" with a huge number
    cache = _inactive_file(folder / "memory.stat", "total_inactive_file")
    in_use = max(usage - cache, 0)
    return MemoryReading(limit, max(limit - in_use, 0), "cgroup v1")


class CpuSampler:
    """CPU utilization sampled every ``interval_s`` by a daemon thread."""

    def __init__(
        self,
        read: Callable[[], float],
        interval_s: float = 1.0,
        window: int = 5,
        first_window_s: float = 0.25,
    ) -> None:
        self._read = read
        self.interval_s = interval_s
        self.first_window_s = min(first_window_s, interval_s)
        self._samples: deque[float] = deque(maxlen=window)
        self._at = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._first = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> CpuSampler:
        """Start sampling (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, name="health-cpu-sampler", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sampling; the thread exits at its next wake-up."""
        self._stop.set()

    def wait_first(self, timeout_s: float) -> bool:
        """Wait until the first real sample exists."""
        return self._first.wait(timeout_s)

    def record(self, percent: float) -> None:
        """Add one sample (the thread's readings, or a test's)."""
        with self._lock:
            self._samples.append(float(percent))
            self._at = time.time()
        self._first.set()

    def latest(self) -> tuple[float, float, int, float] | None:
        """(mean over the window, last sample, samples in window, time) or None."""
        with self._lock:
            if not self._samples:
                return None
            values = list(self._samples)
            return sum(values) / len(values), values[-1], len(values), self._at

    def _loop(self) -> None:
        try:
            self._read()  # primes the measurement; its value means nothing
        except Exception:  # the check reports unknown meanwhile
            pass
        wait = self.first_window_s
        while not self._stop.wait(wait):
            try:
                self.record(self._read())
            except Exception:  # keep sampling; old samples stay
                pass
            wait = self.interval_s


def cpu_observation(sampler: CpuSampler, limits: CpuThresholds) -> Observation:
    """Judge the mean of the sampler's window."""
    latest = sampler.latest()
    if latest is None:
        return Observation(
            HealthState.UNKNOWN,
            unit="percent",
            output="no CPU sample yet (the first arrives "
            f"{sampler.first_window_s:g}s after start)",
        )
    mean, last, count, _at = latest
    state = HealthState.HEALTHY
    if limits.unhealthy_percent is not None and mean >= limits.unhealthy_percent:
        state = HealthState.UNHEALTHY
    elif limits.degraded_percent is not None and mean >= limits.degraded_percent:
        state = HealthState.DEGRADED
    return Observation(
        state,
        value=round(mean, 1),
        unit="percent",
        output=f"mean of {count} sample(s); latest {last:.1f}%",
        metrics={"cpu_utilization_ratio": last / 100.0},
    )


def memory_observation(reading: MemoryReading, limits: MemoryThresholds) -> Observation:
    """Judge available memory by percent and by bytes."""
    percent = 100.0 * reading.available / reading.total if reading.total else 0.0
    state = worst(
        judge_low(
            percent,
            limits.degraded_available_percent,
            limits.unhealthy_available_percent,
        ),
        judge_low(
            reading.available,
            limits.degraded_available_bytes,
            limits.unhealthy_available_bytes,
        ),
    )
    return Observation(
        state,
        value=reading.available,
        unit="bytes",
        output=(
            f"{reading.available / MIB:.0f} MiB available of "
            f"{reading.total / MIB:.0f} MiB ({percent:.1f}%, {reading.source})"
        ),
        component_id=reading.source,
        metrics={
            "memory_available_bytes": reading.available,
            "memory_limit_bytes": reading.total,
            "memory_available_ratio": percent / 100.0,
        },
    )


def disk_observation(reading: DiskReading, limits: DiskThresholds) -> Observation:
    """Judge free space by percent and by bytes."""
    percent = reading.free_percent
    state = worst(
        judge_low(percent, limits.degraded_free_percent, limits.unhealthy_free_percent),
        judge_low(
            reading.free, limits.degraded_free_bytes, limits.unhealthy_free_bytes
        ),
    )
    return Observation(
        state,
        value=reading.free,
        unit="bytes",
        output=(
            f"{reading.free / MIB:.0f} MiB free of {reading.total / MIB:.0f} MiB "
            f"({percent:.1f}%) on the filesystem of {reading.path}"
        ),
        component_id=reading.path,
        metrics={
            "disk_free_bytes": reading.free,
            "disk_size_bytes": reading.total,
            "disk_free_ratio": percent / 100.0,
        },
    )


def add_system_checks(
    monitor: HealthMonitor,
    path: Path,
    reader: SystemReader | None = None,
    sampler: CpuSampler | None = None,
) -> CpuSampler:
    """Register ``cpu:utilization``, ``memory:available`` and ``disk:free``.

    CPU is non-critical (a busy host is degraded, never down, by default);
    memory and disk are critical. Returns the CPU sampler, already started.
    """
    source = reader or SystemReader()
    cpu = monitor.settings.cpu
    sampler = sampler or CpuSampler(
        source.cpu_percent, cpu.sample_interval_s, cpu.window
    )
    sampler.start()
    monitor.on_close(sampler.stop)
    monitor.on_warm_up(sampler.wait_first)

    def settings() -> HealthSettings:
        return monitor.settings

    tags = {"system"}
    monitor.add_check(
        "cpu:utilization",
        lambda: cpu_observation(sampler, settings().cpu),
        critical=False,
        tags=tags,
        component_type="system",
    )
    monitor.add_check(
        "memory:available",
        lambda: memory_observation(source.memory(), settings().memory),
        tags=tags,
        component_type="system",
    )
    monitor.add_check(
        "disk:free",
        lambda: disk_observation(source.disk(path), settings().disk),
        tags=tags,
        component_type="system",
    )
    return sampler
