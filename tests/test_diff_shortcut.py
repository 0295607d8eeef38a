"""Key-level diffs skip unchanged sections, yet see a value that changed only its type."""

from __future__ import annotations

import datetime

import pytest

from vpa_config.history import diff_documents


@pytest.mark.parametrize(("old", "new"), [(1, True), (1, 1.0), (0, False), ("1", 1)])
def test_a_value_equal_in_python_but_of_another_type_is_a_change(
    old: object, new: object
) -> None:
    before = {"a": {"b": [{"c": old}], "same": {"x": 1}}, "z": 2}
    after = {"a": {"b": [{"c": new}], "same": {"x": 1}}, "z": 2}

    changes = diff_documents(before, after)

    assert [(c.path, c.kind, c.old, c.new) for c in changes] == [
        (("a", "b", 0, "c"), "changed", old, new)
    ]


def test_unchanged_sections_give_nothing_and_changed_ones_everything() -> None:
    day = datetime.date(2026, 1, 2)
    before = {"keep": {"n": [1, 2, {"d": day}]}, "edit": {"p": 1, "q": [1, 2]}}
    after = {"keep": {"n": [1, 2, {"d": day}]}, "edit": {"p": 2, "q": [1], "r": 0}}

    changes = diff_documents(before, after)

    assert [(c.path, c.kind) for c in changes] == [
        (("edit", "p"), "changed"), (("edit", "q", 1), "removed"), (("edit", "r"), "added")
    ]
    assert diff_documents(before, before) == []
