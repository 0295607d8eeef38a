"""Everything vpa-config asks of git, on dulwich's object layer or beside it.

This is the only module that imports dulwich. It never uses dulwich's
porcelain: a commit writes the changed blobs, the trees on the changed paths
and the commit object directly, then moves the branch with a compare-and-swap,
which is several times faster than porcelain's add and commit and never runs
automatic garbage collection on the commit path (``gc.auto`` is 0 in every
store; ``pack()`` packs loose objects when asked). Objects and refs are
fsynced: an acknowledged change survives a power cut.

A plain change imports no dulwich at all: HEAD comes from the ref files,
objects from :mod:`vpa_config.packread` (loose and packed), and the new
objects, the branch and its log line are written here in git's formats.
dulwich answers whatever those do not read, and everything else.
"""

from __future__ import annotations

import os
import re
import stat
import sys
import time
from binascii import hexlify, unhexlify
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from vpa_config import fsutil
from vpa_config.errors import (
    DamagedStoreError,
    RefusedError,
    RevisionNotFoundError,
    StorageError,
    StoreNotFoundError,
    damage_of,
)
from vpa_config.fsutil import StagedWrites, storage_error
from vpa_config.packread import ObjectReader
from vpa_config.records import FrozenRecord, Record

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    from typing import Any

BRANCH = b"refs/heads/main"
FILE_MODE = 0o100644
EXEC_MODE = 0o100755

# Flattened trees kept per open repository (each about 50 entries).
TREE_CACHE = 64
# Blobs kept per open repository (content-addressed, so never stale): the
# change path reads the same file, the settings and the schemas several times.
BLOB_CACHE = 64
BLOB_CACHE_MAX_SIZE = 256 * 1024
WRITTEN_CACHE = 16
# A tree flattened to its files: "dir/name.yaml" -> (mode, blob id in hex).
FileTree = dict[str, tuple[int, str]]


class CommitInfo(FrozenRecord):
    """One commit as vpa-config reads it."""

    _fields = (
        "sha", "parents", "tree", "author", "author_time", "author_tz", "committer",
        "message", "commit_time",
    )
    __slots__ = _fields

    sha: str
    parents: tuple[str, ...]
    tree: str
    author: str
    author_time: int
    author_tz: int
    committer: str
    message: str
    commit_time: int

    def __init__(
        self,
        sha: str,
        parents: tuple[str, ...],
        tree: str,
        author: str,
        author_time: int,
        author_tz: int,
        committer: str,
        message: str,
        commit_time: int = 0,
    ) -> None:
        init = object.__setattr__
        init(self, "sha", sha)
        init(self, "parents", parents)
        init(self, "tree", tree)
        init(self, "author", author)
        init(self, "author_time", author_time)
        init(self, "author_tz", author_tz)
        init(self, "committer", committer)
        init(self, "message", message)
        init(self, "commit_time", commit_time)


def _open_dulwich(path: Path) -> Any:
    from dulwich.errors import NotGitRepository
    from dulwich.repo import Repo

    try:
        repo = Repo(str(path))
    except NotGitRepository:
        raise StoreNotFoundError(
            f"{path} is not a vpa-config store (no repository); "
            'run "vpa-config init" to create one'
        ) from None
    # Loose objects are fsynced so that a ref never points at an object a
    # power cut lost. Set here, not as core.fsyncObjectFiles in the
    # repository's config, which the git CLI warns about as deprecated.
    repo.object_store.fsync_object_files = True
    return repo


_UNKNOWN: Any = object()


def _object_id(kind: bytes, raw: bytes) -> tuple[bytes, str]:
    """git's header of an object of this type and content, and its hex id."""
    from vpa_config.digests import sha1

    header = b"%s %d\x00" % (kind, len(raw))
    digest = sha1(header, len(header) + len(raw))
    digest.update(raw)
    return header, digest.hexdigest()


# deflate matches at most this much less than its window back (zlib's
# MIN_LOOKAHEAD): an object this much smaller than the window loses nothing.
_DEFLATE_LOOKAHEAD = 262


def _deflate_sizes(size: int) -> tuple[int, int]:
    """zlib's window bits and memory level for compressing ``size`` bytes.

    zlib's default window (32 KiB) and hash table cost more to set up than a
    change's small objects take to compress. A window that holds the whole
    object reaches every match the default one does, and a hash table sized
    to the window as zlib's defaults size it keeps the output the same size
    (to a few bytes). The window size is in the stream's header, so git and
    every inflater read it. Objects too large for that get zlib's defaults.
    """
    bits = min(max((size + _DEFLATE_LOOKAHEAD).bit_length(), 9), 15)
    return bits, bits - 7


def _is_id(value: bytes) -> bool:
    return len(value) == 40 and not value.translate(None, b"0123456789abcdef")


def _head_from_files(controldir: Path) -> Any:
    """HEAD's commit id read from the ref files, None before the first commit.

    Only the plain layout git and vpa-config write: HEAD naming a branch
    (or holding an id), the branch a loose file or a ``packed-refs`` line.
    Anything else returns :data:`_UNKNOWN`, and dulwich answers.
    """
    folder = os.fspath(controldir)
    try:
        head = _read_small(os.path.join(folder, "HEAD")).strip()
    except OSError:
        return _UNKNOWN
    if _is_id(head):
        return head.decode()
    if not head.startswith(b"ref: refs/"):
        return _UNKNOWN
    name = head[5:].strip()
    try:
        value = _read_small(os.path.join(folder, os.fsdecode(name))).strip()
    except FileNotFoundError:
        return _packed_ref(controldir, name)
    except OSError:
        return _UNKNOWN
    return value.decode() if _is_id(value) else _UNKNOWN


def _damaged_head(controldir: Path, value: bytes) -> DamagedStoreError:
    """The error for a HEAD that resolves to ``value``, which is no commit id."""
    try:
        head = _read_small(os.path.join(controldir, "HEAD")).strip()
    except OSError:
        head = b""
    ref = os.fsdecode(head[5:].strip()) if head.startswith(b"ref: ") else "HEAD"
    shown = value[:60].decode("utf-8", "replace")
    return DamagedStoreError(
        f"{controldir / ref} holds {shown!r}, not a commit id: the branch is "
        f"damaged (its reflog, {controldir / 'logs' / ref}, lists the ids it held)"
    )


def _read_small(path: str) -> bytes:
    """A small file's bytes without a buffered file object (HEAD is read often)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunk = os.read(fd, 4096)
        if len(chunk) < 4096:  # a regular file's short read is its end
            return chunk
        chunks = [chunk]
        while chunk := os.read(fd, 4096):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _append_line(path: str, line: bytes) -> None:
    """Append one line to a log file, making its folders when missing."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o666)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, flags, 0o666)
    try:
        os.write(fd, line + b"\n")
    finally:
        os.close(fd)


def _packed_ref(controldir: Path, name: bytes) -> Any:
    try:
        lines = (controldir / "packed-refs").read_bytes().splitlines()
    except FileNotFoundError:
        return None  # a branch with no commit yet
    except OSError:
        return _UNKNOWN
    for line in lines:
        sha, _, ref = line.partition(b" ")
        if ref.strip() == name:
            return sha.decode() if _is_id(sha) else _UNKNOWN
    return None


_REF_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._/-]*")


def _ref_from_files(controldir: Path, name: str) -> Any:
    """The id ``name`` names as git looks it up (the name itself, then under
    refs/heads/ and refs/tags/): a str, None if no ref has it, or
    :data:`_UNKNOWN` for anything outside the plain layout."""
    unsafe = ".." in name or name.endswith((".lock", "/"))
    if unsafe or not _REF_NAME.fullmatch(name):
        return _UNKNOWN
    if name == "HEAD":
        return _head_from_files(controldir)
    for candidate in (name, f"refs/heads/{name}", f"refs/tags/{name}"):
        try:
            value = _read_small(os.path.join(controldir, candidate)).strip()
        except FileNotFoundError:
            if candidate.startswith("refs/"):
                found = _packed_ref(controldir, candidate.encode())
                if found is not None:
                    return found
            continue
        except OSError:
            return _UNKNOWN
        return value.decode() if _is_id(value) else _UNKNOWN
    return None


def _branch_value(path: Path, controldir: Path) -> bytes | None:
    """The branch's id from its loose file, else from ``packed-refs`` (as git
    leaves it after ``gc``; the move then writes the loose file, which git
    reads first); None when it is neither."""
    try:
        current = _read_small(str(path))
    except FileNotFoundError:
        packed = _packed_ref(controldir, BRANCH)
        return packed.encode() if isinstance(packed, str) else None
    if not re.fullmatch(rb"[0-9a-f]{40}\n?", current):
        return None
    return current.strip()


class HistoryConflictError(RefusedError):
    """HEAD moved while a change was being made; nothing was committed."""


def _conflict() -> HistoryConflictError:
    return HistoryConflictError(
        "the store's history moved while this change was made "
        "(another program committed); nothing was committed, retry"
    )


class BranchMove(Record):
    """A locked branch with its new id written and synced: renamed by ``finish``."""

    _fields = (
        "controldir", "path", "lock", "old", "new", "committer", "message", "done",
    )

    def __init__(
        self,
        controldir: Path,
        path: Path,
        lock: Path,
        old: str,
        new: str,
        committer: bytes,
        message: str,
        done: bool = False,
    ) -> None:
        self.controldir = controldir
        self.path = path
        self.lock = lock
        self.old = old
        self.new = new
        self.committer = committer
        self.message = message
        self.done = done

    @property
    def folder(self) -> Path:
        """The branch's folder, whose rename ``finish`` may leave unsynced."""
        return self.path.parent

    def finish(self, sync_folder: bool = True) -> None:
        """Rename the lock onto the branch, fsync its folder, log the move.

        With ``sync_folder`` false the caller fsyncs :attr:`folder` before
        the change is acknowledged (with the audit record, in one round).
        """
        try:
            fsutil.replace_then_free(self.lock, self.path)
        except OSError as exc:
            raise storage_error(exc, self.path) from None
        self.done = True
        # The branch has moved: what is left cannot undo the change, so a
        # refusal here is reported, not raised (the files stay as committed).
        try:
            if sync_folder:
                fsutil.fsync_dir(self.path.parent)
            line = _reflog_line(
                self.old.encode(), self.new.encode(), self.committer,
                int(time.time()), self.message.encode()[:200],
            )
            _append_line(f"{self.controldir}/logs/{os.fsdecode(BRANCH)}", line)
        except OSError as exc:
            from vpa_config import logs

            logs.emit(
                "git.ref_log_failed", level="error", ref=os.fsdecode(BRANCH),
                revision=self.new, error=str(storage_error(exc, self.path)),
            )

    def abort(self) -> None:
        """Drop the lock, unless the move was made."""
        if not self.done:
            self.lock.unlink(missing_ok=True)


class GitRepo:
    """A store's embedded repository, opened once per process.

    dulwich is imported and its repository opened on the first question that
    needs objects: a read answered from the history index (``audit``,
    ``blame``, ``log``) asks only where HEAD points, which :meth:`head` reads
    from the ref files as git writes them.
    """

    def __init__(self, path: Path, controldir: Path, repo: Any = None) -> None:
        self._dulwich = repo
        # Objects are read from the folder itself where the layout is the
        # plain one ``open`` checks for; dulwich answers what this misses.
        self._reader: ObjectReader | None = (
            ObjectReader(controldir / "objects") if repo is None else None
        )
        # Flattened trees by tree id and tree ids by commit id: both are
        # content-addressed, so an entry can never go stale.
        self._trees: dict[bytes, FileTree] = {}
        self._commit_trees: dict[str, bytes] = {}
        self._blobs: dict[str, bytes] = {}
        # The last commits and trees this process wrote, read back by the
        # next change (its base tree) and by the history index.
        self._written_commits: dict[str, CommitInfo] = {}
        self._written_trees: dict[bytes, dict[bytes, tuple[int, bytes]]] = {}
        # How the trees this process wrote are laid out (see _tree_raw).
        self._tree_layouts: dict[bytes, _TreeLayout] = {}
        self.path = path
        self.controldir = controldir
        # Files made ahead for this process's next change (spares.py), or None.
        self.spares: Any = None

    # --- opening ---------------------------------------------------------

    @classmethod
    def init(cls, path: Path) -> GitRepo:
        """Create the repository at ``path`` (an existing, empty-enough folder)."""
        from dulwich.repo import Repo

        repo = Repo.init(str(path), default_branch=b"main")
        config = repo.get_config()
        config.set((b"gc",), b"auto", b"0")
        config.set((b"user",), b"useConfigOnly", b"false")
        config.write_to_path()
        repo.close()
        return cls.open(path)

    @classmethod
    def open(cls, path: Path) -> GitRepo:
        """Open the repository of the store at ``path``.

        A plain ``.git`` folder with its objects and HEAD is opened lazily;
        anything else (a ``.git`` file, a damaged folder) is opened by dulwich
        at once, so that what it refuses is refused here.
        """
        controldir = Path(path) / ".git"
        if (controldir / "objects").is_dir() and (controldir / "HEAD").is_file():
            return cls(Path(path), controldir)
        repo = _open_dulwich(path)
        return cls(
            Path(os.fsdecode(repo.path)), Path(os.fsdecode(repo.controldir())), repo
        )

    @property
    def _repo(self) -> Any:
        """The dulwich repository, opened on first use."""
        if self._dulwich is None:
            self._dulwich = _open_dulwich(self.path)
        return self._dulwich

    def close(self) -> None:
        """Release the repository's open files (and remove its spare files)."""
        if self.spares is not None:
            self.spares.close()
        if self._reader is not None:
            self._reader.close()
        if self._dulwich is not None:
            self._dulwich.close()

    # --- reading ---------------------------------------------------------

    def head(self) -> str | None:
        """The hex id of the commit HEAD points to, or None before the first."""
        found = _head_from_files(self.controldir)
        if found is not _UNKNOWN:
            return found
        if not os.path.lexists(self.controldir / "HEAD"):
            raise DamagedStoreError(
                f"{self.controldir / 'HEAD'} is missing, so no branch is current: "
                "the repository is damaged (a store's HEAD holds "
                "'ref: refs/heads/main')"
            )
        try:
            value = self._repo.refs[b"HEAD"]
        except KeyError:
            return None
        except Exception as exc:  # noqa: BLE001 (a ref dulwich cannot parse)
            raise damage_of(exc, "HEAD") or exc from None
        if not _is_id(value):
            raise _damaged_head(self.controldir, value)
        return value.decode()

    def resolve(self, spec: str) -> str:
        """A full commit id from a hash, short hash, ``REV~N``, branch or tag."""
        from vpa_config.values import text_argument

        spec = text_argument("revision", spec)
        match = re.fullmatch(r"(.+?)((?:[~^]\d*)*)", spec.strip())
        if not match or not spec.strip():
            raise RevisionNotFoundError(f"revision {spec!r} is not a revision name")
        sha = self._resolve_base(match.group(1), spec)
        for op, count in re.findall(r"([~^])(\d*)", match.group(2)):
            steps = int(count) if count else 1
            if op == "^" and count:
                sha = self._nth_parent(sha, steps, spec)
            else:
                for _ in range(steps):
                    sha = self._nth_parent(sha, 1, spec)
        return sha

    def _resolve_base(self, name: str, spec: str) -> str:
        if len(name) == 40 and re.fullmatch(r"[0-9a-fA-F]{40}", name):
            # A full id names its commit, as in git: no ref is looked up
            # (so dulwich is not opened for a restore given the full hash).
            found = self._read_object(name.lower())
            if found is not None and found[0] == b"commit":
                return name.lower()
        resolved = self._resolve_from_files(name, spec)
        if resolved is not None:
            return resolved
        refs = self._repo.refs
        for candidate in (
            name.encode(),
            b"refs/heads/" + name.encode(),
            b"refs/tags/" + name.encode(),
        ):
            try:
                sha = refs[candidate]
            except (KeyError, ValueError):
                continue
            return self._peel(sha).decode()
        if re.fullmatch(r"[0-9a-fA-F]{4,40}", name):
            return self._expand_short(name.lower(), spec)
        raise RevisionNotFoundError(f"revision {spec!r} not found in the store's history")

    def _resolve_from_files(self, name: str, spec: str) -> str | None:
        """``_resolve_base`` from the ref files and objects; None: ask dulwich.

        A branch, a tag (peeled) or HEAD in the plain layout, or a full id
        of an object found here. A name no ref file has raises at once, as
        dulwich would; short ids and anything unusual go to dulwich.
        """
        if self._reader is None:
            return None
        found = _ref_from_files(self.controldir, name)
        if isinstance(found, str):
            return self._peel_read(found)
        if found is _UNKNOWN:
            return None
        if _is_id(name.encode()) and self._reader.contains(name):
            return name
        if re.fullmatch(r"[0-9a-fA-F]{4,40}", name):
            return None  # a short id: dulwich searches its indexes
        raise RevisionNotFoundError(
            f"revision {spec!r} not found in the store's history"
        )

    def _peel_read(self, sha: str) -> str | None:
        """The commit a ref names, through annotated tags; None: ask dulwich."""
        for _ in range(16):
            found = self._read_object(sha)
            if found is None:
                return None
            if found[0] != b"tag":
                return sha
            target = found[1].partition(b"\n")[0]
            if not target.startswith(b"object ") or not _is_id(target[7:]):
                return None
            sha = target[7:].decode()
        return None

    def _peel(self, sha: bytes) -> bytes:
        obj = self._repo.object_store[sha]
        while obj.type_name == b"tag":
            obj = self._repo.object_store[obj.object[1]]
        return bytes(obj.id)

    def _expand_short(self, prefix: str, spec: str) -> str:
        store = self._repo.object_store
        if len(prefix) == 40:
            if prefix.encode() in store:
                return prefix
            raise RevisionNotFoundError(f"revision {spec!r} not found in the store's history")
        # The object store finds the prefix in its pack indexes and loose
        # folders without walking history; only commits count as revisions.
        found = {
            sha.decode()
            for sha in store.iter_prefix(prefix.encode())
            if self._is_commit(sha)
        }
        if not found:
            raise RevisionNotFoundError(f"revision {spec!r} not found in the store's history")
        if len(found) > 1:
            raise RevisionNotFoundError(
                f"revision {spec!r} is ambiguous ({len(found)} commits); give more digits"
            )
        return found.pop()

    def _is_commit(self, sha: bytes) -> bool:
        try:
            type_num, _ = self._repo.object_store.get_raw(sha)
        except KeyError:
            return False
        return bool(type_num == 1)

    def _nth_parent(self, sha: str, n: int, spec: str) -> str:
        parents = self.commit(sha).parents
        if n > len(parents) or n < 1:
            raise RevisionNotFoundError(
                f"revision {spec!r} goes back past the first revision"
            )
        return parents[n - 1]

    def iter_commit_ids(self, start: str | None = None) -> Iterator[bytes]:
        """Commit ids from ``start`` (HEAD) back along first parents."""
        sha = start or self.head()
        while sha:
            yield sha.encode()
            parents = self.commit(sha).parents
            sha = parents[0] if parents else None

    def commit(self, sha: str) -> CommitInfo:
        """One commit by its full hex id."""
        written = self._written_commits.get(sha)
        if written is not None:
            return written
        found = self._read_object(sha)
        if found is not None and found[0] == b"commit":
            info = _parse_commit(sha, found[1])
            if info is not None:
                return info
        try:
            obj = self._repo.object_store[sha.encode()]
        except KeyError:
            raise RevisionNotFoundError(f"revision {sha} is missing from the repository") from None
        except Exception as exc:  # noqa: BLE001 (damaged: say which object)
            named = self._object_named("commit", sha)
            raise damage_of(exc, named) or exc from None
        if obj.type_name != b"commit":
            raise RevisionNotFoundError(f"{sha} is a {obj.type_name.decode()}, not a revision")
        return _commit_info(sha, obj)

    def walk(self, start: str | None = None) -> Iterator[CommitInfo]:
        """Commits newest first along first parents (history here is linear).

        Each commit is read once: its first parent names the next one.
        """
        sha = start or self.head()
        while sha:
            info = self.commit(sha)
            yield info
            sha = info.parents[0] if info.parents else None

    def files(self, rev: str | None) -> FileTree:
        """Every file of the revision's tree, flattened; empty before any commit."""
        if rev is None:
            return {}
        tree = self._commit_tree(rev)
        found = self._trees.get(tree)
        if found is None:
            found = {}
            self._flatten(tree, "", found)
            if len(self._trees) >= TREE_CACHE:
                self._trees.pop(next(iter(self._trees)))
            self._trees[tree] = found
        return dict(found)

    def _commit_tree(self, rev: str) -> bytes:
        tree = self._commit_trees.get(rev)
        if tree is None:
            tree = self.commit(rev).tree.encode()
            if len(self._commit_trees) >= TREE_CACHE:
                self._commit_trees.pop(next(iter(self._commit_trees)))
            self._commit_trees[rev] = tree
        return tree

    def _flatten(self, tree_id: bytes, prefix: str, out: FileTree) -> None:
        for path, (mode, sha) in self._read_entries(tree_id).items():
            name = prefix + path.decode("utf-8", "surrogateescape")
            if stat.S_ISDIR(mode):
                self._flatten(sha, name + "/", out)
            elif stat.S_ISREG(mode):
                out[name] = (mode, sha.decode())

    def changed_paths(self, old: str | None, new: str) -> list[str]:
        """Files that differ between two revisions' trees (old None: all of new)."""
        return [path for path, _old, _new in self.file_changes(old, new)]

    def file_changes(
        self, old: str | None, new: str
    ) -> list[tuple[str, str | None, str | None]]:
        """(path, old blob, new blob) of each file that differs between two revisions."""
        old_tree = self.commit(old).tree.encode() if old else None
        return self.tree_file_changes(old_tree, self.commit(new).tree.encode())

    def tree_file_changes(
        self, old_tree: bytes | None, new_tree: bytes
    ) -> list[tuple[str, str | None, str | None]]:
        """Like :meth:`file_changes`, from two tree ids (saves a commit read)."""
        before: FileTree = {}
        after: FileTree = {}
        self._diff_entries(old_tree, new_tree, "", before, after)
        return [
            (
                path,
                before[path][1] if path in before else None,
                after[path][1] if path in after else None,
            )
            for path in sorted(before.keys() | after.keys())
        ]

    def _tree_entries(self, tree_id: bytes) -> dict[bytes, tuple[int, bytes]]:
        """A tree's entries, remembered for the next diff (a walk reads each twice)."""
        cache: dict[bytes, dict[bytes, tuple[int, bytes]]] = self.__dict__.setdefault(
            "_entries_cache", {}
        )
        found = cache.get(tree_id)
        if found is None:
            if len(cache) >= 64:
                cache.clear()
            found = cache[tree_id] = self._read_entries(tree_id)
        return found

    def _read_entries(self, tree_id: bytes) -> dict[bytes, tuple[int, bytes]]:
        """A tree's entries from its raw text (half the cost of a Tree object)."""
        found = self._read_object(tree_id.decode())
        if found is not None and found[0] == b"tree":
            entries = _tree_entries(found[1])
            if entries is not None:
                return entries
        store = self._repo.object_store
        try:
            type_num, raw = store.get_raw(tree_id)
            if type_num == 2:
                return {name: (mode, sha) for name, mode, sha in _parse_tree(raw)}
        except Exception:  # noqa: BLE001 (missing or malformed: dulwich's Tree says why)
            pass
        try:
            return _entries(store[tree_id])
        except KeyError:
            raise
        except Exception as exc:  # noqa: BLE001 (damaged: say which object)
            named = self._object_named("tree", tree_id.decode())
            raise damage_of(exc, named) or exc from None

    def _diff_entries(
        self,
        old: bytes | None,
        new: bytes | None,
        prefix: str,
        before: FileTree,
        after: FileTree,
    ) -> None:
        if old == new:
            return
        old_entries = self._tree_entries(old) if old else {}
        new_entries = self._tree_entries(new) if new else {}
        # The entries that differ, found by a set operation rather than a loop.
        for name in {name for name, _ in old_entries.items() ^ new_entries.items()}:
            was = old_entries.get(name)
            now = new_entries.get(name)
            path = prefix + name.decode("utf-8", "surrogateescape")
            was_dir = was is not None and stat.S_ISDIR(was[0])
            now_dir = now is not None and stat.S_ISDIR(now[0])
            if was_dir or now_dir:
                self._diff_entries(
                    was[1] if was_dir else None,  # type: ignore[index]
                    now[1] if now_dir else None,  # type: ignore[index]
                    path + "/",
                    before,
                    after,
                )
            if was is not None and not was_dir and stat.S_ISREG(was[0]):
                before[path] = (was[0], was[1].decode())
            if now is not None and not now_dir and stat.S_ISREG(now[0]):
                after[path] = (now[0], now[1].decode())

    def write_blob(self, content: bytes, staged: StagedWrites | None = None) -> str:
        """Store ``content`` as a blob; return its id (see :meth:`add`)."""
        return self.add_raw(b"blob", content, staged).decode()

    def blob(self, blob_id: str) -> bytes:
        """The content of a blob (the last few small ones are remembered)."""
        found = self._blobs.get(blob_id)
        if found is None:
            found = self._read_blob(blob_id.encode())
            self._remember_blob(blob_id, found)
        return found

    def _read_blob(self, sha: bytes) -> bytes:
        """An object's content from the store, raw (no dulwich object is built)."""
        found = self._read_object(sha.decode())
        if found is not None:
            return found[1]
        try:
            return bytes(self._repo.object_store.get_raw(sha)[1])
        except KeyError:
            raise
        except Exception as exc:  # noqa: BLE001 (damaged: say which object)
            named = self._object_named("blob", sha.decode())
            raise damage_of(exc, named) or exc from None

    def _object_named(self, kind: str, sha: str) -> str:
        """``commit ID`` and, when the object is loose, the file that holds it."""
        path = self.controldir / "objects" / sha[:2] / sha[2:]
        return f"{kind} {sha}, {path}" if path.is_file() else f"{kind} {sha}"

    def _read_object(self, sha: str) -> tuple[bytes, bytes] | None:
        """(type name, content) read without dulwich, or None: ask dulwich."""
        if self._reader is None or not _is_id(sha.encode()):
            return None
        return self._reader.read(sha)

    def _remember_blob(self, blob_id: str, content: bytes) -> None:
        if len(content) <= BLOB_CACHE_MAX_SIZE:
            while len(self._blobs) >= BLOB_CACHE:
                try:
                    del self._blobs[next(iter(self._blobs))]
                except (KeyError, StopIteration, RuntimeError):
                    break  # another thread evicted first
            self._blobs[blob_id] = bytes(content)

    def has_object(self, sha: str) -> bool:
        """Whether the object store holds ``sha``."""
        if self._reader is not None and _is_id(sha.encode()):
            if self._reader.contains(sha):
                return True
        return sha.encode() in self._repo.object_store

    def add(self, obj: Any, staged: StagedWrites | None = None) -> bytes:
        """Store one object as a loose object file, durably; return its id.

        Written like every other file (temporary file, fsync, rename, fsync
        of the folder) rather than through dulwich's ``add_object``: that one
        leaves ``OBJECT.lock`` behind when the disk fills up at close, which
        then refuses every later write of the same object, and it does not
        sync the folder, so a power cut could lose an object a ref points to.
        With ``staged`` the object is only written to its temporary file: the
        caller makes it durable (or its bytes, in a journal) and places the
        batch before anything refers to it.
        """
        # A change's objects go to ``staged`` unsynced: its journal carries
        # their bytes, and their fsyncs and their folders' come after it
        # returns (synctail.py). Written as one small pack instead (2 files
        # in 1 folder, merged now and then) they saved fsync waits in a
        # trial, but building the pack and searching the packs cost as much.
        return self.add_raw(obj.type_name, obj.as_raw_string(), staged)

    def add_raw(
        self,
        kind: bytes,
        raw: bytes,
        staged: StagedWrites | None = None,
        *,
        look: bool = True,
    ) -> bytes:
        """:meth:`add` for an object given by its type and content; its hex id.

        Without ``look`` it is written without asking whether the store holds
        it already (a new commit, which names its parent and the time): a
        second copy of an object is only a file more, never a wrong one.
        """
        return self._add(kind, raw, staged, look)[0]

    def _add(
        self, kind: bytes, raw: bytes, staged: StagedWrites | None, look: bool
    ) -> tuple[bytes, bool]:
        """:meth:`add_raw`, and whether the object was written (else stored)."""
        import zlib

        header, hexsha = _object_id(kind, raw)
        sha = hexsha.encode()
        # A str, not a Path: a change writes four objects, each on this path.
        path = f"{self.controldir}/objects/{hexsha[:2]}/{hexsha[2:]}"
        # A restore brings back blobs and trees the store already holds,
        # usually packed: nothing to write then.
        if look and self._stored(sha, path):
            return sha, False
        # Level 1, as git compresses loose objects unless told otherwise
        # (core.looseCompression): half the time of zlib's default on a
        # change's objects, for a few bytes more; packing recompresses them.
        packer = zlib.compressobj(
            zlib.Z_BEST_SPEED, zlib.DEFLATED,
            *_deflate_sizes(len(header) + len(raw)),
        )
        data = packer.compress(header) + packer.compress(raw) + packer.flush()
        if staged is None:
            fsutil.atomic_write(Path(path), data, 0o444)
        else:
            staged.write(path, data, 0o444)
        return sha, True

    def _stored(self, sha: bytes, path: str) -> bool:
        """Whether the object is loose at ``path`` or in a pack already open.

        The pack folder is not listed again for each object (dulwich does on
        every miss, and a change's new objects all miss): a pack that another
        program wrote since would only mean a second, loose copy.
        """
        if os.path.exists(path):
            return True
        if self._reader is not None:
            return self._reader.in_listed_packs(sha.decode())
        store = self._repo.object_store
        try:
            return any(sha in pack for pack in store._iter_cached_packs())
        except Exception:  # noqa: BLE001 (a pack gone meanwhile; another dulwich)
            return bool(store.contains_packed(sha))

    @staticmethod
    def blob_id(content: bytes) -> str:
        """The id git gives a blob of this content, without storing it."""
        return _object_id(b"blob", content)[1]

    # --- writing ---------------------------------------------------------

    def write_commit(
        self,
        *,
        changes: Mapping[str, tuple[bytes, int] | None],
        parent: str | None,
        author: bytes,
        committer: bytes,
        message: str,
        when: int,
        tz: int = 0,
        staged: StagedWrites | None = None,
        stored: Mapping[str, str] | None = None,
        tree: str | None = None,
    ) -> str:
        """Write blobs, trees and a commit on ``parent``; return the commit id.

        ``changes`` maps file paths to (content, mode), or None to delete.
        ``stored`` gives the blob id of contents the store already holds
        (a restore's): those are neither hashed nor looked for again.
        ``tree`` is the id of the stored tree that ``changes`` make of the
        parent's, when the caller knows it (a restore of a whole revision
        brings its tree back): no tree is built.
        The branch is not moved: :meth:`advance` does that. With ``staged``
        the objects wait in that batch (see :meth:`add`); without it they are
        made durable here, their fsyncs together.
        """
        if staged is None:
            batch = StagedWrites()
            try:
                commit = self.write_commit(
                    changes=changes, parent=parent, author=author,
                    committer=committer, message=message, when=when, tz=tz,
                    staged=batch, stored=stored, tree=tree,
                )
                batch.sync()
                batch.place(batch.pending())
            finally:
                batch.discard()
            return commit
        updates: dict[tuple[bytes, ...], tuple[int, bytes] | None] = {}
        written: set[bytes] = set()
        with _storage_errors():
            for path, change in changes.items():
                key = tuple(part.encode() for part in path.split("/"))
                if change is None:
                    updates[key] = None
                    continue
                known = stored.get(path) if stored else None
                if known:
                    blob_id = known.encode()
                else:
                    blob_id, new = self._add(b"blob", change[0], staged, True)
                    if new:
                        written.add(blob_id)
                self._remember_blob(blob_id.decode(), change[0])
                updates[key] = (change[1], blob_id)
            base = self._commit_tree(parent) if parent else None
            root = tree.encode() if tree else (
                self._update_tree(base, updates, staged, written)
                or self._empty_tree(staged)
            )

            parents = (parent,) if parent else ()
            raw = _serialize_commit(
                root, parents, author, committer, when, tz, message.encode()
            )
            commit_id = self.add_raw(b"commit", raw, staged, look=False).decode()
        self._remember_commit(CommitInfo(
            sha=commit_id, parents=parents, tree=root.decode(),
            author=author.decode(errors="replace"), author_time=when, author_tz=tz,
            committer=committer.decode(errors="replace"), message=message,
            commit_time=when,
        ))
        self._remember(commit_id, root, base, updates)
        return commit_id

    def tree_of(self, rev: str) -> str:
        """The id of the revision's root tree."""
        return self._commit_tree(rev).decode()

    def forget(self, commit: str) -> None:
        """Drop a written commit that never reached the branch from the caches."""
        self._written_commits.pop(commit, None)

    def _remember_commit(self, info: CommitInfo) -> None:
        if len(self._written_commits) >= WRITTEN_CACHE:
            self._written_commits.pop(next(iter(self._written_commits)), None)
        self._written_commits[info.sha] = info

    def _remember(
        self,
        commit: str,
        tree: bytes,
        base: bytes | None,
        updates: Mapping[tuple[bytes, ...], tuple[int, bytes] | None],
    ) -> None:
        """Cache the new commit's flattened tree from its parent's, if known."""
        _bounded_put(self._commit_trees, commit, tree)
        known = self._trees.get(base) if base else {}
        if known is None or tree in self._trees:
            return
        flat = dict(known)
        folders = {path[:n] for path in updates for n in range(1, len(path))}
        if folders & set(updates):
            return
        for path, entry in updates.items():
            name = "/".join(part.decode("utf-8", "surrogateescape") for part in path)
            # A file of the parent's tree that stays one: no folder changes.
            if entry is not None and name in flat and not stat.S_ISDIR(entry[0]):
                flat[name] = (entry[0], entry[1].decode())
                continue
            parents = ["/".join(name.split("/")[:n]) for n in range(1, len(path))]
            if any(p in flat for p in parents) or any(
                other.startswith(name + "/") for other in flat
            ):
                return  # a file turns into a folder or back: flatten when asked
            if entry is None:
                flat.pop(name, None)
            else:
                flat[name] = (entry[0], entry[1].decode())
        _bounded_put(self._trees, tree, flat)

    def _empty_tree(self, staged: StagedWrites) -> bytes:
        return self.add_raw(b"tree", b"", staged)

    def _update_tree(
        self,
        tree_id: bytes | None,
        updates: Mapping[tuple[bytes, ...], tuple[int, bytes] | None],
        staged: StagedWrites,
        written: set[bytes],
    ) -> bytes | None:
        """Write the tree ``tree_id`` with ``updates``; its hex id (None: empty).

        Entries are edited as (mode, hex id) pairs and written in git's
        order, without building dulwich objects. ``written`` holds the ids of
        the objects this change wrote (not found stored); a tree naming one
        of them is new too (git stores no tree before what it names; were one
        stored, the copy written would only be a file more), so the store is
        not searched for it.
        """
        entries = self._raw_entries(tree_id)
        nested: dict[bytes, dict[tuple[bytes, ...], Any]] = {}
        touched = {path[0] for path in updates}
        for path, entry in updates.items():
            if len(path) == 1:
                if entry is None:
                    entries.pop(path[0], None)
                else:
                    entries[path[0]] = entry
            else:
                nested.setdefault(path[0], {})[path[1:]] = entry
        for name, sub_updates in nested.items():
            old = entries.get(name)
            current = old[1] if old is not None and stat.S_ISDIR(old[0]) else None
            sub = self._update_tree(current, sub_updates, staged, written)
            if sub is None:
                entries.pop(name, None)
            else:
                entries[name] = (stat.S_IFDIR, sub)
        if not entries:
            return None
        raw, layout = self._tree_raw(tree_id, entries, touched)
        look = not any(
            name in entries and entries[name][1] in written for name in touched
        )
        new_id, new = self._add(b"tree", raw, staged, look)
        if new:
            written.add(new_id)
        for cache, value in (
            (self._written_trees, entries), (self._tree_layouts, layout),
        ):
            if len(cache) >= WRITTEN_CACHE:
                cache.pop(next(iter(cache)), None)
            cache[new_id] = value  # type: ignore[index]
        return new_id

    def _tree_raw(
        self,
        base: bytes | None,
        entries: Mapping[bytes, tuple[int, bytes]],
        touched: set[bytes],
    ) -> tuple[bytes, _TreeLayout]:
        """The tree object of ``entries``, which differ from tree ``base``'s
        at ``touched`` names only, and its layout.

        When ``base`` is a tree this process wrote and no name was added,
        removed or turned from file to folder (or back), git's order of the
        names is the base's: only the touched entries are written anew.
        """
        layout = self._tree_layouts.get(base) if base else None
        if layout is not None and len(entries) == len(layout.at) and all(
            name in layout.at and name in entries
            and stat.S_ISDIR(entries[name][0]) == (name in layout.folders)
            for name in touched
        ):
            pieces = list(layout.pieces)
            for name in touched:
                pieces[layout.at[name]] = _tree_entry(name, *entries[name])
            return b"".join(pieces), _TreeLayout(pieces, layout.at, layout.folders)
        layout = _TreeLayout.of(entries)
        return b"".join(layout.pieces), layout

    def _raw_entries(self, tree_id: bytes | None) -> dict[bytes, tuple[int, bytes]]:
        """name -> (mode, hex id) of a tree (one this process wrote: no read)."""
        if not tree_id:
            return {}
        written = self._written_trees.get(tree_id)
        if written is not None:
            return dict(written)
        return self._read_entries(tree_id)

    def advance(
        self,
        old: str | None,
        new: str,
        message: str,
        *,
        committer: bytes | None = None,
    ) -> None:
        """Move the branch from ``old`` to ``new``, only if it is still at ``old``.

        The reflog line names ``committer`` (else git's configured identity).
        """
        if old is not None and committer is not None:
            batch = StagedWrites()
            move = self.prepare_advance(old, new, message, committer, batch)
            if move is not None:
                try:
                    batch.sync()
                    move.finish()
                finally:
                    batch.discard()
                    move.abort()
                return
        reflog = message.encode()[:200]
        refs = self._repo.refs
        with _storage_errors():
            if old is None:
                moved = refs.add_if_new(
                    BRANCH, new.encode(), message=reflog, committer=committer
                )
            else:
                moved = refs.set_if_equals(
                    BRANCH, old.encode(), new.encode(), message=reflog,
                    committer=committer,
                )
        if not moved:
            raise _conflict()

    def prepare_advance(
        self,
        old: str,
        new: str,
        message: str,
        committer: bytes,
        staged: StagedWrites,
    ) -> BranchMove | None:
        """Lock the branch and check it is at ``old``; the move waits for ``finish``.

        As git does it: ``main.lock`` is created exclusively (a git command
        holding it makes this refuse), the branch is read under it and the
        new id written to it; ``staged.sync()`` fsyncs it with the change's
        other files and :meth:`BranchMove.finish` renames it into place (a
        branch only in ``packed-refs`` gets its loose file so). None when the
        branch is neither a plain loose ref nor a packed one (symbolic, say):
        :meth:`advance` moves those through dulwich.

        Raises:
            HistoryConflictError: the branch is no longer at ``old``.
        """
        path = self.controldir / os.fsdecode(BRANCH)
        lock = path.with_name(path.name + ".lock")
        try:
            fd = fsutil.create_exclusively(lock, 0o644, staged.spares)
        except FileExistsError:
            raise StorageError(
                f"cannot write {lock.with_suffix('')}: its lock file exists "
                "(a git program is writing, or one was killed); nothing was changed"
            ) from None
        except FileNotFoundError:
            return None  # no refs/heads folder: not the plain layout
        except OSError as exc:
            raise storage_error(exc, lock) from None
        move = BranchMove(self.controldir, path, lock, old, new, committer, message)
        try:
            # Read once, under the lock: no git program can move it meanwhile.
            current = _branch_value(path, self.controldir)
            if current is None:  # neither loose nor packed: dulwich moves it
                os.close(fd)
                move.abort()
                return None
            if current != old.encode():
                raise _conflict()
            os.write(fd, new.encode() + b"\n")
        except BaseException as exc:
            os.close(fd)
            move.abort()
            if isinstance(exc, OSError):
                raise storage_error(exc, lock) from None
            raise
        staged.add_descriptor(fd, lock)
        return move

    def update_index(
        self,
        tree: FileTree,
        root: Path,
        paths: list[str],
        placed: Mapping[Path, os.stat_result] | None = None,
    ) -> None:
        """Make git's index agree with the committed files, so git sees them clean.

        The index is git's cache of the working tree, not part of a change:
        it is not fsynced, and while a git command holds ``index.lock`` it is
        left alone (``git status`` then re-reads the files it does not know).
        The change is committed by then, so an index that cannot be written
        (a full disk, a damaged file) is reported, not raised. ``placed``
        holds the stat of files as the change renamed them into place (see
        ``StagedWrites.placed``); other files are looked at now.
        """
        from vpa_config import gitindex, logs

        try:
            if not gitindex.update(
                self.controldir, root, tree, paths, placed, self.spares
            ):
                self._update_index_dulwich(tree, root, paths)
        except gitindex.IndexBusyError as exc:
            logs.emit("git.index_busy", level="warning", lock=str(exc))
        except Exception as exc:  # noqa: BLE001 (the change itself is committed)
            logs.emit(
                "git.index_stale", level="warning", paths=paths,
                error=f"{type(exc).__name__}: {exc}",
            )

    def _update_index_dulwich(
        self, tree: FileTree, root: Path, paths: list[str]
    ) -> None:
        from dulwich.index import index_entry_from_stat

        with _storage_errors():
            index = self._repo.open_index()
            for path in paths:
                key = path.encode("utf-8", "surrogateescape")
                if path in tree:
                    st = os.lstat(root / path)
                    mode, sha = tree[path]
                    index[key] = index_entry_from_stat(st, sha.encode(), mode)
                elif key in index:
                    del index[key]
            index.write()

    def index_files(self, index_path: Path | None = None) -> FileTree:
        """The files staged in git's index (or the index file at ``index_path``).

        A ``git commit -a`` or ``git commit FILE`` hands its hooks a temporary
        index through ``GIT_INDEX_FILE``; the caller passes that path here.
        """
        from dulwich.index import ConflictedIndexEntry, Index

        path = index_path or self.controldir / "index"
        if not path.exists():
            return {}
        found: FileTree = {}
        for name, entry in Index(str(path)).items():
            if isinstance(entry, ConflictedIndexEntry):
                entry = entry.this or entry.other or entry.ancestor
                if entry is None:
                    continue
            if stat.S_ISREG(entry.mode):
                key = name.decode("utf-8", "surrogateescape")
                found[key] = (entry.mode, entry.sha.decode())
        return found

    def pack(self) -> int:
        """Pack loose objects into one pack file; return how many were packed."""
        count = int(self._repo.object_store.pack_loose_objects())
        if self._reader is not None:
            self._reader.close()  # the next read lists the new pack
        return count

    def install_hook(self, name: str, script: bytes) -> Path:
        """Write an executable hook script into the repository's hooks folder."""
        hooks = self.controldir / "hooks"
        hooks.mkdir(exist_ok=True)
        target = hooks / name
        target.write_bytes(script)
        target.chmod(0o755)
        return target



@contextmanager
def _storage_errors() -> Iterator[None]:
    """Turn the disk's refusals, and lock files left behind, into StorageError."""
    try:
        yield
    except OSError as exc:
        raise storage_error(exc) from None
    except Exception as exc:
        # Only dulwich raises FileLocked: if it was never imported, this is
        # something else (and the change path need not import it).
        file = sys.modules.get("dulwich.file")
        if file is None or not isinstance(exc, file.FileLocked):
            raise
        raise StorageError(
            f"cannot write {os.fsdecode(exc.filename)}: its lock file exists "
            "(a git program is writing, or one was killed); nothing was changed"
        ) from None


def _parse_tree(raw: bytes) -> list[tuple[bytes, int, bytes]]:
    """(name, mode, hex id) of each entry of a raw tree (any dulwich version)."""
    from dulwich.objects import parse_tree

    try:
        return list(parse_tree(raw, 20))
    except TypeError:  # dulwich before SHA-256 support: no length argument
        return list(parse_tree(raw))


def _bounded_put(cache: dict[Any, Any], key: Any, value: Any) -> None:
    """``cache[key] = value``, first dropping the oldest entry of a full cache."""
    if key not in cache and len(cache) >= TREE_CACHE:
        cache.pop(next(iter(cache)), None)
    cache[key] = value


def _serialize_tree(entries: Mapping[bytes, tuple[int, bytes]]) -> bytes:
    """A tree object's content: entries sorted as git sorts them (a folder's
    name as if it ended in "/"), each "MODE NAME\\0" and the binary id."""
    return b"".join(_TreeLayout.of(entries).pieces)


def _tree_entry(name: bytes, mode: int, hexsha: bytes) -> bytes:
    """One entry of a tree object: "MODE NAME\\0" and the binary id."""
    return b"%04o %s\x00%s" % (mode, name, unhexlify(hexsha))


class _TreeLayout:
    """A tree object in pieces: each entry's bytes in git's order, where each
    name is, and which names are folders (whose place sorts as NAME/)."""

    __slots__ = ("pieces", "at", "folders")

    def __init__(
        self, pieces: list[bytes], at: dict[bytes, int], folders: frozenset[bytes]
    ) -> None:
        self.pieces = pieces
        self.at = at  # shared by the layouts of one set of names: never changed
        self.folders = folders

    @classmethod
    def of(cls, entries: Mapping[bytes, tuple[int, bytes]]) -> _TreeLayout:
        folders = frozenset(
            name for name, (mode, _sha) in entries.items() if stat.S_ISDIR(mode)
        )
        def place(name: bytes) -> bytes:
            return name + b"/" if name in folders else name

        order = sorted(entries, key=place)
        pieces = [_tree_entry(name, *entries[name]) for name in order]
        return cls(pieces, {name: at for at, name in enumerate(order)}, folders)


def _serialize_commit(
    tree: bytes,
    parents: tuple[str, ...],
    author: bytes,
    committer: bytes,
    when: int,
    tz: int,
    message: bytes,
) -> bytes:
    """A commit object's content, as git (and dulwich) write it, in UTF-8."""
    zone = _format_zone(tz)
    headers = [
        (b"tree", tree),
        *((b"parent", parent.encode()) for parent in parents),
        (b"author", b"%s %d %s" % (author, when, zone)),
        (b"committer", b"%s %d %s" % (committer, when, zone)),
        (b"encoding", b"UTF-8"),
    ]
    lines = []
    for name, value in headers:
        first, *more = value.split(b"\n")
        lines.append(b"%s %s\n" % (name, first))
        lines.extend(b" %s\n" % line for line in more)  # a continued header
    return b"".join(lines) + b"\n" + message


def _format_zone(offset: int) -> bytes:
    """``+HHMM`` or ``-HHMM`` of an offset from UTC in seconds (whole minutes)."""
    if offset % 60:
        raise ValueError("a time zone offset is a whole number of minutes")
    sign = b"-" if offset < 0 else b"+"
    offset = abs(offset)
    return b"%s%02d%02d" % (sign, offset // 3600, offset // 60 % 60)


def _reflog_line(
    old: bytes, new: bytes, who: bytes, when: int, message: bytes
) -> bytes:
    """One line of a ref's log, as git writes it (UTC; the message on one line)."""
    one_line = b" ".join(message.split())
    return b"%s %s %s %d +0000\t%s" % (old, new, who, when, one_line)


def _tree_entries(raw: bytes) -> dict[bytes, tuple[int, bytes]] | None:
    """name -> (mode, hex id) of a raw tree; None if it is not well formed."""
    entries: dict[bytes, tuple[int, bytes]] = {}
    at, end = 0, len(raw)
    while at < end:
        space = raw.find(b" ", at)
        nul = raw.find(b"\x00", space + 1)
        if space < 0 or nul < 0 or nul + 21 > end:
            return None
        try:
            mode = int(raw[at:space], 8)
        except ValueError:
            return None
        entries[raw[space + 1:nul]] = (mode, hexlify(raw[nul + 1:nul + 21]))
        at = nul + 21
    return entries


def _parse_commit(sha: str, raw: bytes) -> CommitInfo | None:
    """The facts of a raw commit, as dulwich reads them; None if unusual.

    Headers other than the tree, parents, author, committer and encoding
    (a signature, a merge tag) are skipped; a repeated or continued header
    among those, or a commit without a message, is left to dulwich.
    """
    head, sep, message = raw.partition(b"\n\n")
    if not sep:
        return None
    fields: dict[bytes, bytes] = {}
    parents: list[str] = []
    previous = b""
    for line in head.split(b"\n"):
        if line.startswith(b" "):
            if previous in _COMMIT_FIELDS:
                return None
            continue
        name, _, value = line.partition(b" ")
        if name == b"parent":
            if previous not in (b"tree", b"parent") or not _is_id(value):
                return None
            parents.append(value.decode())
        elif name in fields or (not fields and name != b"tree"):
            return None
        elif name in _COMMIT_FIELDS:
            fields[name] = value
        previous = name
    author = _ident(fields.get(b"author"))
    committer = _ident(fields.get(b"committer"))
    tree = fields.get(b"tree", b"")
    if author is None or committer is None or not _is_id(tree):
        return None
    return CommitInfo(
        sha=sha,
        parents=tuple(parents),
        tree=tree.decode(),
        author=author[0].decode(errors="replace"),
        author_time=author[1],
        author_tz=author[2],
        committer=committer[0].decode(errors="replace"),
        message=message.decode(errors="replace"),
        commit_time=committer[1],
    )


_COMMIT_FIELDS = (b"tree", b"parent", b"author", b"committer", b"encoding")


def _ident(value: bytes | None) -> tuple[bytes, int, int] | None:
    """(person, time, zone offset in seconds) of an author or committer line."""
    if value is None:
        return None
    sep = value.rfind(b"> ")
    if sep < 0:
        return None
    when, _, zone = value[sep + 2:].rpartition(b" ")
    if zone[:1] not in (b"+", b"-") or not when.isdigit():
        return None
    try:
        offset = int(zone[1:])
    except ValueError:
        return None
    # As git reads it: the sign, then the rest as a number (itself signed).
    offset = -offset if zone[:1] == b"-" else offset
    sign = -1 if offset < 0 else 1
    offset = abs(offset)
    return value[:sep + 1], int(when), sign * (offset // 100 * 3600 + offset % 100 * 60)


def _entries(tree: Any) -> dict[bytes, tuple[int, bytes]]:
    return {entry.path: (entry.mode, entry.sha) for entry in tree.iteritems()}


def _commit_info(sha: str, commit: Any) -> CommitInfo:
    """The facts of a dulwich commit object, decoded."""
    return CommitInfo(
        sha=sha,
        parents=tuple(parent.decode() for parent in commit.parents),
        tree=commit.tree.decode(),
        author=commit.author.decode(errors="replace"),
        author_time=commit.author_time,
        author_tz=commit.author_timezone,
        committer=commit.committer.decode(errors="replace"),
        message=commit.message.decode(errors="replace"),
        commit_time=commit.commit_time,
    )
