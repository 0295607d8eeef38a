"""Secrets in the reasons and messages of revisions, as every read prints them.

``events`` has shown a change's reason scrubbed since it was recorded; ``log``,
``show``, ``audit``, ``blame``, ``get --at`` and ``undo`` print the same reasons
and subjects by the same rules (masking.Messages): the store's known secret
values, secret-looking shapes, URL passwords.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import stores
from conftest import RunCli, git

from vpa_config.redaction import REDACTED, Redactor

SK_KEY = "sk-proj-ABCDEFGHIJKLMNOPQRSTUVWXYZ123456"
PAIR_PASSWORD = "hunter2"
PLAIN_SECRET = "plainsecretvalue42"  # no secret shape: known only as a value
URL_PASSWORD = "pw123url"
ORDINARY = "calmer (ticket OPS-12): temperature 0.3, see https://wiki.example.org/a"
SECRETS = (SK_KEY, PAIR_PASSWORD, PLAIN_SECRET, URL_PASSWORD)
GIT_ID = ("-c", "user.name=Git", "-c", "user.email=g@example.org")


@pytest.fixture(name="history_template", scope="module")
def _history_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three changes whose reasons name secrets, and one ordinary reason."""

    def build(run: RunCli, store: Path, work: Path) -> None:
        run("init", "--example")
        run("set", "assistant.yaml", "llm.api_key", SK_KEY,
            "-m", f"rotated to {SK_KEY} password={PAIR_PASSWORD}")
        run("set", "assistant.yaml", "llm.api_key", PLAIN_SECRET,
            "-m", f"now {PLAIN_SECRET}\n\n(was sk-...) password=xyz); refused")
        run("set", "assistant.yaml", "llm.temperature", "0.3", "-m", ORDINARY)
        run("set", "assistant.yaml", "assistant.voice", "tenor",
            "-m", f"voice from https://bob:{URL_PASSWORD}@voices.example.org/t")

    return stores.template(tmp_path_factory.mktemp("reasons"), build)


@pytest.fixture(name="history")
def _history(history_template: Path, store_path: Path) -> Path:
    return stores.copy(history_template, store_path)


def _ok(run_cli: RunCli, store: Path, *args: str) -> str:
    done = run_cli(*args, store=store)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _assert_no_secret(out: str) -> None:
    for secret in SECRETS:
        assert secret not in out, out


READS = [
    ("log",),
    ("log", "-n", "1"),
    ("log", "--json"),
    ("log", "assistant.yaml"),
    ("log", "--key", "assistant.yaml:llm.api_key"),
    ("log", "--key", "assistant.yaml:llm.api_key", "--json"),
    ("show", "HEAD~2"),
    ("show", "HEAD~2", "--json"),
    ("show", "HEAD~3"),
    ("show", "--json"),
    ("audit", "assistant.yaml", "llm.api_key"),
    ("audit", "assistant.yaml", "llm.api_key", "--json"),
    ("audit", "--json", "assistant.yaml", "assistant.voice"),
    ("blame", "assistant.yaml", "--json"),
    ("get", "assistant.yaml", "llm.model", "--at", "now", "--json"),
    ("events",),
]


@pytest.mark.parametrize("args", READS, ids=" ".join)
def test_a_read_prints_reasons_with_their_secrets_hidden(
    run_cli: RunCli, history: Path, args: tuple[str, ...]
) -> None:
    out = _ok(run_cli, history, *args)

    _assert_no_secret(out)


def test_log_prints_the_reason_as_events_have_it(
    run_cli: RunCli, history: Path
) -> None:
    out = _ok(run_cli, history, "log")

    assert f"reason: rotated to {REDACTED} password={REDACTED}\n" in out
    assert f"reason: now {REDACTED}\n" in out
    assert f"(was sk-...) password={REDACTED}); refused" in out
    assert f"https://bob:{REDACTED}@voices.example.org/t" in out


def test_an_ordinary_reason_is_printed_unchanged(
    run_cli: RunCli, history: Path
) -> None:
    text = _ok(run_cli, history, "log", "-n", "2")
    lines = _ok(run_cli, history, "log", "--json").splitlines()
    entries = [json.loads(line) for line in lines]
    shown = json.loads(_ok(run_cli, history, "show", "HEAD~1", "--json"))
    audited = json.loads(_ok(
        run_cli, history, "audit", "--json", "assistant.yaml", "llm.temperature"
    ).splitlines()[0])

    assert f"    reason: {ORDINARY}\n" in text
    assert entries[1]["reason"] == ORDINARY
    assert shown["reason"] == ORDINARY
    assert audited["reason"] == ORDINARY
    assert entries[1]["subject"] == "set assistant.yaml llm.temperature"


def test_show_hides_the_values_its_revision_set_without_an_index(
    run_cli: RunCli, history: Path
) -> None:
    for suffix in ("", "-wal", "-shm"):
        index = history / ".git" / f"vpa-config-history.sqlite{suffix}"
        index.unlink(missing_ok=True)

    out = _ok(run_cli, history, "show", "HEAD~2")

    assert f"reason   now {REDACTED}\n" in out
    _assert_no_secret(out)


def test_a_git_commit_message_is_printed_with_its_secrets_hidden(
    run_cli: RunCli, history: Path
) -> None:
    token = "ghp_" + "abcdefghij" * 4
    path = history / "assistant.yaml"
    path.write_text(path.read_text().replace("name: Vee", "name: Vee2"))
    git(history, *GIT_ID, "commit", "-q", "--no-verify", "-am",
        f"rename with {SK_KEY}\n\nbecause\n\nApi-Token: {token}")

    outputs = [
        _ok(run_cli, history, "log", "-n", "1"),
        _ok(run_cli, history, "log", "-n", "1", "--json"),
        _ok(run_cli, history, "show"),
        _ok(run_cli, history, "show", "--json"),
        _ok(run_cli, history, "undo", "--json"),
        _ok(run_cli, history, "log", "-n", "1", "--json"),
    ]

    for out in outputs:
        _assert_no_secret(out)
        assert token not in out, out
    assert f"subject  rename with {REDACTED}\n" in outputs[2]
    assert f"    Api-Token: {REDACTED}\n" in outputs[2]
    assert json.loads(outputs[4])["subject"].endswith(f"(rename with {REDACTED})")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(password=xyz); refused", f"(password={REDACTED}); refused"),
        ("[token=abc123] ok", f"[token={REDACTED}] ok"),
        ("{secret=abcd} ok", f"{{secret={REDACTED}}} ok"),
        ('password="abc) def" ok', f'password="{REDACTED}" ok'),
        ("api_key: 'two words' ok", f"api_key: '{REDACTED}' ok"),
    ],
    ids=["paren", "bracket", "brace", "quoted-paren", "quoted-space"],
)
def test_a_pair_value_ends_where_the_text_around_it_goes_on(
    text: str, expected: str
) -> None:
    assert Redactor().scrub_text(text) == expected


def test_the_word_redacted_after_a_secret_key_is_kept() -> None:
    assert Redactor().scrub_text("  # secret: redacted in diffs") == (
        "  # secret: redacted in diffs"
    )
    assert Redactor().scrub_text("  # secret: hunter22 in diffs") == (
        f"  # secret: {REDACTED} in diffs"
    )


def test_a_unified_diff_keeps_a_comment_and_hides_the_secret(
    run_cli: RunCli, store_path: Path, tmp_path: Path
) -> None:
    source = tmp_path / "web.yaml"
    source.write_text(
        "name: web\n# secret: redacted in diffs\npassword: hunter22-web\nport: 80\n"
    )
    stores.build_with(
        run_cli, store_path,
        ("init", "--example"),
        ("set", ".vpa-config/settings.yaml", "allow_unschematized", "true"),
        ("import", str(source), "--as", "services/web.yaml"),
    )

    out = _ok(run_cli, store_path, "diff", "HEAD~1", "HEAD", "--unified")

    assert "+# secret: redacted in diffs\n" in out
    assert "hunter22-web" not in out
    assert f"+password: {REDACTED}\n" in out


def test_a_value_of_a_key_named_secret_is_hidden_in_later_reads(
    run_cli: RunCli, store_path: Path, tmp_path: Path
) -> None:
    source = tmp_path / "web.yaml"
    source.write_text("name: web\ndb_token: first-token-value\n")
    stores.build_with(
        run_cli, store_path,
        ("init", "--example"),
        ("set", ".vpa-config/settings.yaml", "allow_unschematized", "true"),
        ("import", str(source), "--as", "services/web.yaml"),
        ("set", "services/web.yaml", "db_token", "webplain77",
         "-m", "db token now webplain77, was first-token-value"),
    )

    out = _ok(run_cli, store_path, "log", "-n", "1")

    assert f"reason: db token now {REDACTED}, was {REDACTED}\n" in out
