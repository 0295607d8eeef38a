"""restore and undo through the real CLI: old states come back as new revisions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import stores
from conftest import RunCli, git, snapshot

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
        "host": {"type": "string"},
    },
    "required": ["port"],
    "additionalProperties": False,
}
SETTINGS = """\
schemas:
  - files: app.yaml
    schema: app.schema.json
allow_unschematized: false
"""


def _head(store: Path) -> str:
    return git(store, "rev-parse", "HEAD").strip()


def _count(store: Path) -> int:
    return int(git(store, "rev-list", "--count", "HEAD"))


def _build(run, store: Path, work: Path) -> None:
    run("init")
    schema = work / "app.schema.json"
    schema.write_text(json.dumps(SCHEMA, indent=2) + "\n")
    settings = work / "settings.yaml"
    settings.write_text(SETTINGS)
    app = work / "app.yaml"
    app.write_text("# the app\nport: 9000   # public\nhost: example.org\n")
    for src, name in ((schema, ".vpa-config/schemas/app.schema.json"),
                      (settings, ".vpa-config/settings.yaml"), (app, "app.yaml")):
        run("import", str(src), "--as", name)
    run("set", "app.yaml", "port", "8080", "-m", "the usual port")


@pytest.fixture(name="app_template", scope="module")
def _app_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return stores.template(tmp_path_factory.mktemp("template"), _build)


@pytest.fixture(name="app_store")
def _app_store(app_template: Path, store_path: Path) -> Path:
    """A store with its own schema for app.yaml, and three revisions of it."""
    return stores.copy(app_template, store_path)


def _rev_of_port(store: Path, port: int) -> str:
    for line in git(store, "log", "--format=%H").split():
        if f"port: {port}" in git(store, "show", f"{line}:app.yaml"):
            return line
    raise AssertionError(port)


def _port(run_cli: RunCli, store: Path) -> str:
    return run_cli("get", "app.yaml", "port", store=store).stdout.strip()


@pytest.mark.parametrize("form", ["full", "short", "HEAD~1", "tag", "annotated", "branch"])
def test_restore_by_every_kind_of_revision_name(
    run_cli: RunCli, app_store: Path, form: str
) -> None:
    target = _rev_of_port(app_store, 9000)
    if form == "tag":
        git(app_store, "tag", "v1", target)
    elif form == "annotated":
        git(app_store, "-c", "user.name=T", "-c", "user.email=t@x", "tag", "-a", "v1",
            "-m", "release", target)
    elif form == "branch":
        git(app_store, "branch", "before-port", target)
    name = {"full": target, "short": target[:7], "HEAD~1": "HEAD~1", "tag": "v1",
            "annotated": "v1", "branch": "before-port"}[form]
    count = _count(app_store)

    done = run_cli("restore", name, "-m", "back to 9000", store=app_store)

    assert done.returncode == 0, done.stderr
    assert _port(run_cli, app_store) == "9000"
    assert _count(app_store) == count + 1
    message = git(app_store, "log", "-1", "--format=%B")
    assert message.startswith(f"restore all files from {target[:12]}\n\nback to 9000\n")
    assert f"Vpa-Restored-From: {target}" in message
    assert "Vpa-Kind: restore" in message
    assert (app_store / "app.yaml").read_text() == git(app_store, "show",
                                                       f"{target}:app.yaml")
    assert git(app_store, "status", "--porcelain") == ""


def test_history_only_grows(run_cli: RunCli, app_store: Path) -> None:
    before = git(app_store, "log", "--format=%H").split()

    assert run_cli("restore", "HEAD~1", store=app_store).returncode == 0
    assert run_cli("undo", store=app_store).returncode == 0
    after = git(app_store, "log", "--format=%H").split()

    assert after[2:] == before
    git(app_store, "fsck", "--strict")


def test_restore_named_file_only(run_cli: RunCli, app_store: Path) -> None:
    done = run_cli("restore", "HEAD~1", "app.yaml", store=app_store)

    assert done.returncode == 0, done.stderr
    assert git(app_store, "log", "-1", "--format=%s").strip().startswith(
        "restore app.yaml from "
    )


def test_restore_of_the_current_state_is_nothing_to_do(
    run_cli: RunCli, app_store: Path
) -> None:
    before = snapshot(app_store)

    done = run_cli("restore", "HEAD", store=app_store)

    assert done.returncode == 1
    assert "nothing to restore" in done.stderr
    assert snapshot(app_store) == before


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("nosuch",), 5, "revision 'nosuch' not found"),
        (("HEAD~40",), 5, "past the first revision"),
        (("HEAD~1", "other.yaml"), 5, "other.yaml: in neither revision "),
        (("HEAD~1", "../x.yaml"), 1, "leaves the store"),
        (("HEAD~1", "--discard-edits", "--commit-edits"), 2, "exclude each other"),
    ],
    ids=["rev", "too-far", "file", "unsafe", "both-policies"],
)
def test_restore_errors(run_cli: RunCli, app_store: Path, args: tuple[str, ...],
                        code: int, message: str) -> None:
    before = snapshot(app_store)

    done = run_cli("restore", *args, store=app_store)

    assert done.returncode == code, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert snapshot(app_store) == before


def test_restore_dry_run_writes_nothing(run_cli: RunCli, app_store: Path) -> None:
    before = snapshot(app_store)

    done = run_cli("restore", "HEAD~1", "--dry-run", store=app_store)

    assert done.returncode == 0, done.stderr
    assert "~ port: 8080 -> 9000" in done.stdout
    assert "dry run: valid; nothing written" in done.stdout
    assert snapshot(app_store) == before


def _tighten_schema(run_cli: RunCli, store: Path, tmp_path: Path) -> None:
    stricter = dict(SCHEMA, properties={**SCHEMA["properties"],
                                        "port": {"type": "integer", "maximum": 8500}})
    src = tmp_path / "stricter.json"
    src.write_text(json.dumps(stricter, indent=2) + "\n")
    done = run_cli("import", str(src), "--as", ".vpa-config/schemas/app.schema.json",
                   "-m", "no high ports", store=store)
    assert done.returncode == 0, done.stderr


def test_restore_is_judged_by_todays_schemas(
    run_cli: RunCli, app_store: Path, tmp_path: Path
) -> None:
    _tighten_schema(run_cli, app_store, tmp_path)
    target = _rev_of_port(app_store, 9000)
    before = snapshot(app_store)

    done = run_cli("restore", target, "app.yaml", store=app_store)

    assert done.returncode == 1
    assert "app.yaml:2:1: port: expected at most 8500; got 9000" in done.stderr
    assert snapshot(app_store) == before


def test_forced_restore_is_recorded_in_the_commit(
    run_cli: RunCli, app_store: Path, tmp_path: Path
) -> None:
    _tighten_schema(run_cli, app_store, tmp_path)
    target = _rev_of_port(app_store, 9000)

    done = run_cli("restore", target, "app.yaml", "--force", "-m", "emergency",
                   store=app_store)

    assert done.returncode == 0, done.stderr
    assert "(forced past validation)" in done.stdout
    trailers = git(app_store, "log", "-1", "--format=%(trailers:only,unfold)")
    assert "Vpa-Forced: true" in trailers
    assert f"Vpa-Restored-From: {target}" in trailers
    assert _port(run_cli, app_store) == "9000"


def test_forced_dry_run_says_what_the_forced_restore_would_do(
    run_cli: RunCli, app_store: Path, tmp_path: Path
) -> None:
    _tighten_schema(run_cli, app_store, tmp_path)
    target = _rev_of_port(app_store, 9000)
    before = snapshot(app_store)

    dry = run_cli("restore", target, "app.yaml", "--force", "--dry-run", store=app_store)
    dry_json = run_cli("restore", target, "app.yaml", "--force", "--dry-run", "--json",
                       store=app_store)
    plain = run_cli("restore", target, "app.yaml", "--dry-run", store=app_store)

    assert dry.returncode == 0, dry.stderr
    assert "dry run: INVALID, would be committed forced past 1 problem; nothing " \
        "written" in dry.stdout
    assert dry_json.returncode == 0
    assert json.loads(dry_json.stdout)["forced"] is True
    assert plain.returncode == 1
    assert "dry run: INVALID, would be refused; nothing written" in plain.stdout
    assert snapshot(app_store) == before


def test_force_on_a_valid_restore_records_nothing_forced(
    run_cli: RunCli, app_store: Path
) -> None:
    target = _rev_of_port(app_store, 9000)

    done = run_cli("restore", target, "app.yaml", "--force", "--json", store=app_store)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["forced"] is False
    trailers = git(app_store, "log", "-1", "--format=%(trailers:only,unfold)")
    assert "Vpa-Forced" not in trailers
    assert f"Vpa-Restored-From: {target}" in trailers


def test_restore_refuses_over_hand_edits(run_cli: RunCli, app_store: Path) -> None:
    app = app_store / "app.yaml"
    app.write_text(app.read_text().replace("host: example.org", "host: mine.example"))
    before = snapshot(app_store)

    done = run_cli("restore", "HEAD~1", store=app_store)

    assert done.returncode == 1
    assert "app.yaml: uncommitted hand edits would be overwritten" in done.stderr
    assert "--discard-edits or --commit-edits" in done.stderr
    assert snapshot(app_store) == before


def test_restore_discarding_hand_edits(run_cli: RunCli, app_store: Path) -> None:
    app = app_store / "app.yaml"
    app.write_text(app.read_text().replace("host: example.org", "host: mine.example"))

    done = run_cli("restore", "HEAD~1", "--discard-edits", store=app_store)

    assert done.returncode == 0, done.stderr
    assert "mine.example" not in app.read_text()
    assert _port(run_cli, app_store) == "9000"


def test_restore_of_head_discards_hand_edits_without_a_commit(
    run_cli: RunCli, app_store: Path
) -> None:
    app = app_store / "app.yaml"
    committed = app.read_text()
    app.write_text(committed.replace("host: example.org", "host: mine.example"))
    count = _count(app_store)

    dry = run_cli("restore", "HEAD", "app.yaml", "--discard-edits", "--dry-run",
                  store=app_store)
    kept = app.read_text()
    done = run_cli("restore", "HEAD", "app.yaml", "--discard-edits", "--json",
                   store=app_store)
    status = run_cli("status", store=app_store)
    again = run_cli("restore", "HEAD", "app.yaml", "--discard-edits", store=app_store)

    assert dry.returncode == 0, dry.stderr
    assert "would discard the hand edits of app.yaml" in dry.stdout
    assert "mine.example" in kept
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["discarded"], result["committed"]) == (["app.yaml"], False)
    assert app.read_text() == committed
    assert _count(app_store) == count
    assert "clean: the files are exactly the current revision" in status.stdout
    assert again.returncode == 1
    assert "nothing to restore" in again.stderr


def test_restore_discards_edits_of_a_file_it_leaves_as_in_head(
    run_cli: RunCli, app_store: Path
) -> None:
    settings = app_store / ".vpa-config" / "settings.yaml"
    committed = settings.read_text()
    settings.write_text(committed + "# mine\n")

    done = run_cli("restore", "HEAD~1", "app.yaml", ".vpa-config/settings.yaml",
                   "--discard-edits", store=app_store)

    assert done.returncode == 0, done.stderr
    assert "discarded the hand edits of .vpa-config/settings.yaml" in done.stdout
    assert settings.read_text() == committed
    assert _port(run_cli, app_store) == "9000"
    assert git(app_store, "status", "--porcelain").strip() == ""


def test_refused_restore_discards_no_edit(
    run_cli: RunCli, app_store: Path, tmp_path: Path
) -> None:
    _tighten_schema(run_cli, app_store, tmp_path)
    settings = app_store / ".vpa-config" / "settings.yaml"
    settings.write_text(settings.read_text() + "# mine\n")
    before = snapshot(app_store)

    done = run_cli("restore", _rev_of_port(app_store, 9000), "app.yaml",
                   ".vpa-config/settings.yaml", "--discard-edits", store=app_store)

    assert done.returncode == 1
    assert snapshot(app_store) == before


def test_restore_committing_hand_edits_first(run_cli: RunCli, app_store: Path) -> None:
    app = app_store / "app.yaml"
    app.write_text(app.read_text().replace("host: example.org", "host: mine.example"))
    count = _count(app_store)

    done = run_cli("restore", "HEAD~1", "--commit-edits", store=app_store)

    assert done.returncode == 0, done.stderr
    assert _count(app_store) == count + 2
    kept = git(app_store, "show", "HEAD~1:app.yaml")
    assert "host: mine.example" in kept
    assert git(app_store, "log", "-1", "--skip=1", "--format=%(trailers:key=Vpa-Kind)"
               ).strip() == "Vpa-Kind: hand-edit"


def test_restore_of_named_files_commits_only_their_hand_edits(
    run_cli: RunCli, app_store: Path
) -> None:
    app = app_store / "app.yaml"
    app.write_text(app.read_text().replace("host: example.org", "host: mine.example"))
    settings = app_store / ".vpa-config" / "settings.yaml"
    settings.write_text(settings.read_text() + "# not part of the restore\n")
    count = _count(app_store)

    done = run_cli("restore", "HEAD~1", "app.yaml", "--commit-edits", store=app_store)

    assert done.returncode == 0, done.stderr
    assert _count(app_store) == count + 2
    kept = git(app_store, "show", "--stat", "--format=%s", "HEAD~1")
    assert kept.startswith("commit hand edits to app.yaml\n"), kept
    assert ".vpa-config/settings.yaml" not in kept
    assert settings.read_text().endswith("# not part of the restore\n")
    status = git(app_store, "status", "--porcelain")
    assert status.split() == ["M", ".vpa-config/settings.yaml"], status


def test_undo_restores_the_state_before_the_last_change(
    run_cli: RunCli, app_store: Path
) -> None:
    last = _head(app_store)

    done = run_cli("undo", "-m", "port change was wrong", store=app_store)

    assert done.returncode == 0, done.stderr
    assert _port(run_cli, app_store) == "9000"
    message = git(app_store, "log", "-1", "--format=%B")
    assert message.startswith(f"undo {last[:12]} (set app.yaml port)\n")
    assert "Vpa-Kind: undo" in message
    assert "port change was wrong" in message


def test_undo_of_undo_brings_the_change_back(run_cli: RunCli, app_store: Path) -> None:
    assert run_cli("undo", store=app_store).returncode == 0

    done = run_cli("undo", store=app_store)

    assert done.returncode == 0, done.stderr
    assert _port(run_cli, app_store) == "8080"
    assert git(app_store, "log", "-1", "--format=%s").count("undo") == 2


def test_undo_at_the_first_revision_is_nothing_to_do(
    run_cli: RunCli, store_path: Path
) -> None:
    assert run_cli("init", store=store_path).returncode == 0
    before = snapshot(store_path)

    done = run_cli("undo", store=store_path)

    assert done.returncode == 1
    assert "no change before the first revision" in done.stderr
    assert snapshot(store_path) == before


def test_undo_dry_run_and_hand_edits(run_cli: RunCli, app_store: Path) -> None:
    before = snapshot(app_store)
    dry = run_cli("undo", "--dry-run", store=app_store)
    after_dry = snapshot(app_store)
    app = app_store / "app.yaml"
    app.write_text(app.read_text() + "# mine\n")
    edited = snapshot(app_store)

    refused = run_cli("undo", store=app_store)

    assert dry.returncode == 0, dry.stderr
    assert "~ port: 8080 -> 9000" in dry.stdout
    assert after_dry == before
    assert refused.returncode == 1
    assert "uncommitted hand edits" in refused.stderr
    assert snapshot(app_store) == edited


def test_undo_commits_hand_edits_first_when_told(run_cli: RunCli, app_store: Path) -> None:
    app = app_store / "app.yaml"
    app.write_text(app.read_text() + "# mine\n")
    count = _count(app_store)

    both = run_cli("undo", "--commit-edits", "--discard-edits", store=app_store)
    done = run_cli("undo", "--commit-edits", store=app_store)

    assert both.returncode == 2
    assert "exclude each other" in both.stderr
    assert done.returncode == 0, done.stderr
    assert _count(app_store) == count + 2
    assert "# mine" in git(app_store, "show", "HEAD~1:app.yaml")
    assert git(app_store, "log", "-1", "--skip=1", "--format=%(trailers:key=Vpa-Kind)"
               ).strip() == "Vpa-Kind: hand-edit"
    assert _port(run_cli, app_store) == "9000"
