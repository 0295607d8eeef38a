"""Hostile input, generated: every call succeeds correctly or refuses cleanly.

Hypothesis generates file names (traversal, absolute paths, reserved names,
symlinks out of the store, control characters, Unicode), key paths, values
(huge, deeply nested, odd numbers and strings) and whole documents. A library
call either succeeds and reads back what was set, or raises a
:class:`VpaConfigError` subclass and leaves the store (files, modes, refs)
and everything outside it exactly as before. A sample goes through the CLI:
one line on stderr and a documented exit code, never a traceback.
"""

from __future__ import annotations

import json
import math
import os
import stat
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, cli_env, git
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from reliability import ACTOR, free_form_store, report

from vpa_config import fsutil
from vpa_config.errors import VpaConfigError
from vpa_config.store import ConfigStore

SETTINGS = settings(
    deadline=None,
    # Shrinking re-runs slow store calls hundreds of times; the failing
    # example as generated is small enough to read.
    phases=[Phase.explicit, Phase.generate],
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
HOSTILE_NAMES = [
    "../escape.yaml",
    "sub/../../escape.yaml",
    "/tmp/absolute.yaml",
    "C:\\win.yaml",
    "..\\escape.yaml",
    ".git/config",
    ".git/HEAD",
    ".GIT/x.yaml",
    "sub/.git/x.yaml",
    "out.yaml",
    "outdir/x.yaml",
    "a.yaml\x00.json",
    "new\nline.yaml",
    "tab\t.json",
    ".vpa-tmp-x.yaml",
    "./a.yaml",
    "sub//b.json",
    "",
    ".",
    "/",
    "noext",
    "ünï/çødé.yaml",
    "emoji-\U0001f600.json",
    "x" * 300 + ".yaml",
    "a.yaml/inside.yaml",
    "sub",
    "a" + "/a" * 200 + ".json",
    "bidi-\u202e.toml",
]
HOSTILE_KEYS = [
    "",
    ".",
    "a..b",
    "../x",
    "/",
    "//",
    "/a/~2",
    "a\\",
    "a\\x",
    "\x00",
    "a.\n.b",
    "a." * 100 + "z",
    "0",
    "0.0",
    "-1",
    "list.99",
    "list.x",
    "scalar.inner",
    "/../../etc/passwd",
    "ключ.值",
    "\ud800",
    "x" * 5000,
]
EXTENSIONS = st.sampled_from([".yaml", ".yml", ".json", ".toml", ".YAML", ".txt", ""])
NAME_CHARS = st.characters(blacklist_categories=("Cs",), max_codepoint=0x1F700)

file_names = st.one_of(
    st.sampled_from(["a.yaml", "b.json", "c.toml", "sub/d.yaml", *HOSTILE_NAMES]),
    st.builds(
        lambda stem, ext: stem + ext,
        st.text(NAME_CHARS, min_size=1, max_size=20),
        EXTENSIONS,
    ),
)
key_parts = st.one_of(
    st.sampled_from(["a", "b", "list", "0", "1", "k.dot", "scalar", "ü"]),
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12),
)


def _dotted(parts: list[str]) -> str:
    return ".".join(p.replace("\\", "\\\\").replace(".", "\\.") for p in parts)


def _pointer(parts: list[str]) -> str:
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


key_paths = st.one_of(
    st.sampled_from(HOSTILE_KEYS),
    st.lists(key_parts, min_size=1, max_size=4).map(_dotted),
    st.lists(key_parts, min_size=1, max_size=4).map(_pointer),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(
        [
            "yes",
            "no",
            "on",
            "null",
            "~",
            "0x1F",
            "1e3",
            "2026-01-01",
            "\u2028",
            "\x85",
            "\ufeff",
            "\x1b[31m",
            "a: b",
            "- x",
            "'\"",
            "\r\n",
            "\ud800",
            "# not a comment",
        ]
    ),
)
values = st.one_of(
    st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=16,
    ),
    st.integers(min_value=1, max_value=90).map(lambda depth: _nested(depth)),
    st.sampled_from([100_000, 5 * 1024 * 1024]).map(lambda size: "x" * size),
)


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for level in range(depth):
        value = [value] if level % 2 else {"n": value}
    return value


documents = st.one_of(
    values.map(lambda v: json.dumps(v, allow_nan=True).encode(errors="surrogatepass")),
    st.sampled_from(
        [
            b"a: &x [1]\nb: &y [*x, *x, *x, *x, *x, *x, *x, *x, *x]\n"
            b"c: &z [*y, *y, *y, *y, *y, *y, *y, *y, *y]\n"
            b"d: [*z, *z, *z, *z, *z, *z]\n",
            b"a: 1\na: 2\n",
            b'{"a": 1, "a": 2}',
            b"a = 1\na = 2\n",
            b"\xff\xfe bad utf-8",
            b"\xef\xbb\xbfa: bom\n",
            b"a: !!python/object/apply:os.system ['true']\n",
            b"[" * 5000 + b"]" * 5000,
            b"- " * 2000 + b"x",
            b"a:\x00b",
            b"{",
            b"",
            b'key: "unterminated\n',
            b"%YAML 9.9\n---\na: 1\n",
            b"? [a, b]\n: c\n",
        ]
    ),
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda t: t.encode(errors="surrogatepass")),
)


class Hostile:
    """One store with a symlink out of it, and the outside it must not touch."""

    def __init__(self, tmp_path: Path) -> None:
        self.outside = tmp_path / "outside"
        self.outside.mkdir()
        (self.outside / "target.yaml").write_bytes(b"secret: outside\n")
        (self.outside / "x.yaml").write_bytes(b"outside: dir\n")
        self.root = tmp_path / "store"
        free_form_store(
            self.root,
            {
                "a.yaml": b"a: 1\nlist: [1, 2]\nscalar: 3\n",
                "b.json": b'{"a": {"b": 1}, "list": [0]}\n',
                "c.toml": b'a = 1\nlist = [1, 2]\n[t]\nx = "y"\n',
                "sub/d.yaml": b"d: true\n",
            },
        )
        (self.root / "out.yaml").symlink_to(self.outside / "target.yaml")
        (self.root / "outdir").symlink_to(self.outside, target_is_directory=True)
        self.store = ConfigStore.open(self.root)
        self.outcomes: Counter[str] = Counter()

    def state(self) -> dict[str, Any]:
        """Everything a refused call must leave as it was."""
        self.store.flush()  # the last change's journal is marked done
        found: dict[str, Any] = {}
        for base in (self.root, self.outside):
            for path in sorted(base.rglob("*")):
                if not _store_state(path.relative_to(base).as_posix()):
                    continue
                if path.name == "vpa-config-audit.jsonl":
                    continue  # a refusal is recorded in the audit trail by design
                st_ = os.lstat(path)
                content = path.read_bytes() if stat.S_ISREG(st_.st_mode) else None
                if path.is_symlink():
                    content = os.readlink(path).encode()
                found[str(path)] = (stat.S_IMODE(st_.st_mode), content)
        return found

    def attempt(self, label: str, call: Any) -> Any:
        """Run ``call``; a refusal must be typed and change nothing."""
        before = self.state()
        try:
            result = call()
        except VpaConfigError as exc:
            assert str(exc).strip(), "an error without a message"
            assert self.state() == before, f"{label} refused but changed the store"
            self.outcomes[f"{label}: refused ({type(exc).__name__})"] += 1
            return None
        self.outcomes[f"{label}: succeeded"] += 1
        return result

    def committed_equals_working(self, name: str) -> None:
        clean = fsutil.clean_name(name)
        on_disk = (self.root / clean).read_bytes()
        assert self.store.read_bytes(clean) == on_disk
        assert not (self.root / clean).is_symlink()


GIT_STATE = (".git/HEAD", ".git/index", ".git/packed-refs", ".git/vpa-config.journal")


def _store_state(rel: str) -> bool:
    """Whether a path is part of what a change may alter (caches and objects not)."""
    if not rel.startswith(".git/") and rel != ".git":
        return True
    return rel in GIT_STATE or rel.startswith(".git/refs/")


@pytest.fixture(name="hostile", scope="module")
def _hostile(tmp_path_factory: pytest.TempPathFactory) -> Any:
    hostile = Hostile(tmp_path_factory.mktemp("hostile"))
    yield hostile
    hostile.store.close()


def _same(expected: Any, got: Any) -> bool:
    if isinstance(expected, float) and math.isnan(expected):
        return isinstance(got, float) and math.isnan(got)
    if isinstance(expected, dict):
        return (
            isinstance(got, dict)
            and expected.keys() == got.keys()
            and all(_same(value, got[key]) for key, value in expected.items())
        )
    if isinstance(expected, list):
        return (
            isinstance(got, list)
            and len(expected) == len(got)
            and all(_same(a, b) for a, b in zip(expected, got, strict=True))
        )
    return type(expected) is type(got) and expected == got


@settings(
    SETTINGS, max_examples=int(os.environ.get("VPA_CONFIG_HOSTILE_EXAMPLES", "150"))
)
@given(name=file_names, key=key_paths, value=values)
def test_set_succeeds_exactly_or_refuses_cleanly(
    hostile: Hostile, name: str, key: str, value: Any
) -> None:
    done = hostile.attempt(
        "set", lambda: hostile.store.set(name, key, value, actor=ACTOR)
    )

    if done is not None and done.committed:
        assert _same(value, hostile.store.get(name, key)), (name, key, value)
        hostile.committed_equals_working(name)


@settings(
    SETTINGS,
    max_examples=int(os.environ.get("VPA_CONFIG_HOSTILE_EXAMPLES", "150")) // 2,
)
@given(name=file_names, content=documents)
def test_import_succeeds_exactly_or_refuses_cleanly(
    hostile: Hostile, name: str, content: bytes
) -> None:
    done = hostile.attempt(
        "import", lambda: hostile.store.import_file(name, content, actor=ACTOR)
    )

    if done is not None:
        clean = done.files[0].path if done.files else None
        if clean is not None:
            assert hostile.store.read_bytes(clean) == content
            if clean.lower().endswith((".yaml", ".yml", ".json", ".toml")):
                hostile.store.get(clean)  # an accepted document parses
            hostile.committed_equals_working(clean)


@settings(SETTINGS, max_examples=40)
@given(name=file_names, key=key_paths)
def test_unset_and_rm_succeed_or_refuse_cleanly(
    hostile: Hostile, name: str, key: str
) -> None:
    hostile.attempt("unset", lambda: hostile.store.unset(name, key, actor=ACTOR))
    hostile.attempt("get", lambda: hostile.store.get(name, key))
    if name not in ("a.yaml", "b.json", "c.toml"):
        hostile.attempt("rm", lambda: hostile.store.remove(name, actor=ACTOR))


def test_hostile_store_is_still_sound(hostile: Hostile, capsys: Any) -> None:
    """Runs after the properties above (file order): the store they leave."""
    outside = {p.name: p.read_bytes() for p in hostile.outside.iterdir()}
    expected = {"target.yaml": b"secret: outside\n", "x.yaml": b"outside: dir\n"}
    changed = sorted(set(outside.items()) ^ set(expected.items()))
    report(
        capsys,
        "hostile input (hypothesis)",
        {
            "calls": sum(hostile.outcomes.values()),
            **dict(sorted(hostile.outcomes.items())),
            "files outside the store changed": len(changed),
        },
    )
    assert changed == []
    git(hostile.root, "fsck", "--strict")


CLI_CASES = [
    ["set", "../escape.yaml", "a", "1"],
    ["set", "/tmp/absolute.yaml", "a", "1"],
    ["set", "out.yaml", "secret", "pwned"],
    ["set", "outdir/x.yaml", "outside", "pwned"],
    ["set", ".git/config", "core.bare", "true"],
    ["set", "a.yaml", "scalar.inner", "1"],
    ["set", "a.yaml", "list.9", "1"],
    ["set", "a.yaml", "a..b", "1"],
    ["set", "a.yaml", "a", "[" * 200 + "]" * 200],
    ["set", "a.yaml", "a", "{unclosed"],
    ["set", "c.toml", "a", "null"],
    ["set", "new\nline.yaml", "a", "1"],
    ["get", "a.yaml", "nope.nothing"],
    ["get", "../../etc/passwd"],
    ["import", "-", "--as", "../x.yaml"],
    ["import", "-", "--as", "bomb.yaml"],
    ["rm", "out.yaml"],
    ["unset", "a.yaml", "/list/7"],
]
CLI_STDIN = (
    "a: &x [1,1,1,1,1,1,1,1,1,1]\nb: &y [*x,*x,*x,*x,*x,*x,*x,*x,*x,*x]\n"
    + "".join(
        f"c{n}: &c{n} [{', '.join(['*y'] * 10 if n == 0 else [f'*c{n - 1}'] * 10)}]\n"
        for n in range(5)
    )
)


def test_cli_answers_hostile_input_in_one_line(tmp_path: Path, capsys: Any) -> None:
    hostile = Hostile(tmp_path)
    hostile.store.close()
    codes: Counter[int] = Counter()
    tracebacks = 0

    for args in CLI_CASES:
        before = hostile.state()
        done = subprocess.run(
            [sys.executable, "-m", "vpa_config", "--store", str(hostile.root), *args],
            input=CLI_STDIN,
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=cli_env(tmp_path),
            timeout=60,
        )
        codes[done.returncode] += 1
        tracebacks += "Traceback" in done.stderr
        assert done.returncode in (1, 2, 4, 5, 6), (args, done.returncode, done.stderr)
        assert "Traceback" not in done.stderr, (args, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 or lines[0].endswith("Nothing was written."), (
            args,
            lines,
        )
        assert lines[0].startswith("vpa-config: "), (args, lines)
        assert hostile.state() == before, args

    report(
        capsys,
        "hostile input through the CLI",
        {
            "commands": len(CLI_CASES),
            **{f"exit {code}": n for code, n in sorted(codes.items())},
            "tracebacks": tracebacks,
        },
    )
