"""Command-line mistakes through the real CLI: ``--json``, hints, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import RunCli, cli_env, snapshot


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (("set", "assistant.yaml", "llm.max_tokens", "--json"),
         "MissingParameter", "Missing argument 'VALUE'."),
        (("restore", "HEAD~1", "--commit-edits", "--discard-edits", "--json"),
         "UsageError", "--commit-edits"),
    ],
    ids=["missing value", "conflicting options"],
)
def test_json_usage_error_prints_one_document(
    run_cli: RunCli, cli_store: Path, args: tuple[str, ...], error: str, message: str
) -> None:
    done = run_cli(*args, store=cli_store)

    assert done.returncode == 2, done.stdout + done.stderr
    document = json.loads(done.stdout)
    assert document["ok"] is False
    assert document["error"] == error
    assert message in document["message"]
    assert (document["exit_code"], document["problems"]) == (2, [])
    assert "(usage: vpa-config" in done.stderr and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr


def test_usage_error_without_json_prints_nothing_on_stdout(
    run_cli: RunCli, cli_store: Path
) -> None:
    done = run_cli("set", "assistant.yaml", "llm.max_tokens", store=cli_store)

    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        "vpa-config set: Missing argument 'VALUE'. (usage: vpa-config set [OPTIONS] "
        "FILE KEY VALUE; more in 'vpa-config set --help')\n"
    )


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (("set", "assistant.yaml", "llm.temperature", "0.5", "-m"),
         "vpa-config set: Option '-m' requires an argument. (usage: vpa-config set "
         "[OPTIONS] FILE KEY VALUE; more in 'vpa-config set --help')"),
        (("log", "-n"),
         "vpa-config log: Option '-n' requires an argument. (usage: vpa-config log "
         "[OPTIONS] [FILE]; more in 'vpa-config log --help')"),
        (("schema", "add", "x.json", "--for"),
         "vpa-config schema add: Option '--for' requires an argument. (usage: "
         "vpa-config schema add [OPTIONS] SCHEMA; more in 'vpa-config schema add "
         "--help')"),
    ],
    ids=["set -m", "log -n", "schema add --for"],
)
def test_an_option_without_its_value_is_a_one_line_usage_error(
    run_cli: RunCli, cli_store: Path, args: tuple[str, ...], line: str
) -> None:
    done = run_cli(*args, store=cli_store)

    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == line + "\n"


@pytest.mark.parametrize("value", ["-3", "-0.5", "-.5", "-1e3"])
def test_negative_value_without_dashes_gets_a_hint(
    run_cli: RunCli, cli_store: Path, value: str
) -> None:
    before = snapshot(cli_store)

    done = run_cli("set", "assistant.yaml", "llm.max_tokens", value, store=cli_store)

    assert done.returncode == 2
    assert "No such option" not in done.stderr  # one error, not two
    hint = f"vpa-config set FILE KEY -- {value}"
    assert done.stderr.splitlines() == [
        f"vpa-config set: {value!r} was read as an option; a VALUE that starts with "
        f"'-' goes after '--': {hint} (usage: vpa-config set [OPTIONS] FILE KEY "
        "VALUE; more in 'vpa-config set --help')"
    ]
    assert snapshot(cli_store) == before


def test_an_unknown_option_that_is_no_number_gets_no_hint(
    run_cli: RunCli, cli_store: Path
) -> None:
    done = run_cli("set", "assistant.yaml", "llm.max_tokens", "-x", store=cli_store)

    assert done.returncode == 2
    assert "No such option '-x'" in done.stderr
    assert "goes after" not in done.stderr


@pytest.mark.parametrize(
    "args",
    [("import", "missing.yaml"), ("schema", "add", "missing.schema.json")],
    ids=["import", "schema add"],
)
def test_a_missing_source_file_is_not_found_exit_5(
    run_cli: RunCli, cli_store: Path, args: tuple[str, ...]
) -> None:
    before = snapshot(cli_store)

    done = run_cli(*args, store=cli_store)

    assert done.returncode == 5, done.stdout + done.stderr
    assert done.stderr == f"vpa-config: {args[-1]}: no such file\n"
    assert snapshot(cli_store) == before


def test_a_source_that_is_a_folder_is_still_a_bad_parameter(
    run_cli: RunCli, cli_store: Path, tmp_path: Path
) -> None:
    (tmp_path / "folder.yaml").mkdir()

    done = run_cli("import", "folder.yaml", store=cli_store)

    assert done.returncode == 2
    assert "Invalid value for 'SRC'" in done.stderr


def test_import_from_stdin_still_works(run_cli: RunCli, cli_store: Path) -> None:
    text = (cli_store / "assistant.yaml").read_text()
    changed = text.replace("temperature: 0.7", "temperature: 0.2")
    assert changed != text

    done = run_cli(
        "import", "-", "--as", "assistant.yaml", store=cli_store, input=changed
    )

    assert done.returncode == 0, done.stderr
    assert (cli_store / "assistant.yaml").read_text() == changed


@pytest.mark.parametrize(
    "args",
    [
        ("health",),  # through click; exit 1 would read as "degraded"
        ("show", "HEAD"),
        ("log", "-n", "5"),  # a command line run without click
        ("get", "assistant.yaml"),
    ],
    ids=["health", "show", "log", "get"],
)
def test_a_reader_that_went_away_is_exit_141_without_a_message(
    cli_store: Path, tmp_path: Path, args: tuple[str, ...]
) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # as `| head` does once it has read enough
    try:
        done = subprocess.run(
            [sys.executable, "-m", "vpa_config", "--store", str(cli_store), *args],
            stdout=write_end, stderr=subprocess.PIPE, text=True,
            env=cli_env(tmp_path), timeout=60, check=False,
        )
    finally:
        os.close(write_end)

    assert done.returncode == 141, done.stderr
    assert done.stderr == ""


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_a_change_whose_reader_went_away_names_its_revision(
    run_cli: RunCli, cli_store: Path, tmp_path: Path, as_json: bool
) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    extra = ("--json",) if as_json else ()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "vpa_config", "--store", str(cli_store),
             "set", "assistant.yaml", "llm.max_tokens", "99", *extra],
            stdout=write_end, stderr=subprocess.PIPE, text=True,
            env=cli_env(tmp_path), timeout=60, check=False,
        )
    finally:
        os.close(write_end)

    head = json.loads(run_cli("log", "-n", "1", "--json", store=cli_store).stdout)
    assert done.returncode == 141, done.stderr
    assert done.stderr == (
        "vpa-config: the output's reader went away; the change itself was "
        f"committed as {head['revision'][:12]}\n"
    )


def _to_full_disk(
    store: Path, tmp_path: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """``vpa-config ARGS > /dev/full``: every write to stdout fails (ENOSPC)."""
    with open("/dev/full", "w") as full:
        return subprocess.run(
            [sys.executable, "-m", "vpa_config", "--store", str(store), *args],
            stdout=full, stderr=subprocess.PIPE, text=True,
            env=cli_env(tmp_path), timeout=60, check=False,
        )


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize(
    "args",
    [("log", "-n", "1"), ("show", "HEAD", "--json"), ("health",), ("--help",)],
    ids=["log without click", "show --json", "health", "help"],
)
def test_stdout_that_refuses_output_is_a_storage_error_in_one_line(
    cli_store: Path, tmp_path: Path, args: tuple[str, ...]
) -> None:
    done = _to_full_disk(cli_store, tmp_path, *args)

    assert done.returncode == 6, done.stderr
    assert done.stderr == (
        "vpa-config: could not write to standard output: No space left on device\n"
    )


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_change_whose_report_stdout_refused_says_it_was_committed(
    run_cli: RunCli, cli_store: Path, tmp_path: Path
) -> None:
    done = _to_full_disk(cli_store, tmp_path, "set", "assistant.yaml",
                         "llm.max_tokens", "77", "--json")

    head = run_cli("log", "-n", "1", "--json", store=cli_store)
    revision = json.loads(head.stdout)["revision"]
    assert done.returncode == 6, done.stderr
    assert done.stderr == (
        "vpa-config: could not write to standard output: No space left on device; "
        f"the change itself was committed as {revision[:12]} "
        "('vpa-config log -n 1' shows it)\n"
    )
    got = run_cli("get", "assistant.yaml", "llm.max_tokens", store=cli_store)
    assert got.stdout == "77\n"


@pytest.mark.parametrize(
    ("args", "committed"),
    [(("get", "assistant.yaml", "llm.max_tokens"), False),
     (("set", "assistant.yaml", "llm.max_tokens", "77"), True)],
    ids=["get", "set"],
)
def test_a_closed_stdout_is_a_storage_error_not_a_silent_success(
    run_cli: RunCli, cli_store: Path, tmp_path: Path,
    args: tuple[str, ...], committed: bool,
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vpa_config", "--store", str(cli_store), *args],
        stderr=subprocess.PIPE, text=True, env=cli_env(tmp_path), timeout=60,
        check=False, preexec_fn=lambda: os.close(1),  # as ">&-" does
    )

    assert done.returncode == 6, done.stderr
    message = "vpa-config: could not write to standard output: Bad file descriptor"
    assert done.stderr.startswith(message)
    assert ("the change itself was committed as" in done.stderr) is committed
    assert done.stderr.count("\n") == 1


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_refusal_keeps_its_exit_code_when_its_json_cannot_be_written(
    cli_store: Path, tmp_path: Path
) -> None:
    done = _to_full_disk(cli_store, tmp_path, "get", "nosuch.yaml", "--json")

    assert done.returncode == 5, done.stderr
    assert done.stderr.splitlines() == [
        "vpa-config: nosuch.yaml: no such file in the store",
        "vpa-config: could not write to standard output: No space left on device",
    ]


def test_a_usage_error_of_health_is_unknown_not_unhealthy(
    run_cli: RunCli, cli_store: Path
) -> None:
    health = run_cli("health", "--bogus", store=cli_store)
    other = run_cli("log", "--bogus", store=cli_store)
    as_json = run_cli("health", "--json", "--bogus", store=cli_store)

    assert health.returncode == 3, health.stderr  # 2 means unhealthy there
    assert "No such option '--bogus'" in health.stderr
    assert other.returncode == 2
    assert as_json.returncode == json.loads(as_json.stdout)["exit_code"] == 3


def test_an_empty_actor_is_a_usage_error_not_the_os_user(
    run_cli: RunCli, cli_store: Path
) -> None:
    before = snapshot(cli_store)

    done = run_cli("set", "assistant.yaml", "llm.max_tokens", "12", "--actor", "",
                   store=cli_store)

    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        "vpa-config: actor '' is not usable; expected a name or 'Name <email>'\n"
    )
    assert snapshot(cli_store) == before


def test_validate_takes_a_path_inside_the_store_and_points_others_to_schema(
    run_cli: RunCli, cli_store: Path, tmp_path: Path
) -> None:
    inside = run_cli("validate", str(cli_store / "assistant.yaml"), store=cli_store)
    outside_file = tmp_path / "elsewhere.yaml"
    outside_file.write_text("a: 1\n")
    outside = run_cli("validate", str(outside_file), store=cli_store)
    (tmp_path / "here.yaml").write_text("a: 1\n")  # in the CLI's working folder
    here = run_cli("validate", "here.yaml", store=cli_store)

    assert inside.returncode == 0, inside.stderr
    assert inside.stdout == "1 file: all valid\n"
    assert outside.returncode == 2
    assert outside.stderr == (
        f"vpa-config: {outside_file} is outside the store {cli_store}; validate such "
        "a file with --schema SCHEMA\n"
    )
    assert here.returncode == 5
    assert "a file outside the store is validated with --schema SCHEMA" in (
        here.stdout + here.stderr
    )


def test_a_key_with_control_characters_is_refused_by_set(
    run_cli: RunCli, cli_store: Path
) -> None:
    before = snapshot(cli_store)

    done = run_cli("set", "assistant.yaml", "llm.k\x1b[31mey", "1", store=cli_store)

    assert done.returncode == 2
    assert done.stderr == (
        "vpa-config: key 'k\\x1b[31mey' has control characters; expected printable "
        "text\n"
    )
    assert snapshot(cli_store) == before
