"""The report as Prometheus text exposition format (version 0.0.4).

Rendered here rather than through ``prometheus_client``: the format is a few
lines of text, the values come from one report rather than from long-lived
collectors, and the runtime avoids a dependency and its process-global
registry. Tests parse the output with ``prometheus_client``'s own parser.

Names start with ``vpa_config_`` and use base units (bytes, seconds, ratios
0-1). The revision is a label of one info series only,
``vpa_config_config_info{revision="..."} 1``, so it never multiplies the
number of series.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from vpa_config.health.model import HealthReport

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "vpa_config_"
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
HELP = {
    "cpu_utilization_ratio": "CPU utilization of the host, latest sample.",
    "memory_available_bytes": "Memory available (cgroup limit less usage).",
    "memory_limit_bytes": "Memory limit (the cgroup's, else the host's total).",
    "memory_available_ratio": "Memory available as a share of the limit.",
    "disk_free_bytes": "Free bytes on the store's filesystem.",
    "disk_size_bytes": "Size of the store's filesystem.",
    "disk_free_ratio": "Free share of the store's filesystem, as df computes it.",
    "last_commit_age_seconds": "Seconds since the live revision was committed.",
    "last_commit_timestamp_seconds": "Unix time of the live revision's commit.",
    "config_problems": "Validation problems in the live revision.",
    "config_files": "Files in the live revision.",
}


def render(report: HealthReport, timeouts: Mapping[str, int]) -> str:
    """The metrics text for ``report``; ``timeouts`` counts timeouts per check."""
    lines: list[str] = []
    _family(
        lines,
        "health_state",
        "gauge",
        "Aggregate health: 0 healthy, 1 degraded, 2 unhealthy, 3 unknown.",
        [({}, report.state.code)],
    )
    _family(
        lines,
        "health_check_state",
        "gauge",
        "Health of each check: 0 healthy, 1 degraded, 2 unhealthy, 3 unknown.",
        [({"check": r.name}, r.state.code) for r in report.results],
    )
    _family(
        lines,
        "health_check_duration_seconds",
        "gauge",
        "How long each check's last run took.",
        [({"check": r.name}, r.duration_s) for r in report.results],
    )
    _family(
        lines,
        "health_check_timeouts_total",
        "counter",
        "Runs of each check that passed its timeout.",
        [({"check": r.name}, timeouts.get(r.name, 0)) for r in report.results],
    )
    _family(
        lines,
        "config_info",
        "gauge",
        "The live config revision, as a label.",
        [({"revision": report.revision or ""}, 1)],
    )
    _family(
        lines,
        "build_info",
        "gauge",
        "The vpa-config version.",
        [({"version": report.version}, 1)],
    )
    for name, value in sorted(_observed(report).items()):
        _family(
            lines,
            name,
            "gauge",
            HELP.get(name, f"Reported by a health check: {name}."),
            [({}, value)],
        )
    return "\n".join(lines) + "\n"


def _observed(report: HealthReport) -> dict[str, float]:
    found: dict[str, float] = {}
    for result in report.results:
        for name, value in result.metrics.items():
            if _NAME.fullmatch(name) and isinstance(value, (int, float)):
                found.setdefault(name, float(value))
    return found


def _family(
    lines: list[str],
    name: str,
    kind: str,
    help_text: str,
    samples: list[tuple[dict[str, str], float]],
) -> None:
    full = PREFIX + name
    lines.append(f"# HELP {full} {_escape_help(help_text)}")
    lines.append(f"# TYPE {full} {kind}")
    for labels, value in samples:
        lines.append(f"{full}{_labels(labels)} {_number(value)}")


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(
        f'{key}="{_escape_label(str(value))}"' for key, value in labels.items()
    )
    return "{" + inner + "}"


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return repr(float(value))
