"""The write side of a change, where it takes shortcuts past dulwich.

HEAD is read from its files, objects already stored are found without
listing the pack folder, temporary files are named by process and counter,
and a schema known good from the per-user record is kept with the store's
flags. Each shortcut must answer exactly as the long way does.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import git
from reliability import ACTOR, free_form_store, leftovers

from vpa_config import fsutil, gitrepo, settings_cache
from vpa_config.gitrepo import GitRepo
from vpa_config.layout import journal_left
from vpa_config.store import ConfigStore
from vpa_config.validation import CheckedSchemas, SchemaRegistry


@pytest.fixture(name="root")
def _root(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    free_form_store(root, {"a.yaml": b"a: 1\n"})
    return root


def _git_head(root: Path) -> str:
    return git(root, "rev-parse", "HEAD").strip()


def test_head_agrees_with_git_for_loose_packed_and_detached_refs(root: Path) -> None:
    repo = GitRepo.open(root)
    try:
        assert repo.head() == _git_head(root)
        git(root, "pack-refs", "--all")  # the branch now lives in packed-refs only
        assert not (root / ".git" / "refs" / "heads" / "main").exists()
        assert repo.head() == _git_head(root)
        git(root, "checkout", "-q", "--detach")
        git(root, "-c", "user.name=T", "-c", "user.email=t@example.org",
            "commit", "-q", "--allow-empty", "--no-verify", "-m", "detached")
        assert repo.head() == _git_head(root)
        assert repo.head() != git(root, "rev-parse", "main").strip()
    finally:
        repo.close()


def test_head_of_a_damaged_loose_ref_is_left_to_dulwich(root: Path) -> None:
    branch = root / ".git" / "refs" / "heads" / "main"
    sha = branch.read_text().strip()
    branch.write_text(sha)  # no newline: still a ref git reads
    repo = GitRepo.open(root)
    try:
        assert repo.head() == sha
    finally:
        repo.close()


def test_head_of_a_new_repository_is_none(tmp_path: Path) -> None:
    repo = GitRepo.init(tmp_path)
    try:
        assert repo.head() is None
    finally:
        repo.close()


def test_content_already_packed_is_not_written_loose_again(root: Path) -> None:
    store = ConfigStore.open(root)
    try:
        store.set("a.yaml", "a", 10, actor=ACTOR)
        store.set("a.yaml", "a", 11, actor=ACTOR)
        blob = store.repo.files(store.repo.head())["a.yaml"][1]
        store.repo.pack()
        loose = root / ".git" / "objects" / blob[:2] / blob[2:]
        assert not loose.exists()
        store.repo.blob(blob)  # a read: dulwich has the new pack open now

        store.set("a.yaml", "a", 10, actor=ACTOR)
        again = store.set("a.yaml", "a", 11, actor=ACTOR)
    finally:
        store.close()

    assert store.repo.files(again.revision)["a.yaml"][1] == blob
    assert not loose.exists()
    git(root, "fsck", "--strict")
    assert leftovers(root) == []


def test_a_new_object_is_written_when_no_pack_holds_it(root: Path) -> None:
    store = ConfigStore.open(root)
    try:
        store.repo.pack()
        result = store.set("a.yaml", "a", 12345, actor=ACTOR)
        blob = store.repo.files(result.revision)["a.yaml"][1]
    finally:
        store.close()
    assert (root / ".git" / "objects" / blob[:2] / blob[2:]).is_file()
    assert git(root, "cat-file", "-p", "HEAD:a.yaml") == "a: 12345\n"


def test_staged_writes_step_over_a_temporary_file_left_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fsutil, "_temp_count", itertools.count())
    left = tmp_path / f"{fsutil.TMP_PREFIX}{os.getpid()}-0"
    left.write_bytes(b"left by a killed process")
    target = tmp_path / "new.yaml"

    staged = fsutil.StagedWrites()
    staged.write(target, b"n: 1\n", 0o640)
    staged.sync()
    staged.place([target])
    staged.discard()

    assert target.read_bytes() == b"n: 1\n"
    assert target.stat().st_mode & 0o777 == 0o640
    assert left.read_bytes() == b"left by a killed process"
    assert list(fsutil.stray_temp_files(tmp_path)) == [left]


def test_the_user_record_of_checked_schemas_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vpa_config.validation import default_checked

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "a"))
    first = default_checked()
    assert default_checked() is first  # one object per record file
    assert first.path == tmp_path / "a" / "vpa-config" / "checked-schemas"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "b"))
    assert default_checked().path == tmp_path / "b" / "vpa-config" / "checked-schemas"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    home = tmp_path / "home" / ".cache" / "vpa-config" / "checked-schemas"
    assert default_checked().path == home
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "a"))
    assert default_checked() is first


def test_a_schema_known_from_the_user_record_is_kept_with_the_store(
    tmp_path: Path,
) -> None:
    schema = f'{{"type": "object", "description": "{uuid.uuid4()}"}}'.encode()
    record = tmp_path / "checked-schemas"
    before = settings_cache._cache_dir
    (tmp_path / "git").mkdir()
    settings_cache.use_dir(tmp_path / "git")
    try:
        registry = SchemaRegistry(
            store_schemas={"x.json": schema}, checked=CheckedSchemas(record)
        )
        source = registry.get("x.json")
        assert not registry.passed_checks(source)
        record.write_text(registry.decider_flag(source) + "\n")
        fresh = SchemaRegistry(
            store_schemas={"x.json": schema}, checked=CheckedSchemas(record)
        )
        assert fresh.passed_checks(source)

        record.unlink()  # the next change does not need the record again
        later = SchemaRegistry(
            store_schemas={"x.json": schema}, checked=CheckedSchemas(record)
        )
        assert later.passed_checks(source)
        settings_cache.flush()
        flag = tmp_path / "git" / "vpa-config-cache" / registry.decider_flag(source)
        assert flag.is_file()
    finally:
        settings_cache.use_dir(before)


class _DiskEvents:
    """Every fsync (start and end, by path) and rename, in the order they happen."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.events: list[tuple[str, str, str]] = []
        real_fsync, real_replace = os.fsync, os.replace

        def fsync(fd: int) -> None:
            # By path and inode: a lock file made from a spare (spares.py) has
            # the spare's name on its descriptor.
            path, inode = os.readlink(f"/proc/self/fd/{fd}"), str(os.fstat(fd).st_ino)
            self.events.append(("fsync-start", path, inode))
            time.sleep(0.01)  # an fsync not waited for ends after the change returns
            real_fsync(fd)
            self.events.append(("fsync-end", path, inode))

        def replace(src: str | Path, dst: str | Path, **kw: object) -> None:
            real_replace(src, dst, **kw)  # type: ignore[arg-type]
            self.events.append(("replace", str(src), str(dst)))

        real_pwrite = os.pwrite

        def pwrite(fd: int, data: bytes, offset: int) -> int:
            path = os.readlink(f"/proc/self/fd/{fd}")
            self.events.append(("pwrite", path, bytes(data[:1]).decode("latin-1")))
            return real_pwrite(fd, data, offset)

        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", replace)
        monkeypatch.setattr(os, "pwrite", pwrite)

    def mark(self, what: str) -> None:
        self.events.append((what, "", ""))

    def index(self, kind: str, path: str, last: bool = False) -> int:
        found = [i for i, e in enumerate(self.events) if e[0] == kind and e[1] == path]
        assert found, f"no {kind} of {path} in {self.events}"
        return found[-1] if last else found[0]

    def synced_inode(self, inode: int) -> int:
        """Where the fsync of the file with ``inode`` ended."""
        found = [i for i, e in enumerate(self.events)
                 if e[0] == "fsync-end" and e[2] == str(inode)]
        assert found, f"no fsync of inode {inode} in {self.events}"
        return found[0]

    def replaced(self, dst: str) -> tuple[int, str]:
        for i, (kind, src, to) in enumerate(self.events):
            if kind == "replace" and to == dst:
                return i, src
        raise AssertionError(f"{dst} was never renamed into place: {self.events}")


def _journal_of_last_change(git_dir: Path) -> dict[str, Any]:
    """The record the last change wrote into its journal (now marked done)."""
    data = (git_dir / "vpa-config.journal").read_bytes()
    record = data[1:].split(b"\n")[0]
    return json.loads(record.partition(b" ")[2])


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_a_change_is_made_durable_in_the_order_recovery_relies_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "store"
    free_form_store(root, {"sub/c.yaml": b"c: 1\n"})
    root = root.resolve()
    git_dir = root / ".git"
    store = ConfigStore.open(root)
    try:
        store.set("sub/c.yaml", "c", 2, actor=ACTOR)  # warm: caches, folders
        store.flush()
        disk = _DiskEvents(monkeypatch)
        result = store.set("sub/c.yaml", "c", 3, actor=ACTOR)
        disk.mark("returned")
    finally:
        store.close()
    monkeypatch.undo()
    returned = disk.index("returned", "")
    branch = str(git_dir / "refs" / "heads" / "main")
    moved, _lock = disk.replaced(branch)
    written, _temp = disk.replaced(str(root / "sub" / "c.yaml"))

    journal = str(git_dir / "vpa-config.journal")
    # the journal alone is durable before the change returns (written over
    # the file the warm-up change left: its folder's entry was synced then),
    # and before any file of the change is renamed into place
    before_return = [e[1] for e in disk.events[:returned] if e[0] == "fsync-end"]
    assert before_return == [journal]
    objects = [
        (i, src, dst) for i, (kind, src, dst) in enumerate(disk.events)
        if kind == "replace" and dst.startswith(str(git_dir / "objects") + "/")
    ]
    renames = [i for i, _s, _d in objects] + [written, moved]
    assert disk.index("fsync-end", journal) < min(renames)
    # it carries every object the change wrote, byte for byte, so recovery
    # can finish the change from it alone
    blob = store.repo.files(result.revision)["sub/c.yaml"][1]
    made = {Path(dst).name for _i, _s, dst in objects}
    assert made >= {blob[2:], result.revision[2:]}
    marks = [i for i, e in enumerate(disk.events) if e[:2] == ("pwrite", journal)]
    assert [disk.events[i][2] for i in marks] == ["J", "-"], marks
    assert journal_left(git_dir) is False  # done with
    journaled = _journal_of_last_change(git_dir)
    for _i, _src, dst in objects:
        name = Path(dst).parent.name + Path(dst).name
        assert base64.b64decode(journaled["data"][name]) == Path(dst).read_bytes()
    assert sorted(journaled["data"]) == sorted(journaled["objects"])
    # after it returns: every renamed file's content, every folder of a
    # rename and the audit record are synced, and only then is the journal
    # marked done
    done = marks[-1]
    synced = [disk.synced_inode(os.stat(dst).st_ino) for _i, _s, dst in objects]
    synced.append(disk.synced_inode(os.stat(root / "sub" / "c.yaml").st_ino))
    synced.append(disk.synced_inode(os.stat(branch).st_ino))
    for folder in {str(Path(dst).parent) for _i, _s, dst in objects} | {
        str(root / "sub"), str(git_dir / "refs" / "heads"),
    }:
        synced.append(disk.index("fsync-end", folder, last=True))
    trail = git_dir / "vpa-config-audit.jsonl"
    synced.append(disk.index("fsync-end", str(trail), last=True))
    assert all(returned < i < done for i in synced), (returned, synced, done)
    last = json.loads(trail.read_bytes().splitlines()[-1])
    assert last["outcome"] == "committed"
    assert last["revision_after"] == result.revision


def test_a_replaced_file_is_held_until_its_close_in_the_background(
    tmp_path: Path,
) -> None:
    target, new = tmp_path / "ref", tmp_path / "ref.lock"
    target.write_bytes(b"old\n")
    new.write_bytes(b"new\n")
    assert fsutil.hold_replaced(tmp_path / "absent") is None

    held = fsutil.hold_replaced(target)
    assert held is not None
    os.replace(new, target)
    assert os.fstat(held).st_nlink == 0  # the old file: no name, blocks not freed
    assert os.pread(held, 8, 0) == b"old\n"
    fsutil.close_later(held)
    fsutil.settle()

    with pytest.raises(OSError):
        os.fstat(held)
    assert target.read_bytes() == b"new\n"


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_changes_leave_no_replaced_file_open(root: Path) -> None:
    store = ConfigStore.open(root)
    try:
        for value in range(3):
            store.set("a.yaml", "a", value, actor=ACTOR)
        store.remove("a.yaml", actor=ACTOR)
    finally:
        store.close()
    fsutil.settle()

    still_open = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if link.startswith(str(root.resolve())) and link.endswith("(deleted)"):
            still_open.append(link)
    assert still_open == []


def test_trees_are_written_in_gits_order_as_dulwich_writes_them() -> None:
    from dulwich.objects import Tree

    from vpa_config.gitrepo import _serialize_tree

    sha = b"0123456789abcdef0123456789abcdef01234567"
    entries = {
        b"a": (0o040000, sha),  # a folder sorts as "a/": after "a.b" and "a-b"
        b"a.b": (0o100644, sha),
        b"a-b": (0o100755, sha),
        b"a0": (0o100644, sha),
        b"B": (0o120000, sha),
        b"\xc3\xa9t\xc3\xa9.yaml": (0o100644, sha),
    }
    tree = Tree()
    for name, (mode, value) in entries.items():
        tree.add(name, mode, value)

    assert _serialize_tree(entries) == tree.as_raw_string()


def test_changes_in_nested_folders_write_trees_git_accepts(root: Path) -> None:
    store = ConfigStore.open(root)
    try:
        with store.transaction(subject="nested", actor=ACTOR) as tx:
            tx.write("a/b.yaml", b"b: 1\n")
            tx.write("a.yaml", b"a: 2\n")
            tx.write("a-c/d/e.json", b'{"e": 3}\n')
        store.remove("a/b.yaml", actor=ACTOR)
        head = store.set("a-c/d/e.json", "e", 4, actor=ACTOR).revision
    finally:
        store.close()

    git(root, "fsck", "--strict")
    assert git(root, "rev-parse", "HEAD").strip() == head
    names = git(root, "ls-tree", "-r", "--name-only", "HEAD").split()
    assert "a-c/d/e.json" in names and "a.yaml" in names
    assert "a/b.yaml" not in names
    assert '"e": 4' in git(root, "show", "HEAD:a-c/d/e.json")


@pytest.mark.parametrize("size", [0, 1, 200, 1500, 20_000, 33_000, 100_000])
def test_objects_compressed_with_a_window_fitted_to_them_read_back_in_git(
    root: Path, size: int
) -> None:
    import zlib

    # Half text that repeats, half that does not: deflate both matches and copies.
    content = (b"k: v\n" * size)[: size // 2] + os.urandom(size - size // 2)
    repo = GitRepo.open(root)
    try:
        blob = repo.add_raw(b"blob", content).decode()
        assert blob == GitRepo.blob_id(content)
        parent = repo.head()
        commit = repo.write_commit(
            changes={f"sized/{size}.bin": (content, 0o100644)}, parent=parent,
            author=b"T <t@example.org>", committer=b"T <t@example.org>",
            message="sized\n", when=1_700_000_000,
        )
    finally:
        repo.close()

    stream = (root / ".git" / "objects" / blob[:2] / blob[2:]).read_bytes()
    stored = b"blob %d\x00" % size + content
    assert zlib.decompress(stream) == stored
    # The header names the window: one that holds the object and what deflate
    # keeps ahead of it, and a small one for a small object.
    window = 1 << ((stream[0] >> 4) + 8)
    assert window >= min(len(stored) + 262, 32 * 1024)
    assert window < 32 * 1024 or size > 16 * 1024
    show = subprocess.run(
        ["git", "-C", str(root), "cat-file", "blob", f"{commit}:sized/{size}.bin"],
        capture_output=True, check=True,
    )
    assert show.stdout == content
    git(root, "fsck", "--strict", "--full", commit)


def test_trees_rewritten_from_the_last_ones_written_read_back_in_git(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each tree is made from the layout of the one before when only entries
    change; adding, removing and turning a file into a folder lay out anew."""
    steps: list[dict[str, tuple[bytes, int] | None]] = [
        {"d/b.yaml": (b"b: 1\n", 0o100644), "d/a.yaml": (b"a: 1\n", 0o100644)},
        {"d/b.yaml": (b"b: 2\n", 0o100644)},  # an entry changes: the layout's
        {"d/a.yaml": (b"a: 2\n", 0o100755)},  # its mode too
        {"d/a-b.yaml": (b"c: 1\n", 0o100644)},  # a name added
        {"d/a.yaml": None, "d/b.yaml": (b"b: 3\n", 0o100644)},  # one removed
        {"d/a": (b"x: 1\n", 0o100644)},  # sorts before "d/a-b.yaml" as a file
        {"d/a": None, "d/a/x.yaml": (b"x: 2\n", 0o100644)},  # ... after it as a folder
        {"d/a/x.yaml": (b"x: 3\n", 0o100644), "d/b.yaml": (b"b: 4\n", 0o100644)},
    ]
    expected = {"a.yaml": "a: 1\n"}
    laid_out: list[int] = []
    full = gitrepo._TreeLayout.of

    def counted(entries: Any) -> Any:
        laid_out[-1] += 1
        return full(entries)

    monkeypatch.setattr(gitrepo._TreeLayout, "of", counted)
    repo = GitRepo.open(root)
    try:
        parent = repo.head()
        for number, changes in enumerate(steps):
            laid_out.append(0)
            parent = repo.write_commit(
                changes=changes, parent=parent, author=b"T <t@example.org>",
                committer=b"T <t@example.org>", message=f"step {number}\n",
                when=1_700_000_000 + number,
            )
            for name, change in changes.items():
                if change is None:
                    expected.pop(name)
                else:
                    expected[name] = change[0].decode()
            git(root, "fsck", "--strict", "--no-dangling", parent)  # git's order
            listed = git(root, "ls-tree", "-r", "--name-only", parent).split()
            files = [n for n in listed if not n.startswith(".vpa-config/")]
            assert sorted(files) == sorted(expected)
            for name, content in expected.items():
                assert git(root, "cat-file", "blob", f"{parent}:{name}") == content
        modes = git(root, "ls-tree", parent, "d/").split("\n")
        assert any(line.startswith("040000 tree") for line in modes)
    finally:
        repo.close()
    # Entries changed in place: no tree laid out anew; a name added, removed or
    # made a folder: only its own tree (a new folder's tree is new anyway).
    assert laid_out == [2, 0, 0, 1, 1, 1, 2, 0]


def test_settings_read_once_per_content_follow_each_change_of_them(
    root: Path,
) -> None:
    from vpa_config.settings import SETTINGS_FILE

    store = ConfigStore.open(root)
    try:
        store.set("a.yaml", "a", 2, actor=ACTOR)  # the settings are read
        opened = (root / "a.yaml").stat().st_mode & 0o077
        store.set(SETTINGS_FILE, "secrets", ["*:a"], actor=ACTOR)
        store.set("a.yaml", "a", 3, actor=ACTOR)  # "a" is secret now
        closed = (root / "a.yaml").stat().st_mode & 0o077
        store.set(SETTINGS_FILE, "secrets", [], actor=ACTOR)
        store.set("b.yaml", "b", 1, actor=ACTOR)
        plain = (root / "b.yaml").stat().st_mode & 0o077
    finally:
        store.close()
    assert opened != 0 and closed == 0 and plain != 0


def test_only_objects_that_may_be_stored_already_are_looked_for(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    looked: list[str] = []
    stored = GitRepo._stored

    def recorded(self: GitRepo, sha: bytes, path: str) -> bool:
        found = stored(self, sha, path)
        looked.append(git(root, "cat-file", "-t", sha.decode()).strip() if found
                      else "new")
        return found

    monkeypatch.setattr(GitRepo, "_stored", recorded)
    store = ConfigStore.open(root)
    try:
        store.set("d/a.yaml", "a", 7, actor=ACTOR)  # new blob, trees, commit
        first = list(looked)
        looked.clear()
        store.set("d/a.yaml", "a", 8, actor=ACTOR)
        store.set("d/a.yaml", "a", 7, actor=ACTOR)  # the first content again
    finally:
        store.close()
    # A new blob makes its trees new: only the blob was looked for.
    assert first == ["new"]
    # The content of before is stored, and so are the trees of then.
    assert looked == ["new", "blob", "tree", "tree"]
    git(root, "fsck", "--strict", "--no-dangling")


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_a_new_journal_file_has_its_folder_synced_before_the_file_is_touched(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    git_dir = root.resolve() / ".git"
    (git_dir / "vpa-config.journal").unlink(missing_ok=True)
    store = ConfigStore.open(root)
    try:
        disk = _DiskEvents(monkeypatch)
        store.set("a.yaml", "a", 6, actor=ACTOR)
    finally:
        store.close()
    monkeypatch.undo()
    written, _temp = disk.replaced(str(root.resolve() / "a.yaml"))

    assert disk.index("fsync-end", str(git_dir / "vpa-config.journal")) < written
    assert disk.index("fsync-end", str(git_dir)) < written
    assert not journal_left(git_dir)


def test_an_empty_journal_file_is_no_journal(root: Path) -> None:
    from vpa_config import logs

    journal = root / ".git" / "vpa-config.journal"
    journal.write_bytes(b"")
    stray = root / ".vpa-tmp-not-ours"  # swept only by a recovery
    stray.write_bytes(b"x")
    with logs.capture() as events:
        store = ConfigStore.open(root)
        store.set("a.yaml", "a", 5, actor=ACTOR)
        store.close()
    assert not [e for e in events if e["event"] == "store.recovered"]
    assert stray.exists()
    assert not journal_left(root / ".git")  # the change wrote its own, marked done


def test_a_change_of_a_store_schema_is_judged_by_the_new_schema_at_once(
    root: Path,
) -> None:
    from vpa_config.errors import InvalidConfigError
    from vpa_config.settings import SETTINGS_FILE

    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    store = ConfigStore.open(root)
    try:
        with store.transaction(subject="schema", actor=ACTOR) as tx:
            tx.write(".vpa-config/schemas/a.schema.json", json.dumps(schema).encode())
        store.set(SETTINGS_FILE, "schemas", [
            {"files": "a.yaml", "schema": "a.schema.json"},
        ], actor=ACTOR)
        store.set("a.yaml", "a", 2, actor=ACTOR)  # the registry of this schema
        schema["properties"]["a"]["maximum"] = 5
        with store.transaction(subject="schema", actor=ACTOR) as tx:
            tx.write(".vpa-config/schemas/a.schema.json", json.dumps(schema).encode())
        with pytest.raises(InvalidConfigError, match="at most 5"):
            store.set("a.yaml", "a", 6, actor=ACTOR)
        store.set("a.yaml", "a", 4, actor=ACTOR)
    finally:
        store.close()
