"""The health monitor: a registry of checks, run concurrently, each bounded.

Each check runs in a daemon thread of its own and is waited on only until its
own timeout. A check that does not answer in time reports unknown; its thread
is left running and is never waited on again, and while it is still running
the check is not started a second time (a further report counts it as timed
out again at once). A critical check that times out ``escalate_after`` times
in a row (default 3, like a Kubernetes probe's failureThreshold) reports
unhealthy.

Results are cached for ``cache_s`` seconds, so probes in quick succession
share one run. Daemon threads rather than ``concurrent.futures``: the standard
pool joins its threads when the interpreter exits, so one hung check would
keep ``health serve`` from exiting on SIGTERM.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from vpa_config import __version__, logs
from vpa_config.errors import VpaConfigError
from vpa_config.health.model import (
    CheckFunction,
    CheckResult,
    HealthCheck,
    HealthReport,
    HealthState,
    aggregate,
    as_observation,
)
from vpa_config.health.settings import HealthSettings

Provider = Callable[[], Iterable[HealthCheck]]
_providers: dict[str, Provider] = {}
_providers_lock = threading.Lock()


def register_provider(name: str, provider: Provider) -> None:
    """Contribute checks to every monitor, asked afresh on each report.

    This is how a subsystem (the plugin guard) reports its states without
    the health module importing it: ``provider()`` returns the checks that
    apply now. Registering the same ``name`` again replaces it.
    """
    with _providers_lock:
        _providers[name] = provider


def unregister_provider(name: str) -> None:
    """Stop asking the provider registered as ``name``."""
    with _providers_lock:
        _providers.pop(name, None)


@dataclass
class _Run:
    started: float
    deadline: float
    done: threading.Event = field(default_factory=threading.Event)
    result: CheckResult | None = None


@dataclass
class _Slot:
    result: CheckResult | None = None
    fresh_until: float = 0.0
    run: _Run | None = None
    timeouts_in_row: int = 0
    timeouts_total: int = 0
    timeout_at: float = -1.0
    logged: HealthState | None = None


class HealthMonitor:
    """Registered checks, run concurrently with timeouts, cached, aggregated."""

    def __init__(
        self,
        settings: HealthSettings | None = None,
        *,
        revision: Callable[[], str | None] | None = None,
        settings_source: Callable[[], HealthSettings] | None = None,
        version: str = __version__,
    ) -> None:
        self._settings = settings or HealthSettings()
        self._settings_source = settings_source
        self._revision = revision or (lambda: None)
        self.version = version
        self._checks: dict[str, HealthCheck] = {}
        self._providers: dict[str, Provider] = {}
        self._slots: dict[str, _Slot] = {}
        self._lock = threading.Lock()
        self._closers: list[Callable[[], None]] = []
        self._warmups: list[Callable[[float], None]] = []
        self._closed = False
        self._last_revision: str | None = None
        self._provider_cache: dict[str, tuple[float, Provider, list[HealthCheck]]] = {}

    # --- configuration ---------------------------------------------------

    @property
    def settings(self) -> HealthSettings:
        """The thresholds in force (re-read from the source at each report)."""
        return self._settings

    def refresh_settings(self) -> HealthSettings:
        """Read the settings source again (the store's HEAD settings)."""
        if self._settings_source is not None:
            try:
                self._settings = self._settings_source()
            except Exception as exc:  # keep the last good settings
                logs.emit("health.settings_unreadable", level="warning", error=str(exc))
        return self._settings

    def register(self, check: HealthCheck) -> HealthCheck:
        """Add ``check``, replacing any check of the same name."""
        with self._lock:
            self._checks[check.name] = check
        return check

    def add_check(
        self,
        name: str,
        function: CheckFunction | None = None,
        *,
        timeout_s: float | None = None,
        critical: bool = True,
        tags: Iterable[str] = (),
        failure_state: HealthState | str = HealthState.UNHEALTHY,
        component_type: str = "component",
    ) -> Any:
        """Register ``function`` as a check; without it, return a decorator."""

        def add(func: CheckFunction) -> CheckFunction:
            self.register(
                HealthCheck(
                    name,
                    func,
                    timeout_s=timeout_s,
                    critical=critical,
                    tags=frozenset(tags),
                    failure_state=HealthState(failure_state),
                    component_type=component_type,
                )
            )
            return func

        return add(function) if function is not None else add

    def unregister(self, name: str) -> None:
        """Remove the check called ``name`` (no error when absent)."""
        with self._lock:
            self._checks.pop(name, None)
            self._slots.pop(name, None)

    def add_provider(self, name: str, provider: Provider) -> None:
        """Like :func:`register_provider`, for this monitor only."""
        with self._lock:
            self._providers[name] = provider

    def on_close(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when the monitor closes (stops background samplers)."""
        self._closers.append(callback)

    def on_warm_up(self, callback: Callable[[float], None]) -> None:
        """Register a wait for first readings (see :meth:`warm_up`)."""
        self._warmups.append(callback)

    def warm_up(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for background samplers' first readings.

        A one-shot report (``vpa-config health``) calls this so that CPU is not
        reported unknown merely because the process has just started.
        """
        for wait in self._warmups:
            wait(timeout_s)

    def checks(self, *, providers: bool = True) -> list[HealthCheck]:
        """Every check: registered ones, then those of the providers.

        A provider's answer is reused for ``cache_s`` like a check result, so
        probes in quick succession do not ask it again (it may read the store).
        """
        with self._lock:
            found = dict(self._checks)
            own = dict(self._providers)
        if not providers:
            return list(found.values())
        with _providers_lock:
            own = {**_providers, **own}
        for label, provider in own.items():
            for check in self._provided_cached(label, provider):
                found.setdefault(check.name, check)
        return list(found.values())

    def _provided_cached(self, label: str, provider: Provider) -> list[HealthCheck]:
        now = time.monotonic()
        with self._lock:
            cached = self._provider_cache.get(label)
        if cached is not None and cached[0] > now and cached[1] is provider:
            return cached[2]
        checks = self._provided(label, provider)
        with self._lock:
            self._provider_cache[label] = (
                now + self._settings.cache_s,
                provider,
                checks,
            )
        return checks

    def _provided(self, label: str, provider: Provider) -> list[HealthCheck]:
        try:
            return list(provider())
        except Exception as exc:  # a broken provider is a finding
            from vpa_config.masking import scrub_text

            message = f"{type(exc).__name__}: {scrub_text(str(exc))}"

            def failed() -> None:
                raise RuntimeError(f"check provider {label!r} failed: {message}")

            name = f"{label}:provider" if ":" not in label else label
            return [HealthCheck(name, failed, critical=False, tags={"provider"})]

    # --- reports ---------------------------------------------------------

    def revision(self) -> str | None:
        """The live config revision, or None when it cannot be read."""
        try:
            revision = self._revision()
        except Exception:  # the store checks report why
            return self._last_revision
        if revision is not None and revision != self._last_revision:
            logs.set_live_revision(revision)  # later events carry it
        self._last_revision = revision
        return revision

    def report(
        self,
        *,
        tags: Iterable[str] | None = None,
        names: Iterable[str] | None = None,
        max_age_s: float | None = None,
        touch_store: bool = True,
    ) -> HealthReport:
        """Run (or reuse fresh results of) the selected checks and aggregate.

        ``tags`` selects checks carrying any of them, ``names`` checks by name
        or by component; with neither, every check. ``max_age_s`` overrides
        the cache time (0: run now). ``touch_store=False`` (liveness) reuses
        the last known settings and revision instead of reading the store,
        and leaves out providers' checks, which may read it.
        """
        settings = self.refresh_settings() if touch_store else self.settings
        selected = _select(self.checks(providers=touch_store), tags, names)
        ttl = settings.cache_s if max_age_s is None else max_age_s
        results = self._evaluate(selected, settings, ttl)
        revision = self.revision() if touch_store else self._last_revision
        self._log_changes(results, revision)
        return HealthReport(
            state=aggregate(results),
            results=tuple(results),
            revision=revision,
            version=self.version,
            time=time.time(),
            status_codes=settings.http_status.model_dump(),
        )

    def timeouts(self) -> dict[str, int]:
        """Timeouts of each check since the monitor started."""
        with self._lock:
            return {name: slot.timeouts_total for name, slot in self._slots.items()}

    def close(self, reason: str = "closed", *, record: bool = True) -> None:
        """Stop background work and record that monitoring was turned off.

        ``record=False`` skips the ``health.monitoring_stopped`` event, for a
        monitor that only ever made one report (``vpa-config health``).
        """
        if self._closed:
            return
        self._closed = True
        for callback in self._closers:
            callback()
        if not record:
            return
        logs.emit(
            "health.monitoring_stopped",
            level="warning",
            category="security",
            reason=reason,
            revision=self._last_revision,
        )

    # --- running ---------------------------------------------------------

    def _evaluate(
        self, checks: list[HealthCheck], settings: HealthSettings, ttl: float
    ) -> list[CheckResult]:
        started = time.monotonic()
        pending: list[tuple[HealthCheck, _Run | CheckResult]] = []
        for check in checks:
            pending.append((check, self._start(check, settings, ttl, started)))
        results = []
        for check, run in pending:
            if isinstance(run, CheckResult):
                results.append(run)
            else:
                results.append(self._collect(check, run, settings, started))
        return results

    def _start(
        self, check: HealthCheck, settings: HealthSettings, ttl: float, now: float
    ) -> _Run | CheckResult:
        with self._lock:
            slot = self._slots.setdefault(check.name, _Slot())
            if slot.result is not None and now < slot.fresh_until and ttl > 0:
                return slot.result
            if slot.run is not None:
                return slot.run
            timeout = check.timeout_s or settings.timeout_s
            run = _Run(started=now, deadline=now + timeout)
            slot.run = run
        context = contextvars.copy_context()
        thread = threading.Thread(
            target=context.run,
            args=(self._execute, check, run, ttl),
            name=f"health-check:{check.name}",
            daemon=True,
        )
        thread.start()
        return run

    def _execute(self, check: HealthCheck, run: _Run, ttl: float) -> None:
        began = time.monotonic()
        wall = time.time()
        try:
            observation = as_observation(check.function(), check.failure_state)
            error = None
        except (Exception, SystemExit) as exc:  # a raising check is a finding
            from vpa_config.masking import scrub_text  # as events have it

            observation = None
            # The text alone: "ValueError: password=x" reads as a pair of its own.
            # vpa-config's own errors are written to be read as they are.
            error = scrub_text(str(exc))
            if not isinstance(exc, VpaConfigError):
                error = f"{type(exc).__name__}: {error}"
        duration = time.monotonic() - began
        result = _result(check, observation, error, wall, duration)
        with self._lock:
            slot = self._slots.get(check.name)
            late = time.monotonic() > run.deadline
            if slot is not None and slot.run is run:
                slot.run = None
                if not late:
                    slot.result = result
                    slot.fresh_until = time.monotonic() + ttl
                    slot.timeouts_in_row = 0
            run.result = None if late else result
        run.done.set()

    def _collect(
        self, check: HealthCheck, run: _Run, settings: HealthSettings, started: float
    ) -> CheckResult:
        run.done.wait(max(0.0, run.deadline - time.monotonic()))
        with self._lock:
            if run.result is not None:
                return run.result
            slot = self._slots.setdefault(check.name, _Slot())
            if slot.result is not None and slot.timeout_at >= started:
                return slot.result  # this round's timeout is already counted
            slot.timeouts_in_row += 1
            slot.timeouts_total += 1
            result = _timed_out(check, run, slot.timeouts_in_row, settings)
            slot.result = result
            slot.timeout_at = time.monotonic()
            slot.fresh_until = slot.timeout_at + settings.cache_s
            return result

    def _log_changes(self, results: list[CheckResult], revision: str | None) -> None:
        changed = []
        with self._lock:
            for result in results:
                slot = self._slots.get(result.name)
                if slot is None or slot.logged is result.state:
                    continue
                old, slot.logged = slot.logged, result.state
                if old is None and result.state is HealthState.HEALTHY:
                    continue
                changed.append((result, old))
        for result, old in changed:
            worse = result.state is not HealthState.HEALTHY
            logs.emit(
                "health.state_changed",
                level="warning" if worse else "info",
                check=result.name,
                old=old.value if old else None,
                new=result.state.value,
                observed=result.observed_value,
                output=result.output,
                revision=revision,
            )


def _select(
    checks: list[HealthCheck],
    tags: Iterable[str] | None,
    names: Iterable[str] | None,
) -> list[HealthCheck]:
    chosen = checks
    if tags is not None:
        wanted = set(tags)
        chosen = [check for check in chosen if check.tags & wanted]
    if names is not None:
        wanted = set(names)
        chosen = [c for c in chosen if c.name in wanted or c.component in wanted]
    return sorted(chosen, key=lambda check: check.name)


def _result(
    check: HealthCheck,
    observation: Any,
    error: str | None,
    wall: float,
    duration: float,
) -> CheckResult:
    base = CheckResult(
        name=check.name,
        state=check.failure_state,
        time=wall,
        duration_s=duration,
        critical=check.critical,
        component_type=check.component_type,
        tags=check.tags,
    )
    if observation is None:
        return replace(base, output=error or "", error=error)
    return replace(
        base,
        state=observation.state,
        observed_value=observation.value,
        observed_unit=observation.unit,
        output=observation.output,
        component_id=observation.component_id,
        metrics=dict(observation.metrics),
    )


def _timed_out(
    check: HealthCheck, run: _Run, in_row: int, settings: HealthSettings
) -> CheckResult:
    timeout = run.deadline - run.started
    escalate = check.critical and in_row >= settings.escalate_after
    output = f"timeout after {timeout:g}s"
    if in_row > 1:
        output += f" ({in_row} times in a row"
        output += ", escalated to unhealthy)" if escalate else ")"
    return CheckResult(
        name=check.name,
        state=HealthState.UNHEALTHY if escalate else HealthState.UNKNOWN,
        time=time.time(),
        duration_s=time.monotonic() - run.started,
        critical=check.critical,
        component_type=check.component_type,
        output=output,
        tags=check.tags,
        timed_out=True,
    )
