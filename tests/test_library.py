"""The library: the README's example runs as written, and ConfigStore's contract."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ACTOR, ROOT, cli_env, git, snapshot
from vpa_config.errors import InvalidConfigError, NotFoundError, StoreLockedError
from vpa_config.store import ConfigStore


def _readme_example() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Library\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "the Library section has one python example"
    return blocks[0]


def test_readme_library_example_runs_as_written(store: ConfigStore, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(_readme_example())
    store.close()

    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env=cli_env(tmp_path, VPA_CONFIG_STORE=str(store.root)),
    )

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "temperature 0.7"
    assert lines[1].startswith("committed ")
    assert lines[2].startswith("refused: assistant.yaml:15:3: llm.temperature: expected at")
    assert lines[3].startswith("one revision for three keys: ")
    assert lines[4].startswith("restore assistant.yaml from ")
    authors = git(store.root, "log", "--format=%an|%s").splitlines()
    assert authors[:3] == [
        "Ops|restore assistant.yaml from " + authors[0].split(" from ")[1],
        "Ops|switch to the local model",
        "Tuner|set assistant.yaml llm.temperature",
    ]
    assert git(store.root, "status", "--porcelain") == ""


def test_transaction_with_several_writes_is_one_revision(store: ConfigStore) -> None:
    head = store.repo.head()

    with store.transaction(subject="two files", actor=ACTOR, reason="both") as tx:
        tx.set("assistant.yaml", "assistant.voice", "tenor")
        tx.set("plugins.yaml", "plugins.0.enabled", False)

    assert tx.result is not None
    assert tx.result.parent == head
    assert sorted(change.path for change in tx.result.files) == [
        "assistant.yaml", "plugins.yaml",
    ]
    assert store.get("assistant.yaml", "assistant.voice") == "tenor"
    assert store.log(limit=1)[0].files == ("assistant.yaml", "plugins.yaml")


def test_refused_transaction_writes_nothing(store: ConfigStore) -> None:
    before = snapshot(store.root)

    with pytest.raises(InvalidConfigError) as refused:
        with store.transaction(subject="half bad", actor=ACTOR) as tx:
            tx.set("assistant.yaml", "assistant.voice", "tenor")
            tx.set("assistant.yaml", "llm.temperature", 9)

    assert [p.dotted for p in refused.value.problems] == ["llm.temperature"]
    assert snapshot(store.root) == before


def test_exception_inside_a_transaction_abandons_it(store: ConfigStore) -> None:
    before = snapshot(store.root)

    with pytest.raises(RuntimeError):
        with store.transaction(subject="abandoned", actor=ACTOR) as tx:
            tx.set("assistant.yaml", "assistant.voice", "tenor")
            raise RuntimeError("changed my mind")

    assert snapshot(store.root) == before
    with store.transaction(subject="next", actor=ACTOR) as tx:
        tx.set("assistant.yaml", "assistant.voice", "tenor")
    assert tx.result is not None and tx.result.committed


def test_library_changes_are_marked_api(store: ConfigStore) -> None:
    store.set("assistant.yaml", "llm.max_tokens", 100, actor=ACTOR, reason="short")

    entry = store.log(limit=1)[0]

    assert (entry.kind, entry.source, entry.reason) == ("set", "api", "short")
    assert entry.author == ACTOR


def test_library_dry_run_and_undo(store: ConfigStore) -> None:
    before = snapshot(store.root)
    preview = store.set("assistant.yaml", "llm.max_tokens", 100, actor=ACTOR,
                        dry_run=True)
    assert snapshot(store.root) == before
    store.set("assistant.yaml", "llm.max_tokens", 100, actor=ACTOR)

    undone = store.undo(actor=ACTOR)

    assert preview.dry_run and not preview.committed and preview.valid
    assert undone.committed
    assert store.get("assistant.yaml", "llm.max_tokens") == 1024


def test_library_status_adopt_and_not_found(store: ConfigStore) -> None:
    path = store.root / "assistant.yaml"
    path.write_text(path.read_text().replace("max_tokens: 1024", "max_tokens: 64"))

    status = store.status()
    adopted = store.adopt(actor=ACTOR, reason="hand tuned")

    assert [(e.path, e.state, e.valid) for e in status.hand_edits] == [
        ("assistant.yaml", "modified", True)
    ]
    assert adopted.committed and store.status().clean
    with pytest.raises(NotFoundError):
        store.get("assistant.yaml", "llm.nokey")


def test_second_writer_gets_the_lock_holder(store: ConfigStore) -> None:
    other = ConfigStore.open(store.root)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(store.root)],
        stdout=subprocess.PIPE, text=True, env=cli_env(store.root.parent),
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(StoreLockedError, match=f"pid {holder.pid} on "):
            other.lock.acquire(0.2)
    finally:
        holder.kill()
        holder.communicate()
        other.close()


HOLD_LOCK = """\
import sys, time
from vpa_config.store import ConfigStore
store = ConfigStore.open(sys.argv[1])
store.lock.acquire(5)
print("held", flush=True)
time.sleep(120)
"""


@pytest.mark.parametrize(
    "name",
    ["open", "init", "transaction", "set", "unset", "import_file", "remove", "adopt",
     "get", "status", "log", "restore", "undo", "close", "read_bytes"],
)
def test_public_methods_are_typed_and_documented(name: str) -> None:
    method = getattr(ConfigStore, name)
    signature = inspect.signature(method)

    assert inspect.getdoc(method), name
    assert signature.return_annotation is not inspect.Signature.empty, name
    for param in signature.parameters.values():
        if param.name not in ("self", "cls") and param.kind not in (
            param.VAR_KEYWORD, param.VAR_POSITIONAL
        ):
            assert param.annotation is not inspect.Parameter.empty, (name, param.name)


UNCLOSED = """\
import sys
from vpa_config.store import ConfigStore

store = ConfigStore.open(sys.argv[1])
# A short hash is resolved by dulwich, which opens the pack and its index.
shown = store.show(store.repo.head()[:8])
print(shown.who.revision)
"""


def test_a_store_left_open_is_closed_quietly_at_exit(
    store: ConfigStore, tmp_path: Path
) -> None:
    head = store.repo.head()
    assert store.repo.pack() > 0
    store.close()
    script = tmp_path / "unclosed.py"
    script.write_text(UNCLOSED)

    done = subprocess.run(
        [sys.executable, str(script), str(store.root)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env=cli_env(tmp_path),
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == head
    assert done.stderr == ""


def test_closing_a_store_twice_and_after_the_exit_hook_is_harmless(
    store: ConfigStore,
) -> None:
    from vpa_config.store import _release

    store.get("assistant.yaml", "llm.temperature")
    store.close()
    store.close()
    _release(lambda: None, store.repo)
