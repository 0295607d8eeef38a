"""Odd and hostile files: a clear, located error or the right meaning, never a crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import RunCli

from vpa_config.documents import MAX_BYTES
from vpa_config.filecheck import file_verdicts

OPEN = {"type": ["object", "array", "string", "number", "boolean", "null"]}


def verdict_of(tmp_path: Path, name: str, content: bytes, schema: object = OPEN):
    schema_path = tmp_path / "schema.json"
    schema_path.write_text(json.dumps(schema))
    path = tmp_path / name
    path.write_bytes(content)
    [verdict] = file_verdicts([path], str(schema_path))
    return verdict


def only_problem(tmp_path: Path, name: str, content: bytes, schema: object = OPEN):
    verdict = verdict_of(tmp_path, name, content, schema)
    assert len(verdict.problems) == 1, verdict.problems
    return verdict.problems[0]


BOMB = ("a: &a [1,1,1,1,1,1,1,1,1,1]\n" + "".join(
    f"{new}: &{new} [{','.join(['*' + old] * 10)}]\n"
    for old, new in zip("abcdefgh", "bcdefghi")
)).encode()


@pytest.mark.parametrize(
    ("name", "content", "message", "line"),
    [
        ("big.yaml", b"a: " + b"x" * MAX_BYTES, "the limit is", None),
        ("deep.json", b"[" * 5000 + b"]" * 5000, "nested deeper than 64 levels", None),
        ("deep.yaml", b"a: " + b"[" * 100_000 + b"]" * 100_000,
         "nested deeper than 64 levels", 1),
        ("blocks.yaml", "".join(f"{'  ' * i}k:\n" for i in range(80)).encode(),
         "nested deeper than 64 levels", 65),
        ("blocks.json", ('{\n' + '"k": {\n' * 70 + '}' * 71).encode(),
         "nested deeper than 64 levels", 66),
        ("bomb.yaml", BOMB, "alias bomb", None),
        ("binary.json", b'{"a": "\x00\x01"}', "binary content", None),
        ("latin1.yaml", b"name: caf\xe9\n", "not valid UTF-8", 1),
        ("tabs.yaml", b"a:\n\tb: 1\n", "a tab; YAML indents with spaces only", 2),
        ("huge-int.yaml", b"n: " + b"9" * 5000 + b"\n", "5000 digits is too long", 1),
        ("inf.yaml", b"x: 1e999\n", "beyond the range of a float", 1),
        ("inf.json", b'{\n  "x": 1e999\n}', "beyond the range of a float", 2),
        ("dup.yaml", b"a: 1\nb: 2\na: 3\n", "duplicate key 'a'", 3),
        ("dup.json", b'{\n "a": 1,\n "a": 2\n}', "duplicate key 'a'", 3),
        ("dup.toml", b"a = 1\na = 2\n", "invalid TOML", 2),
        ("two-docs.yaml", b"a: 1\n---\nb: 2\n", "another document", 2),
        ("trailing-comma.json", b'{"a": 1,}', "invalid JSON", 1),
    ],
    ids=lambda v: v if isinstance(v, str) and v.endswith((".yaml", ".json", ".toml"))
    else "",
)
def test_hostile_file_gets_a_clear_located_error(
    tmp_path: Path, name: str, content: bytes, message: str, line: int | None
) -> None:
    problem = only_problem(tmp_path, name, content)

    assert message in problem.message
    assert problem.rule == "syntax"
    if line is not None:
        assert problem.line == line


def test_byte_order_mark_is_dropped_and_lines_still_count(tmp_path: Path) -> None:
    schema = {"properties": {"port": {"type": "integer"}}}

    problem = only_problem(tmp_path, "a.yaml", "\ufeffname: x\nport: high\n".encode(), schema)

    assert (problem.line, problem.column, problem.dotted) == (2, 1, "port")


def test_crlf_line_endings_are_read_and_located(tmp_path: Path) -> None:
    schema = {"properties": {"port": {"type": "integer"}}}

    problem = only_problem(tmp_path, "a.yaml", b"name: x\r\nport: high\r\n", schema)

    assert (problem.line, problem.column) == (2, 1)


def test_numbers_beyond_64_bits_are_kept_exactly_and_judged(tmp_path: Path) -> None:
    schema = {"properties": {"n": {"type": "integer", "maximum": 2**63 - 1}}}

    problem = only_problem(tmp_path, "a.yaml", b"n: 18446744073709551616\n", schema)

    assert problem.message == "expected at most 9223372036854775807; got 18446744073709551616"


def test_unquoted_dates_stay_text_as_json_schema_sees_them(tmp_path: Path) -> None:
    schema = {"properties": {"day": {"type": "string", "format": "date"}}}

    verdict = verdict_of(tmp_path, "a.yaml", b"day: 2024-05-01\n", schema)
    bad = only_problem(tmp_path, "b.yaml", b"day: 2024-02-30\n", schema)

    assert verdict.valid
    assert bad.rule == "format"


@pytest.mark.parametrize(
    ("text", "expected_type"),
    [("no", "string"), ("off", "string"), ("Yes", "string"), ("0755", "integer"),
     ("1.10", "number"), ("12:30", "string"), ("1_000", "string")],
    ids=["no", "off", "Yes", "octal-looking", "version-looking", "sexagesimal",
         "underscore"],
)
def test_yaml_11_look_alikes_keep_their_yaml_12_meaning(
    tmp_path: Path, text: str, expected_type: str
) -> None:
    schema = {"properties": {"v": {"type": "boolean"}}}

    problem = only_problem(tmp_path, "a.yaml", f"v: {text}\n".encode(), schema)

    assert problem.message == f"expected boolean; got {expected_type}"


def test_hostile_files_through_the_cli_never_crash(run_cli: RunCli, tmp_path: Path) -> None:
    (tmp_path / "schema.json").write_text(json.dumps(OPEN))
    names = []
    for name, content in [("bomb.yaml", BOMB), ("bin.json", b"\x00\xff"),
                          ("deep.yaml", b"[" * 60_000 + b"]" * 60_000)]:
        (tmp_path / name).write_bytes(content)
        names.append(name)

    done = run_cli("validate", "--schema", "schema.json", *names, timeout=60)

    assert done.returncode == 1
    assert "3 files: 3 invalid, 3 problems" in done.stdout
    assert "Traceback" not in done.stderr


def test_unknown_file_type_is_a_clear_error(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "settings.ini", b"[a]\nb=1\n")

    assert "unknown file type" in problem.message
