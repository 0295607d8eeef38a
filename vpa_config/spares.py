"""Empty files made ahead, off a change's path, for the next change of a process.

Creating a file is the dearest step of writing a small one on many file
systems (a new inode and a folder entry, both journaled: about 70 µs here,
where renaming a file costs 25). A change creates seven: the temporary copies
of its four objects and of the file it changes, and the lock files of the
branch and of git's index. A process that makes change after change (an
application embedding the library) has those files made in the background
after each change, in ``.git/vpa-config-spares/``, so that the next change
only renames them into place: a temporary copy is written to a spare and
renamed over its target, as a new temporary file would be, and a lock file
is a spare linked to the lock's name (``link`` refuses an existing name, as
creating the lock exclusively does) before the spare's own name is removed.

A spare is an empty file named ``.vpa-tmp-PID-N``, kept open by the process
that made it. Only that process uses it, only while it holds the store lock,
and only if the spare still has its name. :func:`sweep` removes the spares of
processes that ended without removing their own (killed, say). A
command-line process makes one change and exits, so it makes no spares.
"""

from __future__ import annotations

import itertools
import os
import weakref

from vpa_config import fsutil

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

FOLDER = "vpa-config-spares"
# At most this many are kept ready: a change of a few files asks for its
# objects and files; a restore of 50 files creates the rest itself.
LIMIT = 16
_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_count = itertools.count()


class Spares:
    """The spares of one repository in this process (see the module docstring).

    :meth:`take` hands one out for a file about to be written; :meth:`refill`
    makes as many as the last change took, in the background; :meth:`close`
    removes those left.
    """

    def __init__(self, controldir: Path | str) -> None:
        self.folder = os.path.join(os.fspath(controldir), FOLDER)
        self._pid = os.getpid()
        self._ready: list[tuple[int, str]] = []
        self._asked = 0  # spares asked for since the last refill
        self._jobs: list[Any] = []  # the background jobs making spares
        self._device: int | None = None
        self._same_device: dict[str, bool] = {}
        self._links = True  # false once the file system refused a hard link
        # Those left are removed by close(), or at the interpreter's exit
        # (once the spares being made are made).
        self._remove = weakref.finalize(
            self, _remove_all, self._ready, self._jobs, self._pid
        )
        sweep(controldir)

    def take(self, folder: str) -> tuple[int, str] | None:
        """A spare (descriptor, path) to write and rename into ``folder``, or None.

        None when none is ready, in a forked child, or when ``folder`` is on
        another file system than the spares (a rename cannot cross it).
        """
        self._asked += 1
        if not self._ready or os.getpid() != self._pid or not self._reaches(folder):
            return None
        while True:
            try:
                fd, path = self._ready.pop()
            except IndexError:
                return None
            try:
                if os.fstat(fd).st_nlink == 1:
                    return fd, path
            except OSError:
                pass
            os.close(fd)  # swept by another process since: no longer a spare

    def link(self, target: Path | str, mode: int) -> int | None:
        """A spare given the name ``target`` if no file has it: its descriptor.

        None when no spare is ready (the caller creates ``target`` itself).
        Raises FileExistsError when ``target`` exists, as creating it
        exclusively would.
        """
        if not self._links:
            return None
        taken = self.take(os.path.dirname(os.fspath(target)))
        if taken is None:
            return None
        fd, path = taken
        try:
            os.link(path, target)
        except (FileExistsError, FileNotFoundError):
            self._ready.append(taken)  # still a spare
            raise
        except OSError:  # a file system without hard links: create them instead
            self._ready.append(taken)
            self._links = False
            return None
        os.unlink(path)
        os.fchmod(fd, mode)
        return fd

    def refill(self) -> None:
        """Make, in the background, as many spares as the last change took."""
        wanted, self._asked = min(self._asked, LIMIT), 0
        missing = wanted - len(self._ready)
        if missing <= 0 or os.getpid() != self._pid or self._busy():
            return
        try:
            job = fsutil.background(self._make, missing)
        except RuntimeError:  # the interpreter is shutting down
            return
        # Kept until done: close() and the exit wait for every one (two
        # threads' changes may each have started one).
        self._jobs[:] = [*(other for other in self._jobs if not other.done()), job]

    def close(self) -> None:
        """Wait for the spares being made, then remove every one left."""
        self._remove()

    def _busy(self) -> bool:
        return any(not job.done() for job in self._jobs)

    def _make(self, count: int) -> None:
        try:
            os.mkdir(self.folder)  # as git's own folders: the umask decides
        except FileExistsError:
            pass
        for _ in range(count):
            name = f"{fsutil.TMP_PREFIX}{self._pid}-{next(_count)}"
            path = os.path.join(self.folder, name)
            self._ready.append((os.open(path, _FLAGS, 0o600), path))

    def _reaches(self, folder: str) -> bool:
        """Whether a spare can be renamed into ``folder`` (same file system).

        A folder yet to be made (the caller makes it) is judged by the
        nearest one that exists.
        """
        known = self._same_device.get(folder)
        if known is not None:
            return known
        try:
            if self._device is None:
                self._device = os.stat(self.folder).st_dev
            found = os.stat(folder).st_dev == self._device
        except FileNotFoundError:
            parent = os.path.dirname(folder)
            return parent != folder and self._reaches(parent)
        except OSError:
            return False
        self._same_device[folder] = found
        return found


def _remove_all(ready: list[tuple[int, str]], jobs: list[Any], pid: int) -> None:
    if os.getpid() != pid:  # a forked child's exit: the spares are its parent's
        return
    while jobs:
        try:
            jobs.pop().result()
        except OSError:
            pass
    while ready:
        fd, path = ready.pop()
        try:
            os.unlink(path)
        except OSError:
            pass
        try:
            os.close(fd)
        except OSError:
            pass


def sweep(controldir: Path | str) -> None:
    """Remove the spares of processes that have ended (store lock held).

    A live process's spares are left: it may be about to take one (it checks
    that its spare still has a name, under the store lock, which the caller
    of this holds).
    """
    folder = os.path.join(os.fspath(controldir), FOLDER)
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        pid = name.removeprefix(fsutil.TMP_PREFIX).partition("-")[0]
        if pid.isdigit() and _alive(int(pid)):
            continue
        try:
            os.unlink(os.path.join(folder, name))
        except OSError:
            pass


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True
