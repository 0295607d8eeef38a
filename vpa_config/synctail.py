"""The fsyncs a committed change leaves for after it has returned.

A change is durable once its journal is: the journal, fsynced before any
file of the change is touched, holds everything the change wrote that the
store did not hold before (the new objects' bytes; each file's blob and
mode; the branch's new id), so recovery can finish the change from it after
a power cut (``transaction.recover``). Its objects, its files, the branch
and its audit record are then written and renamed into place unsynced, and
the change returns.

:class:`SyncTail` holds what is left: those files, still open, and the
folders of their renames. :meth:`SyncTail.run` fsyncs them all at once and
then marks the journal done. The store lock stays held until it has ended
(``lock.StoreLock.release``), so no other change writes over the journal
before its files are durable: a library process runs it on a background
thread, the command line before the process exits.
"""

from __future__ import annotations

import os

from vpa_config import fsutil, logs
from vpa_config.layout import JOURNAL, JOURNAL_DONE

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any


class SyncTail:
    """A committed change's unsynced files and folders; :meth:`run` syncs them."""

    def __init__(
        self,
        controldir: Path,
        files: list[tuple[int, Path | str]],
        started: list[Any],
        folders: set[str] | set[Path],
    ) -> None:
        self.controldir = controldir
        self.files = list(files)
        # fsyncs begun while the change wrote (StagedWrites.detach).
        self.started = list(started)
        self.folders: set[str | Path] = set(folders)
        # Whether the change returned committed: only then is the journal
        # marked done (else recovery settles it, from the journal).
        self.committed = False

    def add(self, fd: int, path: Path | str) -> None:
        """Sync and close ``fd`` as well (the change's audit record)."""
        self.files.append((fd, path))

    def run(self) -> None:
        """fsync every file and folder, close them; then mark the journal done.

        Never raises: a failure is reported (``store.sync_failed``) and the
        journal left live, for the next change's recovery to finish again.
        """
        failed: tuple[OSError, Any] | None = None
        files = list(self.files)
        try:
            for folder in sorted(map(str, self.folders)):
                try:
                    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
                except OSError as exc:
                    failed = failed or (exc, folder)
                else:
                    files.append((fd, folder))
            try:
                fsutil.fsync_all([fd for fd, _path in files])
            except OSError as exc:
                failed = failed or (exc, None)
            for job, fd, path in self.started:
                files.append((fd, path))
                try:
                    job.result()
                except OSError as exc:
                    failed = failed or (exc, path)
        finally:
            for fd, _path in files:
                try:
                    os.close(fd)
                except OSError:
                    pass
            self.files, self.started, self.folders = [], [], set()
        if failed is not None:
            logs.emit(
                "store.sync_failed", level="error",
                path=str(failed[1]) if failed[1] is not None else None,
                error=f"{type(failed[0]).__name__}: {failed[0]}",
            )
            return
        if self.committed:
            try:
                fsutil.write_first_byte(self.controldir / JOURNAL, JOURNAL_DONE)
            except Exception:  # noqa: BLE001 (a live journal is finished again)
                pass
