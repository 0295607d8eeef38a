"""Files in the store's working tree: safe names, atomic writes, listing."""

from __future__ import annotations

import errno
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from vpa_config.errors import StorageError, UnsafePathError

TMP_PREFIX = ".vpa-tmp-"
CONTROL_DIR = ".git"


# Characters a file name may not hold: C0 and C1 controls (a terminal would
# act on them in a listing), and the bidirectional overrides that make a name
# display as another ("Trojan source").
_REFUSED_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean_name(name: str) -> str:
    """A store-relative POSIX path, or UnsafePathError saying why not."""
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


def check_inside(root: Path, name: str) -> Path:
    """The file's path, refusing symlinks anywhere on the way (in or out)."""
    path = root
    parts = name.split("/")
    for index, part in enumerate(parts):
        path = path / part
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return root.joinpath(*parts)
        except OSError as exc:
            raise UnsafePathError(f"{name}: cannot be read: {exc.strerror}") from None
        if stat.S_ISLNK(st.st_mode):
            raise UnsafePathError(
                f"{name}: {'/'.join(parts[: index + 1])} is a symbolic link; "
                "the store keeps only regular files"
            )
        if index < len(parts) - 1 and not stat.S_ISDIR(st.st_mode):
            raise UnsafePathError(f"{name}: {'/'.join(parts[: index + 1])} is not a folder")
        if index == len(parts) - 1 and not stat.S_ISREG(st.st_mode):
            raise UnsafePathError(f"{name}: is not a regular file")
    return path


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
        fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, dir=path.parent)
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
