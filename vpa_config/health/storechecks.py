"""Checks of the store itself: repository, objects, working tree, lock, config.

Each check opens its own handle on the repository and closes it after, so
checks running at the same time never share dulwich objects between threads,
and a check never runs recovery or takes the store lock: health only looks.

=====================  ========  =============================================
check                  critical  judges
=====================  ========  =============================================
``store:open``         yes       the repository opens
``store:head``         yes       HEAD resolves to a readable revision
``store:objects``      yes       HEAD's commit, trees and blobs read back with
                                 the right hashes (``verify`` checks all history)
``store:worktree``     yes       clean; valid hand edits are degraded, invalid
                                 ones unhealthy
``store:lock``         yes       free, or held by a live process; held by a
                                 dead pid or past ``lock_held_degraded_s``, or
                                 an interrupted change awaiting recovery:
                                 degraded
``store:commitAge``    no        seconds since the last commit (degraded past
                                 ``commit_age_degraded_s`` when set)
``config:valid``       yes       every file of HEAD validates
=====================  ========  =============================================
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vpa_config.health.model import HealthState, Observation
from vpa_config.health.settings import HealthSettings

if TYPE_CHECKING:
    from vpa_config.health.monitor import HealthMonitor
    from vpa_config.store import ConfigStore

READY = frozenset({"ready", "store"})


class StoreProbe:
    """Read-only access to a store for health checks."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser()
        self._lock = threading.Lock()
        self._settings: tuple[str | None, HealthSettings] | None = None

    @contextmanager
    def session(self) -> Iterator[ConfigStore]:
        """A store handle of its own: no recovery, no lock taken."""
        from vpa_config.errors import StoreNotFoundError
        from vpa_config.gitrepo import GitRepo
        from vpa_config.lock import StoreLock
        from vpa_config.store import ConfigStore, is_store

        if not (self.root / ".git").is_dir():
            raise StoreNotFoundError(f"no vpa-config store at {self.root}")
        repo = GitRepo.open(self.root)
        try:
            if not is_store(repo):
                raise StoreNotFoundError(
                    f"{self.root} is a git repository but not a vpa-config store"
                )
            yield ConfigStore(
                root=self.root.resolve(),
                repo=repo,
                lock=StoreLock(repo.controldir),
                source="health",
            )
        finally:
            repo.close()

    def revision(self) -> str | None:
        """HEAD of the store now (the live config revision)."""
        with self.session() as store:
            return store.repo.head()

    def settings(self) -> HealthSettings:
        """The ``health`` settings of HEAD, re-read only when HEAD moves."""
        with self._lock, self.session() as store:
            head = store.repo.head()
            if self._settings is not None and self._settings[0] == head:
                return self._settings[1]
            found = _head_check(store).settings.health
            self._settings = (head, found)
            return found


def _head_check(store: ConfigStore) -> Any:
    from vpa_config.verdict import CandidateCheck

    tree = store.repo.files(store.repo.head())

    def read(name: str) -> bytes | None:
        entry = tree.get(name)
        return store.repo.blob(entry[1]) if entry else None

    return CandidateCheck(read, tree, read)


def check_open(probe: StoreProbe) -> Observation:
    with probe.session() as store:
        return Observation(
            HealthState.HEALTHY,
            output=f"opened {store.root}",
            component_id=str(store.root),
        )


def check_head(probe: StoreProbe) -> Observation:
    with probe.session() as store:
        head = store.repo.head()
        if head is None:
            return Observation(HealthState.UNHEALTHY, output="HEAD has no revision yet")
        info = store.repo.commit(head)
        return Observation(
            HealthState.HEALTHY,
            value=head,
            output=f"HEAD is {head[:12]}, {len(info.parents)} parent(s)",
        )


def check_objects(probe: StoreProbe) -> Observation:
    with probe.session() as store:
        repo = store.repo
        head = repo.head()
        if head is None:
            return Observation(HealthState.UNHEALTHY, output="no revision to check")
        tree = repo.files(head)  # reads the commit and every tree on the way
        bad = [
            name
            for name, (_mode, blob) in sorted(tree.items())
            if repo.blob_id(repo.blob(blob)) != blob
        ]
    if bad:
        return Observation(
            HealthState.UNHEALTHY,
            value=len(bad),
            unit="corrupt files",
            output="content does not match its hash: " + ", ".join(bad[:5]),
        )
    return Observation(
        HealthState.HEALTHY,
        value=len(tree),
        unit="files",
        output=f"HEAD's commit, trees and {len(tree)} blobs read back intact",
    )


def check_worktree(probe: StoreProbe) -> Observation:
    with probe.session() as store:
        status = store.status()
    edits = status.hand_edits
    if not edits:
        return Observation(
            HealthState.HEALTHY,
            value=0,
            unit="hand edits",
            output="the files are exactly the live revision",
        )
    invalid = [edit for edit in edits if not edit.valid]
    names = ", ".join(f"{edit.path} ({edit.state})" for edit in edits[:5])
    if invalid:
        first = invalid[0].problems[0]
        return Observation(
            HealthState.UNHEALTHY,
            value=len(edits),
            unit="hand edits",
            output=f"{len(invalid)} invalid hand edit(s): {names}; first: {first}",
        )
    return Observation(
        HealthState.DEGRADED,
        value=len(edits),
        unit="hand edits",
        output=f"valid hand edits not committed: {names}",
    )


def check_lock(probe: StoreProbe, settings: HealthSettings) -> Observation:
    from vpa_config.layout import journal_left

    with probe.session() as store:
        holder = store.lock.holder()
        interrupted = journal_left(store.repo.controldir)
    if holder is None and interrupted:
        return Observation(
            HealthState.DEGRADED,
            value="free",
            output="an interrupted change awaits recovery; the next vpa-config "
            "command completes or rolls it back",
        )
    if holder is None:
        return Observation(
            HealthState.HEALTHY, value="free", output="the store lock is free"
        )
    pid = holder.get("pid")
    host = holder.get("host")
    if pid is None:
        # The flock is held, so its holder is alive; it wrote no record, so
        # it is not a vpa-config change (another program locked the file).
        return Observation(
            HealthState.DEGRADED,
            value="held",
            output="held by a process that left no holder record (not a "
            "vpa-config change); changes wait for it",
        )
    since = _age_s(holder.get("since"))
    who = f"pid {pid} on {host or '?'}"
    if host and host != socket.gethostname():
        return Observation(
            HealthState.HEALTHY,
            value="held",
            output=f"held by {who} (another host; liveness unknown)",
        )
    if not isinstance(pid, int) or not _pid_alive(pid):
        return Observation(
            HealthState.DEGRADED,
            value="held",
            output=f"held, but its record names {who}, which is not running",
        )
    if since is not None and since > settings.store.lock_held_degraded_s:
        return Observation(
            HealthState.DEGRADED, value="held", output=f"held by {who} for {since:.0f}s"
        )
    return Observation(
        HealthState.HEALTHY,
        value="held",
        output=f"held by live {who} (a change in progress)",
    )


def check_commit_age(probe: StoreProbe, settings: HealthSettings) -> Observation:
    with probe.session() as store:
        head = store.repo.head()
        if head is None:
            return Observation(HealthState.UNKNOWN, output="no revision yet")
        when = store.repo.commit(head).author_time
    age = max(time.time() - when, 0.0)
    limit = settings.store.commit_age_degraded_s
    state = (
        HealthState.DEGRADED
        if limit is not None and age > limit
        else HealthState.HEALTHY
    )
    return Observation(
        state,
        value=round(age, 3),
        unit="s",
        output=f"last commit {age:.0f}s ago",
        metrics={"last_commit_age_seconds": age, "last_commit_timestamp_seconds": when},
    )


def check_config(probe: StoreProbe) -> Observation:
    with probe.session() as store:
        check = _head_check(store)
        problems = []
        for name in check.names:
            problems += check.validate_file(name)
    if problems:
        return Observation(
            HealthState.UNHEALTHY,
            value=len(problems),
            unit="problems",
            output=f"{len(problems)} problem(s) in the live revision; "
            f"first: {problems[0]}",
            metrics={"config_problems": len(problems)},
        )
    return Observation(
        HealthState.HEALTHY,
        value=0,
        unit="problems",
        output=f"all {len(check.names)} files of the live revision validate",
        metrics={"config_problems": 0, "config_files": len(check.names)},
    )


def add_store_checks(monitor: HealthMonitor, probe: StoreProbe) -> None:
    """Register the store and configuration checks on ``monitor``."""

    def settings() -> HealthSettings:
        return monitor.settings

    store_kw: dict[str, Any] = {"tags": READY, "component_type": "datastore"}
    monitor.add_check("store:open", lambda: check_open(probe), **store_kw)
    monitor.add_check("store:head", lambda: check_head(probe), **store_kw)
    monitor.add_check("store:objects", lambda: check_objects(probe), **store_kw)
    monitor.add_check("store:worktree", lambda: check_worktree(probe), **store_kw)
    monitor.add_check("store:lock", lambda: check_lock(probe, settings()), **store_kw)
    monitor.add_check(
        "store:commitAge",
        lambda: check_commit_age(probe, settings()),
        critical=False,
        **store_kw,
    )
    monitor.add_check(
        "config:valid",
        lambda: check_config(probe),
        tags={"ready", "config"},
        component_type="datastore",
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


def _age_s(since: Any) -> float | None:
    if not isinstance(since, str):
        return None
    try:
        when = datetime.fromisoformat(since.replace("Z", "+00:00"))
    except ValueError:
        return None
    return time.time() - when.timestamp()
