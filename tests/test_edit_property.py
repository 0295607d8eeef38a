"""Random edits of random YAML, JSON and TOML texts read back as the data expected.

Each case builds a document of mappings, lists and scalars (YAML words a 1.1
reader takes for booleans among them) and writes it as text: JSON indented,
TOML as tomlkit writes it, or YAML with blank lines, comment lines,
end-of-line comments and flow lists scattered through it. Five random sets
and unsets follow, each of a key path the document has (or one past a list's
end); after each, the edited text must parse, and to exactly the data the
same change makes of the parsed document (key order aside). The edits keep
layout by hand (moving comments, rewriting spans, tables tomlkit leaves
implicit), which is where a text that no longer reads, or reads as something
else, would come from.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from typing import Any

import pytest

from vpa_config import documents
from vpa_config.errors import VpaConfigError

SCALARS = [1, 2.5, True, None, "x", "no", "a b", "on", 0, "", "y"]
TOML_SCALARS = [scalar for scalar in SCALARS if scalar is not None]
CASES = 800


def _value(
    chooser: random.Random, depth: int = 0, scalars: list[Any] = SCALARS
) -> Any:
    if depth > 2 or chooser.random() < 0.3:
        return chooser.choice(scalars)
    if chooser.random() < 0.5:
        size = chooser.randint(1, 4)
        return {f"k{i}": _value(chooser, depth + 1, scalars) for i in range(size)}
    return [_value(chooser, depth + 1, scalars) for _ in range(chooser.randint(1, 4))]


def _yaml_lines(chooser: random.Random, data: Any, indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            if chooser.random() < 0.2:
                lines.append("")
            if chooser.random() < 0.2:
                lines.append(f"{pad}# about {key}")
            lines += _yaml_entry(chooser, f"{pad}{key}:", value, indent)
        return lines
    for item in data:
        if isinstance(item, dict) and item:
            body = _yaml_lines(chooser, item, indent + 2)
            first = next(i for i, line in enumerate(body) if _is_key_line(line))
            body = body[first:]
            body[0] = f"{pad}- {body[0].lstrip()}"
            lines += body
        else:
            lines.append(f"{pad}- {json.dumps(item)}")
    return lines


def _is_key_line(line: str) -> bool:
    return bool(line.strip()) and not line.strip().startswith("#")


def _yaml_entry(
    chooser: random.Random, head: str, value: Any, indent: int
) -> list[str]:
    nested = isinstance(value, (dict, list)) and bool(value)
    flat_list = isinstance(value, list) and not any(
        isinstance(item, (dict, list)) for item in value
    )
    if nested and not (flat_list and chooser.random() < 0.4):
        return [head, *_yaml_lines(chooser, value, indent + 2)]
    comment = "   # c" if chooser.random() < 0.2 else ""
    return [f"{head} {json.dumps(value)}{comment}"]


def _paths(data: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield (*path, key)
            yield from _paths(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield (*path, index)
            yield from _paths(value, (*path, index))
        yield (*path, len(data))  # an append


def _applied(data: Any, path: tuple[Any, ...], value: Any, remove: bool) -> Any:
    changed = copy.deepcopy(data)
    node = changed
    for part in path[:-1]:
        node = node[part]
    if remove:
        del node[path[-1]]
    elif isinstance(node, list) and path[-1] == len(node):
        node.append(value)
    else:
        node[path[-1]] = value
    return changed


def _document(seed: int) -> tuple[str, str]:
    chooser = random.Random(seed)
    if seed % 4 == 3:  # TOML, as tomlkit writes it (tables, arrays of tables)
        import tomlkit

        size = chooser.randint(1, 4)
        data = {f"t{i}": _value(chooser, 0, TOML_SCALARS) for i in range(size)}
        return "f.toml", tomlkit.dumps(data)
    data = {f"t{i}": _value(chooser) for i in range(chooser.randint(1, 4))}
    if chooser.random() < 0.5:
        return "f.json", json.dumps(data, indent=2) + "\n"
    text = "\n".join(_yaml_lines(chooser, data, 0)) + "\n"
    return "f.yaml", text + ("# end\n" if chooser.random() < 0.3 else "")


@pytest.mark.parametrize("block", range(8))
def test_random_edits_read_back_as_the_data_expected(block: int) -> None:
    edits = 0
    for seed in range(block * CASES // 8, (block + 1) * CASES // 8):
        name, text = _document(seed)
        chooser = random.Random(-seed)
        data = documents.parse(name, text)
        for step in range(5):
            choices = list(_paths(data))
            if not choices:
                break  # every key removed
            path = chooser.choice(choices)
            remove = chooser.random() < 0.4 and not _past_the_end(data, path)
            value = _value(chooser, 1)
            try:
                if remove:
                    edited = documents.unset_value(name, text, path)
                else:
                    edited = documents.set_value(name, text, path, value)
            except VpaConfigError:
                continue  # refused (a null in TOML, say): nothing to compare
            what = "unset" if remove else repr(value)
            where = f"seed {seed}, edit {step}: {path} ({what})"
            try:
                got = documents.parse(name, edited)
            except VpaConfigError as exc:
                pytest.fail(f"{where}: no longer reads: {exc}\n{text}\n---\n{edited}")
            expected = _applied(data, path, value, remove)
            # Key order aside: a mapping set over a mapping keeps its keys' places.
            assert _same(got, expected), f"{where}\n{edited}"
            text, data = edited, got
            edits += 1
    assert edits > 4 * CASES // 8  # most of the 5 a document were made, not refused


def _same(a: Any, b: Any) -> bool:
    """Equal, type for type (1, 1.0 and true differ), in any key order."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _past_the_end(data: Any, path: tuple[Any, ...]) -> bool:
    node = data
    for part in path[:-1]:
        node = node[part]
    return isinstance(node, list) and path[-1] == len(node)


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("a",), {"x": 2}, "a.x = 2\n\n[t]\nk = 1\n"),
        (("a", "y"), None, "a.x = 1\na.z = 3\n\n[t]\nk = 1\n"),
    ],
    ids=["replaced by a smaller table", "one key removed"],
)
def test_a_toml_table_written_in_dotted_keys_is_edited(path, value, expected):
    text = "a.x = 1\na.y = 2\na.z = 3\n\n[t]\nk = 1\n"

    if value is None:
        edited = documents.unset_value("d.toml", text, path)
    else:
        edited = documents.set_value("d.toml", text, path, value)

    assert edited == expected
