"""Shared fixtures: real stores on disk, and the real CLI in a subprocess.

``run_cli`` runs ``python -m vpa_config`` from this checkout (PYTHONPATH is
set to the repository root), so the tests exercise the code beside them even
when another copy of vpa-config is installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from vpa_config.store import ConfigStore

ROOT = Path(__file__).resolve().parent.parent
ACTOR = "Ada Lovelace <ada@example.org>"


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A clean environment for a CLI subprocess: fixed actor, no user config."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("VPA_CONFIG_", "GIT_"))
    }
    env.update(
        PYTHONPATH=str(ROOT),
        HOME=str(tmp_path / "home"),
        XDG_CONFIG_HOME=str(tmp_path / "home" / ".config"),
        XDG_STATE_HOME=str(tmp_path / "home" / ".state"),
        VPA_CONFIG_ACTOR=ACTOR,
        VPA_CONFIG_TRACEBACK="",
    )
    env.update(extra)
    return env


RunCli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(name="run_cli")
def _run_cli(tmp_path: Path) -> RunCli:
    """Run ``vpa-config ARGS`` in a subprocess; returns the completed process."""
    (tmp_path / "home").mkdir(exist_ok=True)

    def run(
        *args: str,
        store: Path | None = None,
        input: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "vpa_config"]
        if store is not None:
            argv += ["--store", str(store)]
        return subprocess.run(
            [*argv, *args],
            input=input,
            capture_output=True,
            text=True,
            env=cli_env(tmp_path, **(env or {})),
            timeout=timeout,
            cwd=tmp_path,
        )

    return run


@pytest.fixture(name="store_path")
def _store_path(tmp_path: Path) -> Path:
    """Where a test's store lives (not yet created)."""
    return tmp_path / "store"


@pytest.fixture(name="example_template", scope="module")
def _example_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store made once per test module by ``vpa-config init --example``."""
    import stores  # stores imports this module

    return stores.template(
        tmp_path_factory.mktemp("template"),
        lambda run, store, work: run("init", "--example"),
    )


@pytest.fixture(name="cli_store")
def _cli_store(example_template: Path, store_path: Path) -> Path:
    """This test's own copy of the example store (a module may define its own)."""
    import stores

    return stores.copy(example_template, store_path)


@pytest.fixture(name="store")
def _store(store_path: Path) -> ConfigStore:
    """A fresh store seeded with the VPA example configuration."""
    store, _result = ConfigStore.init(store_path, example=True, actor=ACTOR)
    yield store
    store.close()


def git(store_path: Path, *args: str) -> str:
    """The git CLI's answer about a store (tests only: the product never runs git)."""
    done = subprocess.run(
        ["git", "-C", str(store_path), *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(store_path)},
    )
    return done.stdout


def snapshot(path: Path) -> dict[str, bytes]:
    """Every file below ``path`` (the .git folder's refs and HEAD included)."""
    found: dict[str, bytes] = {}
    for file in sorted(path.rglob("*")):
        rel = file.relative_to(path).as_posix()
        if file.is_file() and not rel.startswith(".git/objects/"):
            if rel.startswith(".git/") and not rel.startswith((".git/refs", ".git/HEAD")):
                continue
            found[rel] = file.read_bytes()
    return found
