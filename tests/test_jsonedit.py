"""Setting a JSON value in place: the rest of the text keeps its layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import ACTOR, git

from vpa_config import documents, jsonedit
from vpa_config.store import ConfigStore

TEXT = (
    "{\n"
    '  "name": "svc",\n'
    '  "ports": [80, 443],\n'
    '  "limits": {"cpu": 2, "memory": "1Gi"},\n'
    '  "hosts": [\n'
    '    "a",\n'
    '    "b"\n'
    "  ],\n"
    '  "ratio": 1.5,\n'
    '  "on": true\n'
    "}\n"
)


def _set(path: tuple, value: object, text: str = TEXT) -> str:
    return documents.set_value("svc.json", text, path, value)


@pytest.mark.parametrize(
    ("path", "value", "before", "after"),
    [
        (("ports", 1), 8443, '"ports": [80, 443],', '"ports": [80, 8443],'),
        (("limits", "cpu"), 4, '{"cpu": 2,', '{"cpu": 4,'),
        (("name",), 'a "quoted" é', '"name": "svc",', '"name": "a \\"quoted\\" é",'),
        (("ports",), [1, 2, 3], '"ports": [80, 443],', '"ports": [1, 2, 3],'),
        (("ratio",), 2, '"ratio": 1.5,', '"ratio": 2,'),
        (("on",), None, '"on": true', '"on": null'),
        (("limits",), {"cpu": 1}, '"limits": {"cpu": 2, "memory": "1Gi"},',
         '"limits": {"cpu": 1},'),
    ],
    ids=["list item", "nested key", "string", "inline list", "float to int", "null",
         "inline mapping"],
)
def test_only_the_value_changes(path, value, before, after):
    edited = _set(path, value)

    assert edited == TEXT.replace(before, after, 1)
    assert json.loads(edited) == _expected(path, value)


def _expected(path: tuple, value: object) -> object:
    data = json.loads(TEXT)
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return data


def test_a_list_on_several_lines_is_written_on_several_lines_at_its_depth():
    edited = _set(("hosts",), ["x", {"y": [1]}])

    assert edited == TEXT.replace(
        '  "hosts": [\n    "a",\n    "b"\n  ],\n',
        '  "hosts": [\n    "x",\n    {\n      "y": [\n        1\n      ]\n'
        '    }\n  ],\n',
    )
    assert '"ports": [80, 443],' in edited


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ('{"a": 1, "a": 2}', ("a",)),  # a repeated key: the reader refuses it anyway
        ('{"a": 1}', ("b",)),
        ('{"a": [1]}', ("a", 1)),
        ('{"a": [1]}', ("a", "x")),
        ('{"a": 1}', ("a", "b")),
        ('{"a": 1', ("a",)),
    ],
    ids=["repeated key", "new key", "past the end", "name in a list", "into a scalar",
         "cut short"],
)
def test_no_span_means_the_whole_writer(text, path):
    assert jsonedit.replace_value(text, path, 5, "  ") is None


def test_a_new_key_falls_back_to_writing_the_document():
    edited = _set(("added",), 1)

    assert json.loads(edited)["added"] == 1
    assert json.loads(edited)["ports"] == [80, 443]


def test_types_are_told_apart():
    assert not jsonedit.same_document({"a": 1}, {"a": True})
    assert not jsonedit.same_document({"a": 1}, {"a": 1.0})
    assert not jsonedit.same_document({"a": 1, "b": 2}, {"b": 2, "a": 1})
    assert jsonedit.same_document({"a": [1, "x", None]}, {"a": [1, "x", None]})


def test_a_set_through_the_store_commits_a_one_line_diff(tmp_path: Path):
    store, _ = ConfigStore.init(tmp_path / "s", actor=ACTOR)
    store.set(".vpa-config/settings.yaml", "allow_unschematized", True, actor=ACTOR)
    store.import_file("svc.json", TEXT.encode(), actor=ACTOR)

    store.set("svc.json", "limits.cpu", 3, actor=ACTOR)
    store.flush()

    diff = git(tmp_path / "s", "show", "--format=", "--unified=0", "HEAD")
    changed = [line for line in diff.splitlines() if line[:1] in "+-"
               and line[:3] not in ("+++", "---")]
    assert changed == [
        '-  "limits": {"cpu": 2, "memory": "1Gi"},',
        '+  "limits": {"cpu": 3, "memory": "1Gi"},',
    ]
    store.close()


@pytest.mark.parametrize(
    ("path", "value", "remove", "before", "after"),
    [
        (("limits", "gpu"), 1, False, '"memory": "1Gi"}', '"memory": "1Gi", "gpu": 1}'),
        (("ports", 2), 8080, False, "[80, 443]", "[80, 443, 8080]"),
        (("hosts", 2), "c", False, '    "b"\n  ],', '    "b",\n    "c"\n  ],'),
        (("added",), {"a": [1]}, False, '  "on": true\n}',
         '  "on": true,\n  "added": {"a": [1]}\n}'),
        (("new", "deep"), 1, False, '  "on": true\n}',
         '  "on": true,\n  "new": {"deep": 1}\n}'),
        (("limits", "cpu"), None, True, '{"cpu": 2, "memory"', '{"memory"'),
        (("limits", "memory"), None, True, '"cpu": 2, "memory": "1Gi"}', '"cpu": 2}'),
        (("on",), None, True, '  "ratio": 1.5,\n  "on": true\n}', '  "ratio": 1.5\n}'),
        (("name",), None, True, '  "name": "svc",\n', ""),
        (("hosts", 0), None, True, '    "a",\n', ""),
    ],
    ids=["key in inline object", "append inline", "append block", "new top key",
         "new nested keys", "remove first", "remove last inline", "remove last block",
         "remove first top", "remove first item"],
)
def test_entries_are_added_and_removed_in_place(path, value, remove, before, after):
    if remove:
        edited = documents.unset_value("svc.json", TEXT, path)
    else:
        edited = _set(path, value)

    assert edited == TEXT.replace(before, after, 1)


def test_the_only_entry_removed_leaves_an_empty_container():
    text = '{\n  "a": {\n    "b": 1\n  },\n  "c": 2\n}\n'

    assert documents.unset_value("x.json", text, ("a", "b")) == (
        '{\n  "a": {},\n  "c": 2\n}\n'
    )
