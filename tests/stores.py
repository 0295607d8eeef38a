"""Stores built once per test module by the real CLI, then copied for each test.

Building a store takes several CLI runs; copying the finished folder (its
``.git`` included) gives each test its own real store at a fraction of that.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from conftest import cli_env

Build = Callable[[Callable[..., subprocess.CompletedProcess[str]], Path, Path], None]


def run(work: Path, store: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``vpa-config --store STORE ARGS`` in a subprocess; a failure is an error."""
    (work / "home").mkdir(exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "vpa_config", "--store", str(store), *args],
        capture_output=True, text=True, env=cli_env(work, **env), cwd=work, timeout=120,
    )
    assert done.returncode == 0, (args, done.stderr)
    return done


def build_with(run_cli: Callable[..., subprocess.CompletedProcess[str]], store: Path,
               *commands: tuple[str, ...]) -> Path:
    """Run each command line against ``store`` through ``run_cli``; a failure fails."""
    for args in commands:
        done = run_cli(*args, store=store)
        assert done.returncode == 0, (args, done.stderr)
    return store


def template(work: Path, build: Build) -> Path:
    """A store at ``work/store`` made by ``build(run, store, work)``."""
    store = work / "store"

    def run_here(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return run(work, store, *args, **env)

    build(run_here, store, work)
    return store


def copy(source: Path, dest: Path) -> Path:
    """A copy of the store ``source`` at ``dest``."""
    shutil.copytree(source, dest, symlinks=True)
    return dest
