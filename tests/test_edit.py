"""``vpa-config edit``: the real validate-on-save loop, driven by a scripted EDITOR.

The editor is a small Python program. Each time it is run it appends the text
it was given to a transcript, then saves the next of its prepared versions, so
a test can check both what was committed and that the user's own text came
back on "edit again".
"""

from __future__ import annotations

import json
import os
import pty
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import RunCli, cli_env, git, snapshot

EDITOR = """\
import json, sys
from pathlib import Path

state = Path(sys.argv[1])
target = Path(sys.argv[2])
data = json.loads(state.read_text())
data["seen"].append(target.read_text())
versions = data["versions"]
version = versions.pop(0) if versions else None
state.write_text(json.dumps(data))
if version == "<fail>":
    sys.exit(1)  # an editor that fails
if version is not None:
    target.write_text(version)
"""


def _editor(tmp_path: Path, versions: list[str]) -> tuple[dict[str, str], Path]:
    script = tmp_path / "editor.py"
    script.write_text(EDITOR)
    state = tmp_path / "editor-state.json"
    state.write_text(json.dumps({"versions": versions, "seen": []}))
    command = f"{sys.executable} {script} {state}"
    return {"EDITOR": command, "VISUAL": command}, state


def _seen(state: Path) -> list[str]:
    return json.loads(state.read_text())["seen"]


def _in_terminal(
    tmp_path: Path, store: Path, args: list[str], env: dict[str, str], answers: str
) -> subprocess.CompletedProcess[str]:
    """``vpa-config ARGS`` with stdin on a terminal (a pty) that has ``answers``
    typed in already; stdout and stderr are pipes, as in ``run_cli``."""
    (tmp_path / "home").mkdir(exist_ok=True)
    master, slave = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "vpa_config", "--store", str(store), *args],
            stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=cli_env(tmp_path, **env), cwd=tmp_path,
        )
        os.close(slave)
        slave = -1
        os.write(master, answers.encode())
        out, err = process.communicate(timeout=60)
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def test_edit_valid_first_time_is_committed(
    run_cli: RunCli, cli_store: Path, tmp_path: Path
) -> None:
    original = (cli_store / "assistant.yaml").read_text()
    edited = original.replace("max_tokens: 1024", "max_tokens: 2048")
    env, state = _editor(tmp_path, [edited])

    done = run_cli("edit", "assistant.yaml", "-m", "longer", store=cli_store, env=env)

    assert done.returncode == 0, done.stderr
    assert "~ llm.max_tokens: 1024 -> 2048" in done.stdout
    assert _seen(state) == [original]
    assert (cli_store / "assistant.yaml").read_text() == edited
    assert git(cli_store, "log", "-1", "--format=%(trailers:key=Vpa-Kind)").strip() == (
        "Vpa-Kind: edit"
    )
    assert "longer" in git(cli_store, "log", "-1", "--format=%b")


def test_edit_invalid_then_edit_again_keeps_the_text_then_commits(
    run_cli: RunCli, cli_store: Path, tmp_path: Path
) -> None:
    original = (cli_store / "assistant.yaml").read_text()
    invalid = original.replace("temperature: 0.7", "temperature: 9")
    valid = original.replace("temperature: 0.7", "temperature: 1.2")
    env, state = _editor(tmp_path, [invalid, valid])

    done = _in_terminal(tmp_path, cli_store, ["edit", "assistant.yaml"], env, "e\n")

    assert done.returncode == 0, done.stderr
    assert "assistant.yaml:15:3: llm.temperature: expected at most 2; got 9" in done.stderr
    assert "[e]dit again, [d]iscard, or [k]eep the draft" in done.stderr
    assert _seen(state) == [original, invalid]
    assert (cli_store / "assistant.yaml").read_text() == valid
    assert "Traceback" not in done.stderr


def test_editor_failing_after_an_invalid_edit_keeps_the_draft(
    run_cli: RunCli, cli_store: Path, tmp_path: Path
) -> None:
    before = snapshot(cli_store)
    original = (cli_store / "assistant.yaml").read_text()
    invalid = original.replace("temperature: 0.7", "temperature: 9")
    env, _state = _editor(tmp_path, [invalid, "<fail>"])

    done = _in_terminal(tmp_path, cli_store, ["edit", "assistant.yaml"], env, "e\n")

    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert "vpa-config: assistant.yaml: the editor failed (" in last
    draft = Path(last.partition("draft kept in ")[2].partition(". Set")[0])
    assert draft.read_text() == invalid
    assert snapshot(cli_store) == before


# An editor during which another change is committed to the same file.
CONCURRENT_EDITOR = """\
import subprocess, sys
from pathlib import Path

target = Path(sys.argv[-1])
subprocess.run([sys.executable, "-m", "vpa_config", "--store", sys.argv[1], "set",
                "assistant.yaml", "llm.temperature", "0.2", "-m", "meanwhile"],
               check=True, capture_output=True)
target.write_text(target.read_text().replace("voice: alto", "voice: soprano"))
"""


def test_edit_never_undoes_a_change_committed_while_the_editor_was_open(
    run_cli: RunCli, cli_store: Path, tmp_path: Path
) -> None:
    script = tmp_path / "meanwhile_editor.py"
    script.write_text(CONCURRENT_EDITOR)
    command = f"{sys.executable} {script} {cli_store}"

    done = run_cli("edit", "assistant.yaml", store=cli_store,
                   env={"EDITOR": command, "VISUAL": command})

    assert done.returncode == 1
    assert "assistant.yaml was changed by another change since it was read" in (
        done.stderr
    )
    draft = Path(done.stderr.partition("draft kept in ")[2].split(";")[0].strip())
    assert "voice: soprano" in draft.read_text()
    assert git(cli_store, "log", "-1", "--format=%s").strip() != "edit assistant.yaml"
    assert "temperature: 0.2" in (cli_store / "assistant.yaml").read_text()
    assert "voice: alto" in (cli_store / "assistant.yaml").read_text()


def test_edit_invalid_then_keep_draft_prints_an_existing_path(
    run_cli: RunCli, cli_store: Path, tmp_path: Path
) -> None:
    original = (cli_store / "assistant.yaml").read_text()
    invalid = original.replace("voice: alto", "voice: bass")
    env, _state = _editor(tmp_path, [invalid])
    before = snapshot(cli_store)

    done = _in_terminal(tmp_path, cli_store, ["edit", "assistant.yaml"], env, "k\n")

    assert done.returncode == 1
    draft = Path(done.stderr.split("draft kept in ")[1].split(";")[0])
    assert draft.is_file()
    assert draft.read_text() == invalid
    assert snapshot(cli_store) == before


@pytest.mark.parametrize("answer", ["", "e\n"], ids=["nothing", "a piped answer"])
def test_edit_invalid_with_no_terminal_keeps_the_draft_without_asking(
    run_cli: RunCli, cli_store: Path, tmp_path: Path, answer: str
) -> None:
    original = (cli_store / "assistant.yaml").read_text()
    invalid = original.replace("voice: alto", "voice: bass")
    env, state = _editor(tmp_path, [invalid, original])
    before = snapshot(cli_store)

    done = run_cli("edit", "assistant.yaml", store=cli_store, env=env, input=answer)

    assert done.returncode == 1
    assert "[e]dit again" not in done.stderr
    assert done.stderr.count("draft kept in ") == 1
    last = done.stderr.splitlines()[-1]
    assert last.startswith("draft kept in ")
    assert last.endswith("; nothing committed (no terminal to ask on)")
    draft = Path(last.removeprefix("draft kept in ").split(";")[0])
    assert draft.read_text() == invalid
    assert len(_seen(state)) == 1
    assert snapshot(cli_store) == before


def test_edit_invalid_and_no_answer_keeps_the_draft(
    run_cli: RunCli, cli_store: Path, tmp_path: Path
) -> None:
    invalid = "assistant: [\n"
    env, _state = _editor(tmp_path, [invalid])
    before = snapshot(cli_store)

    done = run_cli("edit", "assistant.yaml", store=cli_store, env=env, input="")

    assert done.returncode == 1
    assert "invalid YAML" in done.stderr
    draft = Path(done.stderr.split("draft kept in ")[1].split(";")[0])
    assert draft.read_text() == invalid
    assert snapshot(cli_store) == before


def test_edit_invalid_with_json_prints_the_error_document(
    run_cli: RunCli, cli_store: Path, tmp_path: Path
) -> None:
    original = (cli_store / "assistant.yaml").read_text()
    env, _state = _editor(tmp_path, [original.replace("max_tokens: 1024", "max_tokens: x")])

    done = run_cli("edit", "assistant.yaml", "--json", store=cli_store, env=env,
                   input="")

    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["ok"] is False and report["exit_code"] == 1
    assert report["error"] == "InvalidConfigError"
    assert "draft kept in" in report["message"]
    [problem] = report["problems"]
    assert problem["file"] == "assistant.yaml"


def test_edit_invalid_then_discard_writes_nothing(
    run_cli: RunCli, cli_store: Path, tmp_path: Path
) -> None:
    original = (cli_store / "assistant.yaml").read_text()
    env, _state = _editor(tmp_path, [original.replace("max_tokens: 1024", "max_tokens: x")])
    before = snapshot(cli_store)

    trail = cli_store / ".git" / "vpa-config-audit.jsonl"
    records = len(trail.read_text().splitlines())

    done = _in_terminal(tmp_path, cli_store, ["edit", "assistant.yaml"], env, "d\n")

    assert done.returncode == 1
    assert "edit discarded; nothing written" in done.stderr
    assert snapshot(cli_store) == before
    # Recorded as a refused set is: who, the file, the keys at fault.
    lines = trail.read_text().splitlines()
    assert len(lines) == records + 1
    record = json.loads(lines[-1])
    assert (record["kind"], record["outcome"]) == ("edit", "refused")
    assert record["files"] == ["assistant.yaml"]
    assert record["keys"] == {"assistant.yaml": ["llm.max_tokens"]}
    assert record["error"].endswith("Edit discarded; nothing written")
    verified = run_cli("verify", store=cli_store)
    assert verified.returncode == 0, verified.stdout


def test_edit_without_change_commits_nothing(
    run_cli: RunCli, cli_store: Path, tmp_path: Path
) -> None:
    env, _state = _editor(tmp_path, [])
    before = snapshot(cli_store)

    done = run_cli("edit", "assistant.yaml", store=cli_store, env=env)

    assert done.returncode == 0, done.stderr
    assert "no change; nothing committed" in done.stdout
    assert snapshot(cli_store) == before


def test_edit_dry_run_writes_nothing(
    run_cli: RunCli, cli_store: Path, tmp_path: Path
) -> None:
    original = (cli_store / "plugins.yaml").read_text()
    env, _state = _editor(tmp_path, [original + "# reviewed\n"])
    before = snapshot(cli_store)

    done = run_cli("edit", "plugins.yaml", "--dry-run", store=cli_store, env=env)

    assert done.returncode == 0, done.stderr
    assert "dry run: valid; nothing written" in done.stdout
    assert snapshot(cli_store) == before


def test_edit_refuses_over_hand_edits_before_the_editor_opens(
    run_cli: RunCli, cli_store: Path, tmp_path: Path
) -> None:
    path = cli_store / "plugins.yaml"
    path.write_text(path.read_text() + "# hand edit\n")
    env, state = _editor(tmp_path, [path.read_text() + "# from the editor\n"])
    before = snapshot(cli_store)

    done = run_cli("edit", "plugins.yaml", store=cli_store, env=env)
    as_json = run_cli("edit", "plugins.yaml", "--json", store=cli_store, env=env)

    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("vpa-config: plugins.yaml has uncommitted hand edits")
    assert done.stderr.count("\n") == 1, done.stderr
    assert "draft" not in done.stderr
    assert _seen(state) == []
    assert snapshot(cli_store) == before
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["error"] == "HandEditsError"


def test_edit_of_a_name_no_config_file_has_is_refused_before_the_editor_opens(
    run_cli: RunCli, cli_store: Path, tmp_path: Path
) -> None:
    env, state = _editor(tmp_path, ["anything\n"])
    before = snapshot(cli_store)

    done = run_cli("edit", "notes.txt", store=cli_store, env=env)

    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("vpa-config: notes.txt: (document): unknown file")
    assert done.stderr.count("\n") == 1 and "draft" not in done.stderr
    assert _seen(state) == []
    assert snapshot(cli_store) == before


def test_edit_of_a_new_file_starts_empty(
    run_cli: RunCli, cli_store: Path, tmp_path: Path
) -> None:
    env, state = _editor(tmp_path, ["anything: 1\n"])

    done = run_cli("edit", "new.yaml", store=cli_store, env=env, input="d\n")

    assert _seen(state) == [""]
    assert done.returncode == 1
    assert "no schema applies" in done.stderr


def test_edit_with_a_failing_editor_is_refused_in_one_line(
    run_cli: RunCli, cli_store: Path
) -> None:
    before = snapshot(cli_store)

    done = run_cli("edit", "assistant.yaml", store=cli_store,
                   env={"EDITOR": "false", "VISUAL": "false"})

    assert done.returncode == 1
    assert done.stderr == (
        "vpa-config: assistant.yaml: the editor failed (false: Editing failed); "
        "nothing committed. Set $VISUAL or $EDITOR to an editor that exits with "
        "status 0.\n"
    )
    assert snapshot(cli_store) == before


def _kept_draft(stderr: str) -> Path:
    return Path(stderr.split("draft kept in ")[1].split(";")[0])


def _editors(tmp_path: Path, *versions: str) -> list[dict[str, str]]:
    """One scripted editor per run, each saving its own version once."""
    envs = []
    for number, version in enumerate(versions):
        folder = tmp_path / f"editor-{number}"
        folder.mkdir()
        envs.append(_editor(folder, [version])[0])
    return envs


def test_edit_invalid_twice_keeps_two_drafts(
    run_cli: RunCli, cli_store: Path, tmp_path: Path
) -> None:
    original = (cli_store / "assistant.yaml").read_text()
    first = original.replace("voice: alto", "voice: bass")
    second = original.replace("voice: alto", "voice: contralto")

    done = [
        run_cli("edit", "assistant.yaml", store=cli_store, env=env, input="")
        for env in _editors(tmp_path, first, second)
    ]

    assert [run.returncode for run in done] == [1, 1], [run.stderr for run in done]
    drafts = sorted((cli_store / ".git" / "vpa-config-drafts").iterdir())
    assert [_kept_draft(run.stderr) for run in done] == drafts
    assert [draft.read_text() for draft in drafts] == [first, second]
    assert {stat.S_IMODE(draft.stat().st_mode) for draft in drafts} == {0o600}


def test_edit_invalid_never_overwrites_a_draft_of_the_same_second(
    run_cli: RunCli, cli_store: Path, tmp_path: Path
) -> None:
    """Drafts already there for every second the edit may run in: it adds its own."""
    folder = cli_store / ".git" / "vpa-config-drafts"
    folder.mkdir(mode=0o700)
    now = time.time()
    stamps = [
        time.strftime("%Y%m%dT%H%M%S", time.localtime(now + offset))
        for offset in range(-1, 61)
    ]
    for stamp in stamps:
        (folder / f"{stamp}-assistant.yaml").write_text(f"earlier {stamp}\n")
    original = (cli_store / "assistant.yaml").read_text()
    invalid = original.replace("voice: alto", "voice: bass")
    [env] = _editors(tmp_path, invalid)

    done = run_cli("edit", "assistant.yaml", store=cli_store, env=env, input="")

    assert done.returncode == 1, done.stderr
    draft = _kept_draft(done.stderr)
    stamp = draft.name.partition(".02-")[0]
    assert draft.name == f"{stamp}.02-assistant.yaml"
    assert stamp in stamps
    assert draft.read_text() == invalid
    assert stat.S_IMODE(draft.stat().st_mode) == 0o600
    names = sorted(path.name for path in folder.iterdir())
    assert names.index(draft.name) == names.index(f"{stamp}-assistant.yaml") + 1
    for earlier in stamps:
        kept = folder / f"{earlier}-assistant.yaml"
        assert kept.read_text() == f"earlier {earlier}\n"


def test_edit_with_no_editor_set_and_no_terminal_is_refused_before_any_editor(
    run_cli: RunCli, cli_store: Path
) -> None:
    before = snapshot(cli_store)

    done = run_cli("edit", "assistant.yaml", store=cli_store, input="",
                   env={"EDITOR": "", "VISUAL": ""})

    assert done.returncode == 2
    assert done.stderr == (
        "vpa-config: assistant.yaml: no editor is set ($VISUAL and $EDITOR are "
        "empty) and stdin is not a terminal to run a default one in; nothing "
        "written. Set $EDITOR to an editor to run.\n"
    )
    assert done.stdout == ""
    assert snapshot(cli_store) == before
    assert not (cli_store / ".git" / "vpa-config-drafts").exists()


def test_edit_with_no_editor_set_runs_the_default_one_in_a_terminal(
    cli_store: Path, tmp_path: Path
) -> None:
    original = (cli_store / "assistant.yaml").read_text()
    edited = original.replace("max_tokens: 1024", "max_tokens: 2048")
    env, state = _editor(tmp_path, [edited])
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    default = bin_dir / "sensible-editor"
    default.write_text(f'#!/bin/sh\nexec {env["EDITOR"]} "$@"\n')
    default.chmod(0o755)
    path = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"

    done = _in_terminal(tmp_path, cli_store, ["edit", "assistant.yaml"],
                        {"EDITOR": "", "VISUAL": "", "PATH": path}, "")

    assert done.returncode == 0, done.stderr
    assert _seen(state) == [original]
    assert (cli_store / "assistant.yaml").read_text() == edited


@pytest.mark.parametrize("case", ["hand edits", "failing editor", "unknown type"])
def test_an_edit_refused_before_or_after_the_editor_is_in_the_audit_trail(
    run_cli: RunCli, cli_store: Path, tmp_path: Path, case: str
) -> None:
    name = "notes.txt" if case == "unknown type" else "assistant.yaml"
    if case == "hand edits":
        path = cli_store / name
        path.write_text(path.read_text().replace("max_tokens: 1024", "max_tokens: 9"))
    editor = "false" if case == "failing editor" else _editor(tmp_path, [])[0]["EDITOR"]
    trail = cli_store / ".git" / "vpa-config-audit.jsonl"
    records = len(trail.read_text().splitlines())

    done = run_cli("edit", name, store=cli_store,
                   env={"EDITOR": editor, "VISUAL": editor})

    assert done.returncode == 1, done.stderr
    lines = trail.read_text().splitlines()
    assert len(lines) == records + 1
    record = json.loads(lines[-1])
    assert (record["kind"], record["outcome"]) == ("edit", "refused")
    assert record["files"] == [name]
    assert record["error"]
