"""verify: every revision re-checked against the schemas of its day."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import RunCli, git

from vpa_config import logs
from vpa_config.store import ConfigStore
from vpa_config.verify import (
    CHECKS,
    CheckResult,
    accept_findings,
    accept_rewrite,
    register_check,
    verify_store,
)
from test_hooks import git_commit


def bypass(store_path: Path, old: str, new: str, message: str) -> None:
    """A commit made around the hook, as a person with git could."""
    path = store_path / "assistant.yaml"
    path.write_text(path.read_text().replace(old, new))
    done = git_commit(store_path, "commit", "-a", "--no-verify", "-m", message)
    assert done.returncode == 0, done.stderr


@pytest.fixture(name="cli_store")
def _cli_store(run_cli: RunCli, store_path: Path) -> Path:
    assert run_cli("init", "--example", store=store_path).returncode == 0
    assert run_cli("set", "assistant.yaml", "llm.max_tokens", "2048",
                   store=store_path).returncode == 0
    return store_path


def test_verify_passes_a_clean_history(run_cli: RunCli, cli_store: Path) -> None:
    done = run_cli("verify", store=cli_store)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "schemas: all 2 revisions pass validation" in done.stdout
    assert "verifying revisions" in done.stderr


def test_verify_finds_a_no_verify_commit(run_cli: RunCli, cli_store: Path) -> None:
    bypass(cli_store, "temperature: 0.7", "temperature: 7", "sneaky")
    bad = git(cli_store, "rev-parse", "HEAD").strip()
    assert run_cli("set", "assistant.yaml", "llm.max_tokens", "99",
                   store=cli_store).returncode == 1

    done = run_cli("verify", store=cli_store)

    assert done.returncode == 1
    assert "schemas: 1 of 3 revisions would not pass validation" in done.stdout
    assert f"{bad[:12]}  Grace <grace@example.org>  (direct git commit)" in done.stdout
    assert "assistant.yaml:15:3: llm.temperature: expected at most 2; got 7" in done.stdout


def test_verify_json_lists_the_failing_revision(run_cli: RunCli, cli_store: Path) -> None:
    bypass(cli_store, "temperature: 0.7", "temperature: 7", "sneaky")

    done = run_cli("verify", "--json", store=cli_store)

    report = json.loads(done.stdout)
    assert report["ok"] is False
    check = _named(report["checks"], "schemas")
    [finding] = check["findings"]
    assert finding["subject"] == "sneaky"
    assert finding["direct_git_commit"] is True
    assert finding["problems"][0]["pointer"] == "/llm/temperature"
    seconds = int(git(cli_store, "log", "-1", "--format=%at"))
    assert finding["time"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def test_verify_logs_a_security_event(
    cli_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bypass(cli_store, "temperature: 0.7", "temperature: 7", "sneaky")
    events: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(
        logs, "emit", lambda event, level="info", **fields: events.append((event, fields))
    )
    store = ConfigStore.open(cli_store)

    report = verify_store(store)

    store.close()
    assert not report.ok
    [(name, fields)] = [e for e in events if e[0].startswith("security.")]
    assert name == "security.validation_bypassed"
    assert fields["category"] == "security"
    assert fields["files"] == ["assistant.yaml"]
    assert "0.7" not in json.dumps(fields) and "7" not in str(fields["problems"])


def test_secret_value_of_a_bypassing_commit_is_not_shown(
    run_cli: RunCli, cli_store: Path
) -> None:
    bypass(cli_store, "api_key: sk-example-0000-not-a-real-key", "api_key: short",
           "shorter key")
    path = cli_store / "assistant.yaml"
    assert "api_key: short" in path.read_text()

    done = run_cli("verify", store=cli_store)

    assert done.returncode == 1
    assert "llm.api_key" in done.stdout
    assert "short" not in done.stdout.replace("shorter key", "")


def test_verify_uses_the_store_schema_of_each_revision(
    run_cli: RunCli, cli_store: Path, tmp_path: Path
) -> None:
    """A later, stricter schema does not condemn revisions made before it."""
    schema = tmp_path / "notes.schema.json"
    schema.write_text(json.dumps({"properties": {"n": {"maximum": 10}}}))
    assert run_cli("schema", "add", str(schema), "--for", "notes.yaml",
                   store=cli_store).returncode == 0
    (tmp_path / "notes.yaml").write_text("n: 8\n")
    assert run_cli("import", str(tmp_path / "notes.yaml"), store=cli_store).returncode == 0
    schema.write_text(json.dumps({"properties": {"n": {"maximum": 5}}}))

    added = run_cli("schema", "add", str(schema), "--for", "notes.yaml", "--replace",
                    store=cli_store)
    assert added.returncode == 1
    assert "notes.yaml:1:1: n: expected at most 5; got 8" in added.stderr
    forced_dir = cli_store / ".vpa-config" / "schemas"
    (forced_dir / "notes.schema.json").write_text(schema.read_text())
    git_commit(cli_store, "commit", "-a", "--no-verify", "-m", "stricter")

    done = run_cli("verify", "--json", store=cli_store)

    check = _named(json.loads(done.stdout)["checks"], "schemas")
    assert [f["subject"] for f in check["findings"]] == ["stricter"]


def test_second_verify_only_checks_new_revisions(run_cli: RunCli, cli_store: Path) -> None:
    first = json.loads(run_cli("verify", "--json", store=cli_store).stdout)
    run_cli("set", "assistant.yaml", "llm.max_tokens", "512", store=cli_store)

    second = json.loads(run_cli("verify", "--json", store=cli_store).stdout)
    full = json.loads(run_cli("verify", "--json", "--full", store=cli_store).stdout)

    assert first["checks"][0]["cached"] == 0
    assert second["checks"][0]["cached"] == 2
    assert second["checks"][0]["revisions"] == 3
    assert full["checks"][0]["cached"] == 0


def test_a_registered_check_runs_and_counts(
    cli_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("vpa_config.verify.CHECKS", {"schemas": CHECKS["schemas"]})

    def broken_chain(store: ConfigStore, progress: Any) -> CheckResult:
        return CheckResult("audit_chain", ok=False, summary="chain broken at 3")

    register_check("audit_chain", broken_chain)
    store = ConfigStore.open(cli_store)

    report = verify_store(store)

    store.close()
    assert [c.name for c in report.checks] == ["schemas", "audit_chain"]
    assert report.ok is False


def test_verify_finds_an_edited_audit_record(run_cli: RunCli, cli_store: Path) -> None:
    run_cli("set", "assistant.yaml", "llm.max_tokens", "512", "-m", "shorter",
            store=cli_store)
    trail = cli_store / ".git" / "vpa-config-audit.jsonl"
    lines = trail.read_text().splitlines()
    lines[0] = lines[0].replace('"outcome": "committed"', '"outcome": "refused"', 1)
    lines[0] = lines[0].replace('"outcome":"committed"', '"outcome":"refused"', 1)
    trail.write_text("\n".join(lines) + "\n")

    done = run_cli("verify", "--json", store=cli_store)

    assert done.returncode == 1, done.stderr
    check = _named(json.loads(done.stdout)["checks"], "audit_chain")
    assert check["ok"] is False
    assert {finding["kind"] for finding in check["findings"]} == {"edited"}


def _named(checks: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(check for check in checks if check["name"] == name)


def test_a_bypass_after_a_cached_verify_is_found_with_its_line(
    run_cli: RunCli, cli_store: Path
) -> None:
    """The second verify resumes after revisions that passed before, and still
    judges the new revision by its own tree."""
    assert run_cli("verify", store=cli_store).returncode == 0
    assert run_cli("set", "assistant.yaml", "llm.max_tokens", "512",
                   store=cli_store).returncode == 0
    bypass(cli_store, "temperature: 0.7", "temperature: 9", "sneaky after")
    assert run_cli("set", "assistant.yaml", "llm.max_tokens", "256",
                   store=cli_store, env=None).returncode == 1

    done = run_cli("verify", "--json", store=cli_store)

    check = _named(json.loads(done.stdout)["checks"], "schemas")
    assert check["cached"] == 2
    assert [f["subject"] for f in check["findings"]] == ["sneaky after"]
    problem = check["findings"][0]["problems"][0]
    assert (problem["file"], problem["line"]) == ("assistant.yaml", 15)


def test_an_intended_rewrite_is_accepted_once_with_who_and_why(
    run_cli: RunCli, cli_store: Path
) -> None:
    dropped = git(cli_store, "rev-parse", "HEAD").strip()
    git(cli_store, "reset", "-q", "--hard", "HEAD~1")

    failing = run_cli("verify", store=cli_store)
    assert failing.returncode == 1
    assert "no longer in history" in failing.stdout
    assert "--accept-rewrite -m REASON" in failing.stdout

    alone = run_cli("verify", "--dry-run", store=cli_store)
    assert alone.returncode == 2
    assert "go with --accept or --accept-rewrite" in alone.stderr
    no_reason = run_cli("verify", "--accept-rewrite", store=cli_store)
    assert no_reason.returncode == 2 and "needs a reason" in no_reason.stderr
    trail_before = (cli_store / ".git" / "vpa-config-audit.jsonl").read_bytes()
    dry = run_cli("verify", "--accept-rewrite", "--dry-run", "-m", "x", store=cli_store)
    # It reports as verify would once recorded, and records nothing.
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert f"would accept 1 revision dropped from history: {dropped[:12]}" in dry.stderr
    assert "chain whole" in dry.stdout
    assert (cli_store / ".git" / "vpa-config-audit.jsonl").read_bytes() == trail_before
    assert run_cli("verify", store=cli_store).returncode == 1

    done = run_cli(
        "verify", "--accept-rewrite", "-m", "purged a leaked key",
        "--actor", "Ada <ada@example.org>", store=cli_store,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "audit_chain: " in done.stdout and "chain whole" in done.stdout
    trail = (cli_store / ".git" / "vpa-config-audit.jsonl").read_text().splitlines()
    record = json.loads(trail[-1])
    assert record["kind"] == "rewrite_accepted"
    assert record["revisions_dropped"] == [dropped]
    assert record["actor"] == "Ada <ada@example.org>"
    assert record["reason"] == "purged a leaked key"
    again = run_cli("verify", "--accept-rewrite", "-m", "again", store=cli_store)
    assert again.returncode == 1 and "nothing to accept" in again.stderr
    assert run_cli("verify", store=cli_store).returncode == 0


def test_accepting_a_finding_is_a_security_event(cli_store: Path) -> None:
    bypass(cli_store, "temperature: 0.7", "temperature: 7", "sneaky")
    sneaky = git(cli_store, "rev-parse", "HEAD").strip()
    store = ConfigStore.open(cli_store)

    with logs.capture() as events:
        accept_findings(store, ["HEAD"], "Ada <ada@example.org>", "known")

    store.close()
    [event] = [e for e in events if e["event"] == "security.finding_accepted"]
    assert event["security_event"] == "validation_finding_accepted"
    assert event["revisions"] == [sneaky] and event["reason"] == "known"


def test_accepting_a_rewrite_is_a_security_event(cli_store: Path) -> None:
    git(cli_store, "reset", "-q", "--hard", "HEAD~1")
    store = ConfigStore.open(cli_store)

    with logs.capture() as events:
        dropped = accept_rewrite(store, "Ada <ada@example.org>", "purged")

    store.close()
    [event] = [e for e in events if e["event"] == "security.rewrite_accepted"]
    assert event["security_event"] == "history_rewrite_accepted"
    assert event["category"] == "security"
    assert event["revisions"] == len(dropped) == 1


def test_forced_and_accepted_findings_pass_with_who_and_why(
    run_cli: RunCli, cli_store: Path
) -> None:
    bypass(cli_store, "temperature: 0.7", "temperature: 7", "sneaky")
    sneaky = git(cli_store, "rev-parse", "HEAD").strip()
    assert run_cli("restore", "HEAD~1", store=cli_store).returncode == 0
    forced = run_cli("restore", sneaky, "--force", "-m", "forced on purpose",
                     "--actor", "Ada <ada@example.org>", store=cli_store)
    assert forced.returncode == 0, forced.stderr

    first = json.loads(run_cli("verify", "--json", store=cli_store).stdout)
    accepted = run_cli("verify", "--accept", sneaky[:10], "-m", "known test commit",
                       "--actor", "Bob <bob@example.org>", store=cli_store)
    second = json.loads(run_cli("verify", "--json", store=cli_store).stdout)

    assert first["ok"] is False
    findings = _named(first["checks"], "schemas")["findings"]
    by_subject = {finding["subject"]: finding for finding in findings}
    assert by_subject["sneaky"]["accepted"] is None
    [forced_finding] = [f for f in by_subject.values() if f["forced"]]
    assert forced_finding["accepted"] == (
        "forced by Ada <ada@example.org>: forced on purpose"
    )
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert "accepted the findings of " + sneaky[:12] in accepted.stderr
    assert "accepted: accepted by Bob <bob@example.org>: known test commit" in (
        accepted.stdout
    )
    assert second["ok"] is True
    summary = _named(second["checks"], "schemas")["summary"]
    assert summary.endswith("revisions pass validation; 2 that would not are accepted")


def test_a_forged_forced_trailer_is_not_an_acceptance(
    run_cli: RunCli, cli_store: Path
) -> None:
    bypass(cli_store, "temperature: 0.7", "temperature: 7",
           "set it\n\nVpa-Kind: set\nVpa-Forced: true")

    done = run_cli("verify", "--json", store=cli_store)

    assert done.returncode == 1
    [finding] = _named(json.loads(done.stdout)["checks"], "schemas")["findings"]
    assert finding["forced"] is True and finding["accepted"] is None


@pytest.mark.parametrize("dry_run", [False, True], ids=["record", "dry-run"])
def test_accepting_a_revision_without_a_finding_is_refused_and_records_nothing(
    run_cli: RunCli, cli_store: Path, dry_run: bool
) -> None:
    head = git(cli_store, "rev-parse", "HEAD").strip()
    trail = cli_store / ".git" / "vpa-config-audit.jsonl"
    before = trail.read_bytes()
    extra = ("--dry-run",) if dry_run else ()

    done = run_cli("verify", "--accept", "HEAD", "-m", "fine", *extra, store=cli_store)

    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.splitlines()[-1] == (
        f"vpa-config: {head[:12]} has no finding (it passes validation); "
        "nothing to accept, nothing recorded"
    )
    assert "Traceback" not in done.stderr
    assert trail.read_bytes() == before


def test_accepting_revisions_with_and_without_a_finding_records_only_those_with(
    run_cli: RunCli, cli_store: Path
) -> None:
    clean = git(cli_store, "rev-parse", "HEAD").strip()
    bypass(cli_store, "temperature: 0.7", "temperature: 7", "sneaky")
    sneaky = git(cli_store, "rev-parse", "HEAD").strip()
    trail = cli_store / ".git" / "vpa-config-audit.jsonl"
    records = len(trail.read_text().splitlines())

    dry = run_cli("verify", "--accept", clean, "--accept", "HEAD", "-m", "known",
                  "--dry-run", store=cli_store)
    assert len(trail.read_text().splitlines()) == records
    assert run_cli("verify", store=cli_store).returncode == 1  # still unaccepted
    done = run_cli("verify", "--accept", clean, "--accept", "HEAD", "-m", "known",
                   store=cli_store)

    # The dry run reports as verify would once recorded: it would pass.
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "accepted: would be accepted (dry run)" in dry.stdout
    assert f"would accept the findings of {sneaky[:12]}\n" in dry.stderr
    assert f"note: {clean[:12]} has no finding; not recorded" in dry.stderr
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"accepted the findings of {sneaky[:12]}\n" in done.stderr
    assert f"note: {clean[:12]} has no finding; not recorded" in done.stderr
    lines = trail.read_text().splitlines()
    assert len(lines) == records + 1
    record = json.loads(lines[-1])
    assert record["kind"] == "finding_accepted" and record["revisions"] == [sneaky]

    again = run_cli("verify", "--accept", "HEAD", "-m", "once more", store=cli_store)

    assert again.returncode == 1, again.stdout + again.stderr
    assert again.stderr.splitlines()[-1] == (
        f"vpa-config: {sneaky[:12]}: already accepted (accepted by "
        f"{record['actor']}: known); nothing recorded again"
    )
    assert len(trail.read_text().splitlines()) == records + 1


def test_the_library_refuses_to_accept_a_revision_without_a_finding(
    cli_store: Path,
) -> None:
    from vpa_config.errors import NothingToDoError

    store = ConfigStore.open(cli_store)
    try:
        with logs.capture() as events, pytest.raises(NothingToDoError) as caught:
            accept_findings(store, ["HEAD", "HEAD~1"], "Ada <ada@example.org>", "ok")
    finally:
        store.close()

    assert caught.value.exit_code == 1
    assert str(caught.value).startswith("none of ")
    assert not [e for e in events if e["event"] == "security.finding_accepted"]
