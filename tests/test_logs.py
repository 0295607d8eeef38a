"""Events as data: fields, revision binding, correlation, robustness, output."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.conftest import ACTOR, ROOT, git
from vpa_config import logs
from vpa_config.history import parse_message
from vpa_config.redaction import SECRETS
from vpa_config.store import ConfigStore

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


@pytest.fixture(autouse=True)
def _clean_logging():
    yield
    logs.reset()
    logs.set_correlation_id(None)
    SECRETS.clear()


def by_name(events: list[dict], name: str) -> list[dict]:
    return [event for event in events if event["event"] == name]


def test_importing_the_package_configures_nothing_and_imports_no_structlog():
    code = (
        "import sys, vpa_config, vpa_config.store, vpa_config.logs as logs\n"
        "assert not logs.is_configured()\n"
        "logs.emit('config.committed', revision='x')\n"
        "assert 'structlog' not in sys.modules, 'imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT
    )

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_cli_command_below_the_level_never_imports_structlog(tmp_path: Path):
    store = tmp_path / "s"
    code = (
        "import sys\n"
        "from vpa_config.cli import main\n"
        f"assert main(['--store', {str(store)!r}, 'init', '--example']) == 0\n"
        f"assert main(['--store', {str(store)!r}, 'set', 'assistant.yaml',"
        " 'llm.temperature', '0.3']) == 0\n"
        "assert 'structlog' not in sys.modules, 'imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "PYTHONPATH": str(ROOT),
            "VPA_CONFIG_ACTOR": "Ada <ada@example.org>",
        },
    )

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_emit_before_configure_writes_nothing(capsys: pytest.CaptureFixture[str]):
    logs.reset()

    logs.emit("config.committed", level="critical", revision="abc")

    assert capsys.readouterr() == ("", "")


def test_committed_event_has_every_common_field(store: ConfigStore):
    with logs.capture() as events:
        result = store.set(
            "assistant.yaml", "llm.temperature", 0.3, reason="calmer", actor=ACTOR
        )

    (event,) = by_name(events, "config.committed")
    assert ISO_UTC.match(event["timestamp"])
    assert event["level"] == "info"
    assert event["config_revision"] == result.revision == store.repo.head()
    assert event["actor"] == "Ada Lovelace <ada@example.org>"
    assert event["duration_s"] >= 0
    trailer = parse_message(store.repo.commit(result.revision).message)
    assert event["correlation_id"] == trailer.trailer("Correlation-Id")


def test_events_from_other_threads_carry_the_live_revision(store: ConfigStore):
    seen: list[dict] = []

    def from_a_thread() -> None:
        logs.emit("health.checked", status="healthy")

    with logs.capture() as events:
        first = store.set("assistant.yaml", "llm.temperature", 0.3).revision
        worker = threading.Thread(target=from_a_thread)
        worker.start()
        worker.join()
        second = store.set("assistant.yaml", "llm.temperature", 0.4).revision
        worker = threading.Thread(target=from_a_thread)
        worker.start()
        worker.join()
        seen = by_name(events, "health.checked")

    assert first != second
    assert [event["config_revision"] for event in seen] == [first, second]
    assert all(event["correlation_id"] for event in seen)


def test_opening_a_store_makes_its_head_the_live_revision(store: ConfigStore):
    logs.set_live_revision(None)

    reopened = ConfigStore.open(store.root)
    with logs.capture() as events:
        logs.emit("probe.event")
    reopened.close()

    assert events[0]["config_revision"] == store.repo.head()


def test_each_library_transaction_gets_its_own_correlation_id(store: ConfigStore):
    with logs.capture() as events:
        store.set("assistant.yaml", "llm.temperature", 0.3)
        store.set("assistant.yaml", "llm.temperature", 0.4)

    ids = [event["correlation_id"] for event in by_name(events, "config.committed")]
    assert len(set(ids)) == 2


def test_an_application_can_pass_its_own_correlation_and_trace_ids(store: ConfigStore):
    logs.set_correlation_id("req-42")
    logs.bind(trace_id="4bf92f3577b34da6a3ce929d0e0e4736", span_id="00f067aa0ba902b7")

    with logs.capture() as events:
        result = store.set("assistant.yaml", "llm.temperature", 0.3)
    logs.unbind("trace_id", "span_id")

    (event,) = by_name(events, "config.committed")
    assert event["correlation_id"] == "req-42"
    assert event["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert event["span_id"] == "00f067aa0ba902b7"
    message = parse_message(store.repo.commit(result.revision).message)
    assert message.trailer("Correlation-Id") == "req-42"


def test_trace_context_function_is_asked_per_event():
    stream = io.StringIO()
    spans = iter(["a" * 16, "b" * 16])
    logs.configure(
        format="json",
        level="info",
        stream=stream,
        trace_context=lambda: {"trace_id": "f" * 32, "span_id": next(spans)},
    )

    logs.emit("one.event")
    logs.emit("two.event")

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["span_id"] for line in lines] == ["a" * 16, "b" * 16]
    assert {line["trace_id"] for line in lines} == {"f" * 32}


def test_exceptions_are_structured_without_locals():
    secret_local = "hunter2-local-value"
    with logs.capture() as events:
        try:
            {"key": secret_local}["missing"]
        except KeyError as exc:
            logs.emit("op.failed", level="error", exc_info=exc)

    (event,) = events
    (trace,) = event["exception"]
    assert trace["exc_type"] == "KeyError"
    assert (
        trace["frames"][-1]["name"] == "test_exceptions_are_structured_without_locals"
    )
    assert all("locals" not in frame for frame in trace["frames"])
    assert secret_local not in json.dumps(event)


def test_unserializable_values_are_rendered_as_text():
    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no")

    stream = io.StringIO()
    logs.configure(format="json", level="info", stream=stream)

    logs.emit(
        "odd.values",
        path=Path("/etc/vpa"),
        raw=b"bytes",
        pair={(1, 2): {3}},
        thing=Unprintable(),
    )

    line = json.loads(stream.getvalue())
    assert line["path"] == "/etc/vpa"
    assert line["raw"] == "bytes"
    assert line["pair"] == {"(1, 2)": [3]}
    assert line["thing"] == "<unprintable Unprintable>"


def test_a_failing_trace_context_does_not_lose_the_event():
    def broken() -> dict[str, str]:
        raise RuntimeError("tracer down")

    stream = io.StringIO()
    logs.configure(format="json", level="info", stream=stream, trace_context=broken)

    logs.emit("still.logged", value=1)

    line = json.loads(stream.getvalue())
    assert line["event"] == "still.logged"
    assert "tracer down" in line["trace_context_error"]


def test_a_broken_output_stream_never_raises_into_the_caller(store: ConfigStore):
    class Broken(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(28, "No space left on device")

    logs.configure(format="json", level="debug", stream=Broken())

    result = store.set("assistant.yaml", "llm.temperature", 0.3)

    assert result.committed


def test_levels_filter_events():
    stream = io.StringIO()
    logs.configure(format="json", level="warning", stream=stream)

    logs.emit("quiet.event", level="info")
    logs.emit("loud.event", level="error")

    names = [json.loads(line)["event"] for line in stream.getvalue().splitlines()]
    assert names == ["loud.event"]
    assert logs.enabled_for("error") and not logs.enabled_for("info")


@pytest.mark.parametrize(
    ("options", "message"),
    [({"level": "loud"}, "log level 'loud'"), ({"format": "xml"}, "log format 'xml'")],
    ids=["level", "format"],
)
def test_configure_rejects_unknown_values(options: dict[str, str], message: str):
    with pytest.raises(ValueError, match=message):
        logs.configure(**options)


def test_environment_variables_configure_the_library(monkeypatch, tmp_path: Path):
    log = tmp_path / "events.log"
    monkeypatch.setenv("VPA_CONFIG_LOG_FILE", str(log))
    monkeypatch.setenv("VPA_CONFIG_LOG_LEVEL", "debug")

    logs.configure()
    logs.emit("debug.event", level="debug")
    logs.reset()

    assert json.loads(log.read_text())["event"] == "debug.event"


def test_log_file_rotates(monkeypatch, tmp_path: Path):
    monkeypatch.setattr(logs, "LOG_FILE_MAX_BYTES", 400)
    log = tmp_path / "events.log"
    logs.configure(file=log, level="info")

    for number in range(20):
        logs.emit("rotation.event", number=number)
    logs.reset()

    assert (tmp_path / "events.log.1").exists()
    for path in tmp_path.glob("events.log*"):
        for line in path.read_text().splitlines():
            assert json.loads(line)["event"] == "rotation.event"


def test_an_unwritable_log_file_does_not_fail_a_change(
    store: ConfigStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    unwritable = tmp_path / "no-such-dir" / "events.log"
    logs.configure(file=unwritable, level="info")

    first = store.set("assistant.yaml", "llm.temperature", 0.3)
    second = store.set("assistant.yaml", "llm.temperature", 0.4)

    assert first.committed and second.committed
    err = capsys.readouterr().err
    assert err.count("cannot write the log file") == 1
    assert '"event": "config.committed"' in err


def test_timed_block_logs_duration_and_failure():
    with logs.capture() as events:
        with logs.timed("work.done", item="a"):
            pass
        with pytest.raises(ZeroDivisionError), logs.timed("work.done", item="b"):
            1 / 0  # noqa: B018

    ok, failed = events
    assert (ok["outcome"], ok["level"], ok["item"]) == ("success", "info", "a")
    assert ok["duration_s"] >= 0
    assert (failed["outcome"], failed["level"]) == ("failure", "error")
    assert failed["exception"][0]["exc_type"] == "ZeroDivisionError"


# --- security events ------------------------------------------------------------


def test_refused_change_is_an_input_validation_security_event(store: ConfigStore):
    from vpa_config.errors import InvalidConfigError

    with logs.capture() as events, pytest.raises(InvalidConfigError):
        store.set("assistant.yaml", "llm.temperature", 9)

    (event,) = by_name(events, "config.refused")
    assert event["category"] == "security"
    assert event["security_event"] == "input_validation_fail"
    assert event["config_revision"] == store.repo.head()


def test_change_to_a_secret_key_is_a_sensitive_update(store: ConfigStore):
    with logs.capture() as events:
        result = store.set("assistant.yaml", "llm.api_key", "plain-new-value-1234")

    (event,) = by_name(events, "config.sensitive_update")
    assert event["category"] == "security"
    assert event["security_event"] == "sensitive_update"
    assert event["keys"] == ["llm.api_key"]
    assert event["revision"] == result.revision
    assert "plain-new-value-1234" not in json.dumps(events)


def test_breaking_a_stale_lock_is_a_security_event(store: ConfigStore):
    info = store.repo.controldir / "vpa-config.lock.json"
    info.write_text(json.dumps({"pid": 999999, "host": "gone", "since": "yesterday"}))

    with logs.capture() as events:
        store.set("assistant.yaml", "llm.temperature", 0.3, actor=ACTOR)

    (event,) = by_name(events, "lock.stale_recovered")
    assert event["category"] == "security"
    assert event["holder"]["pid"] == 999999
    assert event["actor"] == "Ada Lovelace <ada@example.org>"


def test_forced_restore_is_a_security_event(store: ConfigStore, store_path: Path):
    bad = store_path / "assistant.yaml"
    text = bad.read_text().replace("temperature: 0.7", "temperature: 9")
    bad.write_text(text)
    git(
        store_path,
        "-c",
        "user.name=x",
        "-c",
        "user.email=x@y",
        "commit",
        "--no-verify",
        "-qam",
        "bypass",
    )
    git(
        store_path,
        "-c",
        "user.name=x",
        "-c",
        "user.email=x@y",
        "commit",
        "--no-verify",
        "-q",
        "--allow-empty",
        "-m",
        "later",
    )
    store.set("assistant.yaml", "llm.temperature", 0.5, reason="fix")

    with logs.capture() as events:
        store.restore("HEAD~2", ["assistant.yaml"], force=True)

    (event,) = by_name(events, "restore.forced")
    assert event["category"] == "security"
    assert event["security_event"] == "validation_overridden"
