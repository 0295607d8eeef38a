"""schemacheck never calls valid what jsonschema calls invalid (differential)."""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, cli_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vpa_config import documents, schemacheck, validation

SHIPPED = ROOT / "schemas"
EXAMPLES = {
    "vpa/assistant.schema.json": "assistant.yaml",
    "vpa/health.schema.json": "health.toml",
    "vpa/logging.schema.json": "logging.json",
    "vpa/plugins.schema.json": "plugins.yaml",
}
DRAFT_URI = {
    "draft4": "http://json-schema.org/draft-04/schema#",
    "draft6": "http://json-schema.org/draft-06/schema#",
    "draft7": "http://json-schema.org/draft-07/schema#",
    "draft201909": "https://json-schema.org/draft/2019-09/schema",
    "draft202012": "https://json-schema.org/draft/2020-12/schema",
}
SLOW = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def vendored_dir() -> Path:
    import check_jsonschema

    return Path(check_jsonschema.__file__).parent / "builtin_schemas" / "vendor"


def vendored_names() -> list[str]:
    return sorted(path.name for path in vendored_dir().glob("*.json"))


class Pair:
    """jsonschema's validator and schemacheck's compiled form of one schema."""

    def __init__(self, registry: validation.SchemaRegistry, name: str) -> None:
        source = registry.get(name)
        self.validator = registry.validator(source)
        self.decider = registry.decider(source)
        assert self.decider is not None

    def agree(self, data: Any) -> bool | None:
        """schemacheck's answer, after asserting it is sound."""
        verdict = self.decider.is_valid(data)
        if verdict is True:
            errors = [e.message for e in self.validator.iter_errors(data)]
            assert errors == [], f"schemacheck said valid: {errors[:3]}"
        return verdict


_PAIRS: dict[str, Pair] = {}


def vendored_pair(name: str) -> Pair:
    if name not in _PAIRS:
        content = (vendored_dir() / name).read_bytes()
        registry = validation.SchemaRegistry(store_schemas={name: content})
        _PAIRS[name] = Pair(registry, name)
    return _PAIRS[name]


def shipped_pair(name: str) -> Pair:
    key = "shipped:" + name
    if key not in _PAIRS:
        _PAIRS[key] = Pair(validation.SchemaRegistry(), name)
    return _PAIRS[key]


def judge(schema: Any, data: Any, draft: str | None = None) -> tuple[bool | None, bool]:
    """(schemacheck's answer, jsonschema's) for an inline schema."""
    from jsonschema import validators

    if draft is not None:
        schema = {"$schema": DRAFT_URI[draft], **schema}
    cls = validators.validator_for(schema)
    cls.check_schema(schema)
    valid = not list(cls(schema, format_checker=cls.FORMAT_CHECKER).iter_errors(data))
    compiled = schemacheck.compile_schema(schema, uri="file:///t/schema.json")
    verdict = compiled.is_valid(data) if compiled is not None else None
    if verdict is True:
        assert valid, (schema, data)
    return verdict, valid


# --- mutations of real documents -----------------------------------------------

ODD_VALUES = [
    None,
    True,
    False,
    0,
    1,
    -1,
    1.0,
    1.5,
    -0.5,
    10**9,
    1e300,
    "",
    "x",
    "1",
    "true",
    "not a date",
    "2024-02-30",
    "::1",
    "a" * 300,
    [],
    [1],
    {},
    {"x": 1},
]


def paths(data: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [here]
    if isinstance(data, dict):
        for key, value in data.items():
            found += paths(value, (*here, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += paths(value, (*here, index))
    return found


def at(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


@st.composite
def mutated(draw: Any, doc: Any) -> Any:
    """``doc`` with one or two nodes changed the ways schemas catch."""
    data = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, 2))):
        path = draw(st.sampled_from(paths(data)))
        data = mutate(draw, data, path)
    return data


def mutate(draw: Any, data: Any, path: tuple[Any, ...]) -> Any:
    node = at(data, path)
    ops = ["replace", "retype"]
    if path:
        ops.append("remove")
    if isinstance(node, dict):
        ops.append("extra")
    if isinstance(node, list):
        ops += ["append", "duplicate"]
    op = draw(st.sampled_from(ops))
    if op == "replace":
        new = copy.deepcopy(draw(st.sampled_from(ODD_VALUES)))
    elif op == "retype":
        new = retyped(draw, node)
    elif op == "extra":
        new = {**node, draw(st.sampled_from(["extra", "x-y", "_", "0"])): 1}
    elif op == "append":
        new = [*node, copy.deepcopy(draw(st.sampled_from(ODD_VALUES)))]
    elif op == "duplicate":
        new = node + copy.deepcopy(node[:1])
    else:
        parent = at(data, path[:-1])
        del parent[path[-1]]
        return data
    if not path:
        return new
    at(data, path[:-1])[path[-1]] = new
    return data


def retyped(draw: Any, node: Any) -> Any:
    """The same value as another type: the bool/int/float/str confusions."""
    if isinstance(node, bool):
        return draw(st.sampled_from([int(node), str(node).lower()]))
    if isinstance(node, int):
        return draw(
            st.sampled_from([bool(node % 2), float(node), str(node), -node - 1])
        )
    if isinstance(node, float):
        return draw(
            st.sampled_from([int(node) if math.isfinite(node) else 0, str(node)])
        )
    if isinstance(node, str):
        return draw(st.sampled_from([node + "!", node.upper(), " " + node, node[:1]]))
    return copy.deepcopy(draw(st.sampled_from(ODD_VALUES)))


def real_documents() -> list[tuple[str, Path]]:
    data = ROOT / "benchmarks" / "data"
    found = [("renovate.json", p) for p in sorted((data / "renovate").glob("*.json"))]
    found += [
        ("azure-pipelines.json", p) for p in sorted((data / "azure").glob("*.yml"))
    ]
    return found


REAL = real_documents()


@pytest.mark.parametrize(("schema", "name"), list(EXAMPLES.items()), ids=list(EXAMPLES))
@SLOW
@given(data=st.data())
def test_mutated_shipped_examples_are_never_wrongly_valid(
    schema: str, name: str, data: Any
) -> None:
    pair = shipped_pair(schema)
    path = SHIPPED / "examples" / name
    doc = documents.parse(name, path.read_bytes())

    pair.agree(data.draw(mutated(doc)))


@pytest.mark.parametrize(
    ("schema", "path"), REAL[::4], ids=[p.name for _, p in REAL[::4]]
)
@settings(SLOW, max_examples=15)
@given(data=st.data())
def test_mutated_real_documents_are_never_wrongly_valid(
    schema: str, path: Path, data: Any
) -> None:
    pair = vendored_pair(schema)
    doc = documents.parse(path.name, path.read_bytes())

    pair.agree(data.draw(mutated(doc)))


@pytest.mark.parametrize(("schema", "path"), REAL, ids=[p.name for _, p in REAL])
def test_real_documents_get_jsonschemas_answer(schema: str, path: Path) -> None:
    pair = vendored_pair(schema)
    doc = documents.parse(path.name, path.read_bytes())
    valid = not list(pair.validator.iter_errors(doc))

    verdict = pair.agree(doc)

    assert verdict in (valid, None)


def test_shipped_examples_are_decided_valid() -> None:
    for schema, name in EXAMPLES.items():
        pair = shipped_pair(schema)
        path = SHIPPED / "examples" / name
        doc = documents.parse(name, path.read_bytes())

        assert pair.agree(doc) is True, name


# --- every vendored schema: its definitions against generated values -------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.sampled_from([0.0, 1.0, 2.5])
    | st.sampled_from(["", "a", "main", "1.0.0", "2024-01-01", "x@y", "*", "^a$"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["name", "type", "id", "on", "a"]), inner, max_size=3
        )
    ),
    max_leaves=6,
)


def definitions_of(name: str) -> list[tuple[dict[str, Any], str]]:
    schema = json.loads((vendored_dir() / name).read_bytes())
    keep = {
        k: v
        for k, v in schema.items()
        if k in ("$schema", "$id", "definitions", "$defs")
    }
    found = []
    for word in ("definitions", "$defs"):
        for key in sorted(schema.get(word, {}))[:40]:
            pointer = key.replace("~", "~0").replace("/", "~1")
            found.append(({**keep, "$ref": f"#/{word}/{pointer}"}, key))
    return found


class Wrapped:
    """A definition of a vendored schema as the root of its own schema."""

    def __init__(self, schema: dict[str, Any]) -> None:
        from jsonschema import validators

        cls = validators.validator_for(schema)
        self.validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
        self.decider = schemacheck.compile_schema(schema, uri="")


@pytest.mark.parametrize("name", vendored_names())
@settings(SLOW, max_examples=60)
@given(data=st.data())
def test_vendored_definitions_are_never_wrongly_valid(name: str, data: Any) -> None:
    wrapped = _wrapped(name)
    if not wrapped:
        return
    each = data.draw(st.sampled_from(wrapped))
    value = data.draw(JSON_VALUES)

    verdict = each.decider.is_valid(value)

    if verdict is True:
        assert not list(each.validator.iter_errors(value)), value


_WRAPPED: dict[str, list[Wrapped]] = {}


def _wrapped(name: str) -> list[Wrapped]:
    if name not in _WRAPPED:
        _WRAPPED[name] = [Wrapped(schema) for schema, _key in definitions_of(name)]
    return _WRAPPED[name]


# --- the traps, by hand -----------------------------------------------------------

TRAPS = [
    # (draft, schema, instance, schemacheck decides it: True, False or "stricter")
    ("draft202012", {"type": "integer"}, True, True),
    ("draft202012", {"type": "integer"}, 1.0, True),
    ("draft202012", {"type": "integer"}, 1.5, True),
    ("draft4", {"type": "integer"}, 1.0, True),
    ("draft4", {"type": "integer"}, 3, True),
    ("draft7", {"type": "number"}, False, True),
    ("draft7", {"type": ["string", "null"]}, None, True),
    ("draft202012", {"enum": [1]}, True, True),
    ("draft202012", {"enum": [1]}, 1.0, True),
    ("draft202012", {"enum": [[1, {"a": True}]]}, [1.0, {"a": True}], True),
    ("draft202012", {"enum": [[1]]}, [True], True),
    ("draft202012", {"const": False}, 0, True),
    ("draft202012", {"const": {"a": 1}}, {"a": 1.0}, True),
    ("draft202012", {"uniqueItems": True}, [1, True], True),
    ("draft202012", {"uniqueItems": True}, [1, 1.0], True),
    # jsonschema compares sorted neighbours only and misses this duplicate:
    # schemacheck says invalid, so jsonschema is asked and has the last word.
    ("draft202012", {"uniqueItems": True}, [[1], [True], [1]], "stricter"),
    ("draft202012", {"uniqueItems": True}, [{"a": 0}, {"a": False}], True),
    ("draft202012", {"pattern": "b"}, "abc", True),
    ("draft202012", {"pattern": "^b"}, "abc", True),
    ("draft202012", {"pattern": "^a$"}, "a\n", True),
    ("draft202012", {"maxLength": 2}, "\U0001f600\U0001f600", True),
    ("draft202012", {"minLength": 3}, "\U0001f600\U0001f600", True),
    ("draft202012", {"multipleOf": 0.1}, 0.3, True),
    ("draft202012", {"multipleOf": 0.01}, 19.99, True),
    ("draft202012", {"multipleOf": 3}, 9.0, True),
    ("draft202012", {"multipleOf": 0.1}, 1e308, True),
    ("draft202012", {"multipleOf": 0.5}, 10**300, True),
    ("draft202012", {"multipleOf": 2}, True, True),
    ("draft4", {"minimum": 1, "exclusiveMinimum": True}, 1, True),
    ("draft4", {"maximum": 1, "exclusiveMaximum": True}, 1, True),
    ("draft4", {"maximum": 1, "exclusiveMaximum": False}, 1, True),
    ("draft7", {"exclusiveMinimum": 1}, 1, True),
    ("draft7", {"exclusiveMaximum": 1}, 0.5, True),
    (
        "draft7",
        {
            "$ref": "#/definitions/s",
            "type": "integer",
            "definitions": {"s": {"type": "string"}},
        },
        "x",
        True,
    ),
    (
        "draft201909",
        {"$ref": "#/$defs/s", "type": "integer", "$defs": {"s": {"type": "string"}}},
        "x",
        True,
    ),
    (
        "draft202012",
        {"$ref": "#/$defs/s", "maxLength": 1, "$defs": {"s": {"type": "string"}}},
        "xy",
        True,
    ),
    (
        "draft7",
        {"items": [{"type": "string"}], "additionalItems": False},
        ["a", 1],
        True,
    ),
    ("draft7", {"items": [{"type": "string"}], "additionalItems": False}, ["a"], True),
    (
        "draft7",
        {"items": {"type": "string"}, "additionalItems": False},
        ["a", "b"],
        True,
    ),
    ("draft7", {"additionalItems": False}, [1, 2], True),
    ("draft4", {"items": [{"type": "string"}]}, ["a", 1], True),
    (
        "draft201909",
        {"items": [{"type": "string"}], "additionalItems": {"type": "integer"}},
        ["a", "b"],
        True,
    ),
    (
        "draft202012",
        {"prefixItems": [{"type": "string"}], "items": False},
        ["a", 1],
        True,
    ),
    (
        "draft202012",
        {"prefixItems": [{"type": "string"}], "items": {"type": "integer"}},
        ["a", 1],
        True,
    ),
    ("draft202012", {"prefixItems": [{"type": "string"}]}, [1], True),
    ("draft7", {"dependencies": {"a": ["b"]}}, {"a": 1}, True),
    ("draft7", {"dependencies": {"a": {"required": ["c"]}}}, {"a": 1, "c": 2}, True),
    ("draft202012", {"dependencies": {"a": ["b"]}}, {"a": 1}, True),
    ("draft202012", {"dependentRequired": {"a": ["b"]}}, {"a": 1}, True),
    ("draft7", {"dependentRequired": {"a": ["b"]}}, {"a": 1}, True),
    (
        "draft202012",
        {"dependentSchemas": {"a": {"maxProperties": 1}}},
        {"a": 1, "b": 2},
        True,
    ),
    ("draft7", {"if": {"type": "string"}, "then": {"minLength": 2}}, "a", True),
    ("draft7", {"if": {"type": "string"}, "else": {"minimum": 2}}, 1, True),
    ("draft7", {"if": {"type": "string"}, "else": {"minimum": 2}}, "a", True),
    ("draft6", {"if": {"type": "string"}, "then": {"minLength": 2}}, "a", True),
    ("draft7", {"then": {"minLength": 2}}, "a", True),
    ("draft202012", {"propertyNames": {"pattern": "^[a-z]+$"}}, {"aB": 1}, True),
    ("draft202012", {"propertyNames": {"maxLength": 1}}, {"a": 1}, True),
    ("draft202012", {"contains": {"type": "integer"}}, ["a"], True),
    (
        "draft202012",
        {"contains": {"type": "integer"}, "minContains": 2},
        [1, "a"],
        True,
    ),
    ("draft202012", {"contains": {"type": "integer"}, "maxContains": 1}, [1, 2], True),
    ("draft202012", {"contains": {"type": "integer"}, "minContains": 0}, ["a"], True),
    ("draft7", {"contains": {"type": "integer"}, "minContains": 2}, [1, "a"], True),
    ("draft202012", {"format": "date"}, "2024-02-30", True),
    ("draft202012", {"format": "date"}, "2024-02-29", True),
    ("draft202012", {"format": "date"}, 20240229, True),
    ("draft4", {"format": "date"}, "nope", True),
    ("draft202012", {"format": "date-time"}, "2024-01-01t10:00:00z", True),
    ("draft202012", {"format": "date-time"}, "2023-02-29T10:00:00Z", True),
    ("draft202012", {"format": "date-time"}, "2024-01-01 10:00:00Z", True),
    ("draft202012", {"format": "time"}, "10:00:00+01:00", True),
    ("draft202012", {"format": "time"}, "10:00:00", True),
    ("draft202012", {"format": "email"}, "nobody", True),
    ("draft202012", {"format": "ipv4"}, "256.1.1.1", True),
    ("draft202012", {"format": "ipv4"}, "10.0.0.1", True),
    ("draft202012", {"format": "ipv6"}, "fe80::1%eth0", True),
    ("draft202012", {"format": "ipv6"}, "::1", True),
    ("draft202012", {"format": "regex"}, "(", True),
    ("draft202012", {"format": "uuid"}, "12345678123456781234567812345678", True),
    ("draft202012", {"format": "uuid"}, "12345678-1234-5678-1234-567812345678", True),
    ("draft7", {"format": "uuid"}, "nope", True),
    ("draft202012", {"format": "no-such-format"}, "x", True),
    (
        "draft202012",
        {
            "additionalProperties": False,
            "properties": {"a": {}},
            "patternProperties": {"^x-": {}},
        },
        {"a": 1, "x-b": 2},
        True,
    ),
    (
        "draft202012",
        {
            "additionalProperties": False,
            "properties": {"a": {}},
            "patternProperties": {"^x-": {}},
        },
        {"b": 1},
        True,
    ),
    ("draft202012", {"additionalProperties": {"type": "integer"}}, {"b": "1"}, True),
    (
        "draft202012",
        {"patternProperties": {"^a": {"type": "integer"}}},
        {"ab": "1"},
        True,
    ),
    ("draft202012", {"required": ["a"]}, {"b": 1}, True),
    ("draft202012", {"required": ["a"]}, ["a"], True),
    ("draft202012", {"minProperties": 1}, {}, True),
    ("draft202012", {"maxItems": 0}, [1], True),
    ("draft202012", {"oneOf": [{"type": "integer"}, {"type": "number"}]}, 1, True),
    ("draft202012", {"oneOf": [{"type": "integer"}, {"type": "string"}]}, 1, True),
    ("draft202012", {"anyOf": [{"type": "integer"}, {"type": "string"}]}, None, True),
    ("draft202012", {"allOf": [{"type": "integer"}, {"minimum": 2}]}, 1, True),
    ("draft202012", {"not": {"type": "integer"}}, 1, True),
    ("draft202012", {"not": False}, 1, True),
    ("draft202012", {"properties": {"a": False}}, {"a": 1}, True),
    ("draft202012", {"unevaluatedProperties": False}, {"a": 1}, True),
    ("draft202012", {"unevaluatedProperties": False}, 3, True),
    ("draft201909", {"unevaluatedProperties": False}, {"a": 1}, False),
    (
        "draft202012",
        {"allOf": [{"properties": {"a": {}}}], "unevaluatedProperties": False},
        {"a": 1},
        True,
    ),
    (
        "draft202012",
        {
            "allOf": [{"properties": {"a": {"type": "string"}}}],
            "unevaluatedProperties": False,
        },
        {"a": 1},
        True,
    ),
    (
        "draft202012",
        {
            "anyOf": [
                {"properties": {"a": {"type": "string"}}},
                {"properties": {"b": {}}},
            ],
            "unevaluatedProperties": False,
        },
        {"a": 1, "b": 1},
        True,
    ),
    (
        "draft202012",
        {
            "if": {"required": ["a"]},
            "then": {"properties": {"b": {}}},
            "unevaluatedProperties": False,
        },
        {"a": 1, "b": 1},
        True,
    ),
    (
        "draft202012",
        {
            "$ref": "#/$defs/a",
            "$defs": {"a": {"properties": {"a": {}}}},
            "unevaluatedProperties": {"type": "integer"},
        },
        {"a": "x", "b": 2},
        True,
    ),
    (
        "draft202012",
        {
            "dependentSchemas": {"a": {"properties": {"b": {}}}},
            "unevaluatedProperties": False,
        },
        {"a": 1, "b": 1},
        True,
    ),
    (
        "draft202012",
        {"patternProperties": {"^x": {}}, "unevaluatedProperties": False},
        {"xa": 1, "y": 2},
        True,
    ),
    ("draft202012", {"prefixItems": [{}], "unevaluatedItems": False}, [1, 2], True),
    ("draft202012", {"prefixItems": [{}], "unevaluatedItems": False}, [1], True),
    ("draft202012", {"items": False, "unevaluatedItems": False}, [1], True),
    (
        "draft202012",
        {"contains": {"type": "string"}, "unevaluatedItems": False},
        ["a", "b"],
        True,
    ),
    (
        "draft202012",
        {"contains": {"type": "string"}, "unevaluatedItems": False},
        ["a", 1],
        True,
    ),
    ("draft202012", {"unevaluatedItems": {"type": "integer"}}, [1, "a"], True),
    (
        "draft202012",
        {"$ref": "#a", "$defs": {"a": {"$anchor": "a", "type": "string"}}},
        1,
        True,
    ),
    ("draft202012", {"$ref": "#a", "$defs": {"a": {"$dynamicAnchor": "a"}}}, 1, False),
    (
        "draft7",
        {"$ref": "#a", "definitions": {"a": {"$id": "#a", "type": "string"}}},
        1,
        True,
    ),
    (
        "draft4",
        {
            "properties": {"p": {"$ref": "#a"}},
            "definitions": {"a": {"id": "#a", "type": "string"}},
        },
        {"p": 1},
        True,
    ),
    ("draft202012", {"$dynamicRef": "#/$defs/a", "$defs": {"a": {}}}, 3, False),
    (
        "draft202012",
        {"$ref": "#/$defs/a", "$defs": {"a": {"$id": "a.json", "type": "string"}}},
        "x",
        False,
    ),
    (
        "draft202012",
        {"$ref": "#/$defs/a~1b", "$defs": {"a/b": {"type": "string"}}},
        1,
        True,
    ),
    (
        "draft202012",
        {"$ref": "#/$defs/a%25b", "$defs": {"a%b": {"type": "string"}}},
        1,
        True,
    ),
    ("draft202012", {"$ref": "#/x-l/1", "x-l": [{}, {"type": "string"}]}, 1, True),
    ("draft202012", {"items": {"$ref": "#"}, "type": "array"}, [[[]], [[1]]], True),
    (
        "draft202012",
        {
            "$defs": {"s": {"$schema": DRAFT_URI["draft4"], "type": "string"}},
            "$ref": "#/$defs/s",
        },
        "x",
        False,
    ),
]


@pytest.mark.parametrize(
    ("draft", "schema", "instance", "decided"),
    TRAPS,
    ids=[str(i) for i in range(len(TRAPS))],
)
def test_traps_give_jsonschemas_answer(
    draft: str, schema: dict[str, Any], instance: Any, decided: bool | str
) -> None:
    verdict, valid = judge(schema, instance, draft)

    if decided == "stricter":
        assert (verdict, valid) == (False, True)
    elif decided:
        assert verdict is valid
    else:
        assert verdict is None


def test_the_keyword_tables_are_jsonschemas() -> None:
    from jsonschema import validators

    for draft in schemacheck.KEYWORDS:
        cls = getattr(validators, draft.replace("draft", "Draft") + "Validator")

        assert set(cls.VALIDATORS) == schemacheck.KEYWORDS[draft]
        assert set(cls.FORMAT_CHECKER.checkers) <= schemacheck.FORMATS[draft]
        assert validation.schemacheck_covers(cls)


@pytest.mark.parametrize(
    "declared",
    [
        None,
        *DRAFT_URI.values(),
        "https://json-schema.org/draft-07/schema#",
        " http://json-schema.org/draft-04/schema ",
        "http://example.org/other",
        7,
    ],
)
def test_the_draft_is_the_one_validation_picks(declared: Any) -> None:
    schema = {} if declared is None else {"$schema": declared}
    try:
        cls = validation.validator_class(schema, "t")
    except Exception:  # (vpa-config refuses it)
        assert schemacheck.draft_of(schema) is None
        return

    assert (
        schemacheck.draft_of(schema) == cls.__name__.removesuffix("Validator").lower()
    )


def test_refs_between_registry_schemas_are_followed() -> None:
    other = b'{"$id": "https://example.org/port.json", "type": "integer", "minimum": 1}'
    main = json.dumps(
        {
            "properties": {
                "near": {"$ref": "port.schema.json"},
                "far": {"$ref": "https://example.org/port.json"},
            },
        }
    ).encode()
    registry = validation.SchemaRegistry(
        store_schemas={"port.schema.json": other, "main.schema.json": main}
    )
    pair = Pair(registry, "main.schema.json")

    assert pair.agree({"near": 2, "far": 3}) is True
    assert pair.agree({"near": 0}) is False
    assert pair.agree({"far": "x"}) is False


# --- the CLI: a valid set skips jsonschema, an invalid one reports as before -----


def _store(tmp_path: Path, run_cli: Any) -> Path:
    store = tmp_path / "store"
    run_cli("--store", str(store), "init", "--example")
    return store


def _set(tmp_path: Path, store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "vpa_config",
            "--store",
            str(store),
            "set",
            *args,
        ],
        env=cli_env(tmp_path),
        capture_output=True,
        text=True,
        cwd=ROOT,
    )


def _imported(stderr: str) -> set[str]:
    return {
        line.split("|")[-1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:")
    }


def test_a_valid_set_does_not_import_jsonschema(tmp_path: Path, run_cli: Any) -> None:
    store = _store(tmp_path, run_cli)

    done = _set(tmp_path, store, "assistant.yaml", "assistant.wake_word", "hey you")

    assert done.returncode == 0, done.stderr[-2000:]
    assert not {"jsonschema", "referencing"} & _imported(done.stderr)


def test_a_schema_not_checked_before_is_checked_with_jsonschema_once(
    tmp_path: Path, run_cli: Any
) -> None:
    store = _store(tmp_path, run_cli)
    for flag in (store / ".git" / "vpa-config-cache").glob("schema-*"):
        flag.unlink()
    (tmp_path / "home" / ".cache" / "vpa-config" / "checked-schemas").unlink()

    first = _set(tmp_path, store, "assistant.yaml", "assistant.wake_word", "hi vee")
    second = _set(tmp_path, store, "assistant.yaml", "assistant.wake_word", "hey you")

    assert first.returncode == 0, first.stderr[-2000:]
    assert "jsonschema" in _imported(first.stderr)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "jsonschema" not in _imported(second.stderr)


def test_an_invalid_set_reports_as_jsonschema_does(
    tmp_path: Path, run_cli: Any
) -> None:
    store = _store(tmp_path, run_cli)
    _set(tmp_path, store, "assistant.yaml", "assistant.wake_word", "hi vee")

    bad = run_cli(
        "--store", str(store), "set", "assistant.yaml", "assistant.wake_word", "h"
    )

    assert bad.returncode == 1, bad.stderr
    assert bad.stderr.splitlines() == [
        "vpa-config: assistant.yaml:5:3: assistant.wake_word: expected text of at "
        "least 2 characters; got 1. Nothing was written."
    ]


# --- formats decided inside a plain subset: the parsers jsonschema uses agree ----

SUBSET = settings(max_examples=120, deadline=None)


@SUBSET
@given(
    text=st.from_regex(schemacheck._pattern_of(schemacheck._PLAIN_URI), fullmatch=True)
)
def test_plain_uris_are_uris_to_every_parser(text: str) -> None:
    from rfc3986_validator import validate_rfc3986

    assert schemacheck._FORMAT_CHECKS["uri"](text)
    assert validate_rfc3986(text, rule="URI")
    assert _iri_parsers_accept(text, "IRI")


def _iri_parsers_accept(text: str, rule: str) -> bool:
    """Whether each IRI parser jsonschema may use here accepts ``text``.

    jsonschema prefers the GPL ``rfc3987`` when it is installed and otherwise
    uses ``rfc3987_syntax`` (the ``format-nongpl`` extra); check whichever are.
    """
    import importlib.util

    checked = 0
    if importlib.util.find_spec("rfc3987"):
        import rfc3987

        assert rfc3987.parse(text, rule=rule.replace("-", "_"))
        assert rfc3987.parse(text, rule=rule.replace("IRI", "URI").replace("-", "_"))
        checked += 1
    if importlib.util.find_spec("rfc3987_syntax"):
        from rfc3987_syntax import is_valid_syntax

        assert is_valid_syntax(rule.lower().replace("-", "_"), text)
        checked += 1
    return checked > 0


@SUBSET
@given(
    text=st.from_regex(
        schemacheck._pattern_of(schemacheck._PLAIN_RELATIVE), fullmatch=True
    )
)
def test_plain_relative_references_are_references_to_every_parser(text: str) -> None:
    from rfc3986_validator import validate_rfc3986

    assert schemacheck._FORMAT_CHECKS["uri-reference"](text)
    assert validate_rfc3986(text, rule="URI_reference")
    assert _iri_parsers_accept(text, "IRI_reference")


@SUBSET
@given(
    text=st.from_regex(schemacheck._pattern_of(schemacheck._PLAIN_HOST), fullmatch=True)
)
def test_plain_host_names_are_host_names_to_fqdn(text: str) -> None:
    from fqdn import FQDN

    assert schemacheck._FORMAT_CHECKS["hostname"](text)
    assert FQDN(text, min_labels=1).is_valid


@SUBSET
@given(text=st.text(alphabet="abz09-.:/?#%@[]!~_ ", max_size=30))
def test_format_checks_never_pass_what_jsonschema_fails(text: str) -> None:
    from jsonschema import Draft202012Validator

    checker = Draft202012Validator.FORMAT_CHECKER
    for name, check in schemacheck._FORMAT_CHECKS.items():
        try:
            verdict = check(text)
        except Exception:  # (Undecided, or a warning raised as error)
            continue
        if verdict:
            assert checker.conforms(text, name), (name, text)


def test_validate_of_valid_files_skips_jsonschema_the_second_time(
    tmp_path: Path,
) -> None:
    example = SHIPPED / "examples" / "plugins.yaml"
    argv = [
        sys.executable,
        "-X",
        "importtime",
        "-m",
        "vpa_config",
        "validate",
        "--schema",
        "vpa/plugins.schema.json",
        str(example),
    ]
    env = cli_env(tmp_path)

    runs = [
        subprocess.run(argv, env=env, capture_output=True, text=True, cwd=ROOT)
        for _ in range(2)
    ]

    assert [run.returncode for run in runs] == [0, 0], runs[0].stderr[-2000:]
    assert "jsonschema" in _imported(runs[0].stderr)
    assert "jsonschema" not in _imported(runs[1].stderr)


# --- composites against generated instances: decided answers equal jsonschema's --

COMPOSITES = [
    {
        "allOf": [{"properties": {"a": {"type": "integer"}}}, {"required": ["a"]}],
        "properties": {"b": {"type": "string"}},
        "unevaluatedProperties": False,
    },
    {
        "anyOf": [
            {"properties": {"a": {"const": 1}}, "required": ["a"]},
            {"properties": {"name": {"type": "string"}}},
        ],
        "unevaluatedProperties": {"type": "boolean"},
    },
    {
        "if": {"properties": {"type": {"const": "on"}}},
        "then": {"properties": {"id": {"type": "integer"}}},
        "else": {"properties": {"a": {}}},
        "unevaluatedProperties": False,
    },
    {
        "oneOf": [
            {"type": "array", "prefixItems": [{"type": "integer"}]},
            {"type": "array", "contains": {"type": "string"}},
        ],
        "unevaluatedItems": False,
    },
    {
        "$ref": "#/$defs/base",
        "properties": {"on": {"type": "boolean"}},
        "unevaluatedProperties": False,
        "$defs": {
            "base": {"properties": {"name": {}, "type": {"enum": ["a", 1, True]}}}
        },
    },
    {
        "dependentSchemas": {"name": {"properties": {"id": {"minimum": 0}}}},
        "dependentRequired": {"id": ["a"]},
        "unevaluatedProperties": False,
    },
    {
        "type": ["object", "array"],
        "propertyNames": {"maxLength": 2},
        "additionalProperties": {"type": ["integer", "null"]},
        "items": {"anyOf": [{"type": "integer", "multipleOf": 2}, {"type": "null"}]},
        "uniqueItems": True,
        "maxItems": 3,
        "minProperties": 1,
    },
    {
        "not": {"anyOf": [{"type": "string"}, {"required": ["on"]}]},
        "contains": {"const": 1.0},
        "maxContains": 1,
    },
]


@pytest.mark.parametrize(
    "schema", COMPOSITES, ids=[str(i) for i in range(len(COMPOSITES))]
)
@settings(SLOW, max_examples=150)
@given(value=JSON_VALUES)
def test_composite_schemas_decide_as_jsonschema_does(schema: dict, value: Any) -> None:
    verdict, valid = judge(schema, value, "draft202012")

    assert verdict in (valid, None)


SUBSETS = [
    ("uri", schemacheck._PLAIN_URI),
    ("iri", schemacheck._PLAIN_URI),
    ("uri-reference", schemacheck._PLAIN_RELATIVE),
    ("iri-reference", schemacheck._PLAIN_RELATIVE),
    ("hostname", schemacheck._PLAIN_HOST),
    ("idn-hostname", schemacheck._PLAIN_IDN),
    ("uri-template", schemacheck._PLAIN_TEMPLATE),
    ("duration", schemacheck._PLAIN_DURATION),
]


@pytest.mark.parametrize(("name", "pattern"), SUBSETS, ids=[n for n, _ in SUBSETS])
@SUBSET
@given(data=st.data())
def test_every_plain_subset_string_conforms_for_jsonschema(
    name: str, pattern: str, data: Any
) -> None:
    from jsonschema import Draft202012Validator

    text = data.draw(st.from_regex(schemacheck._pattern_of(pattern), fullmatch=True))

    try:
        decided = schemacheck._FORMAT_CHECKS[name](text)
    except schemacheck.Undecided:
        return
    assert decided
    assert Draft202012Validator.FORMAT_CHECKER.conforms(text, name), text


@SUBSET
@given(text=st.text(alphabet="0123456789/~#a-", max_size=12))
def test_json_pointers_are_judged_as_jsonschema_does(text: str) -> None:
    from jsonschema import Draft202012Validator

    checker = Draft202012Validator.FORMAT_CHECKER
    for name in ("json-pointer", "relative-json-pointer"):
        assert schemacheck._FORMAT_CHECKS[name](text) == checker.conforms(text, name)
