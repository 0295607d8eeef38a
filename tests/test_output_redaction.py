"""Secrets in what ``set``, ``diff``, ``show``, ``audit``, ``blame``, plugin errors
and health reports print: hidden by the rules events follow (masking.py)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import stores
from conftest import ACTOR, RunCli

from vpa_config.explain import SecretMatcher
from vpa_config.health import HealthMonitor, HealthSettings
from vpa_config.health.settings import CpuThresholds
from vpa_config.masking import Mask
from vpa_config.store import ConfigStore

OLD_PASSWORD = "hunter2-supersecret"
NEW_PASSWORD = "newpass-topsecret"
TOKEN = "sk-plugintoken-abcdef123456"
GH_TOKEN = "ghp_" + "abcdefghij" * 4
URL_PASSWORD = "hunter2pass"


def _ok(run_cli: RunCli, store: Path, *args: str) -> str:
    done = run_cli(*args, store=store)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("*:*.password", ("password",), True),
        ("*:*.password", ("db", "password"), True),
        ("*:*.password", ("a", "b", "password"), True),
        ("*:*.password", ("passwords",), False),
        ("*:*.password", ("password_hint",), False),
        ("*:*.db.password", ("db", "password"), True),
        ("*:llm.api_key", ("api_key",), False),
        ("*:llm.api_key", ("llm", "api_key"), True),
        ("other.yaml:*.password", ("password",), False),
    ],
)
def test_a_key_name_pattern_matches_at_any_depth_the_top_included(
    pattern: str, path: tuple[str, ...], expected: bool
) -> None:
    assert SecretMatcher([pattern]).matches("web.yaml", path) is expected


@pytest.fixture(name="web")
def _web(run_cli: RunCli, store_path: Path, tmp_path: Path) -> Path:
    """The example store with an unschematized file holding a top-level password."""
    source = tmp_path / "web.yaml"
    source.write_text(f"name: web\npassword: {OLD_PASSWORD}\nport: 80\n")
    return stores.build_with(
        run_cli, store_path,
        ("init", "--example"),
        ("set", ".vpa-config/settings.yaml", "allow_unschematized", "true"),
        ("import", str(source), "--as", "services/web.yaml"),
    )


def test_a_top_level_password_is_hidden_everywhere_and_closes_the_file(
    run_cli: RunCli, web: Path
) -> None:
    outputs = [
        _ok(run_cli, web, "set", "services/web.yaml", "password", NEW_PASSWORD),
        _ok(run_cli, web, "diff", "HEAD~1", "HEAD"),
        _ok(run_cli, web, "diff", "HEAD~1", "HEAD", "--unified"),
        _ok(run_cli, web, "show"),
        _ok(run_cli, web, "show", "--json"),
        _ok(run_cli, web, "audit", "services/web.yaml", "password"),
        _ok(run_cli, web, "audit", "--json", "services/web.yaml", "password"),
        _ok(run_cli, web, "blame", "services/web.yaml"),
        _ok(run_cli, web, "blame", "--json", "services/web.yaml"),
    ]

    for output in outputs:
        assert OLD_PASSWORD not in output and NEW_PASSWORD not in output, output
        assert "<redacted>" in output, output
    assert "~ password: <redacted> -> <redacted>" in outputs[0]
    assert stat.S_IMODE((web / "services" / "web.yaml").stat().st_mode) == 0o600
    # get prints what is stored, by design
    got = _ok(run_cli, web, "get", "services/web.yaml", "password")
    assert got == NEW_PASSWORD + "\n"


SCHEMA_DEFAULT = "sk-live-schemadefault-42"


def test_a_schema_describing_a_secret_key_shows_its_rules_not_its_values(
    run_cli: RunCli, store_path: Path, tmp_path: Path
) -> None:
    schema = tmp_path / "app.schema.json"
    rules = {"type": "string", "minLength": 8}
    schema.write_text(json.dumps({"properties": {"api_key": rules}}))
    store = stores.build_with(
        run_cli, store_path,
        ("init", "--example"),
        ("schema", "add", str(schema), "--for", "app.yaml"),
    )
    rules.update(minLength=9, default=SCHEMA_DEFAULT, examples=[SCHEMA_DEFAULT])
    schema.write_text(json.dumps({"properties": {"api_key": rules}}))
    name = ".vpa-config/schemas/app.schema.json"

    outputs = [
        _ok(run_cli, store, "schema", "add", str(schema), "--replace"),
        _ok(run_cli, store, "diff", "HEAD~1", "HEAD"),
        _ok(run_cli, store, "show", "--json"),
        _ok(run_cli, store, "audit", name, "properties.api_key"),
        _ok(run_cli, store, "blame", "--json", name),
    ]

    for output in outputs:
        assert SCHEMA_DEFAULT not in output, output
    assert "~ properties.api_key.minLength: 8 -> 9" in outputs[0]
    assert "+ properties.api_key.default: <redacted>" in outputs[1]
    assert "~ properties.api_key.minLength: 8 -> 9" in outputs[3]
    blame = {entry["key"]: entry["value"] for entry in json.loads(outputs[4])}
    assert blame["properties.api_key.minLength"] == 9
    assert blame["properties.api_key.default"] == "<redacted>"


def test_a_change_of_the_secret_patterns_is_shown_for_review(
    run_cli: RunCli, store_path: Path
) -> None:
    store = stores.build_with(run_cli, store_path, ("init", "--example"))
    settings = ".vpa-config/settings.yaml"

    outputs = [
        _ok(run_cli, store, "set", settings, "secrets.1", "--string", "*:*.passwd"),
        _ok(run_cli, store, "show"),
        _ok(run_cli, store, "audit", settings, "secrets.1"),
    ]

    for output in outputs:
        assert "*:*.password -> *:*.passwd" in output, output


@pytest.fixture(name="example")
def _example(run_cli: RunCli, store_path: Path) -> Path:
    return stores.build_with(run_cli, store_path, ("init", "--example"))


@pytest.mark.parametrize(
    ("file", "key", "value", "secret"),
    [
        ("plugins.yaml", "plugins.1.options.token", TOKEN, TOKEN),
        ("plugins.yaml", "plugins.1.options.api_token", GH_TOKEN, GH_TOKEN),
        (
            "assistant.yaml", "llm.endpoint",
            f"https://user:{URL_PASSWORD}@example.com/v1", URL_PASSWORD,
        ),
    ],
    ids=["token", "api-token", "url-password"],
)
def test_values_events_redact_are_hidden_in_history_outputs(
    run_cli: RunCli, example: Path, file: str, key: str, value: str, secret: str
) -> None:
    outputs = [
        _ok(run_cli, example, "set", file, key, value),
        _ok(run_cli, example, "diff", "HEAD~1", "HEAD"),
        _ok(run_cli, example, "diff", "HEAD~1", "HEAD", "--json"),
        _ok(run_cli, example, "diff", "HEAD~1", "HEAD", "--unified"),
        _ok(run_cli, example, "show"),
        _ok(run_cli, example, "show", "--json"),
        _ok(run_cli, example, "audit", file, key),
        _ok(run_cli, example, "audit", "--json", file, key),
        _ok(run_cli, example, "blame", file),
        _ok(run_cli, example, "blame", "--json", file),
    ]

    for output in outputs:
        assert secret not in output, output
        assert "<redacted>" in output, output
    assert _ok(run_cli, example, "get", file, key) == value + "\n"


def test_the_url_keeps_what_is_not_secret(run_cli: RunCli, example: Path) -> None:
    value = f"https://user:{URL_PASSWORD}@example.com/v1"

    done = _ok(run_cli, example, "set", "assistant.yaml", "llm.endpoint", value)

    assert (
        "~ llm.endpoint: https://api.openai.com/v1 -> "
        "https://user:<redacted>@example.com/v1"
    ) in done


@pytest.fixture(name="tuned")
def _tuned(run_cli: RunCli, store_path: Path) -> Path:
    return stores.build_with(
        run_cli, store_path,
        ("init", "--example"),
        ("set", "assistant.yaml", "llm.temperature", "0.5"),
        ("set", "assistant.yaml", "speech.vad_threshold", "0.6"),
        ("set", "assistant.yaml", "llm.api_key", "sk-rotated-abcdefghijklmnop"),
    )


def test_audit_of_a_mapping_shows_the_sub_keys_that_changed(
    run_cli: RunCli, tuned: Path
) -> None:
    llm = _ok(run_cli, tuned, "audit", "assistant.yaml", "llm")
    speech = _ok(run_cli, tuned, "audit", "assistant.yaml", "speech")

    assert "    ~ llm.temperature: 0.7 -> 0.5\n" in llm
    assert "    ~ llm.api_key: <redacted> -> <redacted>\n" in llm
    assert "changed: <redacted> -> <redacted>" not in llm
    assert "sk-rotated" not in llm and "sk-example" not in llm
    # the first revision added the whole mapping: shown with its secret hidden
    assert '"api_key": "<redacted>", "temperature": 0.7' in llm
    assert "    ~ speech.vad_threshold: 0.5 -> 0.6\n" in speech
    assert '"stt_engine": "whisper", "tts_engine"' not in speech.split("\n")[1]


def test_audit_json_of_a_mapping_hides_only_its_secret_sub_keys(
    run_cli: RunCli, tuned: Path
) -> None:
    out = _ok(run_cli, tuned, "audit", "--json", "assistant.yaml", "llm")
    entries = [json.loads(line) for line in out.splitlines()]

    by_subject = {entry["subject"]: entry for entry in entries}
    temperature = by_subject["set assistant.yaml llm.temperature"]
    assert temperature["changes"] == [
        {"path": "temperature", "change": "changed", "old": 0.7, "new": 0.5}
    ]
    assert temperature["new"]["temperature"] == 0.5
    assert temperature["new"]["api_key"] == "<redacted>"
    rotated = by_subject["set assistant.yaml llm.api_key"]
    assert rotated["changes"] == [
        {"path": "api_key", "change": "changed",
         "old": "<redacted>", "new": "<redacted>"},
    ]


def test_undo_of_an_unparsable_revision_says_so(
    run_cli: RunCli, example: Path
) -> None:
    from conftest import git

    (example / "assistant.yaml").write_text("llm: [unclosed\n")
    git(example, "-c", "user.name=X", "-c", "user.email=x@example.org",
        "commit", "-q", "--no-verify", "-am", "broken")
    broken = git(example, "rev-parse", "HEAD").strip()

    as_json = run_cli("undo", "--dry-run", "--json", store=example)
    done = run_cli("undo", store=example)

    assert done.returncode == 0, done.stderr
    assert (
        f"  ~ (document): the file was unparsable at {broken[:12]}; it parses now\n"
    ) in done.stdout
    assert "<redacted>" not in done.stdout
    [file] = json.loads(as_json.stdout)["files"]
    assert (file["file"], file["unparsable"]) == ("assistant.yaml", ["old"])


def test_a_mask_hides_secret_sub_keys_and_scrubs_text() -> None:
    mask = Mask.of_paths({("llm", "api_key")})
    value = {
        "api_key": "k-1234", "max_tokens": 5, "token": "t-1234",
        "endpoint": "https://u:pw-1234@h/", "nested": {"password": "p-1234"},
    }

    shown = mask.show(value, ("llm",))

    assert shown == {
        "api_key": "<redacted>", "max_tokens": 5, "token": "<redacted>",
        "endpoint": "https://u:<redacted>@h/", "nested": {"password": "<redacted>"},
    }
    assert mask.covers(("plugins", 0, "options", "token"))
    assert not mask.covers(("llm", "max_tokens"))


def test_a_raising_health_check_has_its_secrets_hidden_in_the_report() -> None:
    monitor = HealthMonitor(
        HealthSettings(cpu=CpuThresholds(degraded_percent=None), cache_s=0)
    )

    def leaks() -> None:
        raise ValueError("password=hunter2 for db, key sk-healthleak-1234567890")

    monitor.add_check("db:reachable", leaks)
    try:
        result = monitor.report().result("db:reachable")
    finally:
        monitor.close(record=False)

    assert result is not None
    assert "hunter2" not in result.output and "sk-healthleak" not in result.output
    assert result.output.startswith("ValueError: password=<redacted>")


def test_a_raising_plugin_has_its_secrets_hidden_in_the_error(
    run_cli: RunCli, store_path: Path, tmp_path: Path
) -> None:
    from vpa_config import plugins

    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "vpa_leaky.py").write_text(
        "class Plugin:\n"
        "    def validate(self, change):\n"
        "        raise RuntimeError('upstream refused key sk-pluginleak-1234567890')\n"
    )
    store, _ = ConfigStore.init(store_path, example=True, actor=ACTOR)
    plugins.set_enabled(
        store, "leaky", True,
        updates={"spec": "vpa_leaky:Plugin", "path": str(folder)}, actor=ACTOR,
    )
    store.close()

    done = run_cli("set", "assistant.yaml", "llm.temperature", "0.5", store=store_path)
    status = run_cli("plugins", "status", "leaky", "--json", store=store_path)

    assert done.returncode == 1
    assert "plugin leaky could not judge the change" in done.stderr
    assert "RuntimeError: upstream refused key <redacted>" in done.stderr
    assert "sk-pluginleak" not in done.stderr + done.stdout + status.stdout
