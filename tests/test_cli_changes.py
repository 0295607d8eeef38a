"""Every change command through the real CLI: good input, bad input, exit codes.

A refused change must leave every file of the store, its refs and HEAD exactly
as they were (``snapshot``), and print one line (or one block of problems)
without a traceback.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import ACTOR, RunCli, git, snapshot


def _head(store: Path) -> str:
    return git(store, "rev-parse", "HEAD").strip()


def _assert_refused(done, code: int, text: str) -> None:
    assert done.returncode == code, done.stdout + done.stderr
    assert text in done.stderr, done.stderr
    assert "Traceback" not in done.stderr + done.stdout


# --- init ---------------------------------------------------------------------


def test_init_example_commits_the_example_as_revision_one(cli_store: Path) -> None:
    files = git(cli_store, "ls-files").split()

    assert files == [
        ".vpa-config/settings.yaml", "assistant.yaml", "health.toml",
        "logging.json", "plugins.yaml",
    ]
    assert git(cli_store, "rev-list", "--count", "HEAD").strip() == "1"


def test_init_refuses_an_existing_store(run_cli: RunCli, cli_store: Path) -> None:
    before = snapshot(cli_store)

    done = run_cli("init", store=cli_store)

    _assert_refused(done, 1, "is already a store")
    assert snapshot(cli_store) == before


def test_init_refuses_a_folder_that_is_not_empty(run_cli: RunCli, tmp_path: Path) -> None:
    folder = tmp_path / "full"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine\n")

    done = run_cli("init", store=folder)

    _assert_refused(done, 1, "is not empty")
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


def _plain_git_repository(folder: Path) -> Path:
    folder.mkdir()
    git(folder, "init", "-q")
    (folder / "app.yaml").write_text("port: 80\n")
    git(folder, "add", "app.yaml")
    git(folder, "-c", "user.name=Plain", "-c", "user.email=plain@example.org",
        "commit", "-q", "-m", "not a store")
    return folder


def test_a_plain_git_repository_is_not_taken_for_a_store(
    run_cli: RunCli, tmp_path: Path
) -> None:
    folder = _plain_git_repository(tmp_path / "plain")
    before = snapshot(folder)

    for argv in (["status"], ["set", "app.yaml", "port", "81"], ["log"],
                 ["audit", "app.yaml", "port"]):
        done = run_cli(*argv, store=folder)
        _assert_refused(done, 5, "is a git repository but not a vpa-config store")
    done = run_cli("init", store=folder)

    _assert_refused(done, 1, "is a git repository but not a vpa-config store")
    assert snapshot(folder) == before


def test_a_store_whose_audit_trail_is_gone_is_still_a_store(
    run_cli: RunCli, cli_store: Path
) -> None:
    (cli_store / ".git" / "vpa-config-audit.jsonl").unlink()

    done = run_cli("status", store=cli_store)

    assert done.returncode == 0, done.stderr
    _assert_refused(run_cli("init", store=cli_store), 1, "is already a store")


def test_default_store_is_under_xdg_config_home(run_cli: RunCli, tmp_path: Path) -> None:
    done = run_cli("init", "--example")

    assert done.returncode == 0, done.stderr
    assert (tmp_path / "home" / ".config" / "vpa-config" / "assistant.yaml").is_file()


def test_store_from_environment_variable(run_cli: RunCli, tmp_path: Path) -> None:
    where = tmp_path / "env-store"

    done = run_cli("init", env={"VPA_CONFIG_STORE": str(where)})

    assert done.returncode == 0, done.stderr
    assert (where / ".vpa-config" / "settings.yaml").is_file()


def test_command_without_a_store_is_not_found(run_cli: RunCli, tmp_path: Path) -> None:
    done = run_cli("get", "assistant.yaml", store=tmp_path / "none")

    _assert_refused(done, 5, "no vpa-config store at")


# --- set ------------------------------------------------------------------------


def test_set_commits_with_actor_reason_and_trailers(run_cli: RunCli, cli_store: Path) -> None:
    done = run_cli("set", "assistant.yaml", "llm.temperature", "0.4",
                   "-m", "calmer answers", store=cli_store)

    assert done.returncode == 0, done.stderr
    assert f"committed {_head(cli_store)}" in done.stdout
    assert "~ llm.temperature: 0.7 -> 0.4" in done.stdout
    message = git(cli_store, "log", "-1", "--format=%B")
    assert message.startswith("set assistant.yaml llm.temperature\n\ncalmer answers\n")
    assert "Vpa-Kind: set" in message
    assert "Vpa-Source: cli" in message
    assert git(cli_store, "log", "-1", "--format=%an <%ae>").strip() == ACTOR


def test_set_changes_only_the_one_line(run_cli: RunCli, cli_store: Path) -> None:
    before = (cli_store / "assistant.yaml").read_text()

    done = run_cli("set", "assistant.yaml", "assistant.voice", "tenor", store=cli_store)

    assert done.returncode == 0, done.stderr
    after = (cli_store / "assistant.yaml").read_text()
    changed = [
        (old, new)
        for old, new in zip(before.splitlines(), after.splitlines())
        if old != new
    ]
    assert changed == [(
        "  voice: alto           # alto, soprano, tenor, baritone or neutral",
        "  voice: tenor          # alto, soprano, tenor, baritone or neutral",
    )]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("assistant.yaml", "llm.temperature", "9"), 1,
         "assistant.yaml:15:3: llm.temperature: expected at most 2; got 9"),
        (("assistant.yaml", "llm.temperature", "warm"), 1,
         "llm.temperature: expected number; got string"),
        (("assistant.yaml", "assistant.voice", "bass"), 1,
         "assistant.voice: expected one of"),
        (("assistant.yaml", "llm..model", "x"), 2, "has an empty part"),
        (("assistant.yaml", "llm.nonexistent", "1"), 1,
         "assistant.yaml:18:3: llm: unexpected key 'nonexistent'"),
        (("assistant.yaml", "llm.model.deep", "x"), 1, "cannot"),
        (("../outside.yaml", "a", "1"), 1, "leaves the store"),
        (("/etc/passwd.yaml", "a", "1"), 1, "file name"),
        (("notes.txt", "a", "1"), 1, "unknown file type"),
        (("assistant.yaml", "llm.temperature", "[1, "), 2,
         "assistant.yaml: llm.temperature: the VALUE is not valid YAML (line "),
        (("assistant.yaml", "llm.model", "a\x01b"), 2,
         "the VALUE is not valid YAML (line 1, column 2: character #x0001 is not"),
    ],
    ids=["maximum", "type", "enum", "empty-part", "unexpected-key", "into-scalar",
         "dotdot", "absolute", "unknown-type", "bad-value", "control-character"],
)
def test_set_refuses_bad_input_and_writes_nothing(
    run_cli: RunCli, cli_store: Path, args: tuple[str, ...], code: int, message: str
) -> None:
    before = snapshot(cli_store)

    done = run_cli("set", *args, store=cli_store)

    _assert_refused(done, code, message)
    assert snapshot(cli_store) == before


def test_set_refusal_is_one_line(run_cli: RunCli, cli_store: Path) -> None:
    done = run_cli("set", "assistant.yaml", "llm.temperature", "9", store=cli_store)

    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("vpa-config: ")
    assert done.stdout == ""


def test_set_same_value_makes_no_commit_and_says_so(run_cli: RunCli, cli_store: Path) -> None:
    head = _head(cli_store)
    before = snapshot(cli_store)

    done = run_cli("set", "assistant.yaml", "llm.temperature", "0.7", store=cli_store)

    assert done.returncode == 0, done.stderr
    assert "no change; nothing committed" in done.stdout
    assert _head(cli_store) == head
    assert snapshot(cli_store) == before


@pytest.mark.parametrize(
    ("value", "flag", "expected"),
    [
        ("0.4", (), 0.4),
        ("1024", (), 1024),
        ("true", (), True),
        ("no", (), "no"),
        ("off", (), "off"),
        ("0755", (), 755),
        ("null", (), None),
        ("[a, b]", (), ["a", "b"]),
        ("{x: 1}", (), {"x": 1}),
        ("0755", ("--string",), "0755"),
        ("true", ("--string",), "true"),
        ("1.10", ("--string",), "1.10"),
    ],
)
def test_set_reads_value_as_yaml_12_unless_string(
    run_cli: RunCli, tmp_path: Path, value: str, flag: tuple[str, ...], expected: object
) -> None:
    store = tmp_path / "loose"
    assert run_cli("init", store=store).returncode == 0
    (tmp_path / "s.yaml").write_text("allow_unschematized: true\n")
    assert run_cli("import", str(tmp_path / "s.yaml"), "--as",
                   ".vpa-config/settings.yaml", store=store).returncode == 0

    done = run_cli("set", "app.yaml", "key", value, *flag, store=store)
    got = run_cli("get", "app.yaml", "key", "--json", store=store)

    assert done.returncode == 0, done.stderr
    assert json.loads(got.stdout) == expected


def test_set_says_when_a_number_is_not_kept_as_typed(
    run_cli: RunCli, cli_store: Path
) -> None:
    done = run_cli("set", "assistant.yaml", "llm.temperature", "0.50", store=cli_store)

    assert done.returncode == 0, done.stderr
    assert "note: 0.50 is read as the number 0.5; pass --string" in done.stderr


def test_set_of_a_yaml11_boolean_word_is_quoted(run_cli: RunCli, cli_store: Path) -> None:
    done = run_cli("set", "assistant.yaml", "assistant.name", "no", store=cli_store)

    assert done.returncode == 0, done.stderr
    assert "  name: 'no'\n" in (cli_store / "assistant.yaml").read_text()


def test_set_explicit_actor_wins(run_cli: RunCli, cli_store: Path) -> None:
    done = run_cli("set", "assistant.yaml", "llm.max_tokens", "512",
                   "--actor", "Grace Hopper <grace@example.org>", store=cli_store)

    assert done.returncode == 0, done.stderr
    assert git(cli_store, "log", "-1", "--format=%an|%ae|%cn").strip() == (
        "Grace Hopper|grace@example.org|vpa-config"
    )


def test_set_refuses_an_unusable_actor(run_cli: RunCli, cli_store: Path) -> None:
    before = snapshot(cli_store)

    done = run_cli("set", "assistant.yaml", "llm.max_tokens", "512",
                   "--actor", "<>", store=cli_store)

    _assert_refused(done, 2, "is not usable")
    assert snapshot(cli_store) == before


def test_set_json_output(run_cli: RunCli, cli_store: Path) -> None:
    done = run_cli("set", "assistant.yaml", "llm.max_tokens", "512", "--json",
                   store=cli_store)

    result = json.loads(done.stdout)
    assert done.returncode == 0, done.stderr
    assert result["revision"] == _head(cli_store)
    assert result["files"] == [{
        "file": "assistant.yaml",
        "action": "modified",
        "keys": [{"path": "llm.max_tokens", "change": "changed", "old": 1024, "new": 512}],
    }]


def test_refused_change_with_json_prints_the_problems(
    run_cli: RunCli, cli_store: Path
) -> None:
    before = snapshot(cli_store)

    done = run_cli("set", "assistant.yaml", "llm.temperature", "9", "--json",
                   store=cli_store)

    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["ok"] is False
    assert report["error"] == "InvalidConfigError"
    assert report["exit_code"] == 1
    assert [p["path"] for p in report["problems"]] == ["llm.temperature"]
    assert "expected at most 2; got 9" in done.stderr
    assert snapshot(cli_store) == before


def test_not_found_with_json_prints_a_document(run_cli: RunCli, cli_store: Path) -> None:
    done = run_cli("unset", "missing.yaml", "a", "--json", store=cli_store)

    assert done.returncode == 5
    assert json.loads(done.stdout)["exit_code"] == 5


def test_json_after_double_dash_is_a_value(run_cli: RunCli, cli_store: Path) -> None:
    done = run_cli("set", "assistant.yaml", "llm.temperature", "--", "--json",
                   store=cli_store)

    assert done.returncode == 1
    assert done.stdout == ""


# --- dry run on every change -----------------------------------------------------


@pytest.mark.parametrize(
    ("args", "shows"),
    [
        (("set", "assistant.yaml", "llm.temperature", "0.2"),
         "~ llm.temperature: 0.7 -> 0.2"),
        (("unset", "assistant.yaml", "privacy.retention_days"),
         "- privacy.retention_days: 30"),
        (("rm", "plugins.yaml"), "removed plugins.yaml"),
        (("import", "SRC", "--as", "assistant.yaml"), "modified assistant.yaml"),
        (("restore", "HEAD", "assistant.yaml"), "nothing"),
    ],
    ids=["set", "unset", "rm", "import", "restore"],
)
def test_dry_run_writes_nothing(
    run_cli: RunCli, cli_store: Path, tmp_path: Path, args: tuple[str, ...], shows: str
) -> None:
    src = tmp_path / "src.yaml"
    src.write_text((cli_store / "assistant.yaml").read_text().replace("Vee", "Vi"))
    args = tuple(str(src) if arg == "SRC" else arg for arg in args)
    before = snapshot(cli_store)

    done = run_cli(*args, "--dry-run", store=cli_store)

    assert shows in done.stdout + done.stderr, done.stdout + done.stderr
    assert snapshot(cli_store) == before
    if args[0] != "restore":
        assert done.returncode == 0, done.stderr
        assert "dry run: valid; nothing written" in done.stdout


def test_dry_run_of_an_invalid_change_shows_the_verdict(
    run_cli: RunCli, cli_store: Path
) -> None:
    before = snapshot(cli_store)

    done = run_cli("set", "assistant.yaml", "llm.temperature", "9", "--dry-run",
                   store=cli_store)

    assert done.returncode == 1
    assert "dry run: INVALID, would be refused; nothing written" in done.stdout
    assert "expected at most 2; got 9" in done.stderr
    assert snapshot(cli_store) == before


# --- unset ----------------------------------------------------------------------


def test_unset_removes_the_key_and_its_line(run_cli: RunCli, cli_store: Path) -> None:
    done = run_cli("unset", "assistant.yaml", "privacy.retention_days", store=cli_store)

    assert done.returncode == 0, done.stderr
    assert "retention_days" not in (cli_store / "assistant.yaml").read_text()
    assert git(cli_store, "log", "-1", "--format=%s").strip() == (
        "unset assistant.yaml privacy.retention_days"
    )


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("assistant.yaml", "llm.nokey"), 5, "llm.nokey: no such key"),
        (("assistant.yaml", "nothere.deep"), 5, "no such key"),
        (("nofile.yaml", "a"), 5, "nofile.yaml: no such file"),
        (("assistant.yaml", "llm.model"), 1, "missing required key 'model'"),
    ],
    ids=["missing-key", "missing-parent", "missing-file", "required"],
)
def test_unset_refuses_bad_input(
    run_cli: RunCli, cli_store: Path, args: tuple[str, ...], code: int, message: str
) -> None:
    before = snapshot(cli_store)

    done = run_cli("unset", *args, store=cli_store)

    _assert_refused(done, code, message)
    assert snapshot(cli_store) == before


# --- import and rm ------------------------------------------------------------------


def test_import_adds_a_file_and_keeps_its_bytes(
    run_cli: RunCli, cli_store: Path, tmp_path: Path
) -> None:
    text = (cli_store / "assistant.yaml").read_text().replace("name: Vee", "name: Kay")
    src = tmp_path / "kay.yaml"
    src.write_text(text)
    rules = (cli_store / ".vpa-config" / "settings.yaml").read_text().replace(
        "  - files: assistant.yaml\n",
        "  - files: kay.yaml\n    schema: vpa/assistant.schema.json\n"
        "  - files: assistant.yaml\n",
    )
    settings = tmp_path / "settings.yaml"
    settings.write_text(rules)
    assert run_cli("import", str(settings), "--as", ".vpa-config/settings.yaml",
                   store=cli_store).returncode == 0

    done = run_cli("import", str(src), "-m", "a second assistant", store=cli_store)

    assert done.returncode == 0, done.stderr
    assert (cli_store / "kay.yaml").read_text() == text
    assert git(cli_store, "show", "HEAD:kay.yaml") == text
    assert "Vpa-Kind: import" in git(cli_store, "log", "-1", "--format=%B")


def test_invalid_settings_change_reports_only_the_settings(
    run_cli: RunCli, cli_store: Path
) -> None:
    before = snapshot(cli_store)

    done = run_cli("set", ".vpa-config/settings.yaml", "lock_timeout_s", "--", "-3",
                   store=cli_store)

    assert done.returncode == 1
    assert done.stderr.startswith("vpa-config: .vpa-config/settings.yaml:")
    assert "lock_timeout_s: expected at least 0; got -3" in done.stderr
    assert "no schema applies" not in done.stderr
    assert done.stderr.count("\n") == 1
    assert snapshot(cli_store) == before


def test_import_from_stdin_needs_as(run_cli: RunCli, cli_store: Path) -> None:
    text = (cli_store / "plugins.yaml").read_text() + "# reviewed\n"

    missing_as = run_cli("import", "-", store=cli_store, input=text)
    done = run_cli("import", "-", "--as", "plugins.yaml", store=cli_store, input=text)

    assert missing_as.returncode == 2
    assert "needs --as NAME" in missing_as.stderr
    assert done.returncode == 0, done.stderr
    assert (cli_store / "plugins.yaml").read_text() == text


@pytest.mark.parametrize(
    ("content", "code", "message"),
    [
        ("assistant: [\n", 1, "assistant.yaml:2:1: (document): invalid YAML"),
        ("a: 1\na: 2\n", 1, "assistant.yaml:2:1: a: duplicate key 'a'"),
        ("assistant:\n\tname: x\n", 1, "tab"),
        ("llm: {}\n", 1, "missing required key"),
        ("\x00\x01", 1, "binary content"),
    ],
    ids=["syntax", "duplicate", "tab", "schema", "binary"],
)
def test_import_refuses_bad_content(
    run_cli: RunCli, cli_store: Path, tmp_path: Path, content: str, code: int,
    message: str,
) -> None:
    src = tmp_path / "assistant.yaml"
    src.write_text(content)
    before = snapshot(cli_store)

    done = run_cli("import", str(src), store=cli_store)

    _assert_refused(done, code, message)
    assert snapshot(cli_store) == before


@pytest.mark.parametrize(
    ("src", "content", "target", "where"),
    [
        ("bad.yaml", "assistant:\n  name: [\n", "assistant.yaml",
         "bad.yaml:3:1: (document): invalid YAML"),
        ("bad.yaml", "assistant:\n  name: Vee\n  name: Bee\n", "assistant.yaml",
         "bad.yaml:3:3: assistant.name: duplicate key 'name'"),
        ("bad.json", '{\n "level": "info",\n "rotate": {"backups": NaN}\n}\n',
         "logging.json", "bad.json:3: rotate.backups: invalid JSON: number NaN is "
         "not a finite number"),
        ("bad.toml", "[cpu]\ndegraded_percent = 85\n\n[memory]\nx = nan\n",
         "health.toml", "bad.toml:5: memory.x: invalid TOML: number nan is not a "
         "finite number"),
        ("bad.toml", "[cpu]\ndegraded_percent = 85\n\n[cpu\nx = 1\n",
         "health.toml", "bad.toml:4:5: (document): invalid TOML: expected ']' to "
         "close the table header '[cpu'"),
    ],
    ids=["yaml-syntax", "yaml-duplicate", "json-nan", "toml-nan", "toml-header"],
)
def test_import_as_locates_problems_in_the_source_file(
    run_cli: RunCli, cli_store: Path, tmp_path: Path, src: str, content: str,
    target: str, where: str,
) -> None:
    (tmp_path / src).write_text(content)
    before = snapshot(cli_store)

    done = run_cli("import", src, "--as", target, store=cli_store)
    dry = run_cli("import", src, "--as", target, "--dry-run", store=cli_store)
    piped = run_cli("import", "-", "--as", target, store=cli_store, input=content)

    _assert_refused(done, 1, f"vpa-config: {where}")
    assert done.stderr.rstrip().endswith(
        f"Nothing was written (importing {src} as {target})."
    )
    assert done.stderr.count("\n") == 1
    _assert_refused(dry, 1, f"invalid: {where}")
    _assert_refused(piped, 1, f"vpa-config: <stdin>{where.removeprefix(src)}")
    assert snapshot(cli_store) == before


def test_validate_and_commit_name_an_unclosed_toml_header(
    run_cli: RunCli, cli_store: Path
) -> None:
    health = cli_store / "health.toml"
    health.write_text(health.read_text() + "\n[cpu\nextra = 1\n")
    line = health.read_text().count("\n") - 1
    where = f"health.toml:{line}:5: (document): invalid TOML: expected ']' to close"
    head = _head(cli_store)

    checked = run_cli("validate", store=cli_store)
    committed = run_cli("commit", "health.toml", "-m", "more cpu", store=cli_store)

    assert checked.returncode == 1, checked.stderr
    assert f"{where} the table header '[cpu'  [syntax at /]" in checked.stdout
    _assert_refused(committed, 1, f"vpa-config: {where} the table header '[cpu'.")
    assert _head(cli_store) == head


def test_import_of_a_missing_source_is_not_found(
    run_cli: RunCli, cli_store: Path, tmp_path: Path
) -> None:
    done = run_cli("import", str(tmp_path / "nope.yaml"), store=cli_store)

    assert done.returncode == 5
    assert done.stderr == f"vpa-config: {tmp_path / 'nope.yaml'}: no such file\n"


def test_rm_removes_the_file_and_keeps_history(run_cli: RunCli, cli_store: Path) -> None:
    done = run_cli("rm", "health.toml", "-m", "no health checks", store=cli_store)

    assert done.returncode == 0, done.stderr
    assert not (cli_store / "health.toml").exists()
    assert "health.toml" not in git(cli_store, "ls-files")
    assert "[cpu]" in git(cli_store, "show", "HEAD~1:health.toml")


def test_rm_of_a_missing_file_is_not_found(run_cli: RunCli, cli_store: Path) -> None:
    before = snapshot(cli_store)

    done = run_cli("rm", "nofile.yaml", store=cli_store)

    _assert_refused(done, 5, "nofile.yaml: no such file in the store")
    assert snapshot(cli_store) == before


# --- commit of hand edits ---------------------------------------------------------------


def test_commit_adopts_valid_hand_edits(run_cli: RunCli, cli_store: Path) -> None:
    path = cli_store / "assistant.yaml"
    path.write_text(path.read_text().replace("max_tokens: 1024", "max_tokens: 2048"))

    done = run_cli("commit", "-m", "longer answers", "--actor", "Bob <bob@example.org>",
                   store=cli_store)

    assert done.returncode == 0, done.stderr
    assert "~ llm.max_tokens: 1024 -> 2048" in done.stdout
    log = git(cli_store, "log", "-1", "--format=%an|%B")
    assert log.startswith("Bob|commit hand edits to assistant.yaml\n\nlonger answers\n")
    assert "Vpa-Kind: hand-edit" in log
    assert git(cli_store, "status", "--porcelain") == ""


def test_commit_adopts_added_and_deleted_files(
    run_cli: RunCli, cli_store: Path
) -> None:
    (cli_store / "health.toml").unlink()

    done = run_cli("commit", store=cli_store)

    assert done.returncode == 0, done.stderr
    assert "health.toml" not in git(cli_store, "ls-files")


def test_commit_refuses_invalid_hand_edits_and_leaves_them(
    run_cli: RunCli, cli_store: Path
) -> None:
    path = cli_store / "assistant.yaml"
    path.write_text(path.read_text().replace("max_tokens: 1024", "max_tokens: lots"))
    before = snapshot(cli_store)
    mtime = path.stat().st_mtime_ns

    done = run_cli("commit", "-m", "try", store=cli_store)

    _assert_refused(done, 1, "assistant.yaml:16:3: llm.max_tokens: expected integer")
    assert "the edited files are left as they are" in done.stderr
    assert snapshot(cli_store) == before
    assert path.stat().st_mtime_ns == mtime


def test_commit_of_named_files_leaves_the_other_edits(
    run_cli: RunCli, cli_store: Path
) -> None:
    path = cli_store / "assistant.yaml"
    path.write_text(path.read_text().replace("max_tokens: 1024", "max_tokens: 2048"))
    (cli_store / "notes.txt").write_text("a stray file\n")
    (cli_store / "health.toml").unlink()

    everything = run_cli("commit", store=cli_store)
    named = run_cli("commit", "assistant.yaml", "-m", "only this", store=cli_store)
    unedited = run_cli("commit", "plugins.yaml", store=cli_store)

    _assert_refused(everything, 1, "notes.txt")
    assert everything.stderr.endswith(
        ' Commit the valid ones alone with "vpa-config commit assistant.yaml '
        'health.toml -m REASON".\n'
    )
    assert named.returncode == 0, named.stderr
    assert git(cli_store, "log", "-1", "--format=%s").strip() == (
        "commit hand edits to assistant.yaml"
    )
    assert git(cli_store, "status", "--porcelain").split() == [
        "D", "health.toml", "??", "notes.txt"
    ]
    _assert_refused(unedited, 1, "plugins.yaml: no hand edits to commit")
    _assert_refused(run_cli("commit", "nosuch.yaml", store=cli_store), 5,
                    "nosuch.yaml: no such file in the store")


def test_commit_without_hand_edits_says_so(run_cli: RunCli, cli_store: Path) -> None:
    head = _head(cli_store)

    done = run_cli("commit", store=cli_store)

    assert done.returncode == 0, done.stderr
    assert "no hand edits; nothing committed" in done.stdout
    assert _head(cli_store) == head


def test_commit_dry_run_writes_nothing(run_cli: RunCli, cli_store: Path) -> None:
    path = cli_store / "assistant.yaml"
    path.write_text(path.read_text().replace("max_tokens: 1024", "max_tokens: 2048"))
    before = snapshot(cli_store)

    done = run_cli("commit", "--dry-run", store=cli_store)

    assert done.returncode == 0, done.stderr
    assert "dry run: valid; nothing written" in done.stdout
    assert snapshot(cli_store) == before


def test_set_refuses_over_hand_edits_of_that_file(run_cli: RunCli, cli_store: Path) -> None:
    path = cli_store / "assistant.yaml"
    path.write_text(path.read_text() + "# mine\n")
    before = snapshot(cli_store)

    done = run_cli("set", "assistant.yaml", "llm.max_tokens", "10", store=cli_store)

    _assert_refused(done, 1, "assistant.yaml has uncommitted hand edits")
    assert snapshot(cli_store) == before


# --- permission bits ----------------------------------------------------------------


def test_permission_bits_are_kept_across_set_and_restore(
    run_cli: RunCli, cli_store: Path
) -> None:
    path = cli_store / "assistant.yaml"
    os.chmod(path, 0o600)

    changed = run_cli("set", "assistant.yaml", "llm.max_tokens", "10", store=cli_store)
    mode_after_set = path.stat().st_mode & 0o777
    restored = run_cli("restore", "HEAD~1", "assistant.yaml", store=cli_store)

    assert changed.returncode == 0, changed.stderr
    assert restored.returncode == 0, restored.stderr
    assert mode_after_set == 0o600
    assert path.stat().st_mode & 0o777 == 0o600


def test_executable_bit_is_committed_and_kept(run_cli: RunCli, cli_store: Path) -> None:
    path = cli_store / "plugins.yaml"
    os.chmod(path, 0o755)

    done = run_cli("set", "plugins.yaml", "plugins.0.enabled", "false", store=cli_store)

    assert done.returncode == 0, done.stderr
    assert path.stat().st_mode & 0o777 == 0o755
    assert git(cli_store, "ls-files", "-s", "plugins.yaml").startswith("100755")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("set", "plugins.yaml", "plugins.9.enabled", "false"), 5,
         "plugins.yaml: plugins.9: no such list position (the list has"),
        (("set", "plugins.yaml", "plugins.9", "{name: x}"), 5,
         "to append"),
        (("unset", "plugins.yaml", "plugins.9"), 5,
         "plugins.yaml: plugins.9: no such list position (the list has"),
        (("unset", "plugins.yaml", "plugins.9.enabled"), 5,
         "plugins.yaml: plugins.9: no such list position (the list has"),
        (("set", "plugins.yaml", "plugins.x.enabled", "false"), 5,
         "plugins.yaml: plugins.x.enabled: not found; plugins is a list (3 items), "
         "so expected a position number there, got 'x'"),
        (("unset", "plugins.yaml", "plugins.x"), 5,
         "plugins.yaml: plugins.x: not found; plugins is a list (3 items), "
         "so expected a position number there, got 'x'"),
        (("get", "plugins.yaml", "plugins.x"), 5,
         "plugins.yaml: plugins.x: not found; plugins is a list (3 items), "
         "so expected a position number there, got 'x'"),
    ],
    ids=["set-inside", "set-past-end", "unset", "unset-inside", "not-a-number",
         "unset-not-a-number", "get-not-a-number"],
)
def test_list_positions_fail_alike_in_set_and_unset(
    run_cli: RunCli, cli_store: Path, args: tuple[str, ...], code: int, message: str
) -> None:
    before = snapshot(cli_store)

    done = run_cli(*args, store=cli_store)

    _assert_refused(done, code, message)
    assert done.stderr.count("\n") == 1
    assert snapshot(cli_store) == before


# --- usage errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [("set",), ("set", "a.yaml", "k"), ("frobnicate",), ("log", "-n", "zero"),
     ("restore",), ("set", "a.yaml", "k", "v", "--bogus")],
    ids=["no-args", "no-value", "unknown-command", "bad-int", "no-rev", "bad-option"],
)
def test_usage_errors_exit_2(run_cli: RunCli, cli_store: Path, args: tuple[str, ...]) -> None:
    before = snapshot(cli_store)

    done = run_cli(*args, store=cli_store)

    assert done.returncode == 2, done.stderr
    # One line: what is wrong, the usage and where help is.
    assert done.stderr.count("\n") == 1, done.stderr
    assert "(usage: vpa-config" in done.stderr and "--help')" in done.stderr
    assert "Traceback" not in done.stderr
    assert snapshot(cli_store) == before


@pytest.mark.parametrize(
    "command",
    ["init", "set", "unset", "import", "rm", "edit", "commit", "get", "status",
     "log", "restore", "undo"],
)
def test_every_command_has_help(run_cli: RunCli, command: str) -> None:
    done = run_cli(command, "--help")

    assert done.returncode == 0, done.stderr
    assert f"Usage: vpa-config {command}" in done.stdout


# --- the store lock ---------------------------------------------------------------------

HOLD_LOCK = """\
import sys, time
from vpa_config.store import ConfigStore
store = ConfigStore.open(sys.argv[1])
store.lock.acquire(5)
print("held", flush=True)
time.sleep(120)
"""

# A holder that takes the flock but writes no holder record.
HOLD_BARE_LOCK = """\
import fcntl, os, sys, time
from vpa_config.store import ConfigStore
fd = os.open(ConfigStore.open(sys.argv[1]).lock.path, os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(120)
"""


def _hold_lock(store: Path, tmp_path: Path, script: str = HOLD_LOCK):
    import subprocess
    import sys

    from conftest import cli_env

    holder = subprocess.Popen(
        [sys.executable, "-c", script, str(store)],
        stdout=subprocess.PIPE, text=True, env=cli_env(tmp_path),
    )
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    return holder


def test_locked_store_names_the_holder_and_exits_4(
    run_cli: RunCli, cli_store: Path, tmp_path: Path
) -> None:
    import socket

    holder = _hold_lock(cli_store, tmp_path)
    try:
        before = snapshot(cli_store)
        done = run_cli("set", "assistant.yaml", "llm.max_tokens", "10", store=cli_store,
                       env={"VPA_CONFIG_LOCK_TIMEOUT": "0.3"})
        status = run_cli("status", store=cli_store)
        after = snapshot(cli_store)
    finally:
        holder.kill()
        holder.communicate()

    assert done.returncode == 4, done.stderr
    assert f"store is locked by pid {holder.pid} on {socket.gethostname()} since " in (
        done.stderr
    )
    assert "waited 0.3s" in done.stderr
    assert done.stderr.count("\n") == 1
    assert f"locked by pid {holder.pid} on {socket.gethostname()} since " in (
        status.stdout
    )
    assert after == before


@pytest.mark.parametrize("value", ["soon", "-1", "nan"])
def test_unusable_lock_timeout_is_a_usage_error(
    run_cli: RunCli, cli_store: Path, value: str
) -> None:
    before = snapshot(cli_store)

    done = run_cli("set", "assistant.yaml", "llm.max_tokens", "10", store=cli_store,
                   env={"VPA_CONFIG_LOCK_TIMEOUT": value})

    assert done.returncode == 2
    assert done.stderr == (
        f"vpa-config: VPA_CONFIG_LOCK_TIMEOUT={value!r}: expected a number of "
        "seconds, 0 or more\n"
    )
    assert snapshot(cli_store) == before


def test_lock_held_without_a_record_is_named_as_such(
    run_cli: RunCli, cli_store: Path, tmp_path: Path
) -> None:
    holder = _hold_lock(cli_store, tmp_path, HOLD_BARE_LOCK)
    try:
        done = run_cli("set", "assistant.yaml", "llm.max_tokens", "10", store=cli_store,
                       env={"VPA_CONFIG_LOCK_TIMEOUT": "0.2"})
        status = run_cli("status", store=cli_store)
    finally:
        holder.kill()
        holder.communicate()

    assert done.returncode == 4, done.stderr
    assert "locked by another process (it left no holder record); waited 0.2s" in (
        done.stderr
    )
    assert "locked by another process (it left no holder record)\n" in status.stdout
    assert "None" not in status.stdout


def test_lock_of_a_killed_process_is_recovered(
    run_cli: RunCli, cli_store: Path, tmp_path: Path
) -> None:
    holder = _hold_lock(cli_store, tmp_path)
    holder.kill()
    holder.communicate()
    lock = cli_store / ".git" / "vpa-config.lock"
    assert json.loads(lock.read_bytes())["pid"] == holder.pid  # its record stays

    done = run_cli("set", "assistant.yaml", "llm.max_tokens", "10", store=cli_store,
                   env={"VPA_CONFIG_LOCK_TIMEOUT": "0.3"})

    assert done.returncode == 0, done.stderr
    assert run_cli("get", "assistant.yaml", "llm.max_tokens",
                   store=cli_store).stdout == "10\n"
    assert lock.read_bytes() == b""  # emptied by the holder that recovered
    assert not (cli_store / ".git" / "vpa-config.lock.json").exists()


# --- storage failure -------------------------------------------------------------------


def test_storage_failure_exits_6_and_writes_nothing(cli_store: Path, tmp_path: Path) -> None:
    """A file-size limit makes the disk refuse the write (EFBIG), as a full disk would."""
    import resource
    import secrets
    import subprocess
    import sys

    from conftest import cli_env

    src = tmp_path / "plugins.yaml"
    src.write_text((cli_store / "plugins.yaml").read_text()
                   + f"# {secrets.token_hex(40_000)}\n")
    before = snapshot(cli_store)

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    (tmp_path / "home").mkdir(exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "vpa_config", "--store", str(cli_store), "import",
         str(src)],
        capture_output=True, text=True, env=cli_env(tmp_path), timeout=60,
        preexec_fn=limit_file_size,
    )

    assert done.returncode == 6, done.stderr
    assert "cannot write " in done.stderr and "File too large" in done.stderr
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr
    assert snapshot(cli_store) == before
    assert git(cli_store, "status", "--porcelain") == ""


def test_a_set_of_a_mistyped_file_name_says_the_store_has_no_such_file(
    run_cli: RunCli, cli_store: Path
) -> None:
    before = snapshot(cli_store)

    done = run_cli("set", "asistant.yaml", "llm.temperature", "0.5", store=cli_store)
    edited = run_cli("set", "assistant.yaml", "llm.temperature", "9", store=cli_store)

    assert done.returncode == 1
    assert done.stderr == (
        "vpa-config: asistant.yaml: (document): no schema applies; add a rule to "
        ".vpa-config/settings.yaml, a $schema key, or set allow_unschematized: true "
        "(asistant.yaml is new: the store has no file of that name; did you mean "
        "assistant.yaml?). Nothing was written.\n"
    )
    assert "is new" not in edited.stderr  # a file the store has: its own problems
    assert snapshot(cli_store) == before
