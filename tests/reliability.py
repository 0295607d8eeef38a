"""Shared pieces of the reliability tests: stores, child processes, figures.

The crash and concurrency tests run most of their volume in forked children
of the test process (vpa-config is already imported, so a child costs
milliseconds, not a Python start-up), and a smaller share through the real
CLI in subprocesses.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from vpa_config import fsutil
from vpa_config.layout import journal_left
from vpa_config.settings import SETTINGS_FILE
from vpa_config.store import ConfigStore

ACTOR = "Ada Lovelace <ada@example.org>"


def free_form_store(path: Path, files: dict[str, bytes] | None = None) -> None:
    """A store that takes any YAML, JSON or TOML file, seeded with ``files``."""
    store, _ = ConfigStore.init(path, actor=ACTOR)
    store.set(SETTINGS_FILE, "allow_unschematized", True, actor=ACTOR)
    if files:
        with store.transaction(subject="seed", actor=ACTOR, reason="seed") as tx:
            for name, content in files.items():
                tx.write(name, content)
    store.close()


def fork_child(work: Callable[[int], None]) -> tuple[int, int]:
    """Run ``work(write_fd)`` in a forked child; return (pid, read end of its pipe).

    The child reports through the pipe (one ``os.write`` a line, so a line is
    either there whole or not at all) and always leaves with ``os._exit``:
    exit 0 when ``work`` returned, 3 (with an ``ERR`` line) when it raised.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (runs in the child)
        os.close(read_fd)
        code = 0
        try:
            work(write_fd)
        except BaseException as exc:
            line = f"ERR {type(exc).__name__}: {exc}".replace("\n", " | ")
            os.write(write_fd, (line[:3000] + "\n").encode())
            code = 3
        os._exit(code)
    os.close(write_fd)
    return pid, read_fd


def read_all(fd: int) -> list[str]:
    """Every complete line a child wrote before its pipe closed."""
    chunks = []
    while True:
        data = os.read(fd, 65536)
        if not data:
            break
        chunks.append(data)
    os.close(fd)
    text = b"".join(chunks).decode(errors="replace")
    return [line for line in text.split("\n")[:-1] if line]


def wait_status(pid: int) -> tuple[str, int]:
    """('exit', code) or ('signal', number) once ``pid`` has ended."""
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return "signal", os.WTERMSIG(status)
    return "exit", os.WEXITSTATUS(status)


def kill(pid: int) -> None:
    """SIGKILL a child of this test, if it is still there."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def working_tree(root: Path) -> dict[str, bytes]:
    """Every working file of a store (temporary files excluded)."""
    return {name: (root / name).read_bytes() for name in fsutil.working_files(root)}


def committed_tree(store: ConfigStore) -> dict[str, bytes]:
    """Every file of HEAD's tree."""
    tree = store.repo.files(store.repo.head())
    return {name: store.repo.blob(entry[1]) for name, entry in tree.items()}


def leftovers(root: Path) -> list[str]:
    """Lock, journal and temporary files that a finished change never leaves."""
    git = root / ".git"
    found = [
        *git.glob("*.lock"),
        *git.glob("refs/**/*.lock"),
        *git.glob("objects/??/*.lock"),
        *git.glob("objects/??/.vpa-tmp-*"),
        *git.glob(".vpa-tmp-*"),
        # The journal's file stays between changes, marked done.
        *(p for p in git.glob("vpa-config.journal") if journal_left(git)),
        *fsutil.stray_temp_files(root),
    ]
    return sorted(
        str(p.relative_to(root)) for p in found if p.name != "vpa-config.lock"
    )


def report(capsys: Any, title: str, figures: dict[str, Any]) -> None:
    """Print a test's figures to the terminal, whatever pytest's capture mode."""
    manager: AbstractContextManager[None] = capsys.disabled()
    with manager:
        width = max(len(key) for key in figures)
        print(f"\n[{title}]")
        for key, value in figures.items():
            print(f"  {key:<{width}}  {value}")


def mount_tmpfs(where: Path, size: str) -> bool:
    """Mount a tmpfs of ``size`` at ``where``; False when this machine refuses."""
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    return done.returncode == 0


def unmount(where: Path) -> None:
    """Undo :func:`mount_tmpfs` (lazily, should a child still hold a file)."""
    subprocess.run(["umount", "-l", str(where)], capture_output=True)


@pytest.fixture(name="fast_dir")
def _fast_dir(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder on tmpfs where possible, and what it is on.

    The concurrency and crash tests are about ordering and atomicity, which a
    SIGKILL or a race tests the same on tmpfs (the page cache outlives the
    process); tmpfs only makes their thousands of fsyncs free, so the volume
    the tests need fits in CI's time. Durability across power loss is not
    what they test.
    """
    where = tmp_path / "tmpfs"
    if mount_tmpfs(where, "512m"):
        try:
            yield where, "tmpfs"
        finally:
            unmount(where)
    else:
        yield where, "disk (tmpfs mount not permitted)"
