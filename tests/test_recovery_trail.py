"""The audit trail after crash recovery: one record per commit, and gaps found.

Real stores and the real CLI in subprocesses, killed by the test-only hook
``VPA_CONFIG_TEST_CRASH``; the next command recovers the change.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ACTOR, RunCli, git
from vpa_config import audittrail, layout
from vpa_config.recoveryrecord import record_recovery
from vpa_config.store import ConfigStore


def _trail(store_path: Path) -> list[dict]:
    text = (store_path / ".git" / audittrail.AUDIT_FILE).read_text()
    return [json.loads(line) for line in text.splitlines()]


def _commits(store_path: Path) -> list[str]:
    return git(store_path, "rev-list", "--reverse", "HEAD").split()


def _assert_one_record_per_commit(store_path: Path) -> list[dict]:
    committed = [r for r in _trail(store_path) if r["outcome"] == "committed"]
    assert [r["revision_after"] for r in committed] == _commits(store_path)
    for earlier, later in zip(committed, committed[1:]):
        assert later["revision_before"] == earlier["revision_after"]
    return committed


def _crashed_set(run_cli: RunCli, store: Path, point: str, value: str) -> None:
    done = run_cli(
        "set", "assistant.yaml", "llm.temperature", value, "-m", f"to {value}",
        store=store, env={"VPA_CONFIG_TEST_CRASH": point},
    )
    assert done.returncode == 137, done.stderr


def _verify_passes(run_cli: RunCli, store: Path) -> None:
    done = run_cli("verify", store=store)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "chain whole" in done.stdout


def test_recovery_records_the_change_a_process_killed_after_the_ref_moved(
    run_cli: RunCli, cli_store: Path
):
    _crashed_set(run_cli, cli_store, "after-ref", "1.3")
    recovered = git(cli_store, "rev-parse", "HEAD").strip()
    parent = git(cli_store, "rev-parse", "HEAD~1").strip()

    status = run_cli("--log-level", "warning", "status", store=cli_store)
    assert status.returncode == 0, status.stderr
    assert run_cli("set", "assistant.yaml", "llm.temperature", "0.5",
                   store=cli_store).returncode == 0

    committed = _assert_one_record_per_commit(cli_store)
    record = next(r for r in committed if r["revision_after"] == recovered)
    assert record["revision_before"] == parent
    assert (record["kind"], record["reason"], record["recovered"]) == (
        "set", "to 1.3", "completed",
    )
    assert record["subject"] == "set assistant.yaml llm.temperature"
    assert record["keys"] == {"assistant.yaml": ["llm.temperature"]}
    assert record["recovered_by_pid"] == record["pid"] != record["change_pid"]
    assert "external_commits" not in committed[-1]
    _verify_passes(run_cli, cli_store)
    events = run_cli("events", store=cli_store).stdout
    assert "recorded by recovery" in events


@pytest.mark.parametrize("point", ["after-index"])
def test_a_change_recorded_before_the_kill_is_not_recorded_again(
    run_cli: RunCli, cli_store: Path, point: str
):
    _crashed_set(run_cli, cli_store, point, "1.1")

    assert run_cli("status", store=cli_store).returncode == 0
    assert run_cli("set", "assistant.yaml", "llm.temperature", "0.5",
                   store=cli_store).returncode == 0

    committed = _assert_one_record_per_commit(cli_store)
    assert not [r for r in committed if r.get("recovered")]
    _verify_passes(run_cli, cli_store)


@pytest.mark.parametrize("point", ["after-journal", "before-ref"])
def test_a_change_killed_after_its_journal_is_finished_by_recovery(
    run_cli: RunCli, cli_store: Path, point: str
):
    """The journal carries all the change wrote: recovery moves the branch."""
    head = git(cli_store, "rev-parse", "HEAD").strip()
    _crashed_set(run_cli, cli_store, point, "1.2")
    assert git(cli_store, "rev-parse", "HEAD").strip() == head  # not moved yet

    status = run_cli("--log-level", "warning", "status", store=cli_store)

    assert status.returncode == 0, status.stderr
    assert "store.change_finished" in status.stderr
    finished = git(cli_store, "rev-parse", "HEAD").strip()
    assert git(cli_store, "rev-parse", "HEAD~1").strip() == head != finished
    assert "(finished from its journal)" in git(
        cli_store, "reflog", "-1", "--format=%gs"
    )
    assert "temperature: 1.2" in (cli_store / "assistant.yaml").read_text()
    record = _trail(cli_store)[-1]
    assert (record["outcome"], record["recovered"]) == ("committed", "completed")
    assert (record["revision_before"], record["revision_after"]) == (head, finished)
    assert record["reason"] == "to 1.2"
    git(cli_store, "fsck", "--strict")
    assert git(cli_store, "status", "--porcelain") == ""
    assert run_cli("set", "assistant.yaml", "llm.temperature", "0.5",
                   store=cli_store).returncode == 0
    _assert_one_record_per_commit(cli_store)
    _verify_passes(run_cli, cli_store)


def test_a_journal_whose_branch_another_program_moved_is_rolled_back(
    run_cli: RunCli, cli_store: Path
):
    before = (cli_store / "assistant.yaml").read_bytes()
    _crashed_set(run_cli, cli_store, "before-ref", "1.2")
    # Someone removes the branch's lock file the kill left, as git tells
    # them to, puts the file back as HEAD has it, and commits.
    (cli_store / ".git" / "refs" / "heads" / "main.lock").unlink()
    git(cli_store, "checkout", "-q", "--", ".")
    git(cli_store, "-c", "user.name=G", "-c", "user.email=g@example.org",
        "commit", "-q", "--no-verify", "--allow-empty", "-m", "other")
    other = git(cli_store, "rev-parse", "HEAD").strip()

    status = run_cli("status", store=cli_store)

    assert status.returncode == 0, status.stderr
    assert git(cli_store, "rev-parse", "HEAD").strip() == other
    assert (cli_store / "assistant.yaml").read_bytes() == before
    rolled = _trail(cli_store)[-1]
    assert (rolled["outcome"], rolled["recovered"]) == ("failed", "rolled_back")
    assert rolled["rolled_back_revision"] not in _commits(cli_store)
    assert "another program moved the branch" in rolled["error"]


def _objects_path(store: Path, sha: str) -> Path:
    return store / ".git" / "objects" / sha[:2] / sha[2:]


@pytest.mark.parametrize("lost", ["HEAD", "HEAD:assistant.yaml"])
@pytest.mark.parametrize("how", ["removed", "emptied"])
def test_objects_a_power_cut_lost_are_written_again_from_the_journal(
    run_cli: RunCli, cli_store: Path, lost: str, how: str
):
    """A power cut before a change's files were synced: its journal was.

    The loss is made here by removing, or emptying, an object after a kill
    past the branch's move (the change's fsyncs had not run).
    """
    _crashed_set(run_cli, cli_store, "after-ref", "1.4")
    moved = git(cli_store, "rev-parse", "HEAD").strip()
    path = _objects_path(cli_store, git(cli_store, "rev-parse", lost).strip())
    content = path.read_bytes()
    path.unlink()
    if how == "emptied":
        path.write_bytes(b"")

    status = run_cli("--log-level", "warning", "status", store=cli_store)

    assert status.returncode == 0, status.stderr
    assert "store.objects_rewritten" in status.stderr
    assert path.read_bytes() == content
    assert git(cli_store, "rev-parse", "HEAD").strip() == moved
    assert "temperature: 1.4" in (cli_store / "assistant.yaml").read_text()
    git(cli_store, "fsck", "--strict")
    _assert_one_record_per_commit(cli_store)
    _verify_passes(run_cli, cli_store)


def test_a_power_cut_that_lost_the_record_and_the_file_is_recovered(
    run_cli: RunCli, cli_store: Path
):
    """Killed after its record and git's index, before its fsyncs: then the
    power cut takes the record's line and the file's content with it."""
    _crashed_set(run_cli, cli_store, "after-index", "1.6")
    moved = git(cli_store, "rev-parse", "HEAD").strip()
    trail = cli_store / ".git" / audittrail.AUDIT_FILE
    lines = trail.read_bytes().splitlines(keepends=True)
    assert json.loads(lines[-1])["revision_after"] == moved
    trail.write_bytes(b"".join(lines[:-1]))
    (cli_store / "assistant.yaml").write_bytes(b"")

    status = run_cli("status", store=cli_store)

    assert status.returncode == 0, status.stderr
    assert "temperature: 1.6" in (cli_store / "assistant.yaml").read_text()
    record = _trail(cli_store)[-1]
    assert (record["recovered"], record["reason"]) == ("completed", "to 1.6")
    assert record["revision_after"] == moved
    _assert_one_record_per_commit(cli_store)
    _verify_passes(run_cli, cli_store)


@pytest.mark.parametrize("lost", ["HEAD", "HEAD:assistant.yaml"])
def test_an_earlier_journal_whose_objects_were_lost_moves_the_branch_back(
    run_cli: RunCli, cli_store: Path, lost: str
):
    """A journal without the objects' bytes (an earlier version's): moved back."""
    parent = git(cli_store, "rev-parse", "HEAD").strip()
    before = (cli_store / "assistant.yaml").read_bytes()
    _crashed_set(run_cli, cli_store, "after-ref", "1.4")
    moved = git(cli_store, "rev-parse", "HEAD").strip()
    journal_path = cli_store / ".git" / layout.JOURNAL
    record = json.loads(layout.journal_record(journal_path.read_bytes()))
    del record["data"]
    journal_path.write_bytes(layout.journal_bytes(json.dumps(record).encode()))
    _objects_path(cli_store, git(cli_store, "rev-parse", lost).strip()).unlink()

    status = run_cli("--log-level", "warning", "status", store=cli_store)

    assert status.returncode == 0, status.stderr
    assert "store.branch_moved_back" in status.stderr
    assert git(cli_store, "rev-parse", "HEAD").strip() == parent != moved
    assert (cli_store / "assistant.yaml").read_bytes() == before
    assert "(objects lost)" in git(cli_store, "reflog", "-1", "--format=%gs")
    rolled = _trail(cli_store)[-1]
    assert (rolled["outcome"], rolled["recovered"]) == ("failed", "rolled_back")
    assert rolled["rolled_back_revision"] == moved
    assert "objects of its commit were lost" in rolled["error"]
    assert run_cli("set", "assistant.yaml", "llm.temperature", "0.5",
                   store=cli_store).returncode == 0
    _assert_one_record_per_commit(cli_store)
    _verify_passes(run_cli, cli_store)


def test_a_journal_recovered_twice_is_recorded_once(store: ConfigStore):
    parent = store.repo.head()
    store.set("assistant.yaml", "llm.temperature", 0.3, actor=ACTOR)
    journal = {"commit": store.repo.head(), "parent": parent, "pid": 1,
               "files": {"assistant.yaml": {}}}
    audittrail.append_quietly(store, {"kind": "x", "outcome": "failed",
                                      "revision_before": parent,
                                      "revision_after": parent})
    rolled = dict(journal, commit="f" * 40)

    for _ in range(2):
        record_recovery(store, "completed", journal)
        record_recovery(store, "rolled_back", rolled)

    kinds = [(r["outcome"], r.get("recovered")) for r in audittrail.records(store)]
    assert kinds[-2:] == [("failed", None), ("failed", "rolled_back")]
    assert audittrail.verify_chain(store).ok


def _rechain(store: ConfigStore, keep) -> None:
    """Rewrite the trail with fresh hashes and seqs, keeping what ``keep`` wants."""
    path = audittrail.audit_path(store)
    records = [json.loads(line) for line in path.read_bytes().splitlines()]
    prev, out = audittrail.GENESIS, b""
    for seq, record in enumerate(filter(keep, records), start=1):
        record.update(seq=seq, prev=prev)
        line = json.dumps(record, separators=(",", ":")).encode()
        prev, out = audittrail.line_hash(line), out + line + b"\n"
    path.write_bytes(out)
    audittrail._tails.clear()


def test_verify_reports_a_commit_no_record_covers(
    store: ConfigStore, store_path: Path, run_cli: RunCli
):
    for value in (0.3, 0.4, 0.5):
        store.set("assistant.yaml", "llm.temperature", value, actor=ACTOR)
    hidden = _commits(store_path)[-2]
    _rechain(store, lambda record: record.get("revision_after") != hidden)

    report = audittrail.verify_chain(store)
    done = run_cli("verify", store=store_path)

    assert [(p.kind, p.revision) for p in report.problems] == [
        ("unrecorded_commits", hidden),
    ]
    assert f"1 commit between seq 2 and seq 3 that no record covers: {hidden[:12]}" \
        in report.problems[0].message
    assert done.returncode == 1, done.stdout + done.stderr
    assert "no record covers" in done.stdout


def test_commits_recorded_as_made_outside_vpa_config_are_no_gap(
    store: ConfigStore, store_path: Path
):
    git(store_path, "-c", "user.name=G", "-c", "user.email=g@example.org", "commit",
        "-q", "--no-verify", "--allow-empty", "-m", "outside")

    store.set("assistant.yaml", "llm.temperature", 0.3, actor=ACTOR)

    assert audittrail.records(store)
    assert audittrail.verify_chain(store).ok
