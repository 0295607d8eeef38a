"""Benchmark fixtures: a store of 50 YAML files with 10,000 revisions.

Revision 1 is made through :class:`ConfigStore` (settings, schema, files);
the rest are written on the object layer with the same subjects and trailers
that vpa-config's own commits carry, one key of one file per revision, so the
history looks exactly like a store that was used for a long time, and is
built in seconds rather than minutes. Fixtures are cached under
``benchmarks/.fixtures/`` by their parameters.
"""

from __future__ import annotations

import random
import shutil
import time
from pathlib import Path

from vpa_config.history import CommitMessage
from vpa_config.identity import COMMITTER
from vpa_config import audittrail
from vpa_config.store import ConfigStore

FIXTURES = Path(__file__).resolve().parent / ".fixtures"
ACTORS = [
    b"Ada Lovelace <ada@example.org>",
    b"Grace Hopper <grace@example.org>",
    b"Ops Bot <ops-bot@example.org>",
]
SCHEMA = b"""{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["service"],
  "properties": {
    "service": {
      "type": "object",
      "properties": {
        "name": {"type": "string"},
        "replicas": {"type": "integer", "minimum": 0, "maximum": 1000},
        "timeout_s": {"type": "number", "exclusiveMinimum": 0},
        "log_level": {"enum": ["debug", "info", "warning", "error"]}
      }
    },
    "limits": {"type": "object", "additionalProperties": {"type": "integer"}},
    "features": {"type": "array", "items": {"type": "string"}}
  }
}
"""
LEVELS = ["debug", "info", "warning", "error"]


def service_yaml(index: int, replicas: int, timeout: float, level: str) -> bytes:
    """One of the 50 files, about 1 KB of commented YAML."""
    limits = "".join(f"  key_{n:02d}: {n * 10 + index}\n" for n in range(24))
    return (
        f"# service {index}: owned by team {index % 7}\n"
        "service:\n"
        f"  name: svc-{index:02d}\n"
        f"  replicas: {replicas}   # scaled by ops\n"
        f"  timeout_s: {timeout}\n"
        f"  log_level: {level}\n"
        "limits:\n"
        f"{limits}"
        "features:\n"
        "  - metrics\n"
        "  - tracing\n"
    ).encode()


def history_store(files: int = 50, revisions: int = 10_000, seed: int = 7) -> Path:
    """The path of a cached store with ``revisions`` revisions; built if absent.

    Its history index is current, as in a store whose changes were all made
    through vpa-config (the history jobs delete their copy's to time its
    rebuild). A cached store of an earlier version gets its index here.
    """
    target = FIXTURES / f"store-{files}x{revisions}-{seed}"
    complete = target / ".git" / "vpa-fixture-complete"
    if not complete.exists():
        shutil.rmtree(target, ignore_errors=True)
        build_history_store(target, files=files, revisions=revisions, seed=seed)
        complete.write_text("ok\n")
    if complete.read_text() != "indexed\n":
        index_history(target)
        complete.write_text("indexed\n")
    return target


def index_history(path: Path) -> None:
    """Bring the store's history index up to HEAD (built from git if absent)."""
    from vpa_config import keyindex

    store = ConfigStore.open(path)
    try:
        keyindex.index_for(store.repo).sync()
    finally:
        store.close()


def build_history_store(path: Path, *, files: int, revisions: int, seed: int) -> None:
    """Make the store at ``path`` (see the module docstring)."""
    rng = random.Random(seed)
    store, _ = ConfigStore.init(path, actor="Ada Lovelace <ada@example.org>")
    state = {i: [1, 30.0, "info"] for i in range(files)}
    with store.transaction(subject="add services", kind="import", actor="Ada <ada@example.org>") as tx:
        tx.write(".vpa-config/schemas/service.schema.json", SCHEMA)
        settings = tx.read(".vpa-config/settings.yaml").decode()
        settings = settings.replace(
            "schemas: []",
            "schemas:\n  - files: services/*.yaml\n    schema: service.schema.json",
        )
        tx.write(".vpa-config/settings.yaml", settings.encode())
        for i in range(files):
            tx.write(f"services/svc-{i:02d}.yaml", service_yaml(i, *state[i]))

    repo = store.repo
    # A fixture need not survive a power cut: build it without fsyncing
    # each object (the benchmarks copy it, and every copy fsyncs as usual).
    repo._repo.object_store.fsync_object_files = False
    head = repo.head()
    when = int(time.time()) - revisions * 60
    for number in range(revisions - 2):
        i = rng.randrange(files)
        field = rng.choice(["replicas", "timeout_s", "log_level"])
        if field == "replicas":
            state[i][0] = rng.randrange(0, 50)
            value = state[i][0]
        elif field == "timeout_s":
            state[i][1] = round(rng.uniform(1, 60), 1)
            value = state[i][1]
        else:
            state[i][2] = rng.choice(LEVELS)
            value = state[i][2]
        name = f"services/svc-{i:02d}.yaml"
        message = CommitMessage(
            f"set {name} service.{field}",
            f"tuning run {number}",
            (("Vpa-Kind", "set"), ("Vpa-Source", "cli"), ("Vpa-Correlation-Id", f"bench{number:06d}")),
        ).render()
        commit = repo.write_commit(
            changes={name: (service_yaml(i, *state[i]), 0o100644)},
            parent=head,
            author=ACTORS[number % len(ACTORS)],
            committer=COMMITTER,
            message=message,
            when=when + number * 60,
        )
        repo.advance(head, commit, "bench")
        head = commit
        del value

    for i in range(files):
        (path / f"services/svc-{i:02d}.yaml").write_bytes(service_yaml(i, *state[i]))
    repo.update_index(repo.files(head), store.root, sorted(repo.files(head)))
    repo.pack()
    audittrail.record_external_commits(store)  # so opens need not walk them
    store.close()


if __name__ == "__main__":
    started = time.perf_counter()
    where = history_store()
    print(f"{where} ready in {time.perf_counter() - started:.1f}s")
