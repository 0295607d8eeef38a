"""The audit trail: a record per action, the hash chain, and history rewrites."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from tests.conftest import ACTOR, git
from vpa_config import audittrail, logs
from vpa_config.errors import InvalidConfigError, NotFoundError
from vpa_config.redaction import REDACTED, SECRETS
from vpa_config.store import ConfigStore

GIT_ID = ("-c", "user.name=Mallory", "-c", "user.email=m@example.org")


@pytest.fixture(autouse=True)
def _clean_logging():
    yield
    logs.reset()
    SECRETS.clear()


def trail(store: ConfigStore) -> list[dict]:
    return list(audittrail.records(store))


def rewrite_lines(store: ConfigStore, change) -> None:
    path = audittrail.audit_path(store)
    lines = path.read_bytes().splitlines()
    path.write_bytes(b"".join(line + b"\n" for line in change(lines)))


def test_every_change_is_recorded_with_who_what_where(store: ConfigStore):
    before = store.repo.head()

    result = store.set(
        "assistant.yaml", "llm.temperature", 0.3, actor=ACTOR, reason="calm"
    )

    record = trail(store)[-1]
    assert record["kind"] == "set"
    assert record["outcome"] == "committed"
    assert record["actor"] == ACTOR
    assert record["reason"] == "calm"
    assert record["files"] == ["assistant.yaml"]
    assert record["keys"] == {"assistant.yaml": ["llm.temperature"]}
    assert (record["revision_before"], record["revision_after"]) == (
        before,
        result.revision,
    )
    assert record["pid"] > 0 and record["host"] and record["argv"]
    assert record["time"].endswith("Z")
    assert len(record["correlation_id"]) == 32


def test_the_first_record_is_the_store_creation(store: ConfigStore):
    first = trail(store)[0]

    assert (first["seq"], first["kind"], first["outcome"]) == (1, "init", "committed")
    assert first["prev"] == audittrail.GENESIS
    assert first["revision_before"] is None


def test_refused_and_failed_changes_are_recorded(store: ConfigStore):
    head = store.repo.head()
    with pytest.raises(InvalidConfigError):
        store.set("assistant.yaml", "llm.temperature", 9, actor=ACTOR)
    with pytest.raises(NotFoundError):
        store.unset("nope.yaml", "a.b", actor=ACTOR)

    refused, failed = trail(store)[-2:]
    assert refused["outcome"] == "refused"
    assert refused["keys"] == {"assistant.yaml": ["llm.temperature"]}
    assert "expected at most 2" in refused["error"]
    assert refused["revision_before"] == refused["revision_after"] == head
    assert failed["outcome"] == "failed"
    assert "nope.yaml" in failed["error"]


def test_records_are_written_without_logging_configured(store: ConfigStore):
    logs.reset()
    count = len(trail(store))

    store.set("assistant.yaml", "llm.temperature", 0.3, actor=ACTOR)

    assert len(trail(store)) == count + 1


def test_dry_runs_are_not_recorded(store: ConfigStore):
    count = len(trail(store))

    store.set("assistant.yaml", "llm.temperature", 0.3, actor=ACTOR, dry_run=True)

    assert len(trail(store)) == count


def test_secret_values_never_reach_the_trail(store: ConfigStore):
    store.set("assistant.yaml", "llm.api_key", "sk-AbCdEfGhIjKlMnOpQrSt", actor=ACTOR)

    raw = audittrail.audit_path(store).read_text()
    assert "AbCdEfGhIjKlMnOp" not in raw
    assert '"llm.api_key"' in raw


def test_a_record_redacted_ahead_is_written_as_one_redacted_at_its_writing(
    store: ConfigStore, monkeypatch: pytest.MonkeyPatch
):
    # A change redacts its record while its first fsyncs run; a record of no
    # change is redacted as it is written. Both must come out alike.
    secret = "sk-AbCdEfGhIjKlMnOpQrSt"
    store.set("assistant.yaml", "llm.api_key", secret, actor=ACTOR)
    redacted_calls: list[dict] = []
    heads: list[str | None] = []
    real_redact = audittrail.redact

    def watched(record: dict) -> tuple:
        redacted_calls.append(record)
        heads.append(store.repo.head())
        return real_redact(record)

    monkeypatch.setattr(audittrail, "redact", watched)
    parent = store.repo.head()

    store.set("assistant.yaml", "llm.temperature", 0.4, actor=ACTOR,
              reason=f"rotated {secret} again")
    ahead = trail(store)[-1]
    assert not audittrail.verify_chain(store).problems
    audittrail.append(store, {**{k: ahead[k] for k in (
        "kind", "outcome", "actor", "actor_origin", "source", "subject", "reason",
        "files", "keys", "revision_before", "revision_after")}})
    at_writing = trail(store)[-1]

    # Once ahead, before the branch moved (the change), once at writing.
    assert len(redacted_calls) == 2
    assert heads[0] == parent != ahead["revision_after"]
    assert ahead["reason"] == f"rotated {REDACTED} again" == at_writing["reason"]
    assert list(ahead) == list(at_writing)
    assert ahead["revision_after"] == store.repo.head()


def test_a_record_that_could_not_be_redacted_ahead_is_made_at_its_writing(
    store: ConfigStore, monkeypatch: pytest.MonkeyPatch
):
    calls = []
    real_redact = audittrail.redact

    def fail_first(record: dict) -> tuple:
        calls.append(record["outcome"])
        if len(calls) == 1:
            raise RuntimeError("redaction failed")
        return real_redact(record)

    monkeypatch.setattr(audittrail, "redact", fail_first)

    result = store.set("assistant.yaml", "llm.temperature", 0.2, actor=ACTOR)

    assert calls == ["committed", "committed"]
    record = trail(store)[-1]
    assert record["revision_after"] == result.revision == store.repo.head()
    assert record["outcome"] == "committed"


def test_concurrent_changes_keep_one_unbroken_chain(
    store: ConfigStore, store_path: Path
):
    def worker(value: float) -> None:
        other = ConfigStore.open(store_path)
        other.set("assistant.yaml", "llm.temperature", value, actor=ACTOR)
        other.close()

    threads = [threading.Thread(target=worker, args=(v / 10,)) for v in range(1, 7)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    report = audittrail.verify_chain(store)
    assert report.ok, report.problems
    assert [r["seq"] for r in trail(store)] == list(range(1, report.records + 1))


def test_an_intact_chain_verifies(store: ConfigStore):
    store.set("assistant.yaml", "llm.temperature", 0.3, actor=ACTOR)

    report = audittrail.verify_chain(store)

    assert report.ok
    assert report.records == 2


def test_an_edited_record_is_detected(store: ConfigStore):
    store.set("assistant.yaml", "llm.temperature", 0.3, actor=ACTOR)
    store.set("assistant.yaml", "llm.temperature", 0.4, actor=ACTOR)

    def edit(lines: list[bytes]) -> list[bytes]:
        record = json.loads(lines[1])
        record["actor"] = "Someone Else <else@example.org>"
        lines[1] = json.dumps(record, separators=(",", ":")).encode()
        return lines

    rewrite_lines(store, edit)
    with logs.capture() as events:
        report = audittrail.verify_chain(store)

    assert [(p.kind, p.line) for p in report.problems] == [("edited", 2)]
    assert events[0]["event"] == "audit.chain_broken"
    assert events[0]["category"] == "security"


def test_a_removed_record_is_detected(store: ConfigStore):
    for value in (0.3, 0.4, 0.5):
        store.set("assistant.yaml", "llm.temperature", value, actor=ACTOR)

    rewrite_lines(store, lambda lines: lines[:2] + lines[3:])
    report = audittrail.verify_chain(store)

    assert [p.kind for p in report.problems] == ["removed"]
    assert "seq 3 removed" in report.problems[0].message


def test_removing_the_first_records_is_detected(store: ConfigStore):
    store.set("assistant.yaml", "llm.temperature", 0.3, actor=ACTOR)

    rewrite_lines(store, lambda lines: lines[1:])
    report = audittrail.verify_chain(store)

    assert [p.kind for p in report.problems] == ["removed"]


def test_a_garbled_line_is_reported_and_appending_continues(store: ConfigStore):
    rewrite_lines(store, lambda lines: [*lines, b'{"seq": 2, "cut'])

    store.set("assistant.yaml", "llm.temperature", 0.3, actor=ACTOR)
    report = audittrail.verify_chain(store)

    assert [p.kind for p in report.problems] == ["unreadable"]
    assert trail(store)[-1]["kind"] == "set"


def test_seq_goes_on_from_the_last_readable_record_past_damaged_lines(
    store: ConfigStore,
):
    store.set("assistant.yaml", "llm.temperature", 0.3, actor=ACTOR)
    last = trail(store)[-1]["seq"]
    path = audittrail.audit_path(store)
    with path.open("ab") as trail_file:  # longer than a chunk read from the end
        trail_file.write(b"garbage line\n" + b"x" * 20_000 + b"\n")

    store.set("assistant.yaml", "llm.temperature", 0.4, actor=ACTOR)
    store.set("assistant.yaml", "llm.temperature", 0.5, actor=ACTOR)
    report = audittrail.verify_chain(store)

    assert [r["seq"] for r in trail(store)][-3:] == [last, last + 1, last + 2]
    assert [p.kind for p in report.problems] == ["unreadable", "unreadable"]


def test_a_seq_that_goes_back_or_repeats_is_reported(store: ConfigStore):
    store.set("assistant.yaml", "llm.temperature", 0.3, actor=ACTOR)

    def chained(lines: list[bytes]) -> list[bytes]:
        for seq in (1, 3, 3):  # hashes chained, numbers wrong
            record = {**json.loads(lines[-1]), "seq": seq}
            record["prev"] = audittrail.line_hash(lines[-1])
            lines.append(json.dumps(record, separators=(",", ":")).encode())
        return lines

    rewrite_lines(store, chained)
    report = audittrail.verify_chain(store)

    assert [(p.kind, p.line) for p in report.problems] == [
        ("out_of_order", 3), ("out_of_order", 5),
    ]
    assert "seq 1 after seq 2: the sequence goes back" in report.problems[0].message
    assert "seq 3 after seq 3: the sequence repeats" in report.problems[1].message


def test_history_reset_under_the_store_is_reported_once(
    store: ConfigStore, store_path: Path
):
    for value in (0.3, 0.4):
        store.set("assistant.yaml", "llm.temperature", value, actor=ACTOR)
    recorded = store.repo.head()
    git(store_path, "reset", "-q", "--hard", "HEAD~2")
    (store_path / "assistant.yaml").write_text(
        (store_path / "assistant.yaml").read_text().replace("Vee", "Eve")
    )
    git(store_path, *GIT_ID, "commit", "-q", "--no-verify", "-am", "quietly")

    with logs.capture() as events:
        ConfigStore.open(store_path).close()
        ConfigStore.open(store_path).close()

    rewritten = [e for e in events if e["event"] == "security.history_rewritten"]
    assert len(rewritten) == 1
    assert rewritten[0]["category"] == "security"
    assert rewritten[0]["level"] == "critical"
    assert rewritten[0]["recorded_revision"] == recorded
    assert rewritten[0]["head"] == git(store_path, "rev-parse", "HEAD").strip()
    assert trail(store)[-1]["kind"] == "history_rewritten"
    missing = [p for p in audittrail.verify_chain(store).problems]
    assert {p.kind for p in missing} == {"revision_missing"}


def test_amended_commit_is_a_rewrite_found_by_the_next_change(
    store: ConfigStore, store_path: Path
):
    store.set("assistant.yaml", "llm.temperature", 0.3, actor=ACTOR)
    git(store_path, *GIT_ID, "commit", "-q", "--no-verify", "--amend", "-m", "other")

    with logs.capture() as events:
        store.set("assistant.yaml", "llm.temperature", 0.4, actor=ACTOR)

    names = [e["event"] for e in events]
    assert names.count("security.history_rewritten") == 1
    assert names.index("security.history_rewritten") < names.index("config.committed")


def test_direct_commits_on_top_are_not_a_rewrite(store: ConfigStore, store_path: Path):
    git(store_path, *GIT_ID, "commit", "-q", "--no-verify", "--allow-empty", "-m", "x")

    with logs.capture() as events:
        ConfigStore.open(store_path).close()

    assert not [e for e in events if e["event"] == "security.history_rewritten"]
    assert audittrail.verify_chain(store).ok


def test_the_next_change_notes_commits_made_outside_vpa_config(
    store: ConfigStore, store_path: Path
):
    for message in ("one", "two"):
        git(
            store_path,
            *GIT_ID,
            "commit",
            "-q",
            "--no-verify",
            "--allow-empty",
            "-m",
            message,
        )

    store.set("assistant.yaml", "llm.temperature", 0.3, actor=ACTOR)

    assert trail(store)[-1]["external_commits"] == 2


def test_record_external_commits_marks_head_as_known(
    store: ConfigStore, store_path: Path
):
    git(store_path, *GIT_ID, "commit", "-q", "--no-verify", "--allow-empty", "-m", "x")

    assert audittrail.record_external_commits(store) == 1

    last = trail(store)[-1]
    assert (last["kind"], last["revision_after"]) == (
        "external_commits",
        store.repo.head(),
    )
    assert audittrail.check_history(store) == 0


def test_a_change_that_cannot_get_the_lock_is_recorded_as_failed(
    store: ConfigStore, store_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from vpa_config.errors import StoreLockedError

    monkeypatch.setenv("VPA_CONFIG_LOCK_TIMEOUT", "0.05")
    holder = ConfigStore.open(store_path)
    holder.lock.acquire(1)
    done = threading.Event()

    def attempt() -> None:
        with pytest.raises(StoreLockedError):
            store.set("assistant.yaml", "llm.temperature", 0.3, actor=ACTOR)
        done.set()

    worker = threading.Thread(target=attempt)
    worker.start()
    worker.join()
    holder.lock.release()
    holder.close()

    assert done.is_set()
    last = trail(store)[-1]
    assert (last["outcome"], last["kind"]) == ("failed", "set")
    assert "locked" in last["error"]


def _append_as_another_process(store: ConfigStore, outcome: str) -> bytes:
    """A record appended by another process (a forked child), as it writes it."""
    import os

    from tests.reliability import fork_child, wait_status

    def work(fd: int) -> None:  # pragma: no cover (runs in the child)
        audittrail.append_notice(
            store, "external_commits", outcome, "from another process",
            before=None, after=None,
        )

    pid, read_fd = fork_child(work)
    os.close(read_fd)
    assert wait_status(pid) == ("exit", 0)
    return audittrail.audit_path(store).read_bytes().splitlines()[-1]


def test_a_record_another_process_appended_is_chained_to(store: ConfigStore):
    store.set("assistant.yaml", "llm.temperature", 0.2, actor=ACTOR)
    theirs = _append_as_another_process(store, "detected")

    store.set("assistant.yaml", "llm.temperature", 0.3, actor=ACTOR)

    *_, before, last = trail(store)
    assert before["subject"] == "from another process"
    assert last["prev"] == audittrail.line_hash(theirs)
    assert last["seq"] == before["seq"] + 1
    assert audittrail.last_record(store) == last
    assert audittrail.verify_chain(store).ok


def test_a_trail_cut_back_under_the_store_is_read_again(store: ConfigStore):
    store.set("assistant.yaml", "llm.temperature", 0.2, actor=ACTOR)
    store.set("assistant.yaml", "llm.temperature", 0.3, actor=ACTOR)
    rewrite_lines(store, lambda lines: lines[:-1])  # the newest record dropped
    kept = audittrail.audit_path(store).read_bytes().splitlines()[-1]

    assert audittrail.last_record(store) == json.loads(kept)
    store.set("assistant.yaml", "llm.temperature", 0.4, actor=ACTOR)

    last = trail(store)[-1]
    assert last["prev"] == audittrail.line_hash(kept)
    assert last["seq"] == json.loads(kept)["seq"] + 1
