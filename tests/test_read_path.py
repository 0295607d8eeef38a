"""What a history read keeps so the next process opens no git object (#9).

``audit`` and ``blame`` answer from the key index; HEAD is read from the ref
files, today's secret judgement is kept in the index by everything it
depends on, and blame's current document comes from the fact cache. These
tests check that what is kept never answers differently from the work it
replaces: a new settings pattern, a schema that marks a key secret and a
commit made with the git CLI are each seen by the next read.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import stores
from conftest import RunCli, git

from vpa_config.gitrepo import GitRepo

SETTINGS = ".vpa-config/settings.yaml"


@pytest.fixture(name="example")
def _example(run_cli: RunCli, store_path: Path) -> Path:
    """The example store, with llm.model changed once (a key no rule calls secret)."""
    return stores.build_with(
        run_cli, store_path,
        ("init", "--example"),
        ("set", "assistant.yaml", "llm.model", "gpt-4o", "-m", "bigger"),
    )


def _commit_settings(run_cli: RunCli, store: Path, text: str) -> None:
    (store / SETTINGS).write_text(text)
    done = run_cli("commit", "-m", "settings", store=store)
    assert done.returncode == 0, done.stderr


def _reads(run_cli: RunCli, store: Path) -> list[str]:
    outputs = []
    for args in (
        ("audit", "assistant.yaml", "llm.model"),
        ("audit", "--json", "assistant.yaml", "llm.model"),
        ("blame", "assistant.yaml"),
        ("blame", "--json", "assistant.yaml"),
    ):
        done = run_cli(*args, store=store)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    return outputs


def test_a_new_secret_pattern_is_seen_by_the_next_read(
    run_cli: RunCli, example: Path
) -> None:
    first = _reads(run_cli, example)
    again = _reads(run_cli, example)  # answered from what the first kept
    settings = (example / SETTINGS).read_text()
    _commit_settings(
        run_cli, example, settings.replace('  - "*:*.password"\n',
                                           '  - "*:*.password"\n  - "*:llm.model"\n'),
    )

    after = _reads(run_cli, example)

    assert again == first
    assert "gpt-4o-mini -> gpt-4o" in first[0]
    for out in after:
        assert "gpt-4o" not in out, out
    assert "<redacted> -> <redacted>" in after[0]


def test_a_schema_marking_a_key_secret_is_seen_by_the_next_read(
    run_cli: RunCli, example: Path
) -> None:
    assert "gpt-4o" in _reads(run_cli, example)[2]
    shipped = Path(__file__).parent.parent / "schemas/vpa/assistant.schema.json"
    schema = json.loads(shipped.read_text())
    schema.pop("$id", None)
    schema["properties"]["llm"]["properties"]["model"]["writeOnly"] = True
    (example / ".vpa-config/schemas").mkdir(exist_ok=True)
    (example / ".vpa-config/schemas/mine.schema.json").write_text(json.dumps(schema))
    settings = (example / SETTINGS).read_text()
    _commit_settings(
        run_cli, example,
        settings.replace("schema: vpa/assistant.schema.json", "schema: mine.schema.json"),
    )

    after = _reads(run_cli, example)

    for out in after:
        assert "gpt-4o" not in out, out


def test_a_commit_made_with_git_is_seen_by_the_next_read(
    run_cli: RunCli, example: Path
) -> None:
    _reads(run_cli, example)
    text = (example / SETTINGS).read_text()
    (example / SETTINGS).write_text(
        text.replace('  - "*:*.password"\n', '  - "*:*.password"\n  - "*:llm.model"\n')
    )
    git(example, "-c", "user.name=Git", "-c", "user.email=g@x", "commit", "-q",
        "--no-verify", "-am", "by hand")

    after = _reads(run_cli, example)

    for out in after:
        assert "gpt-4o" not in out, out


# --- HEAD from the ref files --------------------------------------------------


def _commits(path: Path, count: int) -> list[str]:
    env = {"GIT_CONFIG_NOSYSTEM": "1", "HOME": str(path)}
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True, env=env)
    made = []
    for number in range(count):
        (path / "a.yaml").write_text(f"a: {number}\n")
        git(path, "add", "a.yaml")
        git(path, "-c", "user.name=G", "-c", "user.email=g@x", "commit", "-q", "-m", "x")
        made.append(git(path, "rev-parse", "HEAD").strip())
    return made


def _head(path: Path) -> str | None:
    repo = GitRepo.open(path)
    try:
        return repo.head()
    finally:
        repo.close()


def test_head_is_read_from_a_loose_branch_a_packed_one_and_a_detached_head(
    tmp_path: Path,
) -> None:
    first, second = _commits(tmp_path, 2)

    loose = _head(tmp_path)
    git(tmp_path, "pack-refs", "--all")
    packed = _head(tmp_path)
    git(tmp_path, "checkout", "-q", "--detach", first)
    detached = _head(tmp_path)

    assert (loose, packed, detached) == (second, second, first)
    assert not (tmp_path / ".git/refs/heads/main").exists()


def test_head_of_a_branch_with_no_commit_is_none(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main", str(tmp_path)], check=True)

    assert _head(tmp_path) is None


def test_an_odd_head_is_answered_by_dulwich(tmp_path: Path) -> None:
    # A branch that is itself a symbolic ref: not the plain layout, so the
    # repository is opened and dulwich follows the chain.
    _first, second = _commits(tmp_path, 2)
    (tmp_path / ".git/refs/heads/alias").write_text("ref: refs/heads/main\n")
    (tmp_path / ".git/HEAD").write_text("ref: refs/heads/alias\n")

    assert _head(tmp_path) == second


def test_a_read_answered_from_the_index_opens_no_git_object(
    run_cli: RunCli, example: Path
) -> None:
    # The library view of the CLI test in test_startup_imports: the store's
    # repository object is never opened for a current index.
    code = (
        "import sys\n"
        "from vpa_config.store import ConfigStore\n"
        f"store = ConfigStore.open({str(example)!r})\n"
        "store.audit('assistant.yaml', 'llm.model')\n"
        "store.blame('assistant.yaml')\n"
        "print(store.repo._dulwich is None, 'dulwich' in sys.modules)\n"
    )
    import sys

    from conftest import cli_env

    for _ in range(2):  # the first run keeps the judgement and the parse
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True,
            env=cli_env(example.parent), timeout=60,
        )
        assert done.returncode == 0, done.stderr

    assert done.stdout.split() == ["True", "False"]
