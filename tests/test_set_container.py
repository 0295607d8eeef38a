"""Setting a mapping or a list over one: only the entries that differ change.

The text keeps the comments, blank lines and layout of every entry the new
value leaves as it was, in each format; the data is exactly the new value.
"""

from __future__ import annotations

import json

import pytest

from vpa_config import documents

YAML = """\
# the model
llm:
  provider: openai      # who serves it
  model: small
  api_key: sk-1         # secret: redacted
  temperature: 0.7      # 0 (focused) to 2 (creative)
  stop: [a, b]

speech:
  rate: 16000
"""


def test_a_mapping_over_a_mapping_changes_only_the_lines_that_differ() -> None:
    new = {"provider": "openai", "model": "small", "api_key": "sk-1",
           "temperature": 0.5, "stop": ["a", "b"]}

    text = documents.set_value("a.yaml", YAML, ("llm",), new)

    assert text == YAML.replace("temperature: 0.7", "temperature: 0.5")
    assert documents.parse("a.yaml", text)["llm"] == new


def test_keys_left_out_are_removed_and_new_keys_added() -> None:
    new = {"provider": "local", "model": "small", "temperature": 0.7,
           "stop": ["a", "b"], "seed": 7}

    text = documents.set_value("a.yaml", YAML, ("llm",), new)

    assert documents.parse("a.yaml", text)["llm"] == new
    assert "api_key" not in text
    provider = next(line for line in text.splitlines() if "provider" in line)
    assert provider.split() == ["provider:", "local", "#", "who", "serves", "it"]
    assert "# 0 (focused) to 2 (creative)" in text
    assert "\n\nspeech:\n" in text  # the blank line before the next section


def test_a_list_of_the_same_length_changes_item_by_item() -> None:
    text = documents.set_value(
        "a.yaml", YAML, ("llm",),
        {"provider": "openai", "model": "small", "api_key": "sk-1",
         "temperature": 0.7, "stop": ["a", "c"]},
    )

    assert documents.parse("a.yaml", text)["llm"]["stop"] == ["a", "c"]
    assert "# who serves it" in text and "# secret: redacted" in text


def test_a_list_of_another_length_is_replaced() -> None:
    text = documents.set_value("a.yaml", YAML, ("llm", "stop"), ["x"])

    assert documents.parse("a.yaml", text)["llm"]["stop"] == ["x"]


@pytest.mark.parametrize("old, new", [(1, True), (0, False), (1, 1.0), ("1", 1)])
def test_equal_values_of_another_type_are_written(old: object, new: object) -> None:
    text = documents.set_value("a.yaml", "m:\n  v: x\n", ("m",), {"v": old})

    edited = documents.set_value("a.yaml", text, ("m",), {"v": new})

    value = documents.parse("a.yaml", edited)["m"]["v"]
    assert value == new and type(value) is type(new)


def test_json_and_toml_keep_the_other_entries() -> None:
    source = json.dumps({"llm": {"a": 1, "b": {"c": 2, "d": [1, 2]}}}, indent=2)
    toml = '# top\n[llm]\na = 1  # one\n\n[llm.b]\nc = 2  # two\nd = [1, 2]\n'
    new = {"a": 1, "b": {"c": 3, "d": [1, 2]}}

    in_json = documents.set_value("a.json", source, ("llm",), new)
    in_toml = documents.set_value("a.toml", toml, ("llm",), new)

    assert json.loads(in_json)["llm"] == new
    assert documents.parse("a.toml", in_toml)["llm"] == new
    assert in_toml == toml.replace("c = 2", "c = 3")


@pytest.mark.parametrize("number", ["4.022670816594611e-159", "1.0000000000000002",
                                    "2.5e-5", "1E3", "-0.0", "123456789.12345679"])
def test_an_untouched_float_keeps_its_value_when_other_keys_change(number: str) -> None:
    text = f"a: {number}\nb: 1\n"

    added = documents.set_value("x.yaml", text, ("c",), 5)
    again = documents.set_value("x.yaml", added, ("m",), {"v": [float(number)]})
    same = documents.set_value("x.yaml", again, ("m",), {"v": [float(number)]})

    for edited in (added, again, same):
        assert documents.parse("x.yaml", edited)["a"] == float(number), edited
    assert documents.parse("x.yaml", same)["m"]["v"] == [float(number)]
