"""History that answers who changed what: audit, blame, diff, show, get --at, log.

Every test runs on a real store on disk; the key-change index is exercised
as it is in use (kept current by each commit), and against a deleted, a
stale and a rewritten-history index in test_history_index.py.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from conftest import ACTOR, RunCli, git
from vpa_config.keyindex import MISSING
from vpa_config.store import ConfigStore

BOB = "Bob Builder <bob@example.org>"


def plain_store(path: Path) -> ConfigStore:
    """A store that takes files without a schema (renames to any name)."""
    store, _ = ConfigStore.init(path, actor=ACTOR)
    settings = store.read_bytes(".vpa-config/settings.yaml").decode()
    settings = settings.replace("allow_unschematized: false", "allow_unschematized: true")
    store.import_file(".vpa-config/settings.yaml", settings.encode(), actor=ACTOR)
    return store


def entries(store: ConfigStore, file: str, key: str) -> list[tuple[str, object, object]]:
    """(change, old, new) of an audit, newest first; MISSING shown as None."""
    return [
        (e.change, None if e.old is MISSING else e.old, None if e.new is MISSING else e.new)
        for e in store.audit(file, key)
    ]


def test_audit_lists_every_change_newest_first_with_values(store: ConfigStore) -> None:
    values = [round(0.05 * n, 2) for n in range(1, 31)]
    for n, value in enumerate(values):
        who = BOB if n % 2 else ACTOR
        store.set("assistant.yaml", "llm.temperature", value, actor=who, reason=f"try {n}")
    store.set("assistant.yaml", "llm.model", "gpt-4o", actor=ACTOR, reason="other key")

    found = store.audit("assistant.yaml", "llm.temperature")

    assert len(found) == 31
    olds = [0.7, *values[:-1]]
    expected = [("changed", old, new) for old, new in zip(olds, values)][::-1]
    assert entries(store, "assistant.yaml", "llm.temperature")[:30] == expected
    assert entries(store, "assistant.yaml", "llm.temperature")[30] == ("added", None, 0.7)
    assert found[0].who.author == BOB and found[0].who.reason == "try 29"
    assert found[1].who.author == ACTOR and found[1].who.reason == "try 28"
    assert found[0].who.revision == store.log(limit=2)[1].revision


def test_audit_of_list_items_and_keys_inside_them(store: ConfigStore) -> None:
    store.set("plugins.yaml", "plugins.1.options.lookahead_days", 14, reason="longer")
    store.unset("plugins.yaml", "plugins.0", reason="drop weather")

    name_history = entries(store, "plugins.yaml", "plugins.0.name")
    item = store.audit("plugins.yaml", "plugins.2")

    assert name_history[0] == ("changed", "weather", "calendar")
    assert name_history[1] == ("added", None, "weather")
    assert item[0].change == "removed"
    assert item[0].old["name"] == "smart-home"
    assert item[0].new is MISSING


def test_audit_of_a_key_inside_a_list_item_after_list_edits(store: ConfigStore) -> None:
    store.set("plugins.yaml", "plugins.1.options.lookahead_days", 14, reason="longer")
    store.unset("plugins.yaml", "plugins.0", reason="drop weather")

    days = entries(store, "plugins.yaml", "plugins.0.options.lookahead_days")
    calendar_days = entries(store, "plugins.yaml", "plugins.1.options.lookahead_days")

    # After the removal, item 0 is the calendar plugin: its days appear there.
    assert days[0] == ("added", None, 14)
    assert calendar_days[:2] == [("removed", 14, None), ("changed", 7, 14)]


def test_audit_of_a_key_that_appears_and_disappears(store: ConfigStore) -> None:
    store.unset("assistant.yaml", "llm.timeout_s", reason="drop")
    store.set("assistant.yaml", "llm.timeout_s", 45, reason="again")
    store.unset("assistant.yaml", "llm.timeout_s", reason="drop again")

    assert entries(store, "assistant.yaml", "llm.timeout_s") == [
        ("removed", 45, None),
        ("added", None, 45),
        ("removed", 30, None),
        ("added", None, 30),
    ]
    assert [e.who.reason for e in store.audit("assistant.yaml", "llm.timeout_s")][:3] == [
        "drop again", "again", "drop",
    ]


def test_audit_of_a_mapping_key_gives_whole_values_and_sub_changes(
    store: ConfigStore,
) -> None:
    store.set("assistant.yaml", "speech.sample_rate_hz", 22050, reason="hi-fi")

    latest = store.audit("assistant.yaml", "speech")[0]

    assert latest.change == "changed"
    assert latest.old["sample_rate_hz"] == 16000
    assert latest.new["sample_rate_hz"] == 22050
    assert [(c.dotted, c.old, c.new) for c in latest.changes] == [
        ("sample_rate_hz", 16000, 22050)
    ]


def test_audit_follows_a_file_removed_and_added_back(tmp_path: Path) -> None:
    store = plain_store(tmp_path / "store")
    store.import_file("app.yaml", b"db:\n  host: a\n  port: 1\n", reason="first")
    store.set("app.yaml", "db.port", 2, reason="bump")
    store.remove("app.yaml", reason="retire")
    store.import_file("app.yaml", b"db:\n  host: b\n  port: 3\n", reason="back")

    assert entries(store, "app.yaml", "db.port") == [
        ("added", None, 3),
        ("removed", 2, None),
        ("changed", 1, 2),
        ("added", None, 1),
    ]
    assert [e.who.reason for e in store.audit("app.yaml", "db.host")] == [
        "back", "retire", "first",
    ]


def test_audit_follows_a_rename_through_import_as(
    run_cli: RunCli, tmp_path: Path
) -> None:
    path = tmp_path / "store"
    plain_store(path).close()
    (tmp_path / "old.yaml").write_text("db:\n  port: 1\n")
    assert run_cli("import", str(tmp_path / "old.yaml"), store=path).returncode == 0
    assert run_cli("set", "old.yaml", "db.port", "2", "-m", "bump", store=path).returncode == 0
    done = run_cli("import", str(path / "old.yaml"), "--as", "new.yaml", "-m", "rename",
                   store=path)
    assert done.returncode == 0, done.stderr
    assert run_cli("rm", "old.yaml", "-m", "rename, part 2", store=path).returncode == 0
    assert run_cli("set", "new.yaml", "db.port", "3", "-m", "after", store=path).returncode == 0

    audit = run_cli("audit", "new.yaml", "db.port", "--json", store=path)
    trailer = git(path, "log", "-1", "--skip=2", "--format=%B")

    assert audit.returncode == 0, audit.stderr
    rows = [json.loads(line) for line in audit.stdout.splitlines()]
    assert [(r["file"], r["change"], r.get("old"), r["new"]) for r in rows] == [
        ("new.yaml", "changed", 2, 3),
        ("old.yaml", "changed", 1, 2),
        ("old.yaml", "added", None, 1),
    ]
    assert "Vpa-Copied-From: old.yaml -> new.yaml" in trailer


def test_import_of_a_store_file_as_new_is_a_copy(
    run_cli: RunCli, tmp_path: Path
) -> None:
    path = tmp_path / "store"
    plain_store(path).close()
    (tmp_path / "src").mkdir()  # the commands run in tmp_path
    (tmp_path / "src" / "old.yaml").write_text("db:\n  port: 1\n")
    assert run_cli("import", str(tmp_path / "src" / "old.yaml"), store=path
                   ).returncode == 0

    relative = run_cli("import", "old.yaml", "--as", "new.yaml", store=path)
    done = run_cli("import", str(path / "old.yaml"), "--as", "new.yaml", store=path)
    text = run_cli("show", store=path)
    shown = json.loads(run_cli("show", "--json", store=path).stdout)
    diff = json.loads(run_cli("diff", "HEAD~1", "HEAD", "--json", store=path).stdout)

    assert relative.returncode == 5  # SRC is a path from the current directory
    assert relative.stderr == (
        "vpa-config: old.yaml: no such file (SRC is a path from the current "
        f"directory; the store's old.yaml is {path / 'old.yaml'})\n"
    )
    assert done.returncode == 0, done.stderr
    assert (path / "old.yaml").exists()
    assert "    Vpa-Copied-From: old.yaml -> new.yaml\n" in text.stdout
    assert "Renamed-From" not in text.stdout
    assert text.stdout.endswith("copied new.yaml (from old.yaml)\n")
    for files in (shown["files"], diff["files"]):
        assert [(f["file"], f["action"], f["copied_from"]) for f in files] == [
            ("new.yaml", "copied", "old.yaml")
        ]


def test_audit_follows_renames_made_by_restore(tmp_path: Path) -> None:
    store = plain_store(tmp_path / "store")
    store.import_file("a.yaml", b"k: 1\n", reason="create")
    store.set("a.yaml", "k", 2, reason="two")
    before_rename = store.repo.head()
    with store.transaction(subject="mv a.yaml b.yaml", kind="rename", actor=ACTOR) as tx:
        tx.write("b.yaml", tx.read("a.yaml") or b"")
        tx.remove("a.yaml")
    store.set("b.yaml", "k", 3, reason="three")
    store.set("b.yaml", "k", 2, reason="back to two")

    store.restore(before_rename, reason="undo the rename")

    assert store.log(limit=1)[0].trailers[-1][0] != ""
    assert entries(store, "a.yaml", "k") == [
        ("changed", 3, 2),
        ("changed", 2, 3),
        ("changed", 1, 2),
        ("added", None, 1),
    ]
    assert [e.file for e in store.audit("a.yaml", "k")] == ["b.yaml", "b.yaml", "a.yaml", "a.yaml"]
    shown = store.show("HEAD")
    assert shown.diff.renames == {"a.yaml": "b.yaml"}


def test_blame_names_the_last_change_of_each_key(store: ConfigStore) -> None:
    first = store.set("assistant.yaml", "llm.model", "gpt-4o", actor=BOB, reason="smarter")
    store.set("assistant.yaml", "assistant.voice", "tenor", actor=ACTOR, reason="deeper")
    store.set("assistant.yaml", "assistant.voice", "soprano", actor=BOB, reason="brighter")
    seeded = store.log("assistant.yaml")[-1].revision

    lines = {line.key: line for line in store.blame("assistant.yaml")}

    assert lines["llm.model"].who.revision == first.revision
    assert lines["llm.model"].who.author == BOB
    assert lines["assistant.voice"].who.reason == "brighter"
    assert lines["assistant.voice"].value == "soprano"
    assert lines["assistant.name"].who.revision == seeded
    assert lines["llm.api_key"].secret
    assert lines["llm.api_key"].to_dict()["value"] == "<redacted>"


def test_blame_of_an_emptied_mapping_names_what_emptied_it(tmp_path: Path) -> None:
    from reliability import free_form_store

    root = tmp_path / "free"
    free_form_store(root, {"app.yaml": b"app:\n  db:\n    host: h\n"})
    store = ConfigStore.open(root)
    added = store.set("app.yaml", "app.db.password", "hunter22", actor=ACTOR)
    store.unset("app.yaml", "app.db.host", actor=ACTOR, reason="no host")
    emptied = store.unset("app.yaml", "app.db.password", actor=ACTOR, reason="gone")

    line = {line.key: line for line in store.blame("app.yaml")}["app.db"]
    store.close()

    assert line.who.revision == emptied.revision != added.revision
    assert line.value == {} and not line.secret  # nothing left to hide
    assert line.to_dict()["value"] == {}


def test_blame_and_audit_cli_json(run_cli: RunCli, store_path: Path) -> None:
    assert run_cli("init", "--example", store=store_path).returncode == 0
    assert run_cli("set", "assistant.yaml", "llm.max_tokens", "2048", "-m", "longer",
                   store=store_path).returncode == 0

    blame = run_cli("blame", "assistant.yaml", "--json", store=store_path)
    audit = run_cli("audit", "assistant.yaml", "llm.max_tokens", store=store_path)

    assert blame.returncode == 0, blame.stderr
    rows = {row["key"]: row for row in json.loads(blame.stdout)}
    assert rows["llm.max_tokens"]["reason"] == "longer"
    assert rows["llm.max_tokens"]["value"] == 2048
    assert rows["llm.max_tokens"]["author"] == ACTOR
    assert rows["llm.max_tokens"]["tool"] is None
    assert audit.returncode == 0, audit.stderr
    assert "changed: 1024 -> 2048" in audit.stdout
    assert "reason: longer" in audit.stdout


def test_secret_keys_show_as_changed_but_redacted(
    run_cli: RunCli, store_path: Path
) -> None:
    assert run_cli("init", "--example", store=store_path).returncode == 0
    done = run_cli("set", "assistant.yaml", "llm.api_key", "sk-new-secret-1234",
                   "-m", "rotate", store=store_path)
    assert done.returncode == 0, done.stderr

    outputs = [
        run_cli("audit", "assistant.yaml", "llm.api_key", store=store_path),
        run_cli("audit", "assistant.yaml", "llm.api_key", "--json", store=store_path),
        run_cli("audit", "assistant.yaml", "llm", "--json", store=store_path),
        run_cli("show", "--json", store=store_path),
        run_cli("show", store=store_path),
        run_cli("diff", "HEAD~1", "HEAD", store=store_path),
        run_cli("diff", "HEAD~1", "HEAD", "--json", store=store_path),
        run_cli("diff", "HEAD~1", "HEAD", "--unified", store=store_path),
        run_cli("blame", "assistant.yaml", "--json", store=store_path),
        run_cli("log", "--key", "assistant.yaml:llm.api_key", "--json", store=store_path),
    ]

    for out in outputs:
        assert out.returncode == 0, out.stderr
        assert "sk-new-secret-1234" not in out.stdout
        assert "sk-example-0000-not-a-real-key" not in out.stdout
    assert "changed: <redacted> -> <redacted>" in outputs[0].stdout
    assert "~ llm.api_key: <redacted> -> <redacted>" in outputs[5].stdout
    assert "<redacted>" in outputs[7].stdout
    assert json.loads(outputs[9].stdout.splitlines()[0])["reason"] == "rotate"


def test_diff_of_hand_edits_against_head(store: ConfigStore, store_path: Path) -> None:
    text = (store_path / "assistant.yaml").read_text()
    (store_path / "assistant.yaml").write_text(
        text.replace("voice: alto", "voice: tenor").replace("  max_tokens: 1024\n", "")
    )

    result = store.diff()

    assert [change.path for change in result.files] == ["assistant.yaml"]
    keys = [(k.dotted, k.kind, k.old, k.new) for k in result.files[0].keys]
    assert keys == [
        ("assistant.voice", "changed", "alto", "tenor"),
        ("llm.max_tokens", "removed", 1024, None),
    ]


def test_diff_names_a_hand_edit_that_does_not_parse(
    store: ConfigStore, store_path: Path
) -> None:
    (store_path / "assistant.yaml").write_text("assistant: [unclosed\n")

    result = store.diff()

    assert result.files[0].action == "unparsable"
    assert result.files[0].keys == []


def test_diff_cli_gives_the_parse_error_and_exits_1(
    run_cli: RunCli, store_path: Path
) -> None:
    assert run_cli("init", "--example", store=store_path).returncode == 0
    with (store_path / "assistant.yaml").open("a") as handle:
        handle.write("extra:\n  - [unclosed\n")
    plugins = store_path / "plugins.yaml"
    plugins.write_text(plugins.read_text().replace("timeout_s: 5", "timeout_s: 6", 1))

    text = run_cli("diff", store=store_path)
    as_json = run_cli("diff", "--json", store=store_path)
    unified = run_cli("diff", "--unified", "assistant.yaml", store=store_path)

    # An unclosed flow sequence is placed where it opens, on the last line.
    lines = len((store_path / "assistant.yaml").read_text().splitlines())
    error = f"assistant.yaml:{lines}:5: (document): invalid YAML:"
    assert text.returncode == 1
    assert text.stdout.startswith(f"unparsable assistant.yaml\n    {error}")
    assert "modified plugins.yaml\n" in text.stdout  # the other files still diffed
    assert text.stderr.startswith(f"vpa-config: {error}")
    assert text.stderr.count("\n") == 1
    assert as_json.returncode == 1
    files = {f["file"]: f for f in json.loads(as_json.stdout)["files"]}
    problem = files["assistant.yaml"]["problem"]
    assert (problem["line"], problem["column"]) == (lines, 5)
    assert problem["message"].endswith("a flow sequence that starts here")
    assert problem["message"].startswith("invalid YAML:")
    assert "problem" not in files["plugins.yaml"]
    assert unified.returncode == 0
    assert "+  - [unclosed" in unified.stdout


def test_diff_between_revisions_limited_to_a_file(run_cli: RunCli, store_path: Path) -> None:
    assert run_cli("init", "--example", store=store_path).returncode == 0
    assert run_cli("set", "assistant.yaml", "llm.timeout_s", "60", store=store_path).returncode == 0
    assert run_cli("set", "plugins.yaml", "plugins.0.timeout_s", "9",
                   store=store_path).returncode == 0

    both = run_cli("diff", "HEAD~2", "HEAD", "--json", store=store_path)
    one = run_cli("diff", "HEAD~2", "HEAD", "plugins.yaml", "--json", store=store_path)
    text = run_cli("diff", "HEAD~2", "HEAD", "plugins.yaml", store=store_path)
    unified = run_cli("diff", "HEAD~2", "HEAD", "plugins.yaml", "--unified", store=store_path)

    assert [f["file"] for f in json.loads(both.stdout)["files"]] == [
        "assistant.yaml", "plugins.yaml",
    ]
    assert json.loads(one.stdout)["files"] == [{
        "file": "plugins.yaml", "action": "modified",
        "keys": [{"path": "plugins.0.timeout_s", "change": "changed", "old": 5, "new": 9}],
    }]
    assert "~ plugins.0.timeout_s: 5 -> 9" in text.stdout
    assert "-    timeout_s: 5\n+    timeout_s: 9\n" in unified.stdout


def test_show_separates_author_tool_and_reason(store: ConfigStore, store_path: Path) -> None:
    text = (store_path / "assistant.yaml").read_text()
    (store_path / "assistant.yaml").write_text(text.replace("voice: alto", "voice: tenor"))
    store.adopt(actor="vpa-config watcher <watcher@localhost>", reason="file changed",
                tool="watcher", source_kind="watch")

    shown = store.show("HEAD").to_dict()
    log_entry = store.log(limit=1)[0]
    audit = store.audit("assistant.yaml", "assistant.voice")[0]

    assert shown["tool"] == "watcher"
    assert shown["author"] == "vpa-config watcher <watcher@localhost>"
    assert shown["reason"] == "file changed"
    assert shown["kind"] == "watch"
    assert ["Vpa-Tool", "watcher"] in shown["trailers"]
    assert shown["files"][0]["keys"] == [
        {"path": "assistant.voice", "change": "changed", "old": "alto", "new": "tenor"}
    ]
    assert log_entry.tool == "watcher"
    assert audit.who.tool == "watcher"
    assert audit.who.by() == "tool watcher (as vpa-config watcher <watcher@localhost>)"


def test_get_at_a_time_names_the_value_and_its_revision(
    run_cli: RunCli, store_path: Path
) -> None:
    assert run_cli("init", "--example", store=store_path).returncode == 0
    time.sleep(1.1)
    assert run_cli("set", "assistant.yaml", "llm.temperature", "0.9", "-m", "warm",
                   store=store_path).returncode == 0
    middle = git(store_path, "rev-parse", "HEAD").strip()
    stamp = int(git(store_path, "log", "-1", "--format=%ct"))
    time.sleep(1.1)
    assert run_cli("set", "assistant.yaml", "llm.temperature", "0.1",
                   store=store_path).returncode == 0
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))

    then = run_cli("get", "assistant.yaml", "llm.temperature", "--at", iso, "--json",
                   store=store_path)
    plain = run_cli("get", "assistant.yaml", "llm.temperature", "--at", iso, store=store_path)
    before = run_cli("get", "assistant.yaml", "llm.temperature", "--at", "2000-01-01",
                     store=store_path)
    now = run_cli("get", "assistant.yaml", "llm.temperature", "--at", "0 s ago",
                  store=store_path)

    assert then.returncode == 0, then.stderr
    data = json.loads(then.stdout)
    assert data["value"] == 0.9
    assert data["revision"]["revision"] == middle
    assert data["changed_in"]["revision"] == middle
    assert data["changed_in"]["reason"] == "warm"
    assert plain.stdout == "0.9\n"
    assert middle[:12] in plain.stderr
    assert before.returncode == 5
    assert "no revision at or before 2000-01-01T00:00:00Z" in before.stderr
    assert "Traceback" not in before.stderr
    assert now.stdout == "0.1\n"


@pytest.mark.parametrize("args", [
    ("audit", "assistant.yaml", "nope.key"),
    ("audit", "--json", "assistant.yaml", "nope.key"),
    ("log", "--key", "assistant.yaml:nope.key"),
    ("log", "--json", "--key", "assistant.yaml:nope.key", "--since", "2000-01-01"),
], ids=" ".join)
def test_a_key_no_revision_had_is_not_found(
    run_cli: RunCli, store_path: Path, args: tuple[str, ...]
) -> None:
    assert run_cli("init", "--example", store=store_path).returncode == 0

    done = run_cli(*args, store=store_path)

    line = "assistant.yaml: key nope.key not found in any revision"
    assert done.returncode == 5
    assert done.stderr == f"vpa-config: {line}\n"
    if "--json" in args:
        assert json.loads(done.stdout)["message"] == line
    else:
        assert done.stdout == ""


def test_a_key_once_had_is_found_though_gone_or_out_of_range(
    run_cli: RunCli, store_path: Path
) -> None:
    assert run_cli("init", "--example", store=store_path).returncode == 0
    assert run_cli("unset", "assistant.yaml", "llm.timeout_s", store=store_path
                   ).returncode == 0

    gone = run_cli("audit", "--json", "assistant.yaml", "llm.timeout_s",
                   store=store_path)
    later = ("--key", "assistant.yaml:llm.timeout_s", "--since", "2999-01-01")
    text = run_cli("log", *later, store=store_path)
    as_json = run_cli("log", "--json", *later, store=store_path)

    assert gone.returncode == 0
    changes = [json.loads(line)["change"] for line in gone.stdout.splitlines()]
    assert changes == ["removed", "added"]
    for done in (text, as_json):
        assert done.returncode == 0
        assert done.stdout == ""  # JSON lines: no record is no line
        assert done.stderr == (
            "vpa-config: no revision that changed llm.timeout_s of assistant.yaml "
            "matched the other filters\n"
        )


def test_log_by_key_kind_and_json_lines(run_cli: RunCli, store_path: Path) -> None:
    assert run_cli("init", "--example", store=store_path).returncode == 0
    for value in ("0.2", "0.3"):
        assert run_cli("set", "assistant.yaml", "llm.temperature", value,
                       store=store_path).returncode == 0
    assert run_cli("unset", "assistant.yaml", "llm.timeout_s", store=store_path).returncode == 0

    by_key = run_cli("log", "--key", "assistant.yaml:llm.temperature", "--json",
                     store=store_path)
    by_kind = run_cli("log", "--kind", "unset", "--json", store=store_path)
    bad = run_cli("log", "--key", "assistant.yaml", store=store_path)

    rows = [json.loads(line) for line in by_key.stdout.splitlines()]
    assert [r["kind"] for r in rows] == ["set", "set", "init"]
    assert all(r["files"] == ["assistant.yaml"] for r in rows[:2])
    assert [json.loads(line)["subject"] for line in by_kind.stdout.splitlines()] == [
        "unset assistant.yaml llm.timeout_s"
    ]
    assert bad.returncode == 2
    assert "expected FILE:KEY" in bad.stderr


def test_log_and_diff_of_a_file_the_store_never_held_exit_5(
    run_cli: RunCli, store_path: Path
) -> None:
    assert run_cli("init", "--example", store=store_path).returncode == 0
    assert run_cli("rm", "plugins.yaml", store=store_path).returncode == 0

    log = run_cli("log", "nofile.yaml", store=store_path)
    removed = run_cli("log", "plugins.yaml", "--json", store=store_path)
    filtered = run_cli("log", "assistant.yaml", "--kind", "unset", store=store_path)
    diff = run_cli("diff", "nofile.yaml", store=store_path)
    between = run_cli("diff", "HEAD~1", "HEAD", "nofile.yaml", store=store_path)
    gone = run_cli("diff", "HEAD~1", "HEAD", "plugins.yaml", "--json", store=store_path)

    assert (log.returncode, log.stdout) == (5, "")
    assert log.stderr == "vpa-config: nofile.yaml: no such file in the store's history\n"
    assert [json.loads(line)["kind"] for line in removed.stdout.splitlines()] == [
        "rm", "init"
    ]
    assert (filtered.returncode, filtered.stdout) == (0, "")
    assert diff.returncode == 5
    assert diff.stderr == (
        "vpa-config: nofile.yaml: no such revision, and no such file in the "
        "revision or the working files\n"
    )
    assert between.returncode == 5
    assert "nofile.yaml: no such file in either revision" in between.stderr
    assert gone.returncode == 0, gone.stderr
    assert [(f["file"], f["action"]) for f in json.loads(gone.stdout)["files"]] == [
        ("plugins.yaml", "removed")
    ]


def test_commits_made_with_the_git_cli_are_in_the_history(
    store: ConfigStore, store_path: Path
) -> None:
    store.set("assistant.yaml", "llm.max_tokens", 2000, reason="via tool")
    text = (store_path / "assistant.yaml").read_text()
    (store_path / "assistant.yaml").write_text(text.replace("max_tokens: 2000", "max_tokens: 3000"))
    git(store_path, "-c", "user.name=Carol", "-c", "user.email=carol@example.org",
        "commit", "-q", "--no-verify", "-am", "by hand with git")

    found = store.audit("assistant.yaml", "llm.max_tokens")

    assert [(e.old, e.new) for e in found[:2]] == [(2000, 3000), (1024, 2000)]
    assert found[0].who.author == "Carol <carol@example.org>"
    assert found[0].who.kind == "git"
    assert found[0].who.reason == ""
    assert found[0].who.subject == "by hand with git"
    assert store.log("assistant.yaml", limit=1)[0].subject == "by hand with git"


@pytest.mark.parametrize("command", ["diff", "show", "audit", "blame"])
def test_history_commands_have_help(run_cli: RunCli, command: str) -> None:
    done = run_cli(command, "--help")

    assert done.returncode == 0
    assert "--json" in done.stdout


def test_blame_and_audit_quote_a_string_that_reads_as_another_type(
    run_cli: RunCli, store_path: Path
) -> None:
    assert run_cli("init", "--example", store=store_path).returncode == 0
    assert run_cli("set", "assistant.yaml", "assistant.name", "no", "--string",
                   store=store_path).returncode == 0

    blame = run_cli("blame", "assistant.yaml", store=store_path)
    audit = run_cli("audit", "assistant.yaml", "assistant.name", store=store_path)

    [line] = [row for row in blame.stdout.splitlines()
              if row.startswith("assistant.name ")]
    assert line.endswith('  = "no"'), line
    assert '-> "no"' in audit.stdout, audit.stdout


def test_blame_of_a_missing_file_is_one_line(run_cli: RunCli, store_path: Path) -> None:
    assert run_cli("init", "--example", store=store_path).returncode == 0

    done = run_cli("blame", "nope.yaml", store=store_path)

    assert done.returncode == 5
    assert done.stderr.strip() == "vpa-config: nope.yaml: no such file in the store"


def test_a_rebuilt_index_judges_the_same_secrets_as_each_commit(
    store: ConfigStore, store_path: Path
) -> None:
    from vpa_config.keyindex import INDEX_FILE, KeyIndex

    store.set("assistant.yaml", "llm.api_key", "sk-rotated-0001", reason="rotate")
    store.set("plugins.yaml", "plugins.0.options.password", "hunter22", reason="pw")
    store.audit("assistant.yaml", "llm.api_key")
    store.set("plugins.yaml", "plugins.1.options.password", "hunter23", reason="pw2")
    recorded = KeyIndex(store.repo).secret_paths(["assistant.yaml", "plugins.yaml"])

    for suffix in ("", "-wal", "-shm"):
        (store_path / ".git" / (INDEX_FILE + suffix)).unlink(missing_ok=True)
    rebuilt = KeyIndex(store.repo)
    rebuilt.sync()

    assert rebuilt.secret_paths(["assistant.yaml", "plugins.yaml"]) == recorded
    assert ("assistant.yaml", "/llm/api_key") in recorded
    assert ("plugins.yaml", "/plugins/1/options/password") in recorded
    assert store.audit("plugins.yaml", "plugins.1.options.password")[0].to_dict()[
        "new"] == "<redacted>"


def test_get_at_a_time_before_a_rename_reads_the_old_name(tmp_path: Path) -> None:
    store = plain_store(tmp_path / "store")
    store.import_file("a.yaml", b"k: 1\n", reason="create")
    before = store.repo.commit(store.repo.head()).commit_time
    time.sleep(1.1)
    with store.transaction(subject="mv a.yaml b.yaml", kind="rename", actor=ACTOR) as tx:
        tx.write("b.yaml", b"k: 1\n")
        tx.remove("a.yaml")
    store.set("b.yaml", "k", 2, reason="two")

    then = store.value_at("b.yaml", "k", before)
    now = store.value_at("b.yaml", "k", int(time.time()) + 5)

    assert (then.value, then.file, then.set_by.reason) == (1, "a.yaml", "create")
    assert (now.value, now.file, now.set_by.reason) == (2, "b.yaml", "two")
