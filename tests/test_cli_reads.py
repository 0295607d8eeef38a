"""get, status and log through the real CLI, and the store as git sees it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import stores
from conftest import ACTOR, RunCli, git, snapshot


def _build(run, store: Path, work: Path) -> None:
    run("init", "--example")
    run("set", "assistant.yaml", "llm.temperature", "0.4", "-m", "calmer")
    run("set", "plugins.yaml", "plugins.0.enabled", "false",
        "--actor", "Bob <bob@example.org>", "-m", "weather is flaky")


@pytest.fixture(name="reads_template", scope="module")
def _reads_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return stores.template(tmp_path_factory.mktemp("template"), _build)


@pytest.fixture(name="cli_store")
def _cli_store(reads_template: Path, store_path: Path) -> Path:
    """An example store with two changes after the first revision."""
    return stores.copy(reads_template, store_path)


# --- get ------------------------------------------------------------------------------


def test_get_prints_the_committed_file(run_cli: RunCli, cli_store: Path) -> None:
    done = run_cli("get", "assistant.yaml", store=cli_store)

    assert done.returncode == 0, done.stderr
    assert done.stdout == git(cli_store, "show", "HEAD:assistant.yaml")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("assistant.yaml", "llm.temperature"), "0.4\n"),
        (("assistant.yaml", "assistant.name"), "Vee\n"),
        (("assistant.yaml", "/llm/max_tokens"), "1024\n"),
        (("plugins.yaml", "plugins.0.enabled"), "false\n"),
        (("health.toml", "cpu.degraded_percent"), "85\n"),
        (("assistant.yaml", "llm.temperature", "--rev", "HEAD~1"), "0.4\n"),
        (("assistant.yaml", "llm.temperature", "--rev", "HEAD~2"), "0.7\n"),
    ],
    ids=["float", "text", "pointer", "list-item", "toml", "rev-1", "rev-2"],
)
def test_get_a_key(run_cli: RunCli, cli_store: Path, args: tuple[str, ...],
                   expected: str) -> None:
    done = run_cli("get", *args, store=cli_store)

    assert done.returncode == 0, done.stderr
    assert done.stdout == expected


def test_get_json(run_cli: RunCli, cli_store: Path) -> None:
    done = run_cli("get", "logging.json", "--json", store=cli_store)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == json.loads((cli_store / "logging.json").read_text())


def test_get_reads_the_committed_state_not_hand_edits(
    run_cli: RunCli, cli_store: Path
) -> None:
    path = cli_store / "assistant.yaml"
    path.write_text(path.read_text().replace("temperature: 0.4", "temperature: 1.5"))

    done = run_cli("get", "assistant.yaml", "llm.temperature", store=cli_store)

    assert done.stdout == "0.4\n"


def test_get_prints_a_value_as_stored_into_a_pipe(
    run_cli: RunCli, cli_store: Path
) -> None:
    value = "hi\x1b[31mred"
    assert run_cli("set", "assistant.yaml", "assistant.persona", value, "--string",
                   store=cli_store).returncode == 0

    done = run_cli("get", "assistant.yaml", "assistant.persona", store=cli_store)

    assert done.stdout == value + "\n"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("nofile.yaml",), 5, "nofile.yaml: no such file in the store"),
        (("assistant.yaml", "llm.nokey"), 5, "key llm.nokey not found"),
        (("assistant.yaml", "llm", "--rev", "nosuch"), 5, "revision 'nosuch' not found"),
        (("assistant.yaml", "llm", "--rev", "HEAD~50"), 5, "past the first revision"),
        (("plugins.yaml", "plugins.x"), 5,
         "plugins.yaml: plugins.x: not found; plugins is a list (3 items), so "
         "expected a position number there, got 'x'"),
        (("assistant.yaml", "a\\q"), 2, "a backslash must be followed"),
    ],
    ids=["file", "key", "rev", "too-far-back", "list-index", "bad-escape"],
)
def test_get_errors(run_cli: RunCli, cli_store: Path, args: tuple[str, ...], code: int,
                    message: str) -> None:
    done = run_cli("get", *args, store=cli_store)

    assert done.returncode == code, done.stderr
    assert message in done.stderr
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr


# --- status ----------------------------------------------------------------------------


def test_status_clean(run_cli: RunCli, cli_store: Path) -> None:
    done = run_cli("status", store=cli_store)

    assert done.returncode == 0, done.stderr
    assert f"revision {git(cli_store, 'rev-parse', 'HEAD').strip()}" in done.stdout
    assert "clean: the files are exactly the current revision" in done.stdout


def test_status_shows_hand_edits_and_their_validity(
    run_cli: RunCli, cli_store: Path
) -> None:
    assistant = cli_store / "assistant.yaml"
    assistant.write_text(assistant.read_text().replace("max_tokens: 1024", "max_tokens: x"))
    plugins = cli_store / "plugins.yaml"
    plugins.write_text(plugins.read_text() + "# reviewed\n")
    (cli_store / "health.toml").unlink()
    before = snapshot(cli_store)

    text = run_cli("status", store=cli_store)
    as_json = json.loads(run_cli("status", "--json", store=cli_store).stdout)

    assert "  modified assistant.yaml  INVALID (1 problem)" in text.stdout
    assert "assistant.yaml:16:3: llm.max_tokens: expected integer" in text.stdout
    assert "  modified plugins.yaml  valid" in text.stdout
    assert 'run "vpa-config commit health.toml plugins.yaml -m REASON"' in text.stdout
    assert "  deleted  health.toml  valid" in text.stdout
    assert as_json["clean"] is False
    assert {(e["file"], e["state"], e["valid"]) for e in as_json["hand_edits"]} == {
        ("assistant.yaml", "modified", False),
        ("plugins.yaml", "modified", True),
        ("health.toml", "deleted", True),
    }
    assert snapshot(cli_store) == before


def test_status_tells_a_stray_new_file_from_an_edited_one(
    run_cli: RunCli, cli_store: Path
) -> None:
    (cli_store / "newfile.json").write_text('{"a": 1}\n')
    assistant = cli_store / "assistant.yaml"
    text = assistant.read_text()
    assistant.write_text(text.replace("max_tokens: 1024", "max_tokens: x"))
    plugins = cli_store / "plugins.yaml"
    plugins.write_text(plugins.read_text() + "# reviewed\n")

    lines = run_cli("status", store=cli_store).stdout.splitlines()
    discard = run_cli("restore", "HEAD", "newfile.json", "--discard-edits",
                      store=cli_store)

    assert lines[-3:] == [
        'run "vpa-config commit plugins.yaml -m REASON" to commit the valid ones '
        "(a plain commit -m commits all or none)",
        "fix the invalid ones, or put back HEAD's with "
        '"vpa-config restore HEAD assistant.yaml --discard-edits"',
        "newfile.json: not in the store: delete it from the folder, or fix it and "
        'run "vpa-config commit newfile.json -m REASON" to add it',
    ]
    assert discard.returncode == 5  # which is why status does not suggest it


# --- log ------------------------------------------------------------------------------


def test_log_lists_newest_first_with_actor_reason_kind_files(
    run_cli: RunCli, cli_store: Path
) -> None:
    done = run_cli("log", store=cli_store)
    lines = done.stdout.splitlines()

    assert done.returncode == 0, done.stderr
    assert lines[0].endswith("Bob <bob@example.org>")
    assert lines[1] == "    set plugins.yaml plugins.0.enabled  [set, cli]"
    assert lines[2] == "    reason: weather is flaky"
    assert lines[3] == "    files: plugins.yaml"
    assert lines[4].endswith(ACTOR)
    assert "init store with the example configuration  [init, cli]" in done.stdout


def test_log_json_lines(run_cli: RunCli, cli_store: Path) -> None:
    done = run_cli("log", "--json", store=cli_store)
    entries = [json.loads(line) for line in done.stdout.splitlines()]

    assert [e["kind"] for e in entries] == ["set", "set", "init"]
    assert entries[0]["author"] == "Bob <bob@example.org>"
    assert entries[0]["reason"] == "weather is flaky"
    assert entries[0]["files"] == ["plugins.yaml"]
    assert entries[0]["revision"] == git(cli_store, "rev-parse", "HEAD").strip()
    assert ["Vpa-Source", "cli"] in entries[0]["trailers"]
    schemas = [v for k, v in entries[-1]["trailers"] if k == "Vpa-Schema"]
    assert len(schemas) > 1  # init names every shipped schema it uses
    assert entries[0]["time"].endswith("Z")


@pytest.mark.parametrize(
    ("args", "kinds"),
    [
        (("-n", "1"), ["set"]),
        (("assistant.yaml",), ["set", "init"]),
        (("--author", "bob"), ["set"]),
        (("--author", "nobody"), []),
        (("--since", "2000-01-01"), ["set", "set", "init"]),
        (("--until", "2000-01-01"), []),
        (("--since", "1 hour ago"), ["set", "set", "init"]),
        (("--kind", "init"), ["init"]),
    ],
    ids=["limit", "file", "author", "no-author", "since", "until", "since-rel", "kind"],
)
def test_log_filters(run_cli: RunCli, cli_store: Path, args: tuple[str, ...],
                     kinds: list[str]) -> None:
    done = run_cli("log", *args, "--json", store=cli_store)

    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["kind"] for line in done.stdout.splitlines()] == kinds


def test_log_names_a_kind_nothing_matched(run_cli: RunCli, cli_store: Path) -> None:
    done = run_cli("log", "--kind", "bogus", store=cli_store)

    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert "no revision of kind 'bogus' matched" in done.stderr


def test_log_show_and_audit_indent_a_reason_of_several_lines(
    run_cli: RunCli, cli_store: Path
) -> None:
    reason = "first line\nVpa-Kind: fake"
    assert run_cli("set", "assistant.yaml", "llm.temperature", "0.5", "-m", reason,
                   store=cli_store).returncode == 0

    log = run_cli("log", "-n", "1", store=cli_store).stdout.splitlines()
    audit = run_cli("audit", "assistant.yaml", "llm.temperature", store=cli_store)

    show = run_cli("show", "HEAD", store=cli_store).stdout

    assert log[2:4] == ["    reason: first line", "            Vpa-Kind: fake"]
    assert "reason   first line\n         Vpa-Kind: fake\n" in show
    assert "    reason: first line\n            Vpa-Kind: fake\n" in audit.stdout


def test_log_bad_date_is_refused_in_one_line(run_cli: RunCli, cli_store: Path) -> None:
    done = run_cli("log", "--since", "the day after never", store=cli_store)

    assert done.returncode in (1, 2), done.stderr
    assert "Traceback" not in done.stderr


# --- the git CLI's view (tests only) -------------------------------------------------------


def test_git_sees_an_ordinary_repository(run_cli: RunCli, cli_store: Path) -> None:
    authors = git(cli_store, "log", "--format=%an <%ae>|%cn <%ce>").splitlines()
    messages = git(cli_store, "log", "-1", "--format=%B")
    trailers = git(cli_store, "log", "-1", "--format=%(trailers:only,unfold)")

    assert authors == [
        "Bob <bob@example.org>|vpa-config <vpa-config@localhost>",
        f"{ACTOR}|vpa-config <vpa-config@localhost>",
        f"{ACTOR}|vpa-config <vpa-config@localhost>",
    ]
    assert messages.startswith("set plugins.yaml plugins.0.enabled\n\nweather is flaky\n")
    assert "Vpa-Kind: set" in trailers
    assert "Vpa-Source: cli" in trailers
    assert "Vpa-Correlation-Id: " in trailers
    assert git(cli_store, "status", "--porcelain") == ""
    assert git(cli_store, "branch", "--show-current").strip() == "main"
    git(cli_store, "fsck", "--strict")


def test_status_reports_a_symbolic_link_and_commit_refuses_it(
    run_cli: RunCli, cli_store: Path
) -> None:
    (cli_store / "link.yaml").symlink_to("/etc/passwd")
    (cli_store / "assistant.yaml").write_text(
        (cli_store / "assistant.yaml").read_text().replace("voice: alto", "voice: tenor")
    )

    status = run_cli("status", "--json", store=cli_store)
    commit = run_cli("commit", "-m", "x", store=cli_store)

    assert status.returncode == 0, status.stderr
    edits = {e["file"]: e for e in json.loads(status.stdout)["hand_edits"]}
    assert edits["link.yaml"]["state"] == "symlink"
    assert "symbolic link" in edits["link.yaml"]["problems"][0]["message"]
    assert edits["assistant.yaml"]["state"] == "modified"
    assert commit.returncode == 1
    assert "link.yaml: is a symbolic link" in commit.stderr


def test_diff_refuses_unified_with_json(run_cli: RunCli, cli_store: Path) -> None:
    done = run_cli("diff", "HEAD", "--unified", "--json", store=cli_store)

    assert done.returncode == 2
    assert "--unified and --json cannot be combined" in done.stderr
    assert json.loads(done.stdout)["error"] == "UsageError"


def test_log_by_an_author_no_revision_has_says_so(
    run_cli: RunCli, cli_store: Path
) -> None:
    done = run_cli("log", "--author", "nobody-at-all", store=cli_store)

    assert (done.returncode, done.stdout) == (0, "")
    assert "no revision by an author matching 'nobody-at-all'" in done.stderr


def test_status_tells_to_move_a_file_that_is_no_config_file_away(
    run_cli: RunCli, cli_store: Path
) -> None:
    (cli_store / "notes.txt").write_text("x: 1\n")

    done = run_cli("status", store=cli_store)

    assert "notes.txt: not a config file" in done.stdout + done.stderr
    assert "commit notes.txt" not in done.stdout + done.stderr
