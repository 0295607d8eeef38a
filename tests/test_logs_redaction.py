"""Redaction: sensitive keys by word parts, schema secrets, secret-looking text."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.conftest import ACTOR, RunCli
from vpa_config import logs
from vpa_config.errors import InvalidConfigError
from vpa_config.redaction import (
    REDACTED,
    SECRETS,
    Redactor,
    SecretRegistry,
    is_sensitive_key,
)
from vpa_config.store import ConfigStore


@pytest.fixture(autouse=True)
def _clean_logging():
    yield
    logs.reset()
    SECRETS.clear()


@pytest.mark.parametrize(
    "name",
    [
        "client_secret",
        "api_token",
        "password",
        "passwd",
        "secret",
        "token",
        "api_key",
        "private_key",
        "credential",
        "credentials",
        "auth",
        "apiKey",
        "OAuthToken",
        "x-api-key",
        "AWS_SECRET_ACCESS_KEY",
        "db.password",
        "Authorization",
        "session_id",
        "set-cookie",
    ],
)
def test_sensitive_key_names_are_caught(name: str):
    assert is_sensitive_key(name)


@pytest.mark.parametrize(
    "name",
    [
        "tokenizer",
        "author",
        "authored_by",
        "max_tokens",
        "keys",
        "passage",
        "key",
        "path",
    ],
)
def test_ordinary_key_names_are_left_alone(name: str):
    assert not is_sensitive_key(name)


def test_nested_secrets_are_redacted_at_any_depth():
    event = {
        "event": "plugin.loaded",
        "options": {
            "servers": [{"name": "a", "auth": {"user": "u", "password": "p1"}}]
        },
        "tokenizer": "bert",
        "pairs": ({"api_token": "t1"},),
    }

    clean = Redactor().scrub(event)

    assert clean["options"]["servers"][0]["auth"] == REDACTED
    assert clean["tokenizer"] == "bert"
    assert clean["pairs"] == [{"api_token": REDACTED}]
    assert "p1" not in json.dumps(clean) and "t1" not in json.dumps(clean)


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("fetch https://bob:hunter2pass@git.example.org/repo failed", "hunter2pass"),
        ("header Authorization: Bearer abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnop"),
        ("key sk-proj-AbCdEfGhIjKlMnOpQrStUvWx is bad", "AbCdEfGhIjKlMnOp"),
        ("token ghp_abcdefghijklmnopqrstuvwxyz0123456789", "ghp_abcdefghij"),
        ("aws AKIAABCDEFGHIJKLMNOP", "AKIAABCDEFGHIJKLMNOP"),
        ("login password=s3cr3t-value user=ada", "s3cr3t-value"),
        ('json {"client_secret": "abc123xyz"}', "abc123xyz"),
        (
            "pem -----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n"
            "-----END RSA PRIVATE KEY----- end",
            "MIIEowIBAAKCAQEA",
        ),
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
            "dozjgNryP4J3jVmNHl0w5N",
            "dozjgNryP4J3jVmNHl0w5N",
        ),
    ],
    ids=["url", "bearer", "sk-key", "github", "aws", "pair", "json-pair", "pem", "jwt"],
)
def test_secret_looking_text_is_redacted_in_any_string(text: str, secret: str):
    clean = Redactor().scrub({"message": text, "deep": [{"note": text}]})

    assert secret not in clean["message"]
    assert secret not in clean["deep"][0]["note"]
    assert REDACTED in clean["message"]


def test_ordinary_text_is_kept():
    text = "tokenizer=bert author=ada at 12:03:55 see https://example.org/a:b"

    assert Redactor().scrub(text) == text


def test_schema_secret_paths_and_values_from_the_store_are_redacted():
    registry = SecretRegistry()
    registry.add(paths=[("llm", "api_key")], values=["plain-but-secret"])
    redactor = Redactor(registry=registry)

    clean = redactor.scrub(
        {
            "document": {"llm": {"api_key": "x", "model": "m"}},
            "change": {"path": "llm.api_key", "old": "a", "new": "b"},
            "message": "expected 8 chars; got plain-but-secret",
        }
    )

    assert clean["document"]["llm"] == {"api_key": REDACTED, "model": "m"}
    assert clean["change"] == {"path": "llm.api_key", "old": REDACTED, "new": REDACTED}
    assert "plain-but-secret" not in clean["message"]


def test_a_text_scrubbed_before_its_value_was_known_secret_is_redacted_after():
    registry = SecretRegistry()
    redactor = Redactor(registry=registry)
    record = {"subject": "rotate hunter2-prod", "long": "x " * 300 + "hunter2-prod"}
    assert redactor.scrub(record) == record  # remembered as clean

    registry.add(values=["hunter2-prod"])

    assert redactor.scrub(record) == {
        "subject": f"rotate {REDACTED}", "long": "x " * 300 + REDACTED,
    }
    registry.clear()
    assert redactor.scrub(record) == record


def test_texts_are_remembered_apart_for_each_marker_and_extra_keys():
    registry = SecretRegistry()
    registry.add(values=["hunter2-prod"])
    text = "bridge=192.168.1.20 pw hunter2-prod"

    plain = Redactor(registry=registry).scrub(text)
    marked = Redactor(registry=registry, marker="***").scrub(text)
    extra = Redactor(extra_keys=("bridge",), registry=registry).scrub(text)

    assert plain == f"bridge=192.168.1.20 pw {REDACTED}"
    assert marked == "bridge=192.168.1.20 pw ***"
    assert extra == f"bridge={REDACTED} pw {REDACTED}"


def test_secret_paths_added_later_are_matched_by_their_ending():
    registry = SecretRegistry()
    redactor = Redactor(registry=registry)
    record = {
        "doc": {"llm": {"key": "k1"}, "db": {"key": "k2"}, "key": "k3"},
        "change": {"path": "profiles.0.llm.key", "new": "k4"},
    }
    assert redactor.scrub(record) == record

    registry.add(paths=[("llm", "key")])
    registry.add(paths=[("db", "key"), ()])

    clean = redactor.scrub(record)
    assert clean["doc"] == {
        "llm": {"key": REDACTED}, "db": {"key": REDACTED}, "key": "k3",
    }
    assert clean["change"] == {"path": "profiles.0.llm.key", "new": REDACTED}


def test_extra_keys_from_configuration_are_redacted():
    with logs.capture(redact_keys=("bridge",)) as events:
        logs.emit("plugin.loaded", options={"bridge": "192.168.1.20"})

    assert events[0]["options"]["bridge"] == REDACTED


def test_exception_messages_in_events_are_redacted():
    with logs.capture() as events:
        try:
            raise ConnectionError("cannot reach https://svc:topsecretpw@db.example.org")
        except ConnectionError as exc:
            logs.emit("sync.failed", level="error", exc_info=exc)

    text = json.dumps(events)
    assert "topsecretpw" not in text
    assert events[0]["exception"][0]["exc_type"] == "ConnectionError"


def test_a_secret_value_set_through_the_store_never_reaches_an_event(
    store: ConfigStore,
):
    with logs.capture() as events:
        store.set("assistant.yaml", "llm.api_key", "correct-horse-battery", actor=ACTOR)
        logs.emit("app.debug", note="the key is now correct-horse-battery")

    assert "correct-horse-battery" not in json.dumps(events)


def test_a_refused_secret_value_never_reaches_an_event(store: ConfigStore):
    with logs.capture() as events, pytest.raises(InvalidConfigError):
        store.set("assistant.yaml", "llm.api_key", "short", actor=ACTOR)

    (refused,) = [event for event in events if event["event"] == "config.refused"]
    assert refused["problems"][0]["path"] == "llm.api_key"
    assert "short" not in json.dumps(refused["problems"])


def test_a_refused_secret_value_never_reaches_the_audit_trail(
    run_cli: RunCli, store_path: Path
):
    assert run_cli("init", "--example", store=store_path).returncode == 0

    for key in ("llm.api_key", "/llm/api_key"):
        done = run_cli("set", "assistant.yaml", key, "12345", store=store_path)
        assert done.returncode == 1, done.stderr
    trail = (store_path / ".git" / "vpa-config-audit.jsonl").read_text()

    records = [json.loads(line) for line in trail.splitlines()]
    assert [record["outcome"] for record in records[-2:]] == ["refused", "refused"]
    assert "12345" not in trail
    assert records[-1]["argv"][-1] == REDACTED
    assert "llm.api_key: expected" in records[-1]["error"]


def test_message_words_after_a_secret_key_are_kept():
    text = "assistant.yaml:3:3: llm.api_key: expected string; got integer"

    assert Redactor().scrub_text(text) == text
    assert Redactor().scrub_text("api_key: hunter22") == f"api_key: {REDACTED}"


def test_the_crash_log_redacts_a_secret_value_of_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    from vpa_config import cli

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    monkeypatch.delenv("VPA_CONFIG_TRACEBACK", raising=False)
    monkeypatch.setattr(
        "sys.argv", ["vpa-config", "set", "app.yaml", "db.password", "s3cr3t-pw"]
    )

    assert cli._report_bug(RuntimeError("boom")) == 3

    report = (tmp_path / "vpa-config" / "crash.log").read_text()
    assert "RuntimeError: boom" in report and "db.password" in report
    assert "s3cr3t-pw" not in report
    assert "internal error (RuntimeError)" in capsys.readouterr().err


def test_refused_and_dry_run_secrets_never_reach_the_cache_of_facts(
    run_cli: RunCli, store_path: Path
):
    assert run_cli("init", "--example", store=store_path).returncode == 0
    assert run_cli("set", "assistant.yaml", "llm.model", "m2", store=store_path)

    refused = run_cli("set", "assistant.yaml", "llm.api_key", "LEAKME4",
                      store=store_path)
    dry = run_cli("set", "--dry-run", "assistant.yaml", "llm.api_key",
                  "would-be-secret-1234", store=store_path)

    assert refused.returncode == 1 and dry.returncode == 0, refused.stderr + dry.stderr
    cache = store_path / ".git" / "vpa-config-cache"
    stored = b"".join(path.read_bytes() for path in cache.iterdir() if path.is_file())
    assert b"LEAKME4" not in stored and b"would-be-secret-1234" not in stored
    for facts in cache.glob("facts.sqlite*"):  # the database, its log and index
        assert facts.stat().st_mode & 0o777 == 0o600, facts


def test_an_edit_draft_is_readable_by_its_owner_only(
    run_cli: RunCli, store_path: Path, tmp_path: Path
):
    assert run_cli("init", "--example", store=store_path).returncode == 0
    editor = tmp_path / "editor.py"
    editor.write_text(
        "import sys\nopen(sys.argv[1], 'w').write('llm: {api_key: [\\n')\n"
    )
    env = {"EDITOR": f"{sys.executable} {editor}", "VISUAL": ""}

    done = run_cli("edit", "assistant.yaml", store=store_path, env=env, input="k\n")

    assert done.returncode == 1
    draft = Path(done.stderr.split("draft kept in ")[1].split(";")[0])
    assert draft.stat().st_mode & 0o777 == 0o600
    assert draft.parent.stat().st_mode & 0o077 == 0
