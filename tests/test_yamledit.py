"""Setting a YAML scalar in place: only the value changes, else the round trip."""

from __future__ import annotations

import pytest

from vpa_config import documents, yamledit

TEXT = (
    "# service 7\n"
    "service:\n"
    "  name: svc-07\n"
    "  replicas: 49   # scaled by ops\n"
    "  quoted: 'keep'\n"
    "  level: info\n"
    "list:\n"
    "  - one\n"
    "  - 2\n"
)


@pytest.mark.parametrize(
    ("path", "value", "line"),
    [
        (("service", "replicas"), 5, "  replicas: 5    # scaled by ops"),
        (("service", "replicas"), 12345, "  replicas: 12345 # scaled by ops"),
        (("service", "replicas"), 1.5, "  replicas: 1.5  # scaled by ops"),
        (("service", "replicas"), True, "  replicas: true # scaled by ops"),
        (("service", "level"), "debug", "  level: debug"),
        (("list", 1), 3, "  - 3"),
    ],
)
def test_a_plain_scalar_is_replaced_in_place(
    path: tuple, value: object, line: str
) -> None:
    edited = yamledit.replace_scalar("s.yaml", TEXT, path, value)

    assert edited is not None
    pairs = zip(TEXT.splitlines(), edited.splitlines(), strict=True)
    changed = [new for old, new in pairs if old != new]
    assert changed == [line]
    data = documents.parse("s.yaml", edited)
    node = data
    for part in path[:-1]:
        node = node[part]
    assert node[path[-1]] == value and type(node[path[-1]]) is type(value)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("service", "quoted"), "other"),  # quoted: its style is the round trip's
        (("service", "missing"), 1),  # a new key
        (("service", "level"), "yes"),  # a YAML 1.1 boolean look-alike
        (("service", "level"), "0755"),  # would read as a number
        (("service", "level"), "a: b"),  # needs quoting
        (("service", "replicas"), None),  # written as an empty value
        (("service", "replicas"), {"a": 1}),  # not a scalar
        (("service",), 1),  # replaces a mapping
    ],
)
def test_anything_else_is_left_to_the_round_trip(path: tuple, value: object) -> None:
    assert yamledit.replace_scalar("s.yaml", TEXT, path, value) is None


def test_set_value_keeps_crlf_and_reads_back_through_either_path() -> None:
    crlf = TEXT.replace("\n", "\r\n")

    fast = documents.set_value("s.yaml", crlf, ("service", "replicas"), 7)
    slow = documents.set_value("s.yaml", crlf, ("service", "quoted"), "new")

    assert fast.count("\r\n") == TEXT.count("\n") and "\n" not in fast.replace(
        "\r\n", ""
    )
    assert documents.parse("s.yaml", fast)["service"]["replicas"] == 7
    assert documents.parse("s.yaml", slow)["service"]["quoted"] == "new"


def test_an_anchored_value_is_not_edited_in_place() -> None:
    text = "a: &x 5\nb: *x\n"

    assert yamledit.replace_scalar("s.yaml", text, ("a",), 6) is None
    assert (
        documents.parse("s.yaml", documents.set_value("s.yaml", text, ("a",), 6))["a"]
        == 6
    )


def test_the_next_edit_of_the_same_key_finds_its_place_without_composing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = ("service", "replicas")
    first = yamledit.replace_scalar("s.yaml", TEXT, path, 5)
    assert first is not None

    def compose(text: str) -> None:
        raise AssertionError("composed again")

    monkeypatch.setattr(yamledit, "_compose", compose)
    second = yamledit.replace_scalar("s.yaml", first, path, 123456)
    third = yamledit.replace_scalar("s.yaml", second or "", path, 7)

    assert second == TEXT.replace("replicas: 49   #", "replicas: 123456 #")
    assert third == TEXT.replace("replicas: 49   #", "replicas: 7      #")
    assert documents.parse("s.yaml", third)["service"]["replicas"] == 7


def test_a_remembered_place_is_checked_like_a_composed_one() -> None:
    path = ("service", "replicas")
    first = yamledit.replace_scalar("s.yaml", TEXT, path, 5)
    assert first is not None
    # The same text under another name, or another key, has no remembered place.
    assert yamledit.replace_scalar("other.yaml", first, path, 6) is not None
    level = yamledit.replace_scalar("s.yaml", first, ("service", "level"), "debug")
    assert level is not None and "  replicas: 5    #" in level
    # A text that differs by a line before the key has its place found anew.
    shifted = yamledit.replace_scalar("s.yaml", "# more\n" + first, path, 8)
    assert shifted == "# more\n" + first.replace("replicas: 5 ", "replicas: 8 ")
