"""The store's pre-commit hook judges what git would commit: the index."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, RunCli, cli_env

VALID = "temperature: 0.7"


def git_commit(store_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A real ``git`` run inside the store, with the hook as git runs it."""
    env = cli_env(store_path.parent, GIT_CONFIG_NOSYSTEM="1")
    env.update(
        GIT_AUTHOR_NAME="Grace", GIT_AUTHOR_EMAIL="grace@example.org",
        GIT_COMMITTER_NAME="Grace", GIT_COMMITTER_EMAIL="grace@example.org",
    )
    return subprocess.run(
        ["git", "-C", str(store_path), *args],
        capture_output=True, text=True, env=env, timeout=120,
    )


def edit(store_path: Path, new: str) -> None:
    path = store_path / "assistant.yaml"
    path.write_text(path.read_text().replace(VALID, new))


@pytest.fixture(name="cli_store")
def _cli_store(run_cli: RunCli, store_path: Path) -> Path:
    assert run_cli("init", "--example", store=store_path).returncode == 0
    return store_path


def head(store_path: Path) -> str:
    return git_commit(store_path, "rev-parse", "HEAD").stdout.strip()


def test_init_installs_the_hook(cli_store: Path) -> None:
    hook = cli_store / ".git" / "hooks" / "pre-commit"

    assert os.access(hook, os.X_OK)
    assert "validate --staged" in hook.read_text()


def test_git_commit_of_invalid_staged_file_is_refused(cli_store: Path) -> None:
    before = head(cli_store)
    edit(cli_store, "temperature: 9")
    git_commit(cli_store, "add", "assistant.yaml")

    done = git_commit(cli_store, "commit", "-m", "too hot")

    assert done.returncode == 1
    assert "assistant.yaml:15:3: llm.temperature: expected at most 2; got 9" in done.stdout + done.stderr
    assert head(cli_store) == before


def test_git_commit_of_valid_staged_file_is_accepted(cli_store: Path) -> None:
    before = head(cli_store)
    edit(cli_store, "temperature: 0.3")
    git_commit(cli_store, "add", "assistant.yaml")

    done = git_commit(cli_store, "commit", "-m", "calmer")

    assert done.returncode == 0, done.stdout + done.stderr
    assert head(cli_store) != before


def test_hook_judges_the_index_not_the_working_file(cli_store: Path) -> None:
    before = head(cli_store)
    edit(cli_store, "temperature: 9")
    git_commit(cli_store, "add", "assistant.yaml")
    edit(cli_store, "temperature: 9")  # no-op: keep the file as staged
    path = cli_store / "assistant.yaml"
    path.write_text(path.read_text().replace("temperature: 9", VALID))

    done = git_commit(cli_store, "commit", "-m", "staged is invalid")

    assert done.returncode == 1
    assert head(cli_store) == before


def test_hook_accepts_valid_staged_content_beside_an_invalid_working_file(
    cli_store: Path,
) -> None:
    edit(cli_store, "temperature: 0.2")
    git_commit(cli_store, "add", "assistant.yaml")
    path = cli_store / "assistant.yaml"
    path.write_text(path.read_text().replace("temperature: 0.2", "temperature: 9"))

    done = git_commit(cli_store, "commit", "-m", "staged is valid")

    assert done.returncode == 0, done.stdout + done.stderr


def test_commit_all_uses_the_temporary_index_git_hands_the_hook(cli_store: Path) -> None:
    before = head(cli_store)
    edit(cli_store, "temperature: 9")

    done = git_commit(cli_store, "commit", "-a", "-m", "all at once")

    assert done.returncode == 1
    assert "expected at most 2; got 9" in done.stdout + done.stderr
    assert head(cli_store) == before


def test_hook_refuses_a_new_file_without_schema(cli_store: Path) -> None:
    (cli_store / "notes.yaml").write_text("a: 1\n")
    git_commit(cli_store, "add", "notes.yaml")

    done = git_commit(cli_store, "commit", "-m", "unschematized")

    assert done.returncode == 1
    assert "notes.yaml: (document): no schema applies" in done.stdout + done.stderr


def test_validate_staged_takes_no_files(run_cli: RunCli, cli_store: Path) -> None:
    done = run_cli("validate", "--staged", "assistant.yaml", store=cli_store)

    assert done.returncode == 2


def test_pre_commit_hooks_file_is_valid_yaml_with_entries() -> None:
    import yaml

    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())

    ids = {hook["id"] for hook in hooks}
    assert {"vpa-config-validate", "vpa-config-store-settings"} <= ids
    assert all(hook["entry"].startswith("vpa-config") for hook in hooks)


# --- the pre-commit framework, as any repository would use it -------------------


def _plain_git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(cwd)}
    env.update(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.org")
    done = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True,
                          text=True, check=True, env=env)
    return done.stdout


def _snapshot_checkout(target: Path) -> str:
    """This checkout (committed and uncommitted files) as a one-commit repository."""
    import shutil

    listed = _plain_git(ROOT, "ls-files", "-co", "--exclude-standard").splitlines()
    for name in listed:
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    _plain_git(target, "init", "-q", "-b", "main")
    _plain_git(target, "add", "-A")
    _plain_git(target, "commit", "-q", "-m", "snapshot")
    return _plain_git(target, "rev-parse", "HEAD").strip()


PRE_COMMIT_CONFIG = """\
repos:
  - repo: {repo}
    rev: {rev}
    hooks:
      - id: vpa-config-validate
        files: ^config/
        args: [--schema, schemas/app.schema.json]
      - id: vpa-config-store-settings
"""


@pytest.mark.slow
def test_pre_commit_framework_runs_the_hooks(tmp_path: Path) -> None:
    """The real pre-commit tool installs vpa-config from this checkout and runs it."""
    import sys

    source = tmp_path / "vpa-config"
    source.mkdir()
    rev = _snapshot_checkout(source)
    project = tmp_path / "project"
    (project / "config").mkdir(parents=True)
    (project / "schemas").mkdir()
    (project / ".vpa-config").mkdir()
    (project / "schemas/app.schema.json").write_text(json.dumps(
        {"properties": {"port": {"type": "integer", "maximum": 65535}}}
    ))
    (project / "config/good.yaml").write_text("port: 8080\n")
    (project / "config/bad.yaml").write_text("name: web\nport: 99999\n")
    (project / ".vpa-config/settings.yaml").write_text("allow_unschematized: maybe\n")
    (project / ".pre-commit-config.yaml").write_text(
        PRE_COMMIT_CONFIG.format(repo=source, rev=rev)
    )
    _plain_git(project, "init", "-q", "-b", "main")
    _plain_git(project, "add", "-A")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-cache")}
    env.pop("PYTHONPATH", None)

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pre_commit", "run", "--all-files", "--color=never"],
            cwd=project, capture_output=True, text=True, env=env, timeout=900,
        )

    failed = run()
    (project / "config/bad.yaml").write_text("name: web\nport: 9999\n")
    (project / ".vpa-config/settings.yaml").write_text("allow_unschematized: true\n")
    passed = run()

    output = failed.stdout + failed.stderr
    assert failed.returncode == 1, output
    assert "config/bad.yaml:2:1: port: expected at most 65535; got 99999" in output
    assert "config/good.yaml:" not in output
    assert ".vpa-config/settings.yaml:1:1: allow_unschematized: expected boolean" in output
    assert passed.returncode == 0, passed.stdout + passed.stderr
