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


# Texts whose every one-line plain scalar is set in place to each of VALUES:
# block and flow collections, comments and tabs after values, markers.
EDITED_TEXTS = [
    TEXT,
    "---\na: 1\nb:\n  - x\n  - - 2\n    - three words\n  - {k: v, n: 4}\n...\n",
    "top: [1, two, 3.5]  # flow\nmap: {a: 1, 'b': x, \"c\": true}\n",
    "a:\n  b:\n    c: deep\t# a tab before the comment\n  d: -7\n",
    "list:\n- 1\n- a b c\n-   spaced\nnext: [\n  1,\n  2\n]\n",
    "k: 1 # c\nj: v#not-a-comment\nl: x  \n",
    "x: 1\ny: null\nz: ~\nw: false\nv: 0x1F\nu: 1e3\n",
]
VALUES = [0, -12, 123456789, 1.5, 1e-05, True, False, "word", "two words", "a.b@c+d"]


def _scalar_paths(data: object, path: tuple = ()) -> list[tuple]:
    if isinstance(data, dict):
        return [p for k, v in data.items() for p in _scalar_paths(v, (*path, k))]
    if isinstance(data, list):
        return [p for i, v in enumerate(data) for p in _scalar_paths(v, (*path, i))]
    return [path]


def _expected(data: object, path: tuple, value: object) -> object:
    if not path:
        return value
    copy = dict(data) if isinstance(data, dict) else list(data)  # type: ignore
    copy[path[0]] = _expected(copy[path[0]], path[1:], value)
    return copy


def _same(a: object, b: object) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)  # type: ignore
    if isinstance(a, list):
        return len(a) == len(b) and all(map(_same, a, b))  # type: ignore
    return a == b


@pytest.mark.parametrize("text", EDITED_TEXTS)
def test_an_edit_in_place_reads_back_as_the_document_it_shares(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def parsed_again(*args: object) -> bool:
        raise AssertionError("the edited text was parsed to check it")

    # Only the document worked out from the old one is checked here.
    monkeypatch.setattr(yamledit, "_same_but", parsed_again)
    before = documents.parse("t.yaml", text)
    edited_any = 0
    for path in _scalar_paths(before):
        for value in VALUES:
            edited = yamledit.replace_scalar("t.yaml", text, path, value)
            if edited is None:
                continue
            edited_any += 1
            fresh = documents.parse("t.yaml", edited)  # a parse of its own
            assert _same(fresh, _expected(before, path, value)), (path, value)
            # The document validation reuses is the same as that parse.
            assert _same(documents.parse_shared("t.yaml", edited), fresh)
    assert edited_any >= len(VALUES)


def test_a_value_an_alias_also_reaches_is_not_edited_in_place() -> None:
    text = "base: &b {port: 1}\nother: *b\n"

    assert yamledit.replace_scalar("s.yaml", text, ("other", "port"), 2) is None
    assert yamledit.replace_scalar("s.yaml", text, ("base", "port"), 2) is None
    # Without the alias, the same edit is made in place.
    plain = "base: {port: 1}\nother: {port: 1}\n"
    edited = yamledit.replace_scalar("s.yaml", plain, ("other", "port"), 2)
    assert edited == "base: {port: 1}\nother: {port: 2}\n"


def test_a_value_that_reads_differently_alone_is_not_edited_in_place() -> None:
    assert yamledit.replace_scalar("s.yaml", TEXT, ("service", "level"), 1e400) is None
    assert yamledit.replace_scalar("s.yaml", TEXT, ("list", 1), 10**5000) is None


def test_new_keys_and_items_a_yaml11_reader_takes_for_booleans_are_quoted():
    import yaml  # PyYAML reads YAML 1.1, as many applications do

    text = "a: 1\n"
    text = documents.set_value("k.yaml", text, ("yes",), "yes")
    text = documents.set_value("k.yaml", text, ("new", "no"), 1)
    text = documents.set_value(
        "k.yaml", text, ("m",), {"on": "off", "l": ["n", "x"], "Y": {"Off": 2}}
    )

    assert yaml.safe_load(text) == {
        "a": 1, "yes": "yes", "new": {"no": 1},
        "m": {"on": "off", "l": ["n", "x"], "Y": {"Off": 2}},
    }
    assert "'yes': 'yes'\n" in text
    assert "  'no': 1\n" in text


def test_text_a_yaml11_reader_takes_for_a_base_60_number_is_quoted():
    import yaml

    text = documents.set_value("k.yaml", "a: 1\n", ("at",), "12:30")
    text = documents.set_value("k.yaml", text, ("span",), "1:20:30.5")

    assert yaml.safe_load(text) == {"a": 1, "at": "12:30", "span": "1:20:30.5"}


@pytest.mark.parametrize("name", ["k.yaml", "k.json", "k.toml"])
def test_a_byte_order_mark_stays_through_set_and_unset(tmp_path, name):
    from conftest import ACTOR

    from vpa_config.store import ConfigStore

    store, _ = ConfigStore.init(tmp_path / "s", actor=ACTOR)
    store.set(".vpa-config/settings.yaml", "allow_unschematized", True, actor=ACTOR)
    body = {"k.yaml": b"a: 1\r\nb: 2\r\n", "k.json": b'{"a": 1, "b": 2}\n',
            "k.toml": b"a = 1\nb = 2\n"}[name]
    store.import_file(name, b"\xef\xbb\xbf" + body, actor=ACTOR)

    store.set(name, "a", 5, actor=ACTOR)
    store.unset(name, "b", actor=ACTOR)

    written = (tmp_path / "s" / name).read_bytes()
    assert written.startswith(b"\xef\xbb\xbf") and written.count(b"\xef\xbb\xbf") == 1
    assert documents.parse(name, written) == {"a": 5}
    assert (b"\r\n" in written) == (b"\r\n" in body)
    store.close()
