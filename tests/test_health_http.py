"""The health endpoint over real HTTP on 127.0.0.1, and the health CLI."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ACTOR, RunCli, cli_env
from test_health import FakeReader, quiet_settings

from vpa_config.health import (
    HealthMonitor,
    HealthSettings,
    HealthState,
    Observation,
    build_monitor,
    serve,
)
from vpa_config.health.server import HealthServer
from vpa_config.health.settings import StatusCodes
from vpa_config.store import ConfigStore


def get(url: str, accept: str | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def get_json(url: str) -> tuple[int, dict[str, Any]]:
    status, _headers, body = get(url)
    return status, json.loads(body)


@pytest.fixture(name="state")
def _state() -> dict[str, HealthState]:
    return {"now": HealthState.HEALTHY}


@pytest.fixture(name="monitor")
def _monitor(
    store: ConfigStore, state: dict[str, HealthState]
) -> Iterator[HealthMonitor]:
    monitor = build_monitor(store, settings=quiet_settings(), reader=FakeReader())
    monitor.add_check(
        "app:switch", lambda: Observation(state["now"], output="set by test")
    )
    yield monitor
    monitor.close()


@pytest.fixture(name="server")
def _server(monitor: HealthMonitor) -> Iterator[HealthServer]:
    server = serve(monitor, port=0)
    yield server
    server.shutdown()


@pytest.mark.parametrize(
    ("now", "code", "status"),
    [
        (HealthState.HEALTHY, 200, "pass"),
        (HealthState.DEGRADED, 200, "warn"),
        (HealthState.UNHEALTHY, 503, "fail"),
    ],
    ids=["healthy", "degraded", "unhealthy"],
)
def test_status_code_per_state(
    server: HealthServer,
    state: dict[str, HealthState],
    now: HealthState,
    code: int,
    status: str,
) -> None:
    state["now"] = now

    answer, body = get_json(server.url + "/health")

    assert answer == code, body
    assert body["status"] == status and body["state"] == now.value
    assert body["checks"]["app:switch"][0]["state"] == now.value


def test_unknown_everywhere_is_503() -> None:
    monitor = HealthMonitor(quiet_settings())
    monitor.add_check("only:unknown", lambda: HealthState.UNKNOWN)
    with serve(monitor, port=0) as server:
        answer, body = get_json(server.url + "/health")

    assert answer == 503 and body["state"] == "unknown" and body["status"] == "fail"


def test_status_mapping_is_configurable() -> None:
    settings = quiet_settings(http_status=StatusCodes(degraded=429, unhealthy=500))
    monitor = HealthMonitor(settings)
    monitor.add_check("app:meh", lambda: HealthState.DEGRADED)
    with serve(monitor, port=0) as server:
        answer, body = get_json(server.url + "/health")

    assert answer == 429 and body["status"] == "fail"


def test_degraded_non_critical_check_keeps_the_endpoint_200(
    server: HealthServer,
    monitor: HealthMonitor,
) -> None:
    def broken() -> None:
        raise OSError("spell checker offline")

    monitor.add_check("spell:reachable", broken, critical=False)

    answer, body = get_json(server.url + "/health")

    entry = body["checks"]["spell:reachable"][0]
    assert answer == 200 and body["state"] == "degraded"
    assert entry["state"] == "unhealthy" and entry["critical"] is False
    assert entry["output"] == "OSError: spell checker offline"


def test_raising_critical_check_is_503_with_the_error(
    server: HealthServer,
    monitor: HealthMonitor,
) -> None:
    def broken() -> None:
        raise ValueError("bad answer from the model server")

    monitor.add_check("llm:reachable", broken)

    answer, body = get_json(server.url + "/health/llm:reachable")

    assert answer == 503
    assert list(body["checks"]) == ["llm:reachable"]
    assert body["checks"]["llm:reachable"][0]["output"] == (
        "ValueError: bad answer from the model server"
    )


def test_hung_check_does_not_hang_the_endpoint(
    server: HealthServer,
    monitor: HealthMonitor,
) -> None:
    release = threading.Event()
    monitor.add_check(
        "slow:backend", lambda: release.wait(), timeout_s=0.2, critical=False
    )
    try:
        first = get_json(server.url + "/health")
        second = get_json(server.url + "/health")
        live = get_json(server.url + "/health/live")
    finally:
        release.set()

    for answer, body in (first, second):
        entry = body["checks"]["slow:backend"][0]
        assert answer == 200, body
        assert entry["state"] == "unknown" and entry["timedOut"] is True
        assert entry["output"].startswith("timeout after 0.2s")
    assert live[0] == 200 and live[1]["checks"] == {}


def test_live_and_ready_select_their_checks(
    server: HealthServer, state: dict[str, Any]
) -> None:
    state["now"] = HealthState.UNHEALTHY

    live_code, live = get_json(server.url + "/health/live")
    ready_code, ready = get_json(server.url + "/health/ready")

    assert live_code == 200 and live["checks"] == {}
    assert ready_code == 200, ready
    assert "store:objects" in ready["checks"] and "config:valid" in ready["checks"]
    assert "app:switch" not in ready["checks"] and "disk:free" not in ready["checks"]


def test_component_and_unknown_check_paths(server: HealthServer) -> None:
    answer, body = get_json(server.url + "/health/store")
    missing, error = get_json(server.url + "/health/nope:never")
    elsewhere, _ = get_json(server.url + "/favicon.ico")

    assert answer == 200 and all(name.startswith("store:") for name in body["checks"])
    assert missing == 404 and "nope:never" in error["output"]
    assert elsewhere == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_other_methods_are_405_in_json_and_the_server_goes_on(
    server: HealthServer, method: str
) -> None:
    request = urllib.request.Request(
        server.url + "/health", data=b'{"x": 1}', method=method
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)

    assert refused.value.code == 405
    assert refused.value.headers["Allow"] == "GET, HEAD"
    assert json.loads(refused.value.read())["output"] == (
        f"method {method} not allowed; use GET or HEAD"
    )
    assert get_json(server.url + "/health")[0] == 200


def test_content_type_follows_accept(server: HealthServer) -> None:
    _c, plain, _b = get(server.url + "/health")
    _c, health, _b = get(server.url + "/health", accept="application/health+json")
    _c, old, _b = get(
        server.url + "/health", accept="text/html, application/vnd.health+json;q=0.9"
    )

    assert plain["Content-Type"] == "application/json"
    assert health["Content-Type"] == "application/health+json"
    assert old["Content-Type"] == "application/health+json"


def test_release_id_follows_a_commit(server: HealthServer, store: ConfigStore) -> None:
    _c, before = get_json(server.url + "/health")
    result = store.set("assistant.yaml", "llm.temperature", 0.3, actor=ACTOR)

    _c, after = get_json(server.url + "/health")

    assert before["releaseId"] != after["releaseId"]
    assert after["releaseId"] == result.revision == store.repo.head()


def test_metrics_parse_with_the_prometheus_client(
    server: HealthServer, store: ConfigStore
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    status, headers, body = get(server.url + "/metrics")

    assert status == 200 and headers["Content-Type"].startswith(
        "text/plain; version=0.0.4"
    )
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    info = families["vpa_config_config_info"].samples
    assert [s.labels for s in info] == [{"revision": store.repo.head()}]
    disk = families["vpa_config_disk_free_bytes"].samples[0]
    assert disk.value == 50 * 1024**3
    states = {
        s.labels["check"]: s.value
        for s in families["vpa_config_health_check_state"].samples
    }
    assert states["store:objects"] == 0
    assert families["vpa_config_health_check_timeouts"].type == "counter"
    assert all(name.startswith("vpa_config_") for name in families)
    revision_labelled = [
        n for n, f in families.items() if any("revision" in s.labels for s in f.samples)
    ]
    assert revision_labelled == ["vpa_config_config_info"]


# --- the CLI ---------------------------------------------------------------


def quiet_store(store: ConfigStore, extra: str = "") -> Path:
    """The store, with CPU left unjudged (the test machine is busy)."""
    settings = store.root / ".vpa-config" / "settings.yaml"
    text = (
        settings.read_text() + "health:\n  cpu:\n    degraded_percent: null\n" + extra
    )
    store.import_file(".vpa-config/settings.yaml", text.encode(), actor=ACTOR)
    return store.root


def test_cli_health_exit_codes_healthy_and_unhealthy(
    run_cli: RunCli,
    store: ConfigStore,
) -> None:
    root = quiet_store(store, "  store:\n    commit_age_degraded_s: 3600\n")

    healthy = run_cli("health", "--json", store=root)
    (root / "assistant.yaml").write_text("llm:\n  temperature: hot\n")
    unhealthy = run_cli("health", store=root)

    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert json.loads(healthy.stdout)["state"] == "healthy"
    assert unhealthy.returncode == 2, unhealthy.stdout
    assert unhealthy.stdout.startswith("unhealthy")
    assert "store:worktree" in unhealthy.stdout


def test_cli_health_degraded_exit_1(run_cli: RunCli, store: ConfigStore) -> None:
    root = quiet_store(store, "  store:\n    commit_age_degraded_s: 0\n")

    done = run_cli("health", store=root)

    assert done.returncode == 1, done.stdout + done.stderr
    assert "store:commitAge" in done.stdout


def test_cli_health_without_a_store_is_unhealthy(
    run_cli: RunCli, tmp_path: Path
) -> None:
    done = run_cli("health", store=tmp_path / "none")

    assert done.returncode == 2
    assert "no vpa-config store at" in done.stdout


def test_serve_answers_and_stops_cleanly_on_sigterm(
    store: ConfigStore,
    tmp_path: Path,
) -> None:
    store_path = quiet_store(store)
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vpa_config",
            "--store",
            str(store_path),
            "health",
            "serve",
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(tmp_path),
        cwd=tmp_path,
    ) as process:
        try:
            assert process.stdout is not None and process.stderr is not None
            line = process.stdout.readline()
            url = line.split(" on ", 1)[1].split("/health", 1)[0]
            ready, body = get_json(url + "/health/ready")
            metrics, _h, _b = get(url + "/metrics")

            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=10)
            errors = process.stderr.read()
        finally:
            if process.poll() is None:
                process.kill()

    assert url.startswith("http://127.0.0.1:")
    assert ready == 200 and body["state"] == "healthy"
    assert metrics == 200
    assert code == 0, errors


def test_serve_refuses_a_busy_port_in_one_line(
    run_cli: RunCli,
    store_path: Path,
    monitor: HealthMonitor,
) -> None:
    with serve(monitor, port=0) as busy:
        done = run_cli("health", "serve", "--port", str(busy.port), store=store_path)

    assert done.returncode == 3  # unknown: 1 would read as "degraded"
    assert done.stderr.startswith(f"vpa-config: cannot listen on 127.0.0.1:{busy.port}")
    assert "choose another --port" in done.stderr
    assert "Traceback" not in done.stderr


def test_serve_on_an_address_of_no_machine_says_to_fix_the_host(
    run_cli: RunCli, store_path: Path, monitor: HealthMonitor
) -> None:
    done = run_cli("health", "serve", "--host", "256.1.1.1", "--port", "0",
                   store=store_path)

    assert done.returncode == 3
    assert done.stderr.startswith("vpa-config: cannot listen on 256.1.1.1:0: ")
    assert done.stderr.rstrip().endswith(
        "give --host an address of this machine (127.0.0.1, 0.0.0.0)"
    )


def test_health_help_documents_exit_codes(run_cli: RunCli) -> None:
    done = run_cli("health", "--help")

    assert done.returncode == 0
    assert "0 healthy, 1 degraded, 2 unhealthy, 3 unknown" in done.stdout
    assert "serve" in done.stdout


def test_settings_defaults_are_the_documented_ones() -> None:
    settings = HealthSettings()

    assert (settings.timeout_s, settings.cache_s, settings.escalate_after) == (
        5.0,
        2.0,
        3,
    )
    assert settings.server.host == "127.0.0.1"
    assert settings.http_status.model_dump() == {
        "healthy": 200,
        "degraded": 200,
        "unhealthy": 503,
        "unknown": 503,
    }


def test_live_does_not_wait_for_the_store() -> None:
    release = threading.Event()
    monitor = HealthMonitor(quiet_settings(), revision=lambda: str(release.wait()))
    with serve(monitor, port=0) as server:
        try:
            code, body = get_json(server.url + "/health/live")
        finally:
            release.set()

    assert code == 200 and body["state"] == "healthy"
