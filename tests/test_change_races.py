"""Changes that look at the store before they change it, racing another process.

undo (the last change), restore (a revision name, the hand edits in the way)
and commit (the hand edits) each decide what they act on. A CLI process is
held at the point just before it takes the store lock (``VPA_CONFIG_TEST_PAUSE``)
while this process commits a change; then it goes on. What it does must be
decided on the store as it finds it with the lock held, never on what it saw
before.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ACTOR, ROOT, cli_env

from vpa_config.history import parse_message
from vpa_config.store import ConfigStore


class HeldProcess:
    """A CLI process held before it takes the store lock, until released."""

    def __init__(self, tmp_path: Path, store: Path, *args: str) -> None:
        self.gate = tmp_path / "gate"
        (tmp_path / "home").mkdir(exist_ok=True)
        env = cli_env(tmp_path, VPA_CONFIG_TEST_PAUSE=f"before-lock={self.gate}")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vpa_config", "--store", str(store), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        deadline = time.monotonic() + 60
        while not self.gate.exists():
            assert self.process.poll() is None, self.process.communicate()
            assert time.monotonic() < deadline, "the process never reached the lock"
            time.sleep(0.01)

    def release(self) -> subprocess.CompletedProcess[str]:
        self.gate.unlink()
        out, err = self.process.communicate(timeout=60)
        return subprocess.CompletedProcess(self.process.args, self.process.returncode,
                                           out, err)


@pytest.fixture(name="opened")
def _opened(store_path: Path) -> Iterator[ConfigStore]:
    store, _result = ConfigStore.init(store_path, example=True, actor=ACTOR)
    yield store
    store.close()


def _subject(store: ConfigStore) -> str:
    head = store.repo.head()
    assert head is not None
    return parse_message(store.repo.commit(head).message).subject


def test_undo_undoes_the_change_committed_while_it_waited(
    opened: ConfigStore, tmp_path: Path
) -> None:
    opened.set("assistant.yaml", "llm.timeout_s", 21, actor=ACTOR, reason="base")
    undo = HeldProcess(tmp_path, opened.root, "undo", "-m", "u")

    raced = opened.set("assistant.yaml", "llm.max_tokens", 6001, actor=ACTOR)
    done = undo.release()

    assert done.returncode == 0, done.stderr
    assert opened.get("assistant.yaml", "llm.timeout_s") == 21
    assert opened.get("assistant.yaml", "llm.max_tokens") == 1024
    assert _subject(opened).startswith(f"undo {raced.revision[:12]} (")


def test_restore_head_discarding_edits_committed_meanwhile_changes_nothing(
    opened: ConfigStore, tmp_path: Path
) -> None:
    path = opened.root / "assistant.yaml"
    path.write_text(path.read_text().replace("max_tokens: 1024", "max_tokens: 4096"))
    restore = HeldProcess(
        tmp_path, opened.root, "restore", "HEAD", "--discard-edits", "-m", "rd"
    )

    kept = opened.adopt(actor=ACTOR, reason="hand edit")
    done = restore.release()

    assert done.returncode == 1, done.stderr
    assert "nothing to restore" in done.stderr
    assert opened.repo.head() == kept.revision
    assert opened.get("assistant.yaml", "llm.max_tokens") == 4096
    assert "max_tokens: 4096" in path.read_text()


def test_commit_of_edits_discarded_meanwhile_commits_nothing(
    opened: ConfigStore, tmp_path: Path
) -> None:
    path = opened.root / "assistant.yaml"
    committed = path.read_bytes()
    path.write_bytes(committed.replace(b"max_tokens: 1024", b"max_tokens: 4096"))
    head = opened.repo.head()
    commit = HeldProcess(tmp_path, opened.root, "commit", "-m", "hc")

    dropped = opened.restore("HEAD", hand_edits="discard", actor=ACTOR)
    done = commit.release()

    assert dropped.discarded == ["assistant.yaml"]
    assert done.returncode == 0, done.stderr
    assert "nothing committed" in done.stdout
    assert opened.repo.head() == head
    assert path.read_bytes() == committed


def test_restore_head_relative_counts_from_the_head_it_builds_on(
    opened: ConfigStore, tmp_path: Path
) -> None:
    opened.set("assistant.yaml", "llm.timeout_s", 21, actor=ACTOR)
    restore = HeldProcess(
        tmp_path, opened.root, "restore", "HEAD~1", "assistant.yaml", "-m", "r"
    )

    raced = opened.set("assistant.yaml", "llm.max_tokens", 6001, actor=ACTOR)
    done = restore.release()

    assert done.returncode == 0, done.stderr
    trailers = opened.repo.commit(opened.repo.head()).message
    assert f"Vpa-Restored-From: {raced.parent}" in trailers
    assert opened.get("assistant.yaml", "llm.timeout_s") == 21
    assert opened.get("assistant.yaml", "llm.max_tokens") == 1024
