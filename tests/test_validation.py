"""Validation errors: every one at once, located, in plain words, no leaks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import RunCli

from vpa_config.errors import SchemaError
from vpa_config.filecheck import file_verdicts

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "port"],
    "properties": {
        "name": {"type": "string", "minLength": 2},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
        "mode": {"enum": ["fast", "safe"]},
        "token": {"type": "string", "pattern": "^tok_", "writeOnly": True},
        "hidden": {"$ref": "#/$defs/secret"},
        "servers": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["host"],
                "properties": {"host": {"type": "string", "format": "hostname"}},
            },
        },
    },
    "$defs": {"secret": {"type": "string", "pattern": "^x", "x-secret": True}},
}


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def check(tmp_path: Path, name: str, text: str, schema: object = SCHEMA) -> list:
    schema_path = write(tmp_path, "schema.json", json.dumps(schema))
    doc = write(tmp_path, name, text)
    [verdict] = file_verdicts([doc], str(schema_path))
    return list(verdict.problems)


YAML_DOC = """\
name: x
port: 70000
mode: slow
extra: 1
servers:
  - host: ok.example.org
  - host: "bad_host!"
  - {}
"""


def test_every_error_is_reported_at_once_with_line_column_and_paths(
    tmp_path: Path,
) -> None:
    problems = check(tmp_path, "app.yaml", YAML_DOC)

    found = {(p.line, p.column, p.dotted, p.pointer, p.rule) for p in problems}
    assert found == {
        (4, 1, "", "", "additionalProperties"),  # the unexpected key's own line
        (1, 1, "name", "/name", "minLength"),
        (2, 1, "port", "/port", "maximum"),
        (3, 1, "mode", "/mode", "enum"),
        (7, 5, "servers.1.host", "/servers/1/host", "format"),
        (8, 5, "servers.2", "/servers/2", "required"),
    }
    messages = {p.dotted: p.message for p in problems}
    assert messages["port"] == "expected at most 65535; got 70000"
    assert messages["mode"] == 'expected one of "fast", "safe"; got "slow"'
    assert messages[""] == "unexpected key 'extra'; the schema does not allow it"
    assert messages["servers.2"] == "missing required key 'host'"
    assert messages["servers.1.host"] == 'expected a valid hostname; got "bad_host!"'


def test_problems_are_sorted_by_line(tmp_path: Path) -> None:
    problems = check(tmp_path, "app.yaml", YAML_DOC)

    lines = [p.line for p in problems]
    assert lines == sorted(lines)


def test_json_document_is_located(tmp_path: Path) -> None:
    text = '{\n  "name": "ok",\n  "port": "80"\n}\n'

    [problem] = check(tmp_path, "app.json", text)

    assert (problem.line, problem.column, problem.dotted) == (3, 3, "port")
    assert problem.message == "expected integer; got string"


def test_json_with_tab_indentation_is_located(tmp_path: Path) -> None:
    text = '{\n\t"name": "ok",\n\t"port": 0\n}\n'

    [problem] = check(tmp_path, "app.json", text)

    assert (problem.line, problem.column) == (3, 2)


def test_toml_document_is_located(tmp_path: Path) -> None:
    text = 'name = "ok"\nport = 99999\n'

    [problem] = check(tmp_path, "app.toml", text)

    assert (problem.line, problem.column, problem.rule) == (2, 1, "maximum")


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ("aaaaaaaaaaaaaaaa-short-secret", "token"),
        ("not-starting-with-x-secret", "hidden"),
    ],
    ids=["writeOnly", "x-secret-through-ref"],
)
def test_secret_values_never_appear_in_errors(
    tmp_path: Path, value: str, field: str
) -> None:
    problems = check(tmp_path, "app.yaml", f"name: ok\nport: 1\n{field}: {value}\n")

    assert [p.dotted for p in problems] == [field]
    assert value not in problems[0].message
    assert "<redacted>" in problems[0].message


def test_secret_under_one_of_branch_is_redacted(tmp_path: Path) -> None:
    schema = {
        "properties": {
            "auth": {
                "oneOf": [
                    {"type": "integer"},
                    {"type": "string", "pattern": "^z", "writeOnly": True},
                ]
            }
        }
    }

    problems = check(tmp_path, "a.yaml", "auth: hunter2-password\n", schema)

    text = " ".join(p.message for p in problems)
    assert "hunter2" not in text
    assert problems[0].rule == "oneOf"


def test_big_document_and_schema_are_never_dumped(tmp_path: Path) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}},
              "not": {"required": ["b"]}}
    doc = "a: 1\nb: " + json.dumps({f"k{i}": "v" * 50 for i in range(200)}) + "\n"

    problems = check(tmp_path, "a.yaml", doc, schema)

    assert {p.rule for p in problems} == {"type", "not"}
    assert all(len(p.message) < 200 for p in problems)
    assert all("k199" not in p.message for p in problems)


def test_one_of_puts_the_closest_branch_first(tmp_path: Path) -> None:
    schema = {
        "properties": {
            "plugin": {
                "oneOf": [
                    {"type": "string"},
                    {
                        "type": "object",
                        "required": ["name", "version"],
                        "properties": {"version": {"type": "integer"}},
                    },
                ]
            }
        }
    }
    text = "plugin:\n  name: x\n  version: one\n"

    [problem] = check(tmp_path, "a.yaml", text, schema)

    assert problem.dotted == "plugin"
    assert (problem.line, problem.column) == (1, 1)
    assert problem.message == (
        "matches none of the 2 allowed forms (oneOf); "
        "closest: plugin.version: expected integer; got string"
    )


def test_nested_choices_name_the_innermost_closest_error(tmp_path: Path) -> None:
    schema = {"anyOf": [
        {"type": "string"},
        {"type": "object", "properties": {"a": {"oneOf": [
            {"type": "integer"},
            {"type": "object", "properties": {"b": {"enum": [1, 2]}}},
        ]}}},
    ]}

    [problem] = check(tmp_path, "a.yaml", "a:\n  b: 3\n", schema)

    assert problem.message == (
        "matches none of the 2 allowed forms (anyOf); closest: a.b: expected one "
        "of 1, 2; got 3"
    )


def test_one_of_matching_twice_says_so(tmp_path: Path) -> None:
    schema = {"oneOf": [{"type": "integer"}, {"minimum": 0}]}

    [problem] = check(tmp_path, "a.json", "5", schema)

    assert "more than one of the 2 allowed forms" in problem.message


@pytest.mark.parametrize(
    ("fmt", "bad", "good"),
    [
        ("hostname", "-bad-.example", "api.example.org"),
        ("uri", "not a uri", "https://example.org/x"),
        ("date-time", "2024-13-45T99:00:00Z", "2024-05-01T10:00:00Z"),
        ("email", "no-at-sign", "ada@example.org"),
        ("ipv4", "300.1.2.3", "192.0.2.1"),
        ("ipv6", "12345::", "2001:db8::1"),
        ("date", "2024-02-30", "2024-02-28"),
        ("regex", "(unclosed", "^a+$"),
        ("uuid", "not-a-uuid", "123e4567-e89b-12d3-a456-426614174000"),
    ],
    ids=lambda v: v if isinstance(v, str) and v.isalpha() else None,
)
def test_formats_are_enforced(tmp_path: Path, fmt: str, bad: str, good: str) -> None:
    schema = {"properties": {"v": {"type": "string", "format": fmt}}}

    bad_problems = check(tmp_path, "a.json", json.dumps({"v": bad}), schema)
    good_problems = check(tmp_path, "b.json", json.dumps({"v": good}), schema)

    assert [p.rule for p in bad_problems] == ["format"]
    assert good_problems == []


@pytest.mark.parametrize(
    ("draft", "schema_extra", "doc", "rules"),
    [
        ("https://json-schema.org/draft/2020-12/schema",
         {"prefixItems": [{"type": "integer"}]}, '["x"]', ["type"]),
        ("https://json-schema.org/draft/2019-09/schema",
         {"items": [{"type": "integer"}]}, '["x"]', ["type"]),
        ("http://json-schema.org/draft-07/schema#",
         {"items": [{"type": "integer"}]}, '["x"]', ["type"]),
        ("http://json-schema.org/draft-07/schema#",
         {"prefixItems": [{"type": "integer"}]}, '["x"]', []),
    ],
    ids=["2020-12", "2019-09", "draft-7", "draft-7-ignores-prefixItems"],
)
def test_draft_is_chosen_by_dollar_schema(
    tmp_path: Path, draft: str, schema_extra: dict, doc: str, rules: list
) -> None:
    schema = {"$schema": draft, **schema_extra}

    problems = check(tmp_path, "a.json", doc, schema)

    assert [p.rule for p in problems] == rules


def test_unknown_draft_is_a_clear_schema_error(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="is not a JSON Schema draft vpa-config knows"):
        check(tmp_path, "a.json", "{}", {"$schema": "https://example.org/my-draft"})


def test_invalid_schema_is_a_clear_error_naming_where(tmp_path: Path) -> None:
    schema = {"properties": {"port": {"type": "integr"}}}

    with pytest.raises(SchemaError) as caught:
        check(tmp_path, "a.json", "{}", schema)

    assert "is not a valid Draft202012 schema: at properties.port.type" in str(caught.value)


def test_relative_ref_to_a_neighbour_schema_file_works(tmp_path: Path) -> None:
    (tmp_path / "defs").mkdir()
    write(tmp_path, "defs/port.json", json.dumps({"type": "integer", "maximum": 10}))
    schema = {"properties": {"port": {"$ref": "defs/port.json"}}}

    [problem] = check(tmp_path, "a.json", '{"port": 11}', schema)

    assert problem.message == "expected at most 10; got 11"


def test_cli_validate_schema_text_and_exit_codes(run_cli: RunCli, tmp_path: Path) -> None:
    write(tmp_path, "schema.json", json.dumps(SCHEMA))
    write(tmp_path, "good.yaml", "name: ok\nport: 80\n")
    write(tmp_path, "bad.yaml", "name: ok\nport: 0\n")

    good = run_cli("validate", "--schema", "schema.json", "good.yaml")
    bad = run_cli("validate", "--schema", "schema.json", "good.yaml", "bad.yaml")
    usage = run_cli("validate", "--schema", "schema.json")

    assert good.returncode == 0, good.stderr
    assert "1 file: all valid" in good.stdout
    assert bad.returncode == 1
    assert "bad.yaml:2:1: port: expected at least 1; got 0  [minimum at /port]" in bad.stdout
    assert "2 files: 1 invalid, 1 problem" in bad.stdout
    assert usage.returncode == 2
    assert "Traceback" not in bad.stderr + usage.stderr


def test_cli_validate_a_missing_file_is_exit_5_and_the_others_are_checked(
    run_cli: RunCli, tmp_path: Path
) -> None:
    write(tmp_path, "schema.json", json.dumps(SCHEMA))
    write(tmp_path, "good.yaml", "name: ok\nport: 80\n")

    done = run_cli("validate", "--schema", "schema.json", "good.yaml", "gone.yaml")

    assert done.returncode == 5, done.stdout + done.stderr
    assert "gone.yaml: (document): no such file  [missing at /]" in done.stdout
    assert "2 files: 1 missing" in done.stdout


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_cli_validate_an_invalid_file_outranks_a_missing_one(
    run_cli: RunCli, tmp_path: Path, as_json: bool
) -> None:
    write(tmp_path, "schema.json", json.dumps(SCHEMA))
    write(tmp_path, "bad.yaml", "name: ok\nport: 0\n")
    extra = ("--json",) if as_json else ()

    done = run_cli(
        "validate", "--schema", "schema.json", "gone.yaml", "bad.yaml", *extra
    )

    assert done.returncode == 1, done.stdout + done.stderr
    assert "gone.yaml" in done.stdout and "bad.yaml" in done.stdout
    assert "expected at least 1" in done.stdout
    if as_json:
        report = json.loads(done.stdout)
        assert (report["exit_code"], report["missing"]) == (1, ["gone.yaml"])
    else:
        assert "2 files: 1 invalid, 1 problem, 1 missing" in done.stdout


def test_cli_validate_json_output(run_cli: RunCli, tmp_path: Path) -> None:
    write(tmp_path, "schema.json", json.dumps(SCHEMA))
    write(tmp_path, "bad.yaml", "name: ok\nport: 0\n")

    done = run_cli("validate", "--schema", "schema.json", "bad.yaml", "--json")

    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["valid"] is False
    [problem] = report["files"][0]["problems"]
    assert problem == {
        "file": "bad.yaml", "line": 2, "column": 1, "path": "port",
        "pointer": "/port", "rule": "minimum",
        "message": "expected at least 1; got 0", "source": "schema",
    }


def test_cli_bad_schema_is_one_line_exit_1(run_cli: RunCli, tmp_path: Path) -> None:
    write(tmp_path, "schema.json", '{"type": 5}')
    write(tmp_path, "a.json", "{}")

    done = run_cli("validate", "--schema", "schema.json", "a.json")

    assert done.returncode == 1
    assert done.stderr.startswith("vpa-config: schema schema.json is not a valid")
    assert "Traceback" not in done.stderr


def test_cli_missing_schema_is_not_found_exit_5(run_cli: RunCli, tmp_path: Path) -> None:
    write(tmp_path, "a.json", "{}")

    done = run_cli("validate", "--schema", "nosuch.schema.json", "a.json")

    assert done.returncode == 5, done.stderr
    assert done.stderr == (
        "vpa-config: schema 'nosuch.schema.json' is no file "
        f"({tmp_path / 'nosuch.schema.json'} does not exist) and no shipped "
        "schema's name; expected a schema file's path or one of: "
        "vpa-config/settings.schema.json, vpa/assistant.schema.json, "
        "vpa/health.schema.json, vpa/logging.schema.json, vpa/plugins.schema.json\n"
    )


@pytest.mark.parametrize(
    ("schema", "code", "message"),
    [
        ("", 2, "--schema is empty; expected a schema file or a shipped name"),
        ("folder", 5, "schema folder is a folder; expected a schema file"),
    ],
    ids=["empty", "a folder"],
)
def test_cli_schema_that_is_no_file_says_what_it_is(
    run_cli: RunCli, tmp_path: Path, schema: str, code: int, message: str
) -> None:
    write(tmp_path, "f.yaml", "a: 1\n")
    (tmp_path / "folder").mkdir()

    done = run_cli("validate", "--schema", schema, "f.yaml")

    assert done.returncode == code, done.stderr
    assert done.stderr == f"vpa-config: {message}\n"


@pytest.mark.parametrize(
    "schema", ["any/nosuch.json", "./nosuch.json", "~/nosuch.json", ".nosuch.json"]
)
def test_cli_missing_schema_file_is_named_as_a_file(
    run_cli: RunCli, tmp_path: Path, schema: str
) -> None:
    write(tmp_path, "f.yaml", "a: 1\n")

    done = run_cli("validate", "--schema", schema, "f.yaml")

    assert done.returncode == 5, done.stderr
    assert done.stderr == f"vpa-config: schema file {schema} not found\n"


def test_store_validate_names_files_and_settings_rules(
    run_cli: RunCli, store_path: Path
) -> None:
    run_cli("init", "--example", store=store_path)
    (store_path / "assistant.yaml").write_text(
        (store_path / "assistant.yaml").read_text().replace("temperature: 0.7", "temperature: 3")
    )

    every = run_cli("validate", store=store_path)
    one = run_cli("validate", "plugins.yaml", store=store_path)
    missing = run_cli("validate", "nope.yaml", store=store_path)

    assert every.returncode == 1
    assert "assistant.yaml:15:3: llm.temperature: expected at most 2; got 3" in every.stdout
    assert "5 files: 1 invalid, 1 problem" in every.stdout
    assert one.returncode == 0, one.stdout
    assert missing.returncode == 5
    assert "nope.yaml: (document): no such file in the store" in missing.stdout
    assert "1 file: 1 missing\n" in missing.stdout


def test_store_validate_of_an_invalid_and_a_missing_file_exits_1(
    run_cli: RunCli, store_path: Path
) -> None:
    run_cli("init", "--example", store=store_path)
    (store_path / "assistant.yaml").write_text(
        (store_path / "assistant.yaml").read_text().replace("temperature: 0.7", "temperature: 3")
    )

    done = run_cli("validate", "nope.yaml", "assistant.yaml", "plugins.yaml",
                   store=store_path)

    assert done.returncode == 1, done.stdout + done.stderr
    assert "nope.yaml: (document): no such file in the store  [missing at /]" in (
        done.stdout
    )
    assert "assistant.yaml:15:3: llm.temperature: expected at most 2; got 3" in (
        done.stdout
    )
    assert "3 files: 1 invalid, 1 problem, 1 missing" in done.stdout


def test_remembered_pattern_hits_answer_as_the_matcher_does() -> None:
    from vpa_config import verdict
    from vpa_config.explain import SecretMatcher, all_paths

    patterns = ("*:a.1", "*:*.password", "x.yaml:b.true")
    matcher = SecretMatcher(patterns)
    documents = [
        {"a": ["x", "y"], "db": {"password": "p"}, "b": {"true": 1}},
        {"a": {True: "t"}, "b": {True: 2}},  # bool keys (the last has int keys)
        {"a": ["x", "y"], "db": {"password": "p"}, "b": {"true": 1}},
        {"a": {1: "one"}, "b": {"true": 1, "x": {"password": None}}},
    ]
    for data in documents:
        expected = {p for p in all_paths(data) if matcher.matches("x.yaml", p)}
        assert set(verdict._pattern_hits("x.yaml", patterns, data)) == expected
