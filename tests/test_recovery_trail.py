"""The audit trail after crash recovery: one record per commit, and gaps found.

Real stores and the real CLI in subprocesses, killed by the test-only hook
``VPA_CONFIG_TEST_CRASH``; the next command recovers the change.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ACTOR, RunCli, git
from vpa_config import audittrail
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
def test_a_rolled_back_change_is_recorded_as_failed_by_recovery(
    run_cli: RunCli, cli_store: Path, point: str
):
    head = git(cli_store, "rev-parse", "HEAD").strip()
    _crashed_set(run_cli, cli_store, point, "1.2")

    assert run_cli("set", "assistant.yaml", "llm.temperature", "0.5",
                   store=cli_store).returncode == 0

    trail = _trail(cli_store)
    rolled = trail[-2]
    assert (rolled["outcome"], rolled["recovered"]) == ("failed", "rolled_back")
    assert rolled["revision_before"] == rolled["revision_after"] == head
    assert rolled["rolled_back_revision"] not in _commits(cli_store)
    assert "recovery put its files back" in rolled["error"]
    assert trail[-1]["revision_before"] == head
    _assert_one_record_per_commit(cli_store)
    _verify_passes(run_cli, cli_store)


@pytest.mark.parametrize("lost", ["HEAD", "HEAD:assistant.yaml"])
def test_a_moved_branch_whose_objects_were_lost_is_moved_back(
    run_cli: RunCli, cli_store: Path, lost: str
):
    """A power cut that kept the branch's rename but not an object's.

    The change's renames are synced in one round with its audit record, the
    journal covering the objects until then; the lost rename is made here by
    removing the object after a kill past the branch's move.
    """
    parent = git(cli_store, "rev-parse", "HEAD").strip()
    before = (cli_store / "assistant.yaml").read_bytes()
    _crashed_set(run_cli, cli_store, "after-ref", "1.4")
    moved = git(cli_store, "rev-parse", "HEAD").strip()
    sha = git(cli_store, "rev-parse", lost).strip()
    (cli_store / ".git" / "objects" / sha[:2] / sha[2:]).unlink()

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
