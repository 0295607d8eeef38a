"""schema add, list and show through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import RunCli, git, snapshot

NOTES_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "notes",
    "type": "object",
    "properties": {"n": {"type": "integer", "maximum": 10}},
}


@pytest.fixture(name="cli_store")
def _cli_store(run_cli: RunCli, store_path: Path) -> Path:
    assert run_cli("init", "--example", store=store_path).returncode == 0
    return store_path


def write_schema(tmp_path: Path, data: object, name: str = "notes.schema.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_schema_add_commits_schema_and_rule(
    run_cli: RunCli, cli_store: Path, tmp_path: Path
) -> None:
    schema = write_schema(tmp_path, NOTES_SCHEMA)

    done = run_cli("schema", "add", str(schema), "--for", "notes/*.yaml",
                   "-m", "notes get a schema", store=cli_store)

    assert done.returncode == 0, done.stderr
    assert (cli_store / ".vpa-config/schemas/notes.schema.json").read_bytes() == (
        schema.read_bytes()
    )
    settings = (cli_store / ".vpa-config/settings.yaml").read_text()
    assert "files: notes/*.yaml" in settings and "schema: notes.schema.json" in settings
    assert "# Which schema applies" in settings  # comments kept
    assert "# Files with no matching schema" in settings
    assert git(cli_store, "log", "-1", "--format=%s").strip() == (
        "schema add notes.schema.json for notes/*.yaml"
    )
    assert git(cli_store, "status", "--porcelain") == ""


def test_schema_add_of_a_taken_name_needs_replace(
    run_cli: RunCli, cli_store: Path, tmp_path: Path
) -> None:
    run_cli("schema", "add", str(write_schema(tmp_path, NOTES_SCHEMA)),
            "--for", "notes.yaml", store=cli_store)
    other = {**NOTES_SCHEMA, "title": "other notes"}
    before = snapshot(cli_store)

    refused = run_cli("schema", "add", str(write_schema(tmp_path, other)),
                      store=cli_store)

    assert refused.returncode == 1, refused.stderr
    assert "already has a different schema of this name" in refused.stderr
    assert "--replace" in refused.stderr and "Traceback" not in refused.stderr
    assert snapshot(cli_store) == before
    again = run_cli("schema", "add", str(write_schema(tmp_path, NOTES_SCHEMA)),
                    "--for", "more-notes.yaml", store=cli_store)
    assert again.returncode == 0, again.stderr
    replaced = run_cli("schema", "add", str(write_schema(tmp_path, other)),
                       "--replace", store=cli_store)
    assert replaced.returncode == 0, replaced.stderr
    stored = cli_store / ".vpa-config/schemas/notes.schema.json"
    assert json.loads(stored.read_text())["title"] == "other notes"


@pytest.mark.parametrize(
    ("name", "replace", "message"),
    [
        ("vpa/assistant.schema.json", False, "is a schema shipped with vpa-config"),
        ("vpa-config/settings.schema.json", False, "are vpa-config's own schemas"),
        ("vpa-config/settings.schema.json", True, "are vpa-config's own schemas"),
    ],
    ids=["shipped", "own", "own-replace"],
)
def test_schema_add_does_not_silently_stand_in_for_a_shipped_schema(
    run_cli: RunCli, cli_store: Path, tmp_path: Path, name: str, replace: bool,
    message: str,
) -> None:
    loose = write_schema(tmp_path, {"type": "object"}, "loose.schema.json")
    before = snapshot(cli_store)

    done = run_cli("schema", "add", str(loose), "--as", name,
                   *(["--replace"] if replace else []), store=cli_store)

    assert done.returncode == 1, done.stderr
    assert message in done.stderr and done.stderr.count("\n") == 1
    assert snapshot(cli_store) == before


def test_schema_add_replace_may_stand_in_for_a_shipped_schema(
    run_cli: RunCli, cli_store: Path, tmp_path: Path
) -> None:
    loose = write_schema(tmp_path, {"type": "object"}, "loose.schema.json")

    done = run_cli("schema", "add", str(loose), "--as", "vpa/assistant.schema.json",
                   "--replace", store=cli_store)

    assert done.returncode == 0, done.stderr
    assert (cli_store / ".vpa-config/schemas/vpa/assistant.schema.json").is_file()


def test_added_rule_applies_to_new_files(
    run_cli: RunCli, cli_store: Path, tmp_path: Path
) -> None:
    run_cli("schema", "add", str(write_schema(tmp_path, NOTES_SCHEMA)),
            "--for", "notes.yaml", store=cli_store)
    (tmp_path / "notes.yaml").write_text("n: 11\n")

    done = run_cli("import", str(tmp_path / "notes.yaml"), store=cli_store)

    assert done.returncode == 1
    assert "notes.yaml:1:1: n: expected at most 10; got 11" in done.stderr


def test_invalid_schema_is_refused_and_nothing_written(
    run_cli: RunCli, cli_store: Path, tmp_path: Path
) -> None:
    schema = write_schema(tmp_path, {"properties": {"n": {"type": "integr"}}})
    before = snapshot(cli_store)

    done = run_cli("schema", "add", str(schema), "--for", "x.yaml", store=cli_store)

    assert done.returncode == 1
    assert done.stderr.strip().startswith(
        "vpa-config: schema notes.schema.json is not a valid Draft202012 schema: "
        "at properties.n.type:"
    )
    assert snapshot(cli_store) == before


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "is not valid JSON"), ("[1, 2]", "must be a JSON object")],
    ids=["broken-json", "array"],
)
def test_malformed_schema_is_a_clear_error(
    run_cli: RunCli, cli_store: Path, tmp_path: Path, content: str, message: str
) -> None:
    done = run_cli("schema", "add", str(write_schema(tmp_path, content)),
                   "--for", "x.yaml", store=cli_store)

    assert done.returncode == 1
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_schema_that_existing_files_break_is_refused(
    run_cli: RunCli, cli_store: Path, tmp_path: Path
) -> None:
    strict = {"type": "object", "required": ["nothing-has-this"]}
    before = snapshot(cli_store)

    done = run_cli("schema", "add", str(write_schema(tmp_path, strict)),
                   "--for", "*.yaml", store=cli_store)

    assert done.returncode == 1
    assert "assistant.yaml:2:1: (document): missing required key 'nothing-has-this'" in (
        done.stderr
    )
    assert snapshot(cli_store) == before


def test_schema_add_dry_run_writes_nothing(
    run_cli: RunCli, cli_store: Path, tmp_path: Path
) -> None:
    before = snapshot(cli_store)

    done = run_cli("schema", "add", str(write_schema(tmp_path, NOTES_SCHEMA)),
                   "--for", "notes.yaml", "--dry-run", store=cli_store)

    assert done.returncode == 0, done.stderr
    assert "dry run: valid; nothing written" in done.stdout
    assert snapshot(cli_store) == before


def test_schema_list_shows_store_and_shipped_schemas(
    run_cli: RunCli, cli_store: Path, tmp_path: Path
) -> None:
    run_cli("schema", "add", str(write_schema(tmp_path, NOTES_SCHEMA)),
            "--for", "notes.yaml", store=cli_store)

    text = run_cli("schema", "list", store=cli_store)
    data = json.loads(run_cli("schema", "list", "--json", store=cli_store).stdout)

    assert text.returncode == 0
    assert "store    notes.schema.json  Draft202012" in text.stdout
    by_name = {item["name"]: item for item in data}
    assert by_name["notes.schema.json"]["origin"] == "store"
    assert by_name["notes.schema.json"]["used_by"] == ["notes.yaml"]
    assert by_name["vpa/assistant.schema.json"]["used_by"] == ["assistant.yaml"]
    assert not any(name.startswith("examples/") for name in by_name)


def test_schema_show_prints_the_schema(run_cli: RunCli, cli_store: Path) -> None:
    text = run_cli("schema", "show", "vpa/assistant.schema.json", store=cli_store)
    data = json.loads(run_cli("schema", "show", "vpa/assistant.schema.json", "--json",
                              store=cli_store).stdout)
    missing = run_cli("schema", "show", "nope.json", store=cli_store)

    assert json.loads(text.stdout)["title"] == "VPA assistant settings"
    assert data["origin"] == "shipped" and data["schema"]["type"] == "object"
    assert missing.returncode == 5
    assert "schema 'nope.json' not found" in missing.stderr


def test_schema_help_documents_every_subcommand(run_cli: RunCli) -> None:
    done = run_cli("schema", "--help")

    assert done.returncode == 0
    for word in ("add", "list", "show"):
        assert word in done.stdout


def test_schema_show_hides_the_values_a_schema_gives_secret_keys(
    run_cli: RunCli, cli_store: Path, tmp_path: Path
) -> None:
    schema = {"type": "object", "properties": {
        "password": {"type": "string", "default": "hunter2-in-a-schema"},
        "port": {"type": "integer", "default": 80},
        "db": {"type": "object", "default": {"user": "app", "password": "nested-pw"}},
    }}
    source = write_schema(tmp_path, schema, "pw.schema.json")
    added = run_cli("schema", "add", str(source), "--for", "pw.yaml", store=cli_store)
    assert added.returncode == 0, added.stderr

    text = run_cli("schema", "show", "pw.schema.json", store=cli_store)
    as_json = run_cli("schema", "show", "pw.schema.json", "--json", store=cli_store)
    shipped = run_cli("schema", "show", "vpa/assistant.schema.json", store=cli_store)

    assert text.returncode == as_json.returncode == 0
    shown = json.loads(text.stdout)["properties"]
    assert shown["password"] == {"type": "string", "default": "<redacted>"}
    assert shown["port"]["default"] == 80
    assert shown["db"]["default"] == {"user": "app", "password": "<redacted>"}
    assert json.loads(as_json.stdout)["schema"]["properties"] == shown
    assert "hunter2" not in text.stdout + as_json.stdout
    assert "nested-pw" not in text.stdout + as_json.stdout
    assert shipped.stdout == (
        Path(__file__).parent.parent / "schemas" / "vpa" / "assistant.schema.json"
    ).read_text()  # nothing to hide: the schema's own text
