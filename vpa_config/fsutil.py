"""Files in the store's working tree: safe names, atomic writes, listing."""

from __future__ import annotations

import errno
import itertools
import os
import re
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

from vpa_config.errors import StorageError, UnsafePathError

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    from typing import Any

TMP_PREFIX = ".vpa-tmp-"
CONTROL_DIR = ".git"


# Characters a file name may not hold: C0 and C1 controls (a terminal would
# act on them in a listing), and the bidirectional overrides that make a name
# display as another ("Trojan source").
_REFUSED_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean_name(name: str) -> str:
    """A store-relative POSIX path, or UnsafePathError saying why not."""
    try:
        return _clean_names[name]
    except (KeyError, TypeError):
        pass
    cleaned = _clean_name(name)
    if len(_clean_names) >= 4096:
        _clean_names.clear()
    _clean_names[name] = cleaned
    return cleaned


# Names already found safe (a change asks for the same few many times).
_clean_names: dict[str, str] = {}


def _clean_name(name: str) -> str:
    if not name or _REFUSED_CHARS.search(name):
        raise UnsafePathError(f"file name {name!r} is empty or has control characters")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        # An argument of undecodable bytes arrives as lone surrogates.
        raise UnsafePathError(f"file name {name!r} is not valid UTF-8") from None
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UnsafePathError(
            f"file name {name!r} is absolute; expected a path inside the store"
        )
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if any(part in ("..",) for part in parts):
        raise UnsafePathError(f"file name {name!r} leaves the store ('..')")
    parts = tuple(part for part in parts if part != ".")
    if not parts:
        raise UnsafePathError(f"file name {name!r} names no file")
    # git refuses ".git" as any part of a path (and fsck flags a tree that has
    # one), in any case, as case-insensitive file systems would open the same.
    if any(p.lower() == CONTROL_DIR or p.startswith(TMP_PREFIX) for p in parts):
        raise UnsafePathError(f"file name {name!r} is reserved for the store itself")
    return "/".join(parts)


def check_inside(root: Path, name: str, folders: set[str] | None = None) -> Path:
    """The file's path, refusing symlinks anywhere on the way (in or out).

    ``folders`` keeps the folders found to be real folders, for the next
    names of the same change (a restore of 50 files looks at ``services``
    once, not 50 times).
    """
    parts = name.split("/")
    last = len(parts) - 1
    current = os.fspath(root)
    for index, part in enumerate(parts):
        current = os.path.join(current, part)
        if index < last and folders is not None and current in folders:
            continue
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            break
        except OSError as exc:
            raise UnsafePathError(f"{name}: cannot be read: {exc.strerror}") from None
        if stat.S_ISLNK(st.st_mode):
            raise UnsafePathError(
                f"{name}: {'/'.join(parts[: index + 1])} is a symbolic link; "
                "the store keeps only regular files"
            )
        if index < last:
            if not stat.S_ISDIR(st.st_mode):
                raise UnsafePathError(
                    f"{name}: {'/'.join(parts[: index + 1])} is not a folder"
                )
            if folders is not None:
                folders.add(current)
        elif not stat.S_ISREG(st.st_mode):
            raise UnsafePathError(f"{name}: is not a regular file")
    return root.joinpath(*parts)


def secret_mode(mode: int) -> int:
    """Permission bits for a file that holds secrets: never open to others.

    A file that others may read or write loses every group and other bit
    (0644 becomes 0600); a file already closed to others keeps its bits, so a
    deliberate 0640 (an application's group may read) stays 0640.
    """
    return mode & ~0o077 if mode & 0o007 else mode


def atomic_write(path: Path, content: bytes, mode: int, sync_dir: bool = True) -> None:
    """Write via a temporary file, fsync, rename and fsync the folder.

    With ``sync_dir`` false the caller fsyncs the folder itself (once for
    many files, before anything depends on the renames).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _new_temp(path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fchmod(handle.fileno(), mode)
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            with _ignored():
                os.unlink(tmp)
            raise
        if sync_dir:
            fsync_dir(path.parent)
    except OSError as exc:
        raise storage_error(exc, path) from None


def fsync_all(fds: list[int], meanwhile: Callable[[], None] | None = None) -> None:
    """fsync every descriptor; several at once, so their journal commits coincide.

    A file system commits its journal for each fsync that finds work; fsyncs
    issued together share one commit (ext4 and XFS group them), so a change's
    five or six small files cost about one commit instead of one each.
    ``meanwhile`` runs in this thread while they do (it must not raise).
    """
    if not fds:
        return
    if meanwhile is not None:
        # Every fsync to the threads, this one working meanwhile.
        pool = _fsync_pool()
        others = [pool.submit(os.fsync, fd) for fd in fds]
        try:
            meanwhile()
        finally:
            _wait_all(others)
        return
    pool = _fsync_pool() if len(fds) > 1 else None
    others = [pool.submit(os.fsync, fd) for fd in fds[1:]] if pool else []
    failed: OSError | None = None
    try:
        os.fsync(fds[0])  # this thread does one itself
    except OSError as exc:
        failed = exc
    _wait_all(others, failed)


def _wait_all(others: list[Any], failed: OSError | None = None) -> None:
    """Wait for every fsync in ``others``; raise the first failure seen."""
    for other in others:  # every fsync ends before the caller closes a file
        try:
            other.result()
        except OSError as exc:
            failed = failed or exc
    if failed is not None:
        raise failed


class BackgroundSync:
    """fsyncs started now and waited for later, while the caller goes on working.

    Owns the descriptors it is given and closes them in :meth:`wait`, which
    raises the first fsync's OSError if any failed. Nothing may depend on the
    files being durable until :meth:`wait` has returned.
    """

    def __init__(self, files: list[tuple[int, Path]]) -> None:
        self._files = files
        pool = _fsync_pool()
        self._futures = [pool.submit(os.fsync, fd) for fd, _path in files]

    def wait(self) -> None:
        """Block until every fsync has ended; close the descriptors."""
        failed: OSError | None = None
        for future, (fd, _path) in zip(self._futures, self._files):
            try:
                future.result()
            except OSError as exc:
                failed = failed or exc
            with _ignored():
                os.close(fd)
        self._futures, self._files = [], []
        if failed is not None:
            raise failed


def hold_replaced(path: Path | str) -> int | None:
    """A descriptor of the file at ``path`` that is about to be replaced or removed.

    While it is open, the rename over the file (or its unlink) only drops a
    name: freeing the old file's blocks, which waits on the disk, happens at
    its last close, which :func:`close_later` moves off the caller's path.
    None when there is no such file (or it cannot be opened: nothing lost).
    """
    try:
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        return os.open(path, flags)
    except OSError:
        return None


def close_later(fd: int | None) -> None:
    """Close ``fd`` in a background thread (see :func:`hold_replaced`)."""
    if fd is None:
        return
    try:
        _closing.append(_closer().submit(os.close, fd))
    except RuntimeError:  # the interpreter is shutting down: close here
        with _ignored():
            os.close(fd)


def close_all_later(fds: list[int]) -> None:
    """:func:`close_later` for many descriptors, a few to each background job."""
    for start in range(0, len(fds), _CLOSE_BATCH):
        batch = fds[start : start + _CLOSE_BATCH]
        try:
            _closing.append(_closer().submit(_close_all, batch))
        except RuntimeError:  # the interpreter is shutting down: close here
            _close_all(batch)


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        with _ignored():
            os.close(fd)


def replace_then_free(source: Path | str, target: Path | str) -> None:
    """``os.replace``, the old target's blocks freed in the background."""
    old = hold_replaced(target)
    try:
        os.replace(source, target)
    finally:
        close_later(old)


def create_exclusively(path: Path | str, mode: int, spares: Any = None) -> int:
    """Create ``path`` for writing, FileExistsError if it exists: a lock file.

    One of ``spares`` (spares.Spares) is linked to the name when one is ready.
    """
    fd = spares.link(path, mode) if spares is not None else None
    if fd is None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        fd = os.open(path, flags, mode)
    return fd


def background(call: Callable[..., Any], *args: Any) -> Any:
    """Run ``call(*args)`` on the background threads of :func:`close_later`.

    Returns its job (``result()`` waits for it); RuntimeError at shutdown.
    :func:`settle` waits for it too.
    """
    job = _closer().submit(call, *args)
    _closing.append(job)
    return job


def unlink_then_free(path: Path) -> None:
    """Remove ``path`` if it is there, its blocks freed in the background."""
    held = hold_replaced(path)
    try:
        path.unlink(missing_ok=True)
    finally:
        close_later(held)


def settle() -> None:
    """Wait for the closes :func:`close_later` started (and :func:`background`'s
    jobs): a change waits for them before it begins."""
    while _closing:
        try:
            _closing.pop().result()
        except (IndexError, OSError):
            pass


_closing: list[Any] = []
# A batch's first files are fsynced together by StagedWrites.sync (one journal
# commit: a set writes 5, its objects and the file); the fsync of each file
# after them starts as soon as it is written (a restore of 50 files overlaps
# their writing with their fsyncs). Starting a set's few early made the file
# system commit more than once, and the next files' creation wait on that.
_SYNC_TOGETHER = 8
_CLOSE_BATCH = 8  # closes per background job: 50 files' frees in 7 jobs
# Threads by name, each set with the pid that made it: a forked child has
# none of its parent's threads and makes its own.
_pools: dict[str, tuple[int, Any]] = {}
_pool_lock = threading.Lock()


def _forget_pool_in_child() -> None:
    # The lock may have been held by one of the parent's threads at the fork.
    global _pool_lock, _closing
    _pools.clear()
    _pool_lock, _closing = threading.Lock(), []


os.register_at_fork(after_in_child=_forget_pool_in_child)


def _threads(name: str) -> Any:
    """This process's :class:`~vpa_config.workers.Workers` called ``name``."""
    with _pool_lock:
        pid, workers = _pools.get(name, (0, None))
        if workers is None or pid != os.getpid():
            from vpa_config.workers import Workers

            workers = Workers(8, name)
            _pools[name] = (os.getpid(), workers)
        return workers


def _fsync_pool() -> Any:
    """Threads for :func:`fsync_all` and the fsyncs started in the background."""
    return _threads("vpa-fsync")


def _closer() -> Any:
    """Threads for :func:`close_later`, apart from the fsyncs' threads.

    A change's 50 replaced files take a while to free; queued before the
    fsyncs that follow their renames, they held those up.
    """
    return _threads("vpa-close")


class StagedWrites:
    """Files written under temporary names first, made durable together.

    :meth:`write` writes a file's temporary copy beside it, or in a spare
    file made ahead (spares.py) on the same file system (past the first few
    of a batch it also starts its fsync, overlapping the writing of the
    next); :meth:`sync` fsyncs the rest together and waits for every one;
    :meth:`place` renames some of them into place and fsyncs their folders
    (or leaves that to the caller, who syncs many folders at once). Each file
    is thus durable before its rename, as with :func:`atomic_write`, but a
    change's files share their fsyncs. A change whose journal holds all it
    wrote syncs only that first (:meth:`sync_first`), places the rest
    unsynced, and hands their descriptors over (:meth:`detach`) to be synced
    after it returns (synctail.py).
    :meth:`discard` removes the copies not placed (on any failure).

    Paths may be given as ``Path`` or ``str`` (the objects of a change come
    as ``str``: no ``Path`` is built on that path); folders are returned as
    ``str``.
    """

    def __init__(self, spares: Any = None) -> None:
        # Files made ahead for the temporary copies (spares.Spares), or None.
        self.spares = spares
        self._open: list[tuple[int, Path | str]] = []
        # Temporary copies whose fsync began as soon as they were written.
        self._syncing: list[tuple[Any, int, Path | str]] = []
        self._temps: dict[Path | str, str] = {}
        # Folders a write created: their parents' entries must be synced too.
        self._folders: dict[Path | str, set[str]] = {}
        self._made: list[str] = []  # folders created, deepest first
        self._dirs: set[str] = set()
        # Each placed file's stat, taken just after its rename (see place).
        self.placed: dict[Path | str, os.stat_result] = {}
        # What each write wrote (the journal of a change carries its objects').
        self.contents: dict[Path | str, bytes] = {}

    def write(self, path: Path | str, content: bytes, mode: int) -> None:
        """Write ``content`` to a temporary file that :meth:`place` renames."""
        if path in self._temps:
            return
        folder = os.path.dirname(path)
        made: list[str] = []
        taken = self.spares.take(folder) if self.spares is not None else None
        try:
            if taken is not None:
                fd, tmp = taken
                if not os.path.isdir(folder):
                    made = _make_folders(folder)
            else:
                try:
                    fd, tmp = _new_temp(folder)
                except FileNotFoundError:  # the folder first (not looked for before)
                    made = _make_folders(folder)
                    fd, tmp = _new_temp(folder)
        except OSError as exc:
            if taken is not None:  # its folder could not be made: spare gone
                with _ignored():
                    os.close(taken[0])
                with _ignored():
                    os.unlink(taken[1])
            raise storage_error(exc, Path(path)) from None
        if made:
            self._folders[path] = {os.path.dirname(made_) for made_ in made}
            self._made.extend(made)
        self._temps[path] = tmp
        self.contents[path] = content
        try:
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view):]
            os.fchmod(fd, mode)
        except OSError as exc:
            self._open.append((fd, path))  # closed by discard()
            raise storage_error(exc, Path(path)) from None
        if len(self._temps) <= _SYNC_TOGETHER:
            self._open.append((fd, path))  # fsynced by sync(), with the others
            return
        # Its fsync starts now, while the next files are written: :meth:`sync`
        # then waits for the last of them rather than starting them all.
        self._syncing.append((_fsync_pool().submit(os.fsync, fd), fd, path))

    def write_over(self, path: Path, content: bytes, mode: int) -> None:
        """Write ``content`` at the start of the file ``path``, kept between uses.

        For a file whose readers tell by its first line (a digest) what is
        current, and ignore what follows (the journal): writing over blocks
        the file already has costs less than a new file and its folder's
        commit, and far less than emptying it (which frees its blocks there
        and then). Made, and its folder synced, only when missing.
        """
        try:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
                fd = os.open(path, flags, mode)
                self._dirs.add(os.path.dirname(path))
        except OSError as exc:
            raise storage_error(exc, path) from None
        self._open.append((fd, path))
        try:
            view, offset = memoryview(content), 0
            while offset < len(content):
                offset += os.pwrite(fd, view[offset:], offset)
        except OSError as exc:
            raise storage_error(exc, path) from None

    def add_descriptor(self, fd: int, path: Path) -> None:
        """Have :meth:`sync` fsync (and close) a file written elsewhere."""
        self._open.append((fd, path))

    def staged(self, path: Path | str) -> bool:
        """Whether ``path`` waits in this batch, not yet placed."""
        return path in self._temps

    def sync(self, meanwhile: Callable[[], None] | None = None) -> None:
        """fsync every file written so far (and the folders of those written
        in place), together, and close them; ``meanwhile`` runs in this
        thread while they do (see :func:`fsync_all`)."""
        batch, self._open = self._open, []
        folders, self._dirs = sorted(self._dirs), set()
        failed: tuple[OSError, Path | str | None] | None = None
        try:
            for folder in folders:
                batch.append((os.open(folder, os.O_RDONLY | os.O_DIRECTORY), folder))
            fsync_all([fd for fd, _path in batch], meanwhile)
        except OSError as exc:
            failed = (exc, batch[0][1] if batch else None)
        finally:
            failed = self._wait_syncing() or failed
            for fd, _path in batch:
                with _ignored():
                    os.close(fd)
        if failed is not None:
            where = Path(failed[1]) if failed[1] is not None else None
            raise storage_error(failed[0], where) from None

    def sync_first(
        self, paths: list[Path | str], meanwhile: Callable[[], None] | None = None
    ) -> None:
        """fsync only the files at ``paths`` (and the folder of any of them
        :meth:`write_over` made) and close them; the others stay open,
        unsynced, for :meth:`detach`."""
        first = [(fd, path) for fd, path in self._open if path in paths]
        self._open = [(fd, path) for fd, path in self._open if path not in paths]
        folders, self._dirs = sorted(self._dirs), set()
        try:
            for folder in folders:
                first.append((os.open(folder, os.O_RDONLY | os.O_DIRECTORY), folder))
            fsync_all([fd for fd, _path in first], meanwhile)
        except OSError as exc:
            raise storage_error(exc, Path(first[0][1]) if first else None) from None
        finally:
            for fd, _path in first:
                with _ignored():
                    os.close(fd)

    def detach(self) -> tuple[list[tuple[int, Path | str]], list[Any]]:
        """Hand over what is not durable yet: the open files (not synced) and
        the fsyncs :meth:`write` began, as (job, fd, path). The caller waits
        for and fsyncs them, then closes them all."""
        files, self._open = self._open, []
        started, self._syncing = self._syncing, []
        return files, started

    def _wait_syncing(self) -> tuple[OSError, Path | str] | None:
        """Wait for the fsyncs :meth:`write` began; close those files.

        Returns the first failure, if any.
        """
        syncing, self._syncing = self._syncing, []
        failed = None
        for future, fd, path in syncing:
            try:
                future.result()
            except OSError as exc:
                failed = failed or (exc, path)
            with _ignored():
                os.close(fd)
        return failed

    def place(
        self, paths: list[Path | str], sync_dirs: bool = True, *, new: bool = False
    ) -> set[str]:
        """Rename the synced copies of ``paths`` into place; fsync their folders.

        Returns the folders; with ``sync_dirs`` false the caller fsyncs them.
        Each placed file's stat just after its rename goes to :attr:`placed`:
        git's index records that, not the stat of whatever is there later
        (a hand edit made in between would otherwise pass as clean).

        ``new`` says no file is at any of the paths (a change's new objects):
        nothing is freed by their renames, so they are made one after
        another in this thread, and no stat is taken.
        """
        moves = [(self._temps.pop(path), path) for path in paths]
        failed = _rename_new(moves) if new else replace_all(moves, self.placed)
        for tmp, path, _exc in failed:
            self._temps[path] = tmp  # not placed: discard() removes it
        if failed:
            raise storage_error(failed[0][2], Path(failed[0][1])) from None
        folders = set()
        for _tmp, path in moves:
            folders.add(os.path.dirname(path))
            folders.update(self._folders.pop(path, ()))
        if sync_dirs:
            sync_folders(folders)
        return folders

    def pending(self) -> list[Path | str]:
        """Paths written but not placed yet, in the order written."""
        return list(self._temps)

    def discard(self) -> None:
        """Remove every temporary copy not placed; close what is still open."""
        self._wait_syncing()
        for fd, _path in self._open:
            with _ignored():
                os.close(fd)
        self._open = []
        for tmp in self._temps.values():
            with _ignored():
                os.unlink(tmp)
        self._temps = {}
        # Folders made for files that were never placed go too (rmdir
        # refuses a folder that holds anything, placed files included).
        for folder in sorted(self._made, key=lambda f: f.count(os.sep), reverse=True):
            with _ignored():
                os.rmdir(folder)
        self._made = []


def _rename_new(moves: list[tuple[str, Path | str]]) -> list[tuple[Any, Any, OSError]]:
    """Rename each (source, target) where no target exists; the ones that failed."""
    failed = []
    for source, target in moves:
        try:
            os.replace(source, target)
        except OSError as exc:
            failed.append((source, target, exc))
    return failed


_temp_count = itertools.count()


def _new_temp(folder: Path | str) -> tuple[int, str]:
    """A new temporary file in ``folder``, created exclusively: (fd, path).

    As ``tempfile.mkstemp`` makes them (mode 0600, never following a link),
    named by process and counter rather than by random letters.
    """
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    while True:
        name = os.path.join(folder, f"{TMP_PREFIX}{os.getpid()}-{next(_temp_count)}")
        try:
            return os.open(name, flags, 0o600), name
        except FileExistsError:
            continue  # left by a killed process of the same id


def replace_all(
    moves: list[tuple[Any, Any]], stats: dict[Any, os.stat_result] | None = None
) -> list[tuple[Any, Any, OSError]]:
    """Rename each (source, target) in turn; the ones that failed.

    One after another, in this thread: the old file a rename replaces is
    held open and freed in the background (as :func:`replace_then_free`
    does), so a rename only updates names, and handing 50 of them to threads
    cost more in hand-offs than it overlapped. ``stats`` receives each
    target's stat, taken right after its rename.
    """
    found = stats if stats is not None else {}
    failed: list[tuple[Any, Any, OSError]] = []
    held: list[int] = []
    try:
        for source, target in moves:
            old = hold_replaced(target)
            if old is not None:
                held.append(old)
            try:
                os.replace(source, target)
            except OSError as exc:
                failed.append((source, target, exc))
                continue
            try:
                found[target] = os.lstat(target)
            except OSError:
                found.pop(target, None)  # gone already: the index looks afresh
    finally:
        close_all_later(held)
    return failed


def _make_folders(folder: str) -> list[str]:
    """Create ``folder`` and its missing parents; return those it created."""
    missing = []
    while not os.path.isdir(folder):
        missing.append(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    for made in reversed(missing):
        try:
            os.mkdir(made)
        except FileExistsError:
            if not os.path.isdir(made):
                raise
    return missing


def sync_folders(folders: set[Path | str] | list[Path | str]) -> None:
    """fsync several folders together (see :func:`fsync_all`)."""
    fds = []
    names = sorted({os.fspath(folder) for folder in folders})
    try:
        for folder in names:
            try:
                fds.append(os.open(folder, os.O_RDONLY | os.O_DIRECTORY))
            except OSError as exc:
                raise storage_error(exc, Path(folder)) from None
        try:
            fsync_all(fds)
        except OSError as exc:
            raise storage_error(exc, Path(names[0])) from None
    finally:
        for fd in fds:
            os.close(fd)


def write_first_byte(path: Path, value: bytes) -> None:
    """Write one byte over the first of ``path`` (not synced); no error if missing.

    A byte reaches the disk whole or not at all: a file read by its first
    byte (the journal) is thus marked done without a new file or a removal.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise storage_error(exc, path) from None
    try:
        os.pwrite(fd, value[:1], 0)
    except OSError as exc:
        raise storage_error(exc, path) from None
    finally:
        os.close(fd)


def remove_file(path: Path, root: Path) -> None:
    """Delete a file, then any folders it leaves empty below ``root``."""
    try:
        if os.path.lexists(path):
            path.unlink()
            fsync_dir(path.parent)
        # A recovery may find the file, and even its folder, already gone.
        parent = path.parent
        while parent != root and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
    except OSError as exc:
        raise storage_error(exc, path) from None


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def working_files(root: Path) -> Iterator[str]:
    """Store-relative paths of the regular files and symlinks in the tree."""
    for folder, dirs, files in os.walk(root):
        rel = Path(folder).relative_to(root)
        if rel == Path("."):
            dirs[:] = [d for d in dirs if d != CONTROL_DIR]
        dirs.sort()
        for name in sorted(files):
            if not name.startswith(TMP_PREFIX):
                yield (rel / name).as_posix() if rel != Path(".") else name


def stray_temp_files(root: Path) -> Iterator[Path]:
    """Temporary files a killed writer left behind."""
    for folder, dirs, files in os.walk(root):
        if Path(folder) == root:
            dirs[:] = [d for d in dirs if d != CONTROL_DIR]
        for name in files:
            if name.startswith(TMP_PREFIX):
                yield Path(folder) / name


def storage_error(exc: OSError, path: Path | None = None) -> StorageError:
    """A person-readable error for a failed write."""
    reasons = {
        errno.ENOSPC: "the disk is full",
        errno.EROFS: "the store is on a read-only file system",
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted",
        errno.EDQUOT: "the disk quota is exceeded",
    }
    reason = reasons.get(exc.errno or 0, exc.strerror or str(exc))
    where = path or exc.filename or "the store"
    return StorageError(f"cannot write {where}: {reason}; nothing was changed")


class _ignored:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return True
