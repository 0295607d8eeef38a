"""Who is the author of a commit: the documented order of precedence.

--actor, else VPA_CONFIG_ACTOR, else the user behind sudo (SUDO_USER), else
the git identity (user.name and user.email), else the OS user at the host.
Each case runs the real CLI and reads the author back with the git CLI.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from conftest import RunCli, git
from vpa_config.errors import UsageError
from vpa_config.identity import parse_actor, resolve_actor

HOST = socket.gethostname()
GITCONFIG = "[user]\n\tname = Git Person\n\temail = git@example.org\n"


def _author_of_init(run_cli: RunCli, tmp_path: Path, *args: str, **env: str) -> str:
    store = tmp_path / "store"
    done = run_cli("init", *args, store=store, env=env)
    assert done.returncode == 0, done.stderr
    return git(store, "log", "-1", "--format=%an <%ae>").strip()


@pytest.fixture(name="with_gitconfig")
def _with_gitconfig(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / ".gitconfig").write_text(GITCONFIG)


NO_ENV = {"VPA_CONFIG_ACTOR": "", "SUDO_USER": ""}


def test_explicit_actor_beats_everything(
    run_cli: RunCli, tmp_path: Path, with_gitconfig: None
) -> None:
    author = _author_of_init(
        run_cli, tmp_path, "--actor", "Cli Person <cli@example.org>",
        VPA_CONFIG_ACTOR="Env Person <env@example.org>", SUDO_USER="sudoer",
    )

    assert author == "Cli Person <cli@example.org>"


def test_environment_actor_beats_sudo_and_git(
    run_cli: RunCli, tmp_path: Path, with_gitconfig: None
) -> None:
    author = _author_of_init(
        run_cli, tmp_path, VPA_CONFIG_ACTOR="Env Person <env@example.org>",
        SUDO_USER="sudoer",
    )

    assert author == "Env Person <env@example.org>"


def test_sudo_user_beats_git(run_cli: RunCli, tmp_path: Path, with_gitconfig: None) -> None:
    author = _author_of_init(run_cli, tmp_path, VPA_CONFIG_ACTOR="", SUDO_USER="sudoer")

    assert author == f"sudoer <sudoer@{HOST}>"


def test_sudo_as_root_itself_is_not_an_actor(
    run_cli: RunCli, tmp_path: Path, with_gitconfig: None
) -> None:
    author = _author_of_init(run_cli, tmp_path, VPA_CONFIG_ACTOR="", SUDO_USER="root")

    assert author == "Git Person <git@example.org>"


def test_git_identity_beats_the_os_user(
    run_cli: RunCli, tmp_path: Path, with_gitconfig: None
) -> None:
    author = _author_of_init(run_cli, tmp_path, **NO_ENV, LOGNAME="osuser")

    assert author == "Git Person <git@example.org>"


def test_the_store_repositorys_own_git_identity_beats_the_global_one(
    run_cli: RunCli, tmp_path: Path, with_gitconfig: None
) -> None:
    _author_of_init(run_cli, tmp_path, **NO_ENV)
    store = tmp_path / "store"
    git(store, "config", "user.name", "Local Person")
    done = run_cli("set", ".vpa-config/settings.yaml", "lock_timeout_s", "7",
                   store=store, env=NO_ENV)

    assert done.returncode == 0, done.stderr
    author = git(store, "log", "-1", "--format=%an <%ae>").strip()
    assert author == "Local Person <git@example.org>"  # the email is still global's


def test_os_user_at_host_is_the_last_resort(run_cli: RunCli, tmp_path: Path) -> None:
    author = _author_of_init(run_cli, tmp_path, **NO_ENV, LOGNAME="osuser", USER="osuser")

    assert author == f"osuser <osuser@{HOST}>"


def test_bare_name_gets_an_empty_email(run_cli: RunCli, tmp_path: Path) -> None:
    author = _author_of_init(run_cli, tmp_path, VPA_CONFIG_ACTOR="deploy-bot")

    assert author == "deploy-bot <>"


@pytest.mark.parametrize(
    "text",
    ["", "<x@y>", "a\nb", "Eve <e@x> <f@y>", "Eve\x1b[31m <e@x>", "Eve <e\x07@x>"],
)
def test_unusable_actor_is_refused(text: str) -> None:
    with pytest.raises(UsageError, match="is not usable"):
        parse_actor(text)


def test_resolve_actor_reports_where_it_came_from(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VPA_CONFIG_ACTOR", "Env Person <env@example.org>")

    explicit = resolve_actor("Ada <ada@example.org>")
    from_env = resolve_actor()

    assert (explicit.name, explicit.email, explicit.origin) == (
        "Ada", "ada@example.org", "explicit"
    )
    assert from_env.origin == "VPA_CONFIG_ACTOR"
    assert str(from_env) == "Env Person <env@example.org>"


def _origins(run_cli: RunCli, store: Path) -> list[tuple[str, str]]:
    import json

    done = run_cli("events", "--json", store=store)
    assert done.returncode == 0, done.stderr
    found = [json.loads(line) for line in done.stdout.splitlines()]
    return [(record["actor"], record["actor_origin"]) for record in found]


@pytest.mark.parametrize(
    "lead", [(), ("--log-level", "critical")], ids=["fast path", "click path"]
)
def test_audit_trail_records_where_the_actor_came_from(
    run_cli: RunCli, tmp_path: Path, lead: tuple[str, ...]
) -> None:
    store = tmp_path / "store"
    env = {"VPA_CONFIG_ACTOR": "Env Person <env@example.org>"}
    assert run_cli("init", "--example", store=store, env=env).returncode == 0
    steps = [
        (*lead, "set", "assistant.yaml", "llm.max_tokens", "100"),
        (*lead, "set", "assistant.yaml", "llm.max_tokens", "200",
         "--actor", "Cli Person <cli@example.org>"),
    ]
    for args in steps:
        done = run_cli(*args, store=store, env=env)
        assert done.returncode == 0, done.stderr

    assert _origins(run_cli, store) == [
        ("Env Person <env@example.org>", "VPA_CONFIG_ACTOR"),
        ("Env Person <env@example.org>", "VPA_CONFIG_ACTOR"),
        ("Cli Person <cli@example.org>", "explicit"),
    ]


def test_actor_help_still_names_the_environment_variable(run_cli: RunCli) -> None:
    done = run_cli("set", "--help")

    assert done.returncode == 0, done.stderr
    assert "VPA_CONFIG_ACTOR" in done.stdout
