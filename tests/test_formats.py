"""YAML, JSON and TOML: round-trip edits, YAML 1.2 rules, duplicate keys, key paths."""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path

import pytest

import stores
from conftest import RunCli, snapshot
from vpa_config import documents
from vpa_config.errors import (
    InvalidConfigError,
    KeyPathNotFoundError,
    KeyPathSyntaxError,
    ParseError,
)
from vpa_config.keypath import format_dotted, parse_key_path, resolve

YAML = """\
# Service settings: hand-written, with comments that must survive.
service:
  name: "vpa"            # double quoted
  owner: 'ops team'      # single quoted
  mode: 0755
  version: 1.10
  debug: no
  power: off
  ports: [8080, 8443]    # a flow list
  motd: |
    Welcome.
    Be kind.
tags:
  - alpha
  - beta
zeta: last
"""


def _changed_lines(before: str, after: str) -> list[str]:
    return [
        line for line in difflib.ndiff(before.splitlines(), after.splitlines())
        if line.startswith(("+ ", "- "))
    ]


# --- YAML ---------------------------------------------------------------------


def test_yaml_set_changes_only_the_needed_line() -> None:
    after = documents.set_value("a.yaml", YAML, ("service", "owner"), "platform")

    assert _changed_lines(YAML, after) == [
        "-   owner: 'ops team'      # single quoted",
        "+   owner: 'platform'      # single quoted",
    ]


@pytest.mark.parametrize(
    ("path", "value", "old", "new"),
    [
        (("service", "name"), "vee", '  name: "vpa"            # double quoted',
         '  name: "vee"            # double quoted'),
        (("service", "ports", 1), 9443, "  ports: [8080, 8443]    # a flow list",
         "  ports: [8080, 9443]    # a flow list"),
        (("tags", 1), "gamma", "  - beta", "  - gamma"),
        (("zeta",), "end", "zeta: last", "zeta: end"),
    ],
    ids=["double-quoted", "flow-list", "block-list", "top-level"],
)
def test_yaml_set_keeps_quoting_and_layout(
    path: tuple, value: object, old: str, new: str
) -> None:
    after = documents.set_value("a.yaml", YAML, path, value)

    assert _changed_lines(YAML, after) == [f"- {old}", f"+ {new}"]


def test_yaml_new_key_is_added_after_its_siblings_and_keeps_order() -> None:
    after = documents.set_value("a.yaml", YAML, ("service", "region"), "eu-west")

    assert _changed_lines(YAML, after) == ["+   region: eu-west"]
    assert list(documents.parse("a.yaml", after)) == ["service", "tags", "zeta"]


def test_yaml_unset_removes_only_its_line() -> None:
    after = documents.unset_value("a.yaml", YAML, ("service", "power"))

    assert _changed_lines(YAML, after) == ["-   power: off"]


def test_yaml_crlf_line_endings_are_kept() -> None:
    text = YAML.replace("\n", "\r\n")

    after = documents.set_value("a.yaml", text, ("zeta",), "end")

    assert after == text.replace("zeta: last", "zeta: end")


@pytest.mark.parametrize(
    ("key", "expected"),
    [("mode", 755), ("version", 1.1), ("debug", "no"), ("power", "off")],
)
def test_yaml_12_meanings(key: str, expected: object) -> None:
    value = documents.parse("a.yaml", YAML)["service"][key]

    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("yes", "yes"), ("on", "on"), ("y", "y"), ("True", True), ("0o17", 15),
     ("0x1f", 31), ("2024-01-01", "2024-01-01"), ("1_000", "1_000"), ("~", None),
     ("012", 12), ("1e3", 1000.0)],
)
def test_yaml_12_scalars(text: str, expected: object) -> None:
    assert documents.parse("a.yaml", f"k: {text}\n") == {"k": expected}


def test_yaml_12_text_survives_an_unrelated_set() -> None:
    after = documents.set_value("a.yaml", YAML, ("zeta",), "end")

    for line in ("  mode: 0755", "  version: 1.10", "  debug: no", "  power: off"):
        assert line in after.splitlines()


@pytest.mark.parametrize(
    ("text", "line"),
    [("a: 1\nb: 2\na: 3\n", 3), ("top:\n  x: 1\n  x: 2\n", 3)],
    ids=["top-level", "nested"],
)
def test_yaml_duplicate_keys_are_refused(text: str, line: int) -> None:
    with pytest.raises(ParseError, match="duplicate key") as caught:
        documents.parse("a.yaml", text)

    assert caught.value.line == line


@pytest.mark.parametrize(
    ("text", "where", "said"),
    [
        ('a: 1\nb: "x\n', (2, 4), "scanning a quoted scalar that starts here"),
        ("a: 1\nb: [1, 2", (2, 4), "parsing a flow sequence that starts here"),
        ("a: 1\nb: [1, 2\n\n", (2, 4), "parsing a flow sequence that starts here"),
    ],
    ids=["quote", "flow-at-end", "flow-then-blank-lines"],
)
def test_yaml_cut_short_is_located_where_the_unclosed_part_begins(
    text: str, where: tuple[int, int], said: str
) -> None:
    with pytest.raises(ParseError, match=said) as caught:
        documents.parse("a.yaml", text)

    assert (caught.value.line, caught.value.column) == where


def test_yaml_error_before_the_end_stays_where_the_parser_stopped() -> None:
    with pytest.raises(ParseError) as caught:
        documents.parse("a.yaml", "a: 1\nb: [1, 2\nc: 3\n")

    assert (caught.value.line, caught.value.column) == (3, 2)
    assert "starts here" not in str(caught.value)


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "a: 1\n"])
def test_a_problem_of_the_whole_document_is_at_its_first_line(text: str) -> None:
    assert documents.locate("a.yaml", text, ()) == (1, 1)


def test_yaml_alias_bomb_is_refused() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for level in range(1, 9):
        prev = chr(ord("a") + level - 1)
        name = chr(ord("a") + level)
        bomb += f"{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"

    with pytest.raises(ParseError):
        documents.parse("a.yaml", bomb)


# --- JSON -----------------------------------------------------------------------


@pytest.mark.parametrize("indent", ["  ", "    ", "\t"], ids=["2", "4", "tab"])
def test_json_keeps_key_order_and_indentation(indent: str) -> None:
    data = {"zeta": 1, "alpha": {"b": 2, "a": [1, 2]}, "mid": "x"}
    text = json.dumps(data, indent=indent) + "\n"

    after = documents.set_value("a.json", text, ("alpha", "b"), 3)

    assert after == text.replace('"b": 2', '"b": 3')


def test_json_duplicate_keys_are_refused() -> None:
    with pytest.raises(ParseError, match="duplicate key") as caught:
        documents.parse("a.json", '{\n  "a": 1,\n  "a": 2\n}\n')

    assert caught.value.line == 3


def test_json_syntax_error_is_located() -> None:
    with pytest.raises(ParseError) as caught:
        documents.parse("a.json", '{\n  "a": 1,\n}\n')

    assert caught.value.line == 3


# --- TOML -----------------------------------------------------------------------

TOML = """\
# Health thresholds.
[cpu]
degraded_percent = 85   # warn here
unhealthy_percent = 95

# Memory.
[memory]
degraded_percent = 80
"""


def test_toml_keeps_comments_and_changes_one_line() -> None:
    after = documents.set_value("h.toml", TOML, ("cpu", "degraded_percent"), 70)

    assert _changed_lines(TOML, after) == [
        "- degraded_percent = 85   # warn here",
        "+ degraded_percent = 70   # warn here",
    ]


@pytest.mark.parametrize("value", [None, [1, None], {"a": None}])
def test_toml_null_is_refused_with_what_to_do(value: object) -> None:
    with pytest.raises(ParseError) as caught:
        documents.set_value("h.toml", TOML, ("cpu", "degraded_percent"), value)

    assert str(caught.value) == (
        'h.toml: cpu.degraded_percent: TOML has no null value; remove the key with '
        '"vpa-config unset" instead'
    )


def test_toml_duplicate_keys_are_refused() -> None:
    with pytest.raises(ParseError):
        documents.parse("h.toml", "[cpu]\na = 1\na = 2\n")


MALFORMED_TOML = [
    ("[cpu]\na = 1\n\n[cpu\nb = 2\n", 4, 5,
     "expected ']' to close the table header '[cpu'"),
    ("a = 1\n[cpu\nb = 2\n", 2, 5, "expected ']' to close the table header '[cpu'"),
    ("a = 1\n[cpu", 2, 5, "expected ']' to close the table header '[cpu'"),
    ("[[cpu]\nb = 2\n", 1, 6, "expected ']]' to close the table header '[[cpu]'"),
    ('[cpu]\nname = "fast\nb = 2\n', 2, 13,
     "unclosed string; expected '\"' before the end of the line"),
    ("[cpu]\nname = 'fast\nb = 2\n", 2, 8,
     "unclosed string; expected \"'\" before the end of the line"),
    ('a = 1\nnote = """fast\n', 2, 8,
     "unclosed string; expected '\"\"\"' before the end of the file"),
    ("[cpu]\na =\nb = 2\n", 2, 4, "expected a value after 'a ='"),
    ("a = fast\n", 1, 5, "invalid value; expected a string (in quotes), number, "
     "true or false, date, array or inline table"),
    ("[cpu]\na = 1\n  a = 2\n", 3, 3, "duplicate key 'a'; each key may appear once"),
    ("[cpu]\na = 1\n[cpu]\nb = 2\n", 3, 5,
     "table '[cpu]' is defined twice; a table may be defined once"),
    ("cpu = 1\n[cpu]\n", 2, 5, "table '[cpu]' names a key that already holds a value"),
]


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    MALFORMED_TOML,
    ids=[
        "unclosed-header-declared-before", "unclosed-header", "unclosed-header-at-end",
        "unclosed-array-header", "unclosed-string", "unclosed-literal-string",
        "unclosed-multiline-string", "missing-value", "bare-word", "duplicate-key",
        "duplicate-table", "table-over-value",
    ],
)
def test_malformed_toml_says_what_was_expected_where(
    text: str, line: int, column: int, message: str
) -> None:
    with pytest.raises(ParseError) as caught:
        documents.parse("h.toml", text)

    assert str(caught.value) == f"h.toml:{line}:{column}: invalid TOML: {message}"


def test_an_edit_of_toml_with_an_unclosed_header_names_the_header() -> None:
    text = TOML + "\n[cpu\nextra = 1\n"
    line = text.count("\n") - 1

    with pytest.raises(ParseError) as caught:
        documents.set_value("h.toml", text, ("cpu", "degraded_percent"), 70)

    assert str(caught.value) == (
        f"h.toml:{line}:5: invalid TOML: expected ']' to close the table header '[cpu'"
    )


# --- key paths -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("assistant.voice", ("assistant", "voice")),
        ("plugins.0.name", ("plugins", "0", "name")),
        ("labels.app\\.kubernetes\\.io/name", ("labels", "app.kubernetes.io/name")),
        ("a\\\\b.c", ("a\\b", "c")),
        ("/labels/app.kubernetes.io~1name", ("labels", "app.kubernetes.io/name")),
        ("/a~0b/0", ("a~b", "0")),
    ],
    ids=["dotted", "list", "escaped-dot", "escaped-backslash", "pointer", "pointer-tilde"],
)
def test_key_paths(text: str, parts: tuple[str, ...]) -> None:
    assert parse_key_path(text) == parts


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("/a/b~2", "JSON Pointer '/a/b~2': '~' at position 5 must be followed by 0"),
        ("/a~", "JSON Pointer '/a~': '~' at position 3"),
        ("a\\q", "key path 'a\\q': a backslash must be followed"),
        ("/", "JSON Pointer '/' has an empty part; expected a key or a list"),
        ("/a//b", "JSON Pointer '/a//b' has an empty part"),
        ("/a/", "JSON Pointer '/a/' has an empty part"),
    ],
    ids=["pointer-tilde-2", "pointer-tilde-end", "backslash-shown-once",
         "pointer-root-key", "pointer-empty-inside", "pointer-empty-last"],
)
def test_bad_key_paths_are_named_as_typed(text: str, message: str) -> None:
    with pytest.raises(KeyPathSyntaxError) as caught:
        parse_key_path(text)

    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        (("plugins", "x"), "f.yaml: plugins.x: not found; plugins is a list (2 items)"),
        (("plugins", "\u00b2"), "expected a position number there, got '\u00b2'"),
        (("plugins", "0", "tags", "a", "b"), "plugins.0.tags is a list (0 items)"),
    ],
    ids=["name", "unicode-digit", "nested"],
)
def test_a_name_where_a_list_needs_a_position_is_not_found(
    parts: tuple[str, ...], message: str
) -> None:
    document = {"plugins": [{"tags": []}, {}]}

    with pytest.raises(KeyPathNotFoundError, match=re.escape(message)) as caught:
        resolve(document, parts, "f.yaml")

    assert caught.value.exit_code == 5


def test_dotted_form_round_trips() -> None:
    parts = ("labels", "app.kubernetes.io/name")

    assert parse_key_path(format_dotted(parts)) == parts


def _build_loose(run, store: Path, work: Path) -> None:
    run("init")
    settings = work / "settings.yaml"
    settings.write_text("allow_unschematized: true\n")
    run("import", str(settings), "--as", ".vpa-config/settings.yaml")
    src = work / "k8s.json"
    src.write_text(json.dumps(
        {"labels": {"app.kubernetes.io/name": "vpa", "tier": "web"}}, indent=4
    ) + "\n")
    run("import", str(src))


@pytest.fixture(name="loose_template", scope="module")
def _loose_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return stores.template(tmp_path_factory.mktemp("template"), _build_loose)


@pytest.fixture(name="loose_store")
def _loose_store(loose_template: Path, store_path: Path) -> Path:
    """A store that accepts files without a schema."""
    return stores.copy(loose_template, store_path)


@pytest.mark.parametrize(
    "key",
    ["labels.app\\.kubernetes\\.io/name", "/labels/app.kubernetes.io~1name"],
    ids=["escaped-dot", "json-pointer"],
)
def test_cli_key_with_a_dot(run_cli: RunCli, loose_store: Path, key: str) -> None:
    done = run_cli("set", "k8s.json", key, "assistant", store=loose_store)
    got = run_cli("get", "k8s.json", key, store=loose_store)

    assert done.returncode == 0, done.stderr
    assert got.stdout == "assistant\n"
    assert (loose_store / "k8s.json").read_text() == (
        '{\n    "labels": {\n        "app.kubernetes.io/name": "assistant",\n'
        '        "tier": "web"\n    }\n}\n'
    )


def test_cli_unescaped_dot_addresses_nested_keys(run_cli: RunCli, loose_store: Path) -> None:
    before = snapshot(loose_store)

    done = run_cli("get", "k8s.json", "labels.app.kubernetes.io/name", store=loose_store)

    assert done.returncode == 5
    assert "not found" in done.stderr
    assert snapshot(loose_store) == before


def test_cli_duplicate_key_in_hand_edit_is_refused(run_cli: RunCli, loose_store: Path) -> None:
    (loose_store / "k8s.json").write_text('{"labels": {}, "labels": {}}\n')
    before = snapshot(loose_store)

    done = run_cli("commit", store=loose_store)

    assert done.returncode == 1
    assert "k8s.json:1" in done.stderr and "duplicate key 'labels'" in done.stderr
    assert snapshot(loose_store) == before


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        ("a.yaml", "k: 1\nx: .nan\n", "a.yaml:2:4: x"),
        ("a.yaml", "x: [1, -.Inf]\n", "a.yaml:1:8: x.1"),
        ("a.yaml", "a: &v {n: .inf}\nb: *v\n", "a.yaml:1:11: a.n"),
        ("a.json", '{"k": 1,\n "x": NaN}', "a.json:2: x"),
        ("a.json", '{"x": -Infinity}', "a.json:1: x"),
        ("a.json", '{"s": "NaN",\n "l": [1,\n  NaN]}', "a.json:3: l.1"),
        ("a.toml", "x = nan\n", "a.toml:1: x"),
        ("a.toml", "k = 1\n[t]\nx = +inf\n", "a.toml:3: t.x"),
        ("a.toml", "[[t]]\nx = 1\n[[t]]\nx = [1, -nan]\n", "a.toml:4: t.1.x.1"),
    ],
)
def test_not_a_number_and_infinity_are_refused_where_they_are(
    name: str, text: str, where: str
) -> None:
    with pytest.raises(ParseError) as caught:
        documents.parse(name, text)

    assert str(caught.value).startswith(where + ": ")
    assert "is not a finite number; JSON Schema has no NaN or infinity" in str(
        caught.value
    )
    problem = caught.value.as_problem()
    assert problem.dotted == where.rpartition(": ")[2]
    assert problem.line == int(where.split(":")[1])


@pytest.mark.parametrize(
    ("name", "text", "where", "message"),
    [
        ("a.yaml", "a:\n  x: 1\n  x: 2\n", "a.yaml:3:3: a.x", "duplicate key 'x'"),
        ("a.json", '{"a": {"k": 1,\n "k": 2}}', "a.json:2: a.k", "duplicate key 'k'"),
        ("a.json", '{"a": 1e999}', "a.json:1: a", "beyond the range of a float"),
        ("a.json", '{"n": [' + "9" * 5000 + "]}", "a.json:1: n.0",
         "integer of 5000 digits is too long to read"),
        ("a.yaml", "n: " + "9" * 5000 + "\n", "a.yaml:1:4: n",
         "integer of 5000 digits is too long to read"),
    ],
    ids=["yaml-duplicate", "json-duplicate", "json-range", "json-long-int",
         "yaml-long-int"],
)
def test_a_refused_value_is_named_by_its_key_path_and_line(
    name: str, text: str, where: str, message: str
) -> None:
    with pytest.raises(ParseError) as caught:
        documents.parse(name, text)

    assert str(caught.value).startswith(where + ": ")
    assert message in str(caught.value)


def test_toml_locate_counts_arrays_of_tables() -> None:
    text = 'k = 1\n[[servers]]\nhost = "a"\n[[servers]]\nhost = "b"\n'

    assert documents.locate("a.toml", text, ("servers", 1, "host")) == (5, 1)
    assert documents.locate("a.toml", text, ("servers", 1, "port")) == (4, 1)
    assert documents.locate("a.toml", text, ("servers", 0, "host")) == (3, 1)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (float("nan"), "nan is not a finite number"),
        ({"a": [1, float("-inf")]}, "-inf is not a finite number"),
        (object(), "a value of type object cannot be stored"),
        ({1: "one"}, "mapping keys must be strings"),
    ],
    ids=["nan", "nested-inf", "object", "int-key"],
)
def test_a_value_no_format_can_hold_is_refused(value: object, message: str) -> None:
    for name in ("a.yaml", "a.json", "a.toml"):
        with pytest.raises(InvalidConfigError, match=message) as caught:
            documents.set_value(name, "", ("x",), value)
        [problem] = caught.value.problems
        assert (problem.file, problem.path, problem.rule) == (name, ("x",), "value")


def test_cli_nan_value_is_refused_and_nothing_written(
    run_cli: RunCli, loose_store: Path
) -> None:
    before = snapshot(loose_store)

    done = run_cli("set", "k8s.json", "labels.ratio", ".nan", store=loose_store)

    assert done.returncode == 1
    assert "k8s.json: labels.ratio: VALUE .nan is not a finite number" in done.stderr
    assert "quote it" not in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert snapshot(loose_store) == before


@pytest.mark.parametrize(
    ("text", "path", "value", "expected"),
    [
        (
            "rules:\n  - files: a.yaml\n    schema: a.json\n"
            "# about what follows\nallow: false\n",
            ("rules", 1), {"files": "b.yaml", "schema": "b.json"},
            "rules:\n  - files: a.yaml\n    schema: a.json\n"
            "  - files: b.yaml\n    schema: b.json\n"
            "# about what follows\nallow: false\n",
        ),
        (
            "tags:\n  - a  # first\n# about what follows\nother: 1\n",
            ("tags", 1), "b",
            "tags:\n  - a  # first\n  - b\n# about what follows\nother: 1\n",
        ),
    ],
    ids=["mapping-item", "scalar-item"],
)
def test_yaml_append_keeps_the_comment_after_the_list_after_it(
    text: str, path: tuple, value: object, expected: str
) -> None:
    assert documents.set_value("a.yaml", text, path, value) == expected


SECTIONS = "llm:\n  model: x  # the model\n  timeout_s: 30\n\n  # speech\nspeech:\n  engine: w\n"


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("llm", "password"), "hunter2",
         "llm:\n  model: x  # the model\n  timeout_s: 30\n  password: hunter2\n"
         "\n  # speech\nspeech:\n  engine: w\n"),
        (("llm", "extra"), {"a": 1},
         "llm:\n  model: x  # the model\n  timeout_s: 30\n  extra:\n    a: 1\n"
         "\n  # speech\nspeech:\n  engine: w\n"),
        (("speech", "rate"), 2,
         "llm:\n  model: x  # the model\n  timeout_s: 30\n\n  # speech\nspeech:\n"
         "  engine: w\n  rate: 2\n"),
    ],
    ids=["scalar", "mapping", "last-section"],
)
def test_yaml_key_added_to_a_section_goes_before_the_lines_after_it(
    path: tuple, value: object, expected: str
) -> None:
    assert documents.set_value("a.yaml", SECTIONS, path, value) == expected


def test_yaml_key_added_keeps_the_last_entrys_own_comment_on_its_line() -> None:
    text = "a:\n  b: 1  # inline\n\nc: 2\n"

    assert documents.set_value("a.yaml", text, ("a", "d"), 3) == (
        "a:\n  b: 1  # inline\n  d: 3\n\nc: 2\n"
    )


MULTILINE = ["line1\nline2", "  indented\n\tand a tab \ntrailing\n\n", "x\r\ny"]


@pytest.mark.parametrize(
    ("name", "text"),
    [("m.yaml", "motd: |\n  hi\n  there\nkeep: 1\n"),
     ("m.json", '{"motd": "hi", "keep": 1}\n'),
     ("m.toml", 'motd = "hi"\nkeep = 1\n')],
    ids=["yaml", "json", "toml"],
)
def test_cli_value_with_a_line_break_is_kept_exactly_as_text(
    run_cli: RunCli, loose_store: Path, tmp_path: Path, name: str, text: str
) -> None:
    (tmp_path / name).write_text(text)
    assert run_cli("import", str(tmp_path / name), store=loose_store).returncode == 0

    for key, value in zip(["motd", "new", "deep.er"], MULTILINE):
        done = run_cli("set", name, key, value, store=loose_store)
        assert done.returncode == 0, done.stderr
    got = run_cli("get", name, "--json", store=loose_store)

    expected = {"motd": MULTILINE[0], "keep": 1, "new": MULTILINE[1],
                "deep": {"er": MULTILINE[2]}}
    assert json.loads(got.stdout) == expected
    assert documents.parse(name, (loose_store / name).read_text()) == expected


def test_cli_value_with_a_line_break_that_is_a_structure_is_read_as_yaml(
    run_cli: RunCli, loose_store: Path
) -> None:
    done = run_cli("set", "k8s.json", "labels.tiers", "[web,\n db]", store=loose_store)
    flow = run_cli("set", "k8s.json", "labels.owner", "name: ops\nteam: 4",
                   store=loose_store)
    got = run_cli("get", "k8s.json", "labels", "--json", store=loose_store)

    assert done.returncode == 0 and flow.returncode == 0, done.stderr + flow.stderr
    labels = json.loads(got.stdout)
    assert labels["tiers"] == ["web", "db"]
    assert labels["owner"] == {"name": "ops", "team": 4}
