"""What a health check is, what it observed, and how results add up.

Four states, ordered for aggregation: healthy < degraded < unhealthy, with
unknown beside them. The aggregate is the worst *known* state; unknown only
when every check is unknown (or there is nothing known to judge). A
non-critical check lowers the aggregate to degraded at most.

The report renders in the shape of the IETF "Health Check Response Format for
HTTP APIs" draft (``application/health+json``), with the native state names
beside the draft's ``pass``/``warn``/``fail``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class HealthState(StrEnum):
    """One of the four health states; ``code`` is the exit code and metric value."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"
    UNKNOWN = "unknown"

    @property
    def code(self) -> int:
        """0 healthy, 1 degraded, 2 unhealthy, 3 unknown (Nagios order)."""
        return _CODES[self]

    @property
    def ietf(self) -> str:
        """The draft's status word for one check (unknown reads as ``warn``)."""
        return (
            "fail"
            if self is HealthState.UNHEALTHY
            else ("pass" if self is HealthState.HEALTHY else "warn")
        )


_CODES = {
    HealthState.HEALTHY: 0,
    HealthState.DEGRADED: 1,
    HealthState.UNHEALTHY: 2,
    HealthState.UNKNOWN: 3,
}
_SEVERITY = {
    HealthState.HEALTHY: 0,
    HealthState.DEGRADED: 1,
    HealthState.UNHEALTHY: 2,
}
NAME_RE = re.compile(r"[A-Za-z0-9_.\-]+(:[A-Za-z0-9_.\-]+)?")


@dataclass(frozen=True)
class Observation:
    """What one check saw: its state, the value behind it, and why.

    ``metrics`` are extra numbers for ``/metrics``, by name without the
    ``vpa_config_`` prefix and in base units (``disk_free_bytes``).
    """

    state: HealthState
    value: Any = None
    unit: str | None = None
    output: str = ""
    metrics: Mapping[str, float] = field(default_factory=dict)
    component_id: str | None = None


CheckOutcome = Observation | HealthState | bool | None
CheckFunction = Callable[[], CheckOutcome]


@dataclass(frozen=True)
class HealthCheck:
    """A named check: a function of no arguments returning an :class:`Observation`.

    The function may also return a bare :class:`HealthState`, ``True``/``None``
    (healthy) or ``False`` (``failure_state``). ``name`` is ``component`` or
    ``component:measurement`` (``disk:free``). ``timeout_s`` None takes the
    monitor's default. A check that raises reports ``failure_state`` with the
    error as its output; one that runs past its timeout reports unknown.
    """

    name: str
    function: CheckFunction
    timeout_s: float | None = None
    critical: bool = True
    tags: frozenset[str] = frozenset()
    failure_state: HealthState = HealthState.UNHEALTHY
    component_type: str = "component"

    def __post_init__(self) -> None:
        if not NAME_RE.fullmatch(self.name):
            raise ValueError(
                f"health check name {self.name!r}: expected 'component' or "
                "'component:measurement' of letters, digits, '_', '.', '-'"
            )
        if self.timeout_s is not None and self.timeout_s <= 0:
            raise ValueError(f"health check {self.name}: timeout_s must be positive")
        object.__setattr__(self, "tags", frozenset(self.tags))
        object.__setattr__(self, "failure_state", HealthState(self.failure_state))

    @property
    def component(self) -> str:
        """The part of the name before the colon."""
        return self.name.split(":", 1)[0]


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome in a report."""

    name: str
    state: HealthState
    time: float
    duration_s: float
    critical: bool = True
    component_type: str = "component"
    observed_value: Any = None
    observed_unit: str | None = None
    output: str = ""
    component_id: str | None = None
    tags: frozenset[str] = frozenset()
    metrics: Mapping[str, float] = field(default_factory=dict)
    timed_out: bool = False
    error: str | None = None

    @property
    def effective_state(self) -> HealthState:
        """The state as it counts in the aggregate (non-critical: degraded at most)."""
        if not self.critical and self.state is HealthState.UNHEALTHY:
            return HealthState.DEGRADED
        return self.state

    def to_dict(self) -> dict[str, Any]:
        """One entry of the draft's ``checks`` object, plus native fields."""
        out: dict[str, Any] = {}
        if self.component_id is not None:
            out["componentId"] = self.component_id
        out["componentType"] = self.component_type
        if self.observed_value is not None:
            out["observedValue"] = self.observed_value
        if self.observed_unit:
            out["observedUnit"] = self.observed_unit
        out["status"] = self.state.ietf
        out["state"] = self.state.value
        out["time"] = iso_time(self.time)
        if self.output:
            out["output"] = self.output
        out["duration"] = round(self.duration_s, 6)
        out["critical"] = self.critical
        out["tags"] = sorted(self.tags)
        if self.timed_out:
            out["timedOut"] = True
        return out


def aggregate(results: Iterable[CheckResult]) -> HealthState:
    """The worst known effective state; unknown only if none is known.

    No checks at all is healthy: there is nothing wrong to report.
    """
    states = [result.effective_state for result in results]
    known = [state for state in states if state is not HealthState.UNKNOWN]
    if not states:
        return HealthState.HEALTHY
    if not known:
        return HealthState.UNKNOWN
    return max(known, key=_SEVERITY.__getitem__)


@dataclass(frozen=True)
class HealthReport:
    """The aggregate of a set of check results, tied to the live revision."""

    state: HealthState
    results: tuple[CheckResult, ...]
    revision: str | None
    version: str
    time: float
    status_codes: Mapping[str, int] = field(default_factory=dict)
    service_id: str = "vpa-config"

    @property
    def exit_code(self) -> int:
        """0 healthy, 1 degraded, 2 unhealthy, 3 unknown."""
        return self.state.code

    @property
    def http_status(self) -> int:
        """The HTTP status for the aggregate, from the configured mapping."""
        default = (
            503 if self.state in (HealthState.UNHEALTHY, HealthState.UNKNOWN) else 200
        )
        return int(self.status_codes.get(self.state.value, default))

    @property
    def ietf_status(self) -> str:
        """``pass``, ``warn`` or ``fail``, consistent with the HTTP status.

        The draft requires 2xx-3xx for pass and warn and 4xx-5xx for fail, so
        the word follows the configured status code: an aggregate mapped to
        503 (unhealthy, unknown by default) is ``fail``.
        """
        if self.http_status >= 400:
            return "fail"
        return "pass" if self.state is HealthState.HEALTHY else "warn"

    def result(self, name: str) -> CheckResult | None:
        """The result of the check called ``name``, if it is in the report."""
        return next((r for r in self.results if r.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """The report as ``application/health+json`` data."""
        out: dict[str, Any] = {
            "status": self.ietf_status,
            "state": self.state.value,
            "version": self.version,
            "releaseId": self.revision,
            "serviceId": self.service_id,
            "description": "vpa-config store health",
            "time": iso_time(self.time),
        }
        summary = self.summary()
        if summary:
            out["output"] = summary
        checks: dict[str, list[dict[str, Any]]] = {}
        for result in self.results:
            checks.setdefault(result.name, []).append(result.to_dict())
        out["checks"] = checks
        return out

    def summary(self) -> str:
        """One line naming the checks that are not healthy (empty when all are)."""
        bad = [
            f"{r.name} {r.state.value}"
            for r in self.results
            if r.state is not HealthState.HEALTHY
        ]
        return "; ".join(bad)


def iso_time(epoch: float) -> str:
    """An ISO-8601 UTC time with a ``Z``, to the millisecond."""
    when = datetime.fromtimestamp(epoch, tz=UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def as_observation(outcome: CheckOutcome, failure_state: HealthState) -> Observation:
    """Normalise what a check function returned."""
    if isinstance(outcome, Observation):
        return outcome
    if isinstance(outcome, HealthState):
        return Observation(outcome)
    if outcome is None or outcome is True:
        return Observation(HealthState.HEALTHY)
    if outcome is False:
        return Observation(failure_state, output="check returned False")
    raise TypeError(
        f"a health check returned {type(outcome).__name__}; expected an "
        "Observation, a HealthState, a bool or None"
    )


def judge_low(
    value: float,
    degraded_below: float | None,
    unhealthy_below: float | None,
) -> HealthState:
    """Unhealthy under one bound, degraded under the other (None: no bound)."""
    if unhealthy_below is not None and value < unhealthy_below:
        return HealthState.UNHEALTHY
    if degraded_below is not None and value < degraded_below:
        return HealthState.DEGRADED
    return HealthState.HEALTHY


def worst(*states: HealthState) -> HealthState:
    """The most severe of known states."""
    return max(states, key=lambda s: _SEVERITY.get(s, -1))
