"""The cache of facts by blob id (blobcache.py): used by restore, never stale.

Stores are real and the CLI runs in a subprocess. Whether the cache answered
is read from the ``cache.facts`` debug event (hits and misses); what it
answered must always equal what a store without the cache answers.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import stores
from conftest import RunCli, git, snapshot

from vpa_config import blobcache
from vpa_config.errors import Problem

FILES = 12  # a restore of many files, written and synced as one batch
SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "replicas": {"type": "integer", "minimum": 1},
        "image": {"type": "string"},
        "token": {"type": "string", "writeOnly": True},
    },
    "required": ["replicas"],
    "additionalProperties": False,
}
SETTINGS = """\
schemas:
  - files: "svc/*.yaml"
    schema: svc.schema.json
allow_unschematized: false
"""
DEBUG_JSON = {"VPA_CONFIG_LOG_FORMAT": "json", "VPA_CONFIG_LOG_LEVEL": "debug"}


def _service(number: int, replicas: int) -> str:
    return (
        f"# service {number}\nreplicas: {replicas}\n"
        f"image: registry.example.org/svc-{number}:1.{replicas}\ntoken: t0k3n-{number}\n"
    )


def _build(run, store: Path, work: Path) -> None:
    run("init")
    (work / "svc.schema.json").write_text(json.dumps(SCHEMA, indent=2) + "\n")
    (work / "settings.yaml").write_text(SETTINGS)
    run("import", str(work / "svc.schema.json"), "--as", ".vpa-config/schemas/svc.schema.json")
    run("import", str(work / "settings.yaml"), "--as", ".vpa-config/settings.yaml")
    (store / "svc").mkdir()
    for replicas in (2, 3, 9):
        for number in range(FILES):
            (store / f"svc/svc-{number}.yaml").write_text(_service(number, replicas))
        run("commit", "-m", f"every service at {replicas} replicas")
    run("set", "svc/svc-0.yaml", "replicas", "4")


@pytest.fixture(name="template", scope="module")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return stores.template(tmp_path_factory.mktemp("template"), _build)


@pytest.fixture(name="svc_store")
def _svc_store(template: Path, store_path: Path) -> Path:
    """Twelve services at 2, then 3, then 9 replicas (a commit each), then one set."""
    return stores.copy(template, store_path)


def _cache_file(store: Path) -> Path:
    return store / ".git" / blobcache.CACHE_DIR / blobcache.CACHE_FILE


def _facts_events(stderr: str) -> list[dict]:
    events = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return [event for event in events if event["event"] == "cache.facts"]


def _rev_with_replicas(store: Path, replicas: int) -> str:
    """The first revision at which every service had ``replicas``."""
    name = f"svc/svc-{FILES - 1}.yaml"
    for sha in git(store, "log", "--format=%H", "--", name).split():
        if f"replicas: {replicas}\n" in git(store, "show", f"{sha}:{name}"):
            return sha
    raise AssertionError(replicas)


def _dry_run(run_cli: RunCli, store: Path, rev: str) -> tuple[int, dict]:
    done = run_cli("restore", rev, "--dry-run", "--json", store=store)
    return done.returncode, json.loads(done.stdout)


def _tighten(run_cli: RunCli, store: Path, tmp_path: Path, **bounds: int) -> None:
    stricter = json.loads(json.dumps(SCHEMA))
    stricter["properties"]["replicas"].update(bounds)
    source = tmp_path / "stricter.json"
    source.write_text(json.dumps(stricter, indent=2) + "\n")
    done = run_cli("import", str(source), "--as", ".vpa-config/schemas/svc.schema.json",
                   store=store)
    assert done.returncode == 0, done.stderr


def test_commits_fill_the_cache_and_restore_reads_every_fact_from_it(
    run_cli: RunCli, svc_store: Path
) -> None:
    target = _rev_with_replicas(svc_store, 2)

    done = run_cli("restore", target, "-m", "back", store=svc_store, env=DEBUG_JSON)

    assert done.returncode == 0, done.stderr
    [facts] = _facts_events(done.stderr)
    assert facts["misses"] == 0
    assert facts["hits"] >= 3 * FILES  # a verdict, documents and secrets of each
    for number in range(FILES):
        name = f"svc/svc-{number}.yaml"
        assert (svc_store / name).read_text() == git(svc_store, "show", f"{target}:{name}")
    assert git(svc_store, "status", "--porcelain") == ""
    git(svc_store, "fsck", "--strict")


def test_restore_reports_the_same_change_with_and_without_the_cache(
    run_cli: RunCli, svc_store: Path, tmp_path: Path
) -> None:
    bare = stores.copy(svc_store, tmp_path / "bare")
    shutil.rmtree(bare / ".git" / blobcache.CACHE_DIR)
    target = _rev_with_replicas(svc_store, 3)

    cached = _dry_run(run_cli, svc_store, target)
    uncached = _dry_run(run_cli, bare, target)

    assert cached == uncached
    assert cached[0] == 0
    changed = {key["path"] for change in cached[1]["files"] for key in change["keys"]}
    assert changed == {"replicas", "image"}
    tokens = [key for change in cached[1]["files"] for key in change["keys"]
              if key["path"] == "token"]
    assert tokens == []


def test_a_changed_schema_validates_the_old_revision_again_and_refuses_it(
    run_cli: RunCli, svc_store: Path, tmp_path: Path
) -> None:
    _tighten(run_cli, svc_store, tmp_path, minimum=4)
    target = _rev_with_replicas(svc_store, 3)
    before = snapshot(svc_store)

    done = run_cli("restore", target, store=svc_store, env=DEBUG_JSON)

    assert done.returncode == 1, done.stderr
    assert "svc/svc-0.yaml:2:1: replicas: expected at least 4; got 3" in done.stderr
    assert snapshot(svc_store) == before
    [facts] = _facts_events(done.stderr)
    assert facts["misses"] >= FILES  # each verdict worked out again


def test_a_changed_schema_that_still_accepts_the_revision_lets_it_back(
    run_cli: RunCli, svc_store: Path, tmp_path: Path
) -> None:
    _tighten(run_cli, svc_store, tmp_path, maximum=50)
    target = _rev_with_replicas(svc_store, 3)

    done = run_cli("restore", target, store=svc_store, env=DEBUG_JSON)

    assert done.returncode == 0, done.stderr
    assert "replicas: 3\n" in (svc_store / "svc/svc-5.yaml").read_text()
    [facts] = _facts_events(done.stderr)
    assert facts["misses"] >= FILES


def test_a_corrupt_cache_file_is_replaced_and_the_answer_is_the_same(
    run_cli: RunCli, svc_store: Path
) -> None:
    target = _rev_with_replicas(svc_store, 2)
    expected = _dry_run(run_cli, svc_store, target)
    cache = _cache_file(svc_store)
    for suffix in ("-wal", "-shm"):
        Path(f"{cache}{suffix}").unlink(missing_ok=True)
    cache.write_bytes(b"\x00not a database\xff" * 512)

    assert _dry_run(run_cli, svc_store, target) == expected
    done = run_cli("restore", target, store=svc_store)

    assert done.returncode == 0, done.stderr
    rows = sqlite3.connect(cache).execute("SELECT count(*) FROM facts").fetchone()[0]
    assert rows > 0  # a new, readable file, filled again


def test_tampered_values_fail_their_checksum_and_are_worked_out_again(
    run_cli: RunCli, svc_store: Path, tmp_path: Path
) -> None:
    bare = stores.copy(svc_store, tmp_path / "bare")
    shutil.rmtree(bare / ".git" / blobcache.CACHE_DIR)
    target = _rev_with_replicas(svc_store, 3)
    with sqlite3.connect(_cache_file(svc_store)) as db:
        rows = db.execute("SELECT key, value FROM facts").fetchall()
        for key, value in rows:
            flipped = bytes(value[:-1]) + bytes([value[-1] ^ 0x01])
            db.execute("UPDATE facts SET value = ? WHERE key = ?", (flipped, key))

    done = run_cli("restore", target, "--dry-run", "--json", store=svc_store, env=DEBUG_JSON)

    assert done.returncode == 0, done.stderr
    assert (0, json.loads(done.stdout)) == _dry_run(run_cli, bare, target)
    [facts] = _facts_events(done.stderr)
    assert facts["misses"] >= 3 * FILES  # none of the stored facts was believed


def test_a_deleted_cache_gives_the_same_restore(
    run_cli: RunCli, svc_store: Path, tmp_path: Path
) -> None:
    twin = stores.copy(svc_store, tmp_path / "twin")
    shutil.rmtree(svc_store / ".git" / blobcache.CACHE_DIR)
    target = _rev_with_replicas(svc_store, 2)

    for store in (svc_store, twin):
        done = run_cli("restore", target, "-m", "back", store=store)
        assert done.returncode == 0, done.stderr

    assert git(svc_store, "rev-parse", "HEAD^{tree}") == git(twin, "rev-parse", "HEAD^{tree}")
    assert _cache_file(svc_store).is_file()  # filled again by the restore


def test_an_unwritable_cache_folder_costs_only_speed(
    run_cli: RunCli, svc_store: Path
) -> None:
    folder = svc_store / ".git" / blobcache.CACHE_DIR
    shutil.rmtree(folder)
    folder.write_bytes(b"")  # a file where the folder should be: nothing can be made
    target = _rev_with_replicas(svc_store, 2)

    done = run_cli("restore", target, store=svc_store)

    assert done.returncode == 0, done.stderr
    assert "replicas: 2\n" in (svc_store / "svc/svc-0.yaml").read_text()


@pytest.mark.parametrize("point", ["between-files", "before-ref", "after-ref"])
def test_a_many_file_restore_killed_midway_is_finished(
    run_cli: RunCli, svc_store: Path, point: str
) -> None:
    head = git(svc_store, "rev-parse", "HEAD").strip()
    target = _rev_with_replicas(svc_store, 2)

    killed = run_cli("restore", target, store=svc_store,
                     env={"VPA_CONFIG_TEST_CRASH": point})
    status = run_cli("status", "--json", store=svc_store)

    assert killed.returncode == 137, killed.stderr
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["clean"] is True
    # Killed once its journal was durable: the next command finished it.
    assert git(svc_store, "rev-parse", "HEAD~1").strip() == head
    for number in range(FILES):
        name = f"svc/svc-{number}.yaml"
        assert (svc_store / name).read_text() == git(svc_store, "show", f"{target}:{name}")
    leftovers = [p for p in svc_store.rglob(".vpa-tmp-*")]
    assert leftovers == []


# --- the cache itself, on disk ------------------------------------------------


def test_facts_written_by_one_process_are_read_by_the_next(tmp_path: Path) -> None:
    first = blobcache.BlobCache(tmp_path / "facts.sqlite")
    problem = Problem("a.yaml", ("llm", 0), "expected a number", "type", 3, 5)
    first.put_verdict(("a.yaml", "1" * 40), [problem])
    first.put_parsed("yaml", "2" * 40, {"llm": [1, 2.5, None, True, "x"]})
    first.put_secrets(("a.yaml", "1" * 40), {("llm", "key")})
    assert first.flush() == 3
    first.close()

    second = blobcache.BlobCache(tmp_path / "facts.sqlite")

    assert second.verdict(("a.yaml", "1" * 40)) == [problem]
    assert second.parsed("yaml", "2" * 40) == {"llm": [1, 2.5, None, True, "x"]}
    assert second.secrets(("a.yaml", "1" * 40)) == {("llm", "key")}
    assert second.verdict(("a.yaml", "3" * 40)) is None
    assert second.parsed("json", "2" * 40) is blobcache.MISS  # another parser
    second.close()


def test_kept_facts_wait_for_a_batch_survive_a_refused_change_and_close_writes_them(
    tmp_path: Path,
) -> None:
    path = tmp_path / "facts.sqlite"
    cache = blobcache.BlobCache(path)
    cache.put_parsed("yaml", "1" * 40, {"committed": 1})
    assert cache.keep() == 0  # kept, not written yet
    cache.put_parsed("yaml", "2" * 40, {"refused": "s3cret"})
    cache.discard()  # the next change was refused

    reader = blobcache.BlobCache(path)
    assert reader.parsed("yaml", "1" * 40) is blobcache.MISS  # not on disk yet
    assert cache.parsed("yaml", "1" * 40) == {"committed": 1}  # this process has it
    cache.close()

    assert reader.parsed("yaml", "1" * 40) == {"committed": 1}
    assert reader.parsed("yaml", "2" * 40) is blobcache.MISS
    reader.close()
    assert b"s3cret" not in b"".join(
        p.read_bytes() for p in tmp_path.iterdir() if p.is_file()
    )


def test_kept_facts_are_written_once_a_batch_waits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(blobcache, "KEEP_BATCH", 3)
    cache = blobcache.BlobCache(tmp_path / "facts.sqlite")
    written = []
    for number in range(3):
        cache.put_parsed("yaml", str(number) * 40, {"n": number})
        written.append(cache.keep())

    assert written == [0, 0, 3]
    reader = blobcache.BlobCache(tmp_path / "facts.sqlite")
    assert reader.parsed("yaml", "2" * 40) == {"n": 2}
    reader.close()
    cache.close()


def test_new_code_or_packages_never_read_old_facts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = blobcache.BlobCache(tmp_path / "facts.sqlite")
    first.put_verdict(("a.yaml", "1" * 40), [])
    first.close()
    monkeypatch.setattr(blobcache, "_engine", b"another version of the validator")

    second = blobcache.BlobCache(tmp_path / "facts.sqlite")

    assert second.verdict(("a.yaml", "1" * 40)) is None
    second.close()


def test_a_document_marshal_cannot_keep_is_not_cached(tmp_path: Path) -> None:
    cache = blobcache.BlobCache(tmp_path / "facts.sqlite")

    cache.put_parsed("yaml", "4" * 40, {"when": datetime.date(2026, 1, 2)})

    assert cache.parsed("yaml", "4" * 40) is blobcache.MISS
    assert cache.flush() == 0
    cache.close()


def test_the_engine_changes_when_a_module_of_vpa_config_changes(tmp_path: Path) -> None:
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from vpa_config import blobcache; print(blobcache.engine().hex())"
    )
    copy = tmp_path / "checkout"
    shutil.copytree(Path(blobcache.__file__).parent, copy / "vpa_config")

    def engine() -> str:
        done = subprocess.run(
            [sys.executable, "-c", code, str(copy)],
            capture_output=True, text=True, check=True,
        )
        return done.stdout.strip()

    before = engine()
    validation = copy / "vpa_config" / "validation.py"
    validation.write_text(validation.read_text() + "\n# changed\n")

    assert engine() != before


def test_facts_are_not_written_when_the_disk_is_nearly_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # More than the whole disk: free space can never reach it, whatever other
    # programs free meanwhile.
    total = shutil.disk_usage(tmp_path).total
    monkeypatch.setattr(blobcache, "MIN_FREE_BYTES", total + 1)
    cache = blobcache.BlobCache(tmp_path / "facts.sqlite")
    cache.put_verdict(("a.yaml", "1" * 40), [])

    assert cache.flush() == 0
    cache.close()

    assert blobcache.BlobCache(tmp_path / "facts.sqlite").verdict(("a.yaml", "1" * 40)) is None


def test_a_forked_child_uses_its_own_connection_to_the_cache(tmp_path: Path) -> None:
    from reliability import ACTOR, fork_child, free_form_store, read_all, wait_status

    from vpa_config.store import ConfigStore

    root = tmp_path / "store"
    free_form_store(root, {"a.yaml": b"n: 0\n", "b.yaml": b"m: 0\n"})
    store = ConfigStore.open(root)
    store.set("a.yaml", "n", 1, actor=ACTOR)  # the parent's connection is open

    def work(fd: int) -> None:  # pragma: no cover (runs in the child)
        child = ConfigStore.open(root)
        child.set("b.yaml", "m", 1, actor=ACTOR)
        child.close()
        os.write(fd, b"OK\n")

    pid, fd = fork_child(work)
    assert read_all(fd) == ["OK"]
    assert wait_status(pid) == ("exit", 0)
    store.set("a.yaml", "n", 2, actor=ACTOR)
    store.close()

    db = sqlite3.connect(_cache_file(root))
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert db.execute("SELECT count(*) FROM facts").fetchone()[0] > 0
