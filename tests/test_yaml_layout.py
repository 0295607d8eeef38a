"""YAML edits keep what is around them: comments after a removed entry, a
list's flow style, and merge keys (``<<``) read as applications read them."""

from __future__ import annotations

import re

import pytest
import yaml

from vpa_config import documents
from vpa_config.errors import KeyPathError, ParseError

SECTIONS = (
    "a:\n"
    "  x: 1\n"
    "  y: 2\n"
    "\n"
    "# about b\n"
    "b:\n"
    "  l:\n"
    "    - a\n"
    "    - c   # third\n"
    "\n"
    "# about m\n"
    "m:\n"
    "  n:\n"
    "    deep: 1\n"
    "    deeper: 2\n"
    "\n"
    "# about o\n"
    "o: 1\n"
    "on: 2\n"
    "# trailing comment\n"
)


@pytest.mark.parametrize(
    ("path", "removed"),
    [
        (("a", "y"), "  y: 2\n"),
        (("b", "l", 1), "    - c   # third\n"),
        (("m", "n", "deeper"), "    deeper: 2\n"),
        (("on",), "on: 2\n"),
    ],
    ids=["last key", "last item with its comment", "deep last key", "last top key"],
)
def test_removing_a_last_entry_keeps_the_lines_after_it(path, removed):
    edited = documents.unset_value("c.yaml", SECTIONS, path)

    assert edited == SECTIONS.replace(removed, "", 1)


TOPS = (
    "top1: 1\n"
    "\n"
    "# about top2\n"
    "top2:\n"
    "  p: 1   # p\n"
    "  q: 2\n"
    "l:\n"
    "  - 1\n"
    "  # about second\n"
    "  - 2\n"
    "  - 3\n"
    "\n"
    "  # about fourth\n"
    "  - 4\n"
)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (("top1",), TOPS.replace("top1: 1\n\n", "", 1)),
        (("l", 0), TOPS.replace("  - 1\n", "", 1)),
        (("l", 2), TOPS.replace("  - 3\n", "", 1)),
        (("top2", "q"), TOPS.replace("  q: 2\n", "", 1)),
    ],
    ids=["first top key", "first item", "middle item", "last key, inline comment"],
)
def test_removing_any_entry_keeps_the_lines_that_lead_to_the_next(path, expected):
    assert documents.unset_value("t.yaml", TOPS, path) == expected


def test_a_mapping_set_that_drops_its_last_key_keeps_the_lines_after_it():
    edited = documents.set_value("c.yaml", SECTIONS, ("a",), {"x": 5})

    assert edited == SECTIONS.replace("  x: 1\n  y: 2\n", "  x: 5\n", 1)


FLOW = "ports: [80, 443]   # open\nnames:\n  - a   # first\n  - b\n\n# next\nz: 1\n"


@pytest.mark.parametrize(
    ("path", "value", "before", "after"),
    [
        (("ports",), [80, 443, 8443], "[80, 443]", "[80, 443, 8443]"),
        (("ports",), [22], "[80, 443]", "[22]"),
        (("names",), ["a", "b", "c"], "  - b\n", "  - b\n  - c\n"),
        (("names",), ["x"], "  - a   # first\n  - b\n", "  - x   # first\n"),
    ],
    ids=["flow longer", "flow shorter", "block longer", "block shorter"],
)
def test_a_list_set_to_another_length_keeps_its_style_and_comments(
    path, value, before, after
):
    edited = documents.set_value("f.yaml", FLOW, path, value)

    # A comment keeps its column where it can (ruamel), so spaces before it vary.
    assert _padded(edited) == _padded(FLOW.replace(before, after, 1))


def _padded(text: str) -> str:
    return re.sub(r" +#", " #", text)


MERGED = (
    "base: &base\n"
    "  timeout: 30\n"
    "  retries: 3\n"
    "service:\n"
    "  <<: *base\n"
    "  name: web\n"
    "  labels:\n"
    "    tier: front\n"
    "\n"
    "# next section\n"
    "other: 1\n"
)


def test_merge_keys_are_read_as_pyyaml_reads_them():
    data = documents.parse("m.yaml", MERGED)

    assert data == yaml.safe_load(MERGED)
    assert data["service"] == {
        "timeout": 30, "retries": 3, "name": "web", "labels": {"tier": "front"}
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("b: &b {x: 1}\na:\n  <<: *b\n  x: 2\n  x: 3\n", "duplicate key 'x'"),
        ("a:\n  <<: 5\n", "expected a mapping or list of mappings for merging"),
    ],
    ids=["own duplicate", "merge of a scalar"],
)
def test_merge_keys_still_refuse_duplicates_and_bad_merges(text, message):
    with pytest.raises(ParseError) as caught:
        documents.parse("m.yaml", text)

    assert message in str(caught.value)


def test_setting_a_merged_key_overrides_it_at_the_end_of_the_mapping():
    edited = documents.set_value("m.yaml", MERGED, ("service", "timeout"), 60)

    assert edited == MERGED.replace(
        "    tier: front\n", "    tier: front\n  timeout: 60\n"
    )
    assert yaml.safe_load(edited)["service"]["timeout"] == 60
    assert yaml.safe_load(edited)["base"]["timeout"] == 30


def test_a_key_only_a_merge_brings_cannot_be_unset_here():
    with pytest.raises(KeyPathError) as caught:
        documents.unset_value("m.yaml", MERGED, ("service", "retries"))

    assert "comes from a merge key (<<)" in str(caught.value)


def test_a_mapping_set_over_one_that_merges_replaces_it_merge_and_all():
    edited = documents.set_value(
        "m.yaml", MERGED, ("service",), {"name": "web2", "timeout": 1}
    )

    assert yaml.safe_load(edited)["service"] == {"name": "web2", "timeout": 1}
    assert documents.parse("m.yaml", edited)["base"]["retries"] == 3
