"""What the library's ``set`` accepts: JSON's values, and key paths as text or parts."""

from __future__ import annotations

import collections
import enum

import pytest
from conftest import snapshot

from vpa_config import ConfigStore
from vpa_config.errors import InvalidConfigError, KeyPathSyntaxError

ACTOR = "Tester <tester@example.org>"


class Level(enum.IntEnum):
    LOW = 1


class Colour(enum.StrEnum):
    RED = "red"


@pytest.fixture(name="loose")
def _loose(store: ConfigStore) -> ConfigStore:
    """The example store with files without a schema allowed."""
    store.set(".vpa-config/settings.yaml", "allow_unschematized", True, actor=ACTOR)
    return store


def _refused(
    store: ConfigStore, file: str, key: object, value: object
) -> InvalidConfigError:
    before = snapshot(store.root)
    head = store.repo.head()

    with pytest.raises(InvalidConfigError) as caught:
        store.set(file, key, value, actor=ACTOR)  # type: ignore[arg-type]

    assert snapshot(store.root) == before
    assert store.repo.head() == head
    return caught.value


@pytest.mark.parametrize(
    ("key", "value", "where", "message"),
    [
        ("llm.temperature", float("nan"), ("llm", "temperature"), "nan is not a"),
        ("llm.temperature", float("-inf"), ("llm", "temperature"), "-inf is not a"),
        (
            "llm",
            {"provider": "openai", "model": "m", "temperature": float("nan")},
            ("llm", "temperature"),
            "nan is not a finite number; JSON Schema has no NaN or infinity",
        ),
        ("llm", {1: 2}, ("llm",), "mapping key 1 (of type int) is not a string"),
        ("llm.temperature", object(), ("llm", "temperature"), "type object cannot be"),
    ],
    ids=["nan", "inf", "nested-nan", "int-key", "object"],
)
def test_set_refuses_what_no_format_holds_in_a_schematized_file(
    store: ConfigStore, key: str, value: object, where: tuple[str, ...], message: str
) -> None:
    error = _refused(store, "assistant.yaml", key, value)

    [problem] = error.problems
    assert (problem.file, problem.path) == ("assistant.yaml", where)
    assert problem.rule == "value"
    assert message in problem.message
    assert "unexpected keys" not in str(error)


@pytest.mark.parametrize(
    ("value", "where", "message"),
    [
        (object(), ("a",), "a value of type object cannot be stored; expected a"),
        ({1: 2}, ("a",), "mapping key 1 (of type int) is not a string"),
        ({1, 2}, ("a",), "type set cannot be stored"),
        (b"ab", ("a",), "bytes are not text"),
        ({"b": [1, {"c": float("inf")}]}, ("a", "b", "1", "c"), "inf is not a finite"),
        ({"b": {True: 1}}, ("a", "b"), "mapping key True (of type bool)"),
    ],
    ids=["object", "int-key", "set", "bytes", "deep-inf", "bool-key"],
)
@pytest.mark.parametrize("file", ["loose.yaml", "loose.json", "loose.toml"])
def test_set_refuses_what_no_format_holds_in_an_unschematized_file(
    loose: ConfigStore, file: str, value: object, where: tuple[str, ...], message: str
) -> None:
    error = _refused(loose, file, "a", value)

    [problem] = error.problems
    assert tuple(str(part) for part in problem.path) == where
    assert message in problem.message
    assert str(error).startswith(f"{file}: {'.'.join(where)}: ")


def test_set_refuses_a_value_that_contains_itself(loose: ConfigStore) -> None:
    looped: list[object] = []
    looped.append(looped)

    error = _refused(loose, "loose.yaml", "a", {"b": looped})

    assert "the value contains itself" in str(error)


def test_subclasses_of_plain_types_are_written_as_the_plain_type(
    loose: ConfigStore,
) -> None:
    value = collections.OrderedDict(level=Level.LOW, colour=Colour.RED, items=("x", 1))

    loose.set("loose.yaml", "a", value, actor=ACTOR)

    assert (loose.root / "loose.yaml").read_text() == (
        "a:\n  level: 1\n  colour: red\n  items:\n  - x\n  - 1\n"
    )
    assert loose.get("loose.yaml", "a") == {
        "level": 1, "colour": "red", "items": ["x", 1],
    }


@pytest.mark.parametrize(
    "key",
    [["llm", "temperature"], ("llm", "temperature")],
    ids=["list", "tuple"],
)
def test_a_key_path_given_as_parts_is_set(store: ConfigStore, key: object) -> None:
    result = store.set("assistant.yaml", key, 0.5, actor=ACTOR)  # type: ignore[arg-type]

    assert store.get("assistant.yaml", "llm.temperature") == 0.5
    assert result.subject == "set assistant.yaml llm.temperature"


def test_parts_are_taken_as_they_are_and_an_int_is_a_position(
    loose: ConfigStore,
) -> None:
    loose.set("loose.json", ["labels", "app.kubernetes.io/name"], "vpa", actor=ACTOR)
    loose.set("loose.json", ["items"], ["a", "b"], actor=ACTOR)
    loose.set("loose.json", ["items", 1], "c", actor=ACTOR)
    loose.unset("loose.json", ("items", 0), actor=ACTOR)

    assert loose.get("loose.json") == {
        "labels": {"app.kubernetes.io/name": "vpa"}, "items": ["c"],
    }


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (["llm", True], "part True is not a key"),
        (["llm", ""], "part '' is not a key"),
        (["llm", -1], "part -1 is not a key"),
        ([], "empty key path"),
        (5, "a key path of type int"),
    ],
    ids=["bool", "empty-part", "negative", "empty", "int"],
)
def test_a_bad_key_path_given_as_parts_is_refused_clearly(
    store: ConfigStore, key: object, message: str
) -> None:
    before = snapshot(store.root)

    with pytest.raises(KeyPathSyntaxError, match=message):
        store.set("assistant.yaml", key, 0.5, actor=ACTOR)  # type: ignore[arg-type]

    assert snapshot(store.root) == before


def test_a_transaction_refuses_nan_before_anything_is_written(
    store: ConfigStore,
) -> None:
    before = snapshot(store.root)

    with (
        pytest.raises(InvalidConfigError, match=r"llm\.temperature: nan is not"),
        store.transaction(subject="two keys", actor=ACTOR) as tx,
    ):
        tx.set("assistant.yaml", "llm.model", "m")
        tx.set("assistant.yaml", ["llm", "temperature"], float("nan"))

    assert snapshot(store.root) == before
