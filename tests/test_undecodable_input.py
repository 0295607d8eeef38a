"""Text that is not UTF-8: refused by name, never a crash, never written.

Bytes that are not UTF-8 reach Python, from the command line or from a
caller, as lone surrogates (``"\\udcff"``), which no commit, YAML file or
terminal can hold. The CLI refuses such an argument by its position (usage,
exit 2); the library refuses an actor, reason or revision so made (or not
text at all) as UsageError, and a value, mapping key or key path so made as
a refusal of that value or key.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ACTOR, RunCli, git

from vpa_config.errors import InvalidConfigError, KeyPathSyntaxError, UsageError
from vpa_config.store import ConfigStore

BAD = "\udcff\udcfe"  # the bytes ff fe as Python passes them on


@pytest.mark.parametrize(
    "args, position",
    [
        (("set", "assistant.yaml", "assistant.name", BAD), 6),
        (("set", "assistant.yaml", "assistant.name", BAD, "--string"), 6),
        (("set", "assistant.yaml", "assistant.name", "x", "-m", BAD), 8),
        (("set", "assistant.yaml", "assistant.name", "x", "--actor", BAD), 8),
        (("restore", BAD), 4),
        (("diff", BAD), 4),
        (("audit", "assistant.yaml", BAD), 5),
        (("log", "--key", f"assistant.yaml:{BAD}"), 5),
        (("set", f"x{BAD}.yaml", "a", "1"), 4),
    ],
)
def test_an_undecodable_argument_is_a_usage_error(
    run_cli: RunCli, cli_store: Path, args: tuple[str, ...], position: int
) -> None:
    head = git(cli_store, "rev-parse", "HEAD").strip()

    done = run_cli(*args, store=cli_store)

    assert done.returncode == 2, done.stderr
    shown = args[position - 3].encode("utf-8", "surrogateescape")  # after --store DIR
    assert done.stderr.splitlines() == [
        f"vpa-config: argument {position} ({shown!r}) is not valid UTF-8; "
        "expected UTF-8 text"
    ]
    assert "Traceback" not in done.stderr
    assert git(cli_store, "rev-parse", "HEAD").strip() == head
    assert git(cli_store, "status", "--porcelain") == ""


def test_with_json_the_error_is_the_json_document(
    run_cli: RunCli, cli_store: Path
) -> None:
    done = run_cli("restore", BAD, "--json", store=cli_store)

    assert done.returncode == 2
    error = json.loads(done.stdout)
    assert (error["ok"], error["error"], error["exit_code"]) == (False, "UsageError", 2)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda s: s.set("assistant.yaml", "llm.temperature", 0.5, actor=BAD),
         "actor '\\udcff\\udcfe' is not valid UTF-8 text"),
        (lambda s: s.set("assistant.yaml", "llm.temperature", 0.5, actor=5),
         "actor must be text; got int 5"),
        (lambda s: s.set("assistant.yaml", "llm.temperature", 0.5, actor=ACTOR,
                         reason=BAD),
         "reason '\\udcff\\udcfe' is not valid UTF-8 text"),
        (lambda s: s.set("assistant.yaml", "llm.temperature", 0.5, actor=ACTOR,
                         reason=None),
         "reason must be text; got NoneType None"),
        (lambda s: s.restore(BAD, actor=ACTOR), "revision '\\udcff\\udcfe'"),
        (lambda s: s.restore(None, actor=ACTOR), "revision must be text"),
        (lambda s: s.restore(5, actor=ACTOR), "revision must be text; got int 5"),
    ],
)
def test_the_library_refuses_undecodable_or_non_text_arguments(
    store: ConfigStore, call, message: str
) -> None:
    head = store.repo.head()

    with pytest.raises(UsageError, match=message.replace("\\", "\\\\")):
        call(store)

    assert store.repo.head() == head


@pytest.mark.parametrize(
    "key, value, where",
    [
        ("assistant.name", BAD, "assistant.name: the value is not valid"),
        ("assistant.name", ["ok", "\ud800"], "assistant.name.1: the value"),
        ("extra", {BAD: 1}, "extra: mapping key"),
    ],
)
def test_an_undecodable_value_or_mapping_key_is_refused_at_its_path(
    store: ConfigStore, key: str, value: object, where: str
) -> None:
    before = (store.root / "assistant.yaml").read_bytes()

    with pytest.raises(InvalidConfigError, match=where):
        store.set("assistant.yaml", key, value, actor=ACTOR)

    assert (store.root / "assistant.yaml").read_bytes() == before


@pytest.mark.parametrize("key", [f"ex{BAD}tra", ["assistant", f"na{BAD}me"]])
def test_an_undecodable_key_path_is_a_key_path_error(
    store: ConfigStore, key: object
) -> None:
    with pytest.raises(KeyPathSyntaxError, match="is not valid UTF-8 text"):
        store.set("assistant.yaml", key, 1, actor=ACTOR)


def test_text_beyond_ascii_still_passes(store: ConfigStore) -> None:
    done = store.set("assistant.yaml", "assistant.name", "Zoë", actor="Zoë <z@x.org>",
                     reason="naïve")
    assert done.committed
    assert store.get("assistant.yaml", "assistant.name") == "Zoë"
