"""Many writers and readers on one store at once: nothing lost, nothing torn.

Writers are forked library processes (most of the volume), threads sharing
one ConfigStore inside another process, and real CLI processes. Each change
carries a unique reason, so history can be matched against what every writer
was told. Readers read HEAD through the library and the working files
straight from disk the whole time, and parse every file they see.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, cli_env, git
from reliability import (  # noqa: F401 (fast_dir is a fixture)
    ACTOR,
    _fast_dir,
    committed_tree,
    fork_child,
    free_form_store,
    kill,
    leftovers,
    read_all,
    report,
    working_tree,
)

from vpa_config import documents
from vpa_config.errors import NotFoundError, VpaConfigError
from vpa_config.gitrepo import GitRepo, HistoryConflictError
from vpa_config.history import parse_message
from vpa_config.store import ConfigStore

LIB_WRITERS = 8
LIB_CHANGES = 100
THREADS = 4
THREAD_CHANGES = 25
CLI_WRITERS = 2
CLI_CHANGES = 12
READERS = 2
FILES = ("shared.yaml", "shared.json", "shared.toml")
KEYS_PER_WRITER = 6
DEADLINE_S = 300


def _target(writer: str, number: int) -> tuple[str, str]:
    """The file and key of a writer's change: distinct keys, shared files."""
    return FILES[number % len(FILES)], f"{writer}.k{number % KEYS_PER_WRITER}"


def _set(store: ConfigStore, writer: str, number: int, fd: int) -> None:
    file, key = _target(writer, number)
    reason = f"{writer}-{number}"
    try:
        result = store.set(file, key, number, actor=ACTOR, reason=reason)
    except VpaConfigError as exc:
        line = f"FAIL {reason} {type(exc).__name__}: {exc}".replace("\n", " ")
        os.write(fd, (line + "\n").encode())
        return
    os.write(fd, f"ACK {result.revision} {reason}\n".encode())


def _library_writer(root: Path, writer: str) -> Any:
    def work(fd: int) -> None:  # pragma: no cover (runs in the child)
        store = ConfigStore.open(root)
        for number in range(LIB_CHANGES):
            _set(store, writer, number, fd)
        store.close()

    return work


def _thread_writers(root: Path) -> Any:
    def work(fd: int) -> None:  # pragma: no cover (runs in the child)
        store = ConfigStore.open(root)

        def one_thread(writer: str) -> None:
            for number in range(THREAD_CHANGES):
                _set(store, writer, number, fd)

        threads = [
            threading.Thread(target=one_thread, args=(f"thread{n}",), name=f"t{n}")
            for n in range(THREADS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        store.close()

    return work


def _cli_writer(root: Path, writer: str, home: Path) -> Any:
    def work(fd: int) -> None:  # pragma: no cover (runs in the child)
        env = cli_env(home, VPA_CONFIG_LOCK_TIMEOUT="60")
        for number in range(CLI_CHANGES):
            file, key = _target(writer, number)
            reason = f"{writer}-{number}"
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "vpa_config",
                    "--store",
                    str(root),
                    "set",
                    file,
                    key,
                    str(number),
                    "-m",
                    reason,
                    "--json",
                ],
                capture_output=True,
                text=True,
                env=env,
                cwd=home,
                timeout=120,
            )
            if done.returncode == 0:
                import json

                revision = json.loads(done.stdout)["revision"]
                os.write(fd, f"ACK {revision} {reason}\n".encode())
            else:
                line = f"FAIL {reason} exit {done.returncode}: {done.stderr.strip()}"
                os.write(fd, (line.replace("\n", " | ") + "\n").encode())

    return work


def _reader(root: Path, stop: Path) -> Any:
    def work(fd: int) -> None:  # pragma: no cover (runs in the child)
        store = ConfigStore.open(root)
        reads = bad = 0
        while not stop.exists():
            for name in FILES:
                try:
                    store.get(name)
                    content = (root / name).read_bytes()
                    documents.parse(name, content)
                except (FileNotFoundError, NotFoundError):
                    continue  # not created yet
                except Exception as exc:
                    bad += 1
                    os.write(fd, f"BAD {name} {type(exc).__name__}: {exc}\n".encode())
                reads += 1
        os.write(fd, f"READS {reads} {bad}\n".encode())
        store.close()

    return work


def _wait_all(
    children: dict[int, tuple[str, int]], deadline: float
) -> dict[str, list[str]]:
    """Every child's lines; a child still running at the deadline fails the test."""
    lines: dict[str, list[str]] = {}
    for pid, (name, fd) in children.items():
        remaining = deadline - time.monotonic()
        while remaining > 0:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.05)
            remaining = deadline - time.monotonic()
        else:
            kill(pid)
            os.waitpid(pid, 0)
            pytest.fail(f"{name} (pid {pid}) was still running after {DEADLINE_S}s")
        lines[name] = read_all(fd)
    return lines


@pytest.mark.slow
def test_parallel_writers_lose_nothing(
    tmp_path: Path, fast_dir: tuple[Path, str], capsys: Any
) -> None:
    root = fast_dir[0] / "store"
    free_form_store(root)
    stop = tmp_path / "stop"
    os.environ["VPA_CONFIG_LOCK_TIMEOUT"] = "60"  # inherited by forked children
    try:
        readers = {}
        for n in range(READERS):
            pid, fd = fork_child(_reader(root, stop))
            readers[pid] = (f"reader{n}", fd)
        started = time.perf_counter()
        writers = {}
        for n in range(LIB_WRITERS):
            pid, fd = fork_child(_library_writer(root, f"lib{n}"))
            writers[pid] = (f"lib{n}", fd)
        pid, fd = fork_child(_thread_writers(root))
        writers[pid] = ("threads", fd)
        for n in range(CLI_WRITERS):
            pid, fd = fork_child(_cli_writer(root, f"cli{n}", tmp_path))
            writers[pid] = (f"cli{n}", fd)
        written = _wait_all(writers, time.monotonic() + DEADLINE_S)
        elapsed = time.perf_counter() - started
        stop.touch()
        read = _wait_all(readers, time.monotonic() + 30)
    finally:
        os.environ.pop("VPA_CONFIG_LOCK_TIMEOUT", None)

    acked: dict[str, str] = {}
    failed: list[str] = []
    for lines in written.values():
        for line in lines:
            tag, first, rest = line.split(" ", 2)
            if tag == "ACK":
                acked[rest] = first
            else:
                failed.append(line)
    history = _history(root)
    lost = [r for r in acked if history["reasons"].get(r) != [acked[r]]]
    refused_yet_committed = [
        line for line in failed if line.split(" ")[1] in history["reasons"]
    ]
    reads = sum(int(lines[-1].split()[1]) for lines in read.values())
    torn = [line for lines in read.values() for line in lines if line.startswith("BAD")]
    missing_values = _check_last_values(root, acked)

    attempted = LIB_WRITERS * LIB_CHANGES + THREADS * THREAD_CHANGES
    attempted += CLI_WRITERS * CLI_CHANGES
    report(
        capsys,
        "concurrency: parallel writers on one store",
        {
            "store on": fast_dir[1],
            "writer processes (library)": f"{LIB_WRITERS} x {LIB_CHANGES} changes",
            "writer threads (one ConfigStore)": f"{THREADS} x {THREAD_CHANGES}",
            "writer processes (CLI, a process a change)": f"{CLI_WRITERS} x {CLI_CHANGES}",
            "changes attempted": attempted,
            "changes acknowledged": len(acked),
            "changes failed (reported to the writer)": len(failed),
            "lost (acknowledged, not in history exactly once)": len(lost),
            "failed yet committed": len(refused_yet_committed),
            "keys whose final value is not the last one set": len(missing_values),
            "revisions in history": history["count"],
            "history linear": history["linear"],
            "reader processes": READERS,
            "reads (HEAD and raw files)": reads,
            "reads torn or unparsable": len(torn),
            "seconds (writers)": round(elapsed, 1),
            "throughput (changes/s)": round(len(acked) / elapsed, 1),
        },
    )

    assert failed == []
    assert lost == []
    assert refused_yet_committed == []
    assert history["linear"]
    assert history["count"] == len(acked) + history["before"]
    assert missing_values == []
    assert torn == []
    assert reads > 0
    assert leftovers(root) == []
    store = ConfigStore.open(root)
    assert working_tree(root) == committed_tree(store)
    store.close()
    git(root, "fsck", "--strict")
    assert git(root, "status", "--porcelain") == ""


def _history(root: Path) -> dict[str, Any]:
    repo = GitRepo.open(root)
    reasons: dict[str, list[str]] = defaultdict(list)
    linear = True
    count = before = 0
    for info in repo.walk():
        count += 1
        linear = linear and len(info.parents) <= 1
        reason = parse_message(info.message).reason
        if not re.fullmatch(r"(lib|thread|cli)\d+-\d+", reason):
            before += 1
        reasons[reason].append(info.sha)
    repo.close()
    return {
        "reasons": dict(reasons),
        "linear": linear,
        "count": count,
        "before": before,
    }


def _check_last_values(root: Path, acked: dict[str, str]) -> list[str]:
    """Keys whose value on disk and at HEAD is not the last one its writer set."""
    last: dict[tuple[str, str], int] = {}
    for reason in acked:
        writer, number = reason.rsplit("-", 1)
        file, key = _target(writer, int(number))
        last[(file, key)] = max(last.get((file, key), -1), int(number))
    store = ConfigStore.open(root)
    wrong = []
    for (file, key), number in sorted(last.items()):
        on_disk = documents.parse(file, (root / file).read_bytes())
        writer, leaf = key.split(".")
        if store.get(file, key) != number or on_disk[writer][leaf] != number:
            wrong.append(f"{file} {key}: expected {number}")
    store.close()
    return wrong


def test_moved_branch_under_a_change_is_refused_and_rolled_back(tmp_path: Path) -> None:
    """HistoryConflictError: only a program ignoring the lock (git) can cause it."""
    root = tmp_path / "store"
    free_form_store(root, {"a.yaml": b"x: 1\n"})
    store = ConfigStore.open(root)
    before = working_tree(root)

    conflict = pytest.raises(HistoryConflictError, match="nothing was committed, retry")
    with conflict, store.transaction(subject="racing git", actor=ACTOR) as tx:
        tx.write("a.yaml", b"x: 2\n")
        git(
            root,
            "-c",
            "user.name=G",
            "-c",
            "user.email=g@x",
            "commit",
            "--allow-empty",
            "--no-verify",
            "-qm",
            "behind vpa-config's back",
        )

    assert working_tree(root) == before
    assert leftovers(root) == []
    assert store.set("a.yaml", "x", 3, actor=ACTOR).committed  # next change works
    store.close()


def test_cli_reports_a_busy_store_in_one_line(tmp_path: Path) -> None:
    root = tmp_path / "store"
    free_form_store(root, {"a.yaml": b"x: 1\n"})
    store = ConfigStore.open(root)
    store.lock.acquire(1)
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "vpa_config",
                "--store",
                str(root),
                "set",
                "a.yaml",
                "x",
                "2",
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=cli_env(tmp_path, VPA_CONFIG_LOCK_TIMEOUT="0.2"),
        )
        read_back = subprocess.run(
            [
                sys.executable,
                "-m",
                "vpa_config",
                "--store",
                str(root),
                "get",
                "a.yaml",
                "x",
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=cli_env(tmp_path),
        )
    finally:
        store.lock.release()
        store.close()

    assert done.returncode == 4, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert f"pid {os.getpid()}" in done.stderr
    assert read_back.returncode == 0 and read_back.stdout.strip() == "1"
    assert working_tree(root)["a.yaml"] == b"x: 1\n"
