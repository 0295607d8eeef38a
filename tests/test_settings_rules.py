"""Settings rules name schemas the store has; the store holds config files only.

Through the real CLI on real stores: a change that leaves a rule naming a schema
the candidate lacks is refused at the rule's line, a store whose HEAD already
has one is reported by ``validate`` and by health's ``config:valid`` alike, and
``allow_unschematized`` admits config files without a schema, not other files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import RunCli, git, snapshot

SETTINGS = ".vpa-config/settings.yaml"
RULE = '{files: "conf/*.yaml", schema: "%s"}'
NOT_IN_STORE = "is not in the store (no .vpa-config/schemas/"
NOT_A_NAME = "is not a schema name"


def _assert_one_line_refusal(done, text: str) -> None:
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert text in done.stderr, output
    assert done.stderr.count("\n") == 1, output
    assert "Traceback" not in output


def _commit_unchecked(store: Path, message: str) -> None:
    """Commit the working tree with git itself, past the store's hook."""
    git(store, "add", "-A")
    git(
        store, "-c", "user.name=Ada", "-c", "user.email=ada@example.org",
        "commit", "-q", "--no-verify", "-m", message,
    )


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ("nosuch.json", NOT_IN_STORE + "nosuch.json"),
        ("../../etc/passwd", "'../../etc/passwd' " + NOT_A_NAME),
        ("/etc/passwd", "'/etc/passwd' " + NOT_A_NAME),
        ("https://example.org/a.json", "'https://example.org/a.json' " + NOT_A_NAME),
    ],
    ids=["missing", "dotdot", "absolute", "url"],
)
def test_set_refuses_a_rule_naming_no_store_schema(
    run_cli: RunCli, cli_store: Path, schema: str, message: str
) -> None:
    before = snapshot(cli_store)

    done = run_cli("set", SETTINGS, "schemas.4", RULE % schema, store=cli_store)

    _assert_one_line_refusal(done, f"{SETTINGS}:13:5: schemas.4.schema: ")
    assert message in done.stderr
    assert snapshot(cli_store) == before


def test_refusal_of_a_missing_schema_says_how_to_add_it(
    run_cli: RunCli, cli_store: Path
) -> None:
    done = run_cli("set", SETTINGS, "schemas.0", RULE % "app.json", store=cli_store)

    _assert_one_line_refusal(done, f"{SETTINGS}:5:5: schemas.0.schema: ")
    assert '"vpa-config schema add FILE --as app.json"' in done.stderr
    assert "import it as .vpa-config/schemas/app.json" in done.stderr


def test_a_rule_naming_an_imported_store_schema_is_committed(
    run_cli: RunCli, cli_store: Path, tmp_path: Path
) -> None:
    schema = tmp_path / "app.json"
    schema.write_text(json.dumps({"type": "object"}))
    imported = run_cli(
        "import", str(schema), "--as", ".vpa-config/schemas/app.json", store=cli_store
    )
    assert imported.returncode == 0, imported.stderr

    done = run_cli("set", SETTINGS, "schemas.4", RULE % "app.json", store=cli_store)

    assert done.returncode == 0, done.stderr


def test_rm_refuses_removing_a_schema_a_rule_names(
    run_cli: RunCli, cli_store: Path, tmp_path: Path
) -> None:
    schema = tmp_path / "app.json"
    schema.write_text(json.dumps({"type": "object"}))
    added = run_cli(
        "schema", "add", str(schema), "--for", "conf/*.yaml", store=cli_store
    )
    assert added.returncode == 0, added.stderr
    before = snapshot(cli_store)

    done = run_cli("rm", ".vpa-config/schemas/app.json", store=cli_store)

    _assert_one_line_refusal(done, f"{SETTINGS}:5:5: schemas.0.schema: ")
    assert NOT_IN_STORE + "app.json" in done.stderr
    assert snapshot(cli_store) == before


def test_validate_and_health_report_a_committed_rule_naming_no_schema(
    run_cli: RunCli, cli_store: Path
) -> None:
    settings = cli_store / SETTINGS
    settings.write_text(settings.read_text().replace(
        "allow_unschematized:",
        '  - files: "conf/*.yaml"\n    schema: nosuch.json\nallow_unschematized:',
    ))
    _commit_unchecked(cli_store, "a rule for a schema the store lacks")

    validated = run_cli("validate", store=cli_store)
    health = run_cli("health", "--json", store=cli_store)

    assert validated.returncode == 1, validated.stdout + validated.stderr
    problem = f"{SETTINGS}:14:5: schemas.4.schema: schema 'nosuch.json' is not in"
    assert problem in validated.stdout
    assert "5 files: 1 invalid, 1 problem\n" in validated.stdout
    check = json.loads(health.stdout)["checks"]["config:valid"][0]
    assert check["state"] == "unhealthy"
    assert check["observedValue"] == 1
    assert problem in check["output"]


def test_validate_with_settings_that_do_not_parse_says_why_no_schema_applies(
    run_cli: RunCli, cli_store: Path
) -> None:
    settings = cli_store / SETTINGS
    settings.write_text(settings.read_text() + "schemas: [\n")

    validated = run_cli("validate", store=cli_store)

    assert validated.returncode == 1, validated.stdout + validated.stderr
    assert f"{SETTINGS}:" in validated.stdout and "invalid YAML" in validated.stdout
    blamed = [line for line in validated.stdout.splitlines()
              if line.startswith("assistant.yaml:")]
    assert blamed == [
        f"assistant.yaml: (document): no schema applies while {SETTINGS} is invalid "
        "(its problems are listed with it): its rules cannot be read  [schema at /]"
    ]


# --- only config files, with or without a schema ----------------------------------


@pytest.fixture(name="open_store")
def _open_store(run_cli: RunCli, cli_store: Path) -> Path:
    """The example store with ``allow_unschematized: true``."""
    done = run_cli("set", SETTINGS, "allow_unschematized", "true", store=cli_store)
    assert done.returncode == 0, done.stderr
    return cli_store


@pytest.mark.parametrize(
    ("as_name", "named"), [((), "notes.txt"), (("--as", "noext"), "noext")],
    ids=["own-name", "as-name"],
)
def test_import_refuses_a_file_that_is_not_config(
    run_cli: RunCli, open_store: Path, tmp_path: Path, as_name: tuple[str, ...],
    named: str,
) -> None:
    (tmp_path / "notes.txt").write_text("hello\n")
    before = snapshot(open_store)

    done = run_cli("import", str(tmp_path / "notes.txt"), *as_name, store=open_store)

    _assert_one_line_refusal(
        done,
        f"vpa-config: {named}: (document): unknown file type; a config file's name "
        "ends in .yaml, .yml, .json or .toml. Nothing was written",
    )
    assert snapshot(open_store) == before


def test_import_takes_a_config_file_no_schema_covers(
    run_cli: RunCli, open_store: Path, tmp_path: Path
) -> None:
    (tmp_path / "notes.yaml").write_text("hello: world\n")

    done = run_cli("import", str(tmp_path / "notes.yaml"), store=open_store)

    assert done.returncode == 0, done.stderr
    assert "added notes.yaml" in done.stdout


def test_commit_refuses_a_hand_added_file_that_is_not_config(
    run_cli: RunCli, open_store: Path
) -> None:
    (open_store / "notes.txt").write_text("hello\n")

    done = run_cli("commit", "notes.txt", "-m", "notes", store=open_store)

    assert done.returncode == 1, done.stdout + done.stderr
    assert "notes.txt: (document): unknown file type" in done.stderr
    assert git(open_store, "ls-files", "notes.txt") == ""


def test_validate_reports_a_committed_file_that_is_not_config(
    run_cli: RunCli, open_store: Path
) -> None:
    (open_store / "notes.txt").write_text("hello\n")
    _commit_unchecked(open_store, "a stray file")

    done = run_cli("validate", store=open_store)

    assert done.returncode == 1, done.stdout + done.stderr
    assert "notes.txt: (document): unknown file type" in done.stdout


def test_rm_takes_out_a_committed_file_that_is_not_config(
    run_cli: RunCli, open_store: Path
) -> None:
    (open_store / "notes.txt").write_text("hello\n")
    _commit_unchecked(open_store, "a stray file")

    done = run_cli("rm", "notes.txt", store=open_store)

    assert done.returncode == 0, done.stdout + done.stderr
    assert run_cli("validate", store=open_store).returncode == 0
