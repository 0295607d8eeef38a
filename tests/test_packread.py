"""Objects read without dulwich (packread.py, gitrepo's readers), checked
against what the git CLI itself reads from the same folder."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ACTOR

from vpa_config import packread
from vpa_config.errors import RevisionNotFoundError
from vpa_config.gitrepo import GitRepo, _commit_info, _parse_commit
from vpa_config.packread import ObjectReader
from vpa_config.store import ConfigStore

ENV = {
    **os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "A",
    "GIT_AUTHOR_EMAIL": "a@example.org", "GIT_COMMITTER_NAME": "A",
    "GIT_COMMITTER_EMAIL": "a@example.org",
}


def git_bytes(repo: Path, *args: str, input: bytes | None = None) -> bytes:
    """The git CLI's raw answer (tests only: the product never runs git)."""
    done = subprocess.run(
        ["git", "-C", str(repo), *args], input=input, capture_output=True,
        check=True, env={**ENV, "HOME": str(repo)},
    )
    return done.stdout


def every_object(repo: Path) -> dict[str, tuple[bytes, bytes]]:
    """id -> (type, content) of every object, as ``git cat-file --batch`` reads it."""
    ids = git_bytes(
        repo, "cat-file", "--batch-all-objects", "--batch-check=%(objectname)"
    ).split()
    out = git_bytes(repo, "cat-file", "--batch", input=b"\n".join(ids) + b"\n")
    found: dict[str, tuple[bytes, bytes]] = {}
    at = 0
    for _ in ids:
        end = out.index(b"\n", at)
        sha, kind, size = out[at:end].split()
        found[sha.decode()] = (kind, out[end + 1:end + 1 + int(size)])
        at = end + 2 + int(size)
    return found


def entry_kinds(repo: Path) -> set[int]:
    """The entry types (1-4 whole, 6 offset delta, 7 id delta) in the packs."""
    kinds = set()
    for idx in (repo / ".git" / "objects" / "pack").glob("*.idx"):
        pack = packread._Pack.open(str(idx.with_suffix("")))
        assert pack is not None
        for position in range(pack._count):
            offset = pack._offset(position)
            kinds.add(pack.entry(offset)[0])
        pack.close()
    return kinds


@pytest.fixture(name="history", scope="module")
def _history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with forty revisions of small edits (loose objects only)."""
    path = tmp_path_factory.mktemp("history") / "store"
    store, _ = ConfigStore.init(path, example=True, actor=ACTOR)
    for n in range(40):
        store.set("assistant.yaml", "llm.max_tokens", 100 + n, reason=f"r{n}")
        if n % 3 == 0:
            store.set("plugins.yaml", "plugins.0.enabled", n % 2 == 0, reason="p")
    store.close()
    return path


@pytest.fixture(name="repo")
def _repo(history: Path, tmp_path: Path) -> Path:
    """This test's own copy of the history store."""
    target = tmp_path / "store"
    shutil.copytree(history, target, symlinks=True)
    return target


PACKINGS = {
    "loose": [],
    "repack": [["repack", "-adf", "-q"]],
    "aggressive": [["gc", "--aggressive", "-q"]],
    "deep": [["repack", "-adf", "-q", "--depth=250", "--window=250"]],
    "large-offsets": [["repack", "-adf", "-q"], ["-c", "pack.indexVersion=2"]],
}


def pack_with_id_deltas(repo: Path) -> None:
    """One pack whose deltas name their base by id (REF_DELTA)."""
    ids = git_bytes(
        repo, "cat-file", "--batch-all-objects", "--batch-check=%(objectname)"
    )
    scratch = repo.parent / "scratch"
    scratch.mkdir()
    git_bytes(
        repo, "pack-objects", "-q", "--no-delta-base-offset", "--window=50",
        str(scratch / "pack"), input=ids,
    )
    objects = repo / ".git" / "objects"
    shutil.rmtree(objects / "pack")
    for folder in objects.iterdir():
        if len(folder.name) == 2:
            shutil.rmtree(folder)
    shutil.move(scratch, objects / "pack")


def reindex(repo: Path, *options: str) -> None:
    """Rebuild each pack's index with git index-pack and ``options``."""
    for pack in (repo / ".git" / "objects" / "pack").glob("*.pack"):
        pack.with_suffix(".idx").unlink()
        git_bytes(repo, "index-pack", *options, str(pack))


@pytest.mark.parametrize("packing", [*PACKINGS, "id-deltas"])
def test_every_object_reads_as_git_reads_it(repo: Path, packing: str) -> None:
    if packing == "id-deltas":
        pack_with_id_deltas(repo)
    for args in PACKINGS.get(packing, []):
        if args[0] == "-c":
            reindex(repo, "--index-version=2,0x40")  # 64-bit offsets past 64
        else:
            git_bytes(repo, *args)
    expected = every_object(repo)
    reader = ObjectReader(repo / ".git" / "objects")

    found = {sha: reader.read(sha) for sha in expected}
    reader.close()

    assert found == expected
    if packing == "id-deltas":
        assert 7 in entry_kinds(repo)
    elif packing != "loose":
        assert 6 in entry_kinds(repo)


def test_a_version_one_index_is_left_to_dulwich(repo: Path) -> None:
    git_bytes(repo, "repack", "-adf", "-q")
    reindex(repo, "--index-version=1")
    head = git_bytes(repo, "rev-parse", "HEAD").decode().strip()
    reader = ObjectReader(repo / ".git" / "objects")

    assert reader.read(head) is None
    git_repo = GitRepo.open(repo)
    files = git_repo.files(head)
    listed = git_bytes(repo, "ls-tree", "-r", "--format=%(objectname) %(path)", head)
    assert git_repo.commit(head).sha == head
    pairs = (line.split(" ", 1) for line in listed.decode().splitlines())
    assert {path: sha for path, (_mode, sha) in files.items()} == {
        path: sha for sha, path in pairs
    }
    blob = git_repo.blob(files["assistant.yaml"][1])
    assert blob == (repo / "assistant.yaml").read_bytes()
    git_repo.close()


def test_a_pack_written_after_the_first_read_is_found(repo: Path) -> None:
    git_bytes(repo, "repack", "-adf", "-q")
    reader = ObjectReader(repo / ".git" / "objects")
    head = git_bytes(repo, "rev-parse", "HEAD").decode().strip()
    assert reader.read(head) is not None

    blob = git_bytes(repo, "hash-object", "-w", "--stdin", input=b"late\n")
    pack = str(repo / ".git" / "objects" / "pack" / "pack")
    git_bytes(repo, "pack-objects", "-q", pack, input=blob)
    git_bytes(repo, "prune-packed")
    sha = blob.decode().strip()

    assert not (repo / ".git" / "objects" / sha[:2] / sha[2:]).exists()
    assert reader.read(sha) == (b"blob", b"late\n")
    assert reader.contains(sha)
    assert not reader.contains("0" * 40)
    reader.close()


def test_a_damaged_loose_object_is_left_to_dulwich(repo: Path) -> None:
    head = git_bytes(repo, "rev-parse", "HEAD").decode().strip()
    path = repo / ".git" / "objects" / head[:2] / head[2:]
    path.chmod(0o644)
    path.write_bytes(b"not zlib")

    assert ObjectReader(repo / ".git" / "objects").read(head) is None


def test_a_damaged_delta_is_refused_not_misread() -> None:
    base = b"hello world\n"
    delta = bytes([len(base), 5, 0x91, 0, 5])  # copy 5 bytes from 0

    assert packread.apply_delta(base, delta) == b"hello"
    with pytest.raises(packread.ObjectFormatError):
        packread.apply_delta(base, bytes([len(base), 5, 0x91, 10, 5]))
    with pytest.raises(packread.ObjectFormatError):
        packread.apply_delta(base + b"x", delta)
    with pytest.raises(packread.ObjectFormatError):
        packread.apply_delta(base, bytes([len(base), 6, 0x91, 0, 5]))


def write_commit(repo: Path, raw: bytes) -> str:
    """Store a hand-made commit object with git; its id."""
    return git_bytes(
        repo, "hash-object", "-w", "-t", "commit", "--literally", "--stdin", input=raw
    ).decode().strip()


TREE = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
PARENT = b"parent 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
WHO = b"A B <a@example.org> 1700000000 "
ODD_COMMITS = {
    "plain": TREE + b"author " + WHO + b"+0000\ncommitter " + WHO + b"+0000\n\nm\n",
    "zones": TREE + b"author " + WHO + b"-0530\ncommitter " + WHO + b"+1245\n\nm",
    "negative-zero": TREE + b"author " + WHO + b"-0000\ncommitter " + WHO
    + b"+0000\n\n",
    "two-parents": TREE + PARENT + PARENT + b"author " + WHO + b"+0100\ncommitter "
    + WHO + b"+0100\n\nmerge\n",
    "encoding": TREE + b"author " + WHO + b"+0000\ncommitter " + WHO
    + b"+0000\nencoding ISO-8859-1\n\n\xe9t\xe9\n",
    "signed": TREE + b"author " + WHO + b"+0000\ncommitter " + WHO
    + b"+0000\ngpgsig -----BEGIN PGP SIGNATURE-----\n \n abc\n -----END PGP"
    b" SIGNATURE-----\n\nsigned\n\nbody\n",
    "extra-header": TREE + b"author " + WHO + b"+0000\ncommitter " + WHO
    + b"+0000\nx-note hi\n\nm\n",
    "no-message": TREE + b"author " + WHO + b"+0000\ncommitter " + WHO + b"+0000\n",
    "no-email": TREE + b"author A 1700000000 +0000\ncommitter " + WHO + b"+0000\n\nm\n",
    "late-parent": TREE + b"author " + WHO + b"+0000\n" + PARENT + b"committer " + WHO
    + b"+0000\n\nm\n",
    "two-authors": TREE + b"author " + WHO + b"+0000\nauthor X <x@y> 1 +0000\n"
    b"committer " + WHO + b"+0000\n\nm\n",
}


@pytest.mark.parametrize("name", ODD_COMMITS)
def test_a_commit_reads_as_dulwich_reads_it(repo: Path, name: str) -> None:
    sha = write_commit(repo, ODD_COMMITS[name])
    from dulwich.repo import Repo

    with Repo(str(repo)) as dulwich_repo:
        obj = dulwich_repo.object_store[sha.encode()]
        try:
            expected = _commit_info(sha, obj)
        except (AttributeError, TypeError):  # no message: dulwich's own failure
            expected = None

    parsed = _parse_commit(sha, ODD_COMMITS[name])
    git_repo = GitRepo.open(repo)

    if parsed is not None:  # None hands the commit to dulwich
        assert parsed == expected
    if expected is not None:
        assert git_repo.commit(sha) == expected
    git_repo.close()


def test_each_revision_reads_as_dulwich_reads_it(repo: Path) -> None:
    git_bytes(repo, "gc", "--aggressive", "-q")
    ours = GitRepo.open(repo)
    theirs = GitRepo.open(repo)
    theirs._reader = None  # every question to dulwich

    revisions = list(ours.walk())

    assert revisions == list(theirs.walk())
    assert len(revisions) > 50
    for info in revisions[::7]:
        assert ours.files(info.sha) == theirs.files(info.sha)
    ours.close()
    theirs.close()


def test_a_change_after_gc_moves_the_packed_branch(repo: Path) -> None:
    git_bytes(repo, "gc", "-q")
    branch = repo / ".git" / "refs" / "heads" / "main"
    assert not branch.exists()  # only in packed-refs now
    before = git_bytes(repo, "rev-parse", "main").decode().strip()

    store = ConfigStore.open(repo)
    result = store.set("assistant.yaml", "llm.max_tokens", 7, actor=ACTOR, reason="x")
    store.close()

    assert branch.read_text().strip() == result.revision
    assert git_bytes(repo, "rev-parse", "main~1").decode().strip() == before
    assert b"max_tokens: 7" in git_bytes(repo, "show", "main:assistant.yaml")
    assert git_bytes(repo, "fsck", "--no-dangling") == b""
    log = (repo / ".git" / "logs" / "refs" / "heads" / "main").read_text()
    assert log.splitlines()[-1].startswith(f"{before} {result.revision} ")


@pytest.mark.parametrize(
    ("tz", "message", "parents"),
    [
        (0, "set a.yaml x\n\nwhy\n", 1),
        (-19800, "", 0),
        (3600 * 13 + 45 * 60, "m", 2),
        (-60, "é\n", 1),
    ],
)
def test_a_written_commit_is_byte_for_byte_what_dulwich_writes(
    tz: int, message: str, parents: int
) -> None:
    from dulwich.objects import Commit

    from vpa_config.gitrepo import _serialize_commit

    tree = b"4b825dc642cb6eb9a060e54bf8d69288fbee4904"
    ids = tuple(f"{n:040x}" for n in range(1, parents + 1))
    commit = Commit()
    commit.tree = tree
    commit.parents = [sha.encode() for sha in ids]
    commit.author = b"Ada <ada@example.org>"
    commit.committer = b"vpa-config <v@example.org>"
    commit.author_time = commit.commit_time = 1700000000
    commit.author_timezone = commit.commit_timezone = tz
    commit.encoding = b"UTF-8"
    commit.message = message.encode()

    raw = _serialize_commit(
        tree, ids, commit.author, commit.committer, 1700000000, tz, message.encode()
    )

    assert raw == commit.as_raw_string()
    parsed = _parse_commit("0" * 40, raw)
    if message:
        assert parsed == _commit_info("0" * 40, commit)


def test_a_ref_log_line_is_what_dulwich_writes() -> None:
    from dulwich.reflog import format_reflog_line

    from vpa_config.gitrepo import _reflog_line

    args = (b"1" * 40, b"2" * 40, b"Ada <a@b> ", 1700000000)
    message = b"set a.yaml\n\nx\ty  z"

    assert _reflog_line(*args, message) == format_reflog_line(*args, 0, message)


def test_revisions_resolve_as_dulwich_resolves_them(repo: Path) -> None:
    git_bytes(repo, "tag", "light", "HEAD~3")
    git_bytes(repo, "tag", "-a", "-m", "note", "annotated", "HEAD~5")
    git_bytes(repo, "tag", "-a", "-m", "again", "nested", "annotated")
    git_bytes(repo, "pack-refs", "--all")
    git_bytes(repo, "tag", "loose", "HEAD~1")
    head = git_bytes(repo, "rev-parse", "HEAD").decode().strip()
    specs = [
        "HEAD", "HEAD~2", "HEAD^", "HEAD^1~1", "main", "main~4", "light", "annotated",
        "nested~1", "loose", head, head[:10], f"{head}~3", "refs/heads/main",
    ]
    ours = GitRepo.open(repo)
    theirs = GitRepo.open(repo)
    theirs._reader = None  # every question to dulwich

    for spec in specs:
        expected = git_bytes(repo, "rev-parse", f"{spec}^{{commit}}").decode().strip()
        assert ours.resolve(spec) == theirs.resolve(spec) == expected, spec
    for spec in ("nope", "nope~2", "HEAD~999", "../config", "0" * 40):
        with pytest.raises(RevisionNotFoundError) as raised:
            ours.resolve(spec)
        assert spec in str(raised.value)
    ours.close()
    theirs.close()
