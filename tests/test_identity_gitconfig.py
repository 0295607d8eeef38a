"""The git identity read from git's config files without dulwich (#9).

identity.py reads plain config files itself and hands anything else to
dulwich's stacked config. Every case here asks both on the same files (the
repository's config, ``~/.gitconfig``, ``$XDG_CONFIG_HOME/git/config``, the
``GIT_CONFIG_*`` variables) and expects the same identity, or none.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from conftest import RunCli, git

from vpa_config import identity

PERSON = "[user]\n\tname = Git Person\n\temail = git@example.org\n"


class Files:
    """Config files under a temporary home, and the environment that names them."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.home = root / "home"
        self.home.mkdir()
        self.repo = root / "repo-config"
        self.monkeypatch = monkeypatch
        for name in ("GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "XDG_CONFIG_HOME"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HOME", str(self.home))
        monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")

    def write(self, relative: str, content: bytes | str) -> Path:
        path = self.home / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path

    def answers(self) -> tuple[object, object]:
        """(this module's answer, dulwich's answer) as comparable tuples."""
        repo = self.repo if self.repo.exists() else None
        return _plain(identity._git_identity(repo)), _plain(_dulwich_answer(repo))

    def read_plainly(self) -> bool:
        """Whether the files were read without dulwich."""
        repo = self.repo if self.repo.exists() else None
        found = identity._plain_identity(identity._config_files(repo))
        return found is not identity._NOT_PLAIN


def _dulwich_answer(repo: Path | None) -> identity.Actor | None:
    """dulwich's own stacking of the same files: the reference answer."""
    from dulwich.config import ConfigFile, StackedConfig

    try:
        backends = StackedConfig.default_backends()
        if repo is not None:
            backends.insert(0, ConfigFile.from_path(str(repo)))
        config = StackedConfig(backends)
        name, email = (_get(config, key) for key in (b"name", b"email"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    name, email = identity.clean_ident(name), identity.clean_ident(email)
    if not name and not email:
        return None
    user = identity._os_user()  # one of the two missing: made as git makes it
    return identity.Actor(
        name or user, email or f"{user}@{identity._host()}", "git config"
    )


def _get(config: object, key: bytes) -> str:
    try:
        return config.get((b"user",), key).decode()  # type: ignore[attr-defined]
    except KeyError:
        return ""


def _plain(actor: identity.Actor | None) -> object:
    return None if actor is None else (actor.name, actor.email, actor.origin)


@pytest.fixture(name="files")
def _files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Files:
    return Files(tmp_path, monkeypatch)


PLAIN = {
    "tabs": PERSON,
    "no spaces": "[user]\nname=Ann\nemail=ann@example.org\n",
    "comments": "# me\n; and\n[user] # who\n  name = Ann Lee  # the name\n"
    "  email = ann@example.org ; mail\n",
    "crlf": "[user]\r\n\tname = Ann\r\n\temail = ann@example.org\r\n",
    "bom": "\ufeff[user]\n\tname = Ann\n\temail = ann@example.org\n",
    "case": "[USER]\n\tNAME = Ann\n\tEmail = ann@example.org\n",
    "last wins": "[user]\n\tname = First\n\temail = a@x\n[core]\n\tbare = false\n"
    "[user]\n\tname = Second\n",
    "other sections": "[core]\n\tautocrlf\n[user \"work\"]\n\tname = Sub\n"
    "[user.home]\n\tname = Dotted\n[user]\n\tname = Ann\n\temail = a@x\n",
    "no email": "[user]\n\tname = Ann\n",
    "no name": "[user]\n\temail = ann@example.org\n",
    "empty name": "[user]\n\tname =\n\temail = ann@example.org\n",
    "inner spaces": "[user]\n\tname = Ann \t Lee\t \n\temail = ann@example.org\n",
    "flag only": "[user]\n\tname\n\temail = e@x\n",
    "empty": "",
}
NOT_PLAIN = {
    "quoted": '[user]\n\tname = "Ann # Lee"\n\temail = ann@example.org\n',
    "escaped": "[user]\n\tname = Ann\\tLee\n\temail = ann@example.org\n",
    "continued": "[user]\n\tname = Ann \\\n Lee\n\temail = ann@example.org\n",
    "include": "[include]\n\tpath = other\n[user]\n\tname = Ann\n\temail = a@x\n",
    "includeIf": '[includeIf "gitdir:/"]\n\tpath = other\n[user]\n\tname = A\n'
    "\temail = a@x\n",
    "setting before section": "name = Ann\n[user]\n\temail = a@x\n",
    "setting on header line": "[user] name = Ann\n\temail = a@x\n",
    "bad section": "[us er]\n\tname = Ann\n\temail = a@x\n",
    "bad name": "[user]\n\tna_me = Ann\n\tname = A\n\temail = a@x\n",
    "unclosed header": "[user\n\tname = Ann\n\temail = a@x\n",
}


@pytest.mark.parametrize("text", PLAIN.values(), ids=PLAIN.keys())
def test_a_plain_global_file_gives_dulwichs_answer_without_dulwich(
    files: Files, text: str
) -> None:
    files.write(".gitconfig", text)

    ours, theirs = files.answers()

    assert files.read_plainly()
    assert ours == theirs


@pytest.mark.parametrize("text", NOT_PLAIN.values(), ids=NOT_PLAIN.keys())
def test_anything_else_is_left_to_dulwich(files: Files, text: str) -> None:
    files.write("other", "[user]\n\tname = Included\n")
    files.write(".gitconfig", text)

    ours, theirs = files.answers()

    assert not files.read_plainly()
    assert ours == theirs


def test_the_answers_are_the_examples_own(files: Files) -> None:
    # The comparisons above cannot pass by both sides finding nothing.
    files.write(".gitconfig", PLAIN["comments"])
    assert files.answers()[0] == ("Ann Lee", "ann@example.org", "git config")
    files.write(".gitconfig", PLAIN["last wins"])
    assert files.answers()[0] == ("Second", "a@x", "git config")
    files.write(".gitconfig", NOT_PLAIN["quoted"])
    assert files.answers()[0] == ("Ann # Lee", "ann@example.org", "git config")


def test_the_repository_comes_first_then_global_then_xdg_then_system(
    files: Files, monkeypatch: pytest.MonkeyPatch
) -> None:
    files.repo.write_text("[user]\n\tname = Repo\n")
    files.write(".gitconfig", "[user]\n\temail = global@x\n")
    files.write(".config/git/config", "[user]\n\tname = Xdg\n\temail = xdg@x\n")
    system = files.write("system", "[user]\n\tname = System\n\temail = sys@x\n")
    monkeypatch.delenv("GIT_CONFIG_NOSYSTEM")
    monkeypatch.setenv("GIT_CONFIG_SYSTEM", str(system))

    assert files.answers() == (("Repo", "global@x", "git config"),) * 2
    files.repo.unlink()
    (files.home / ".gitconfig").unlink()
    assert files.answers() == (("Xdg", "xdg@x", "git config"),) * 2
    (files.home / ".config" / "git" / "config").unlink()
    assert files.answers() == (("System", "sys@x", "git config"),) * 2
    # As git: GIT_CONFIG_NOSYSTEM (a boolean) leaves out the system file, even
    # one GIT_CONFIG_SYSTEM names (dulwich would still read that one).
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    assert files.answers()[0] is None
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "0")
    assert files.answers()[0] == ("System", "sys@x", "git config")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "true")
    monkeypatch.delenv("GIT_CONFIG_SYSTEM")
    assert files.answers() == (None, None)


def test_the_environment_names_the_files_as_for_dulwich(
    files: Files, monkeypatch: pytest.MonkeyPatch
) -> None:
    files.write(".gitconfig", "[user]\n\tname = Home\n\temail = home@x\n")
    elsewhere = files.write(
        "elsewhere/config", "[user]\n\tname = Else\n\temail = e@x\n"
    )
    xdg = files.home / "xdg"
    (xdg / "git").mkdir(parents=True)
    (xdg / "git" / "config").write_text("[user]\n\tname = Xdg\n\temail = x@x\n")

    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(elsewhere))
    assert files.answers() == (("Else", "e@x", "git config"),) * 2
    monkeypatch.delenv("GIT_CONFIG_GLOBAL")
    (files.home / ".gitconfig").unlink()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    assert files.answers() == (("Xdg", "x@x", "git config"),) * 2


def test_unreadable_and_undecodable_files_give_no_identity_as_before(
    files: Files,
) -> None:
    files.write(".gitconfig", b"[user]\n\tname = \xff\xfe\n\temail = a@x\n")
    assert files.answers() == (None, None)
    (files.home / ".gitconfig").unlink()
    (files.home / ".gitconfig").mkdir()  # not a file: an error, not a skip
    files.write(".config/git/config", PERSON)
    assert files.answers() == (None, None)


def test_a_broken_later_file_spoils_the_answer_as_for_dulwich(files: Files) -> None:
    files.write(".gitconfig", PERSON)
    files.write(".config/git/config", "[user\n")

    assert files.answers() == (None, None)


PLAIN_LINES = [
    "[user]\n", "[User]\n", '[user "x"]\n', "[user.x]\n", "[core]\n",
    "\tname = Ann\n", "name=Bo\n", "\tNAME = Cy  # c\n", "\temail = a@x\n",
    "email=b@y ; z\n", "# comment\n", "; comment\n", "\n", "   \n", "\tbare\n",
    "\tname =\n", "[user] # hi\n", "\tname = Ann\r\n", "\tname = \xe9\n",
]
ODD_LINES = [
    "[include]\n", "\tpath = other\n", '\tname = "Q # R"\n', "\tname = T\\tU\n",
    "[bad section]\n", "\tna.me = x\n", "[user\n", "\temail = \\\n", " c@z\n",
]


def _generated(chooser: random.Random, most: int) -> str:
    lines = ["[user]\n"] if chooser.random() < 0.5 else []
    for _ in range(chooser.randint(0, most)):
        pool = ODD_LINES if chooser.random() < 0.05 else PLAIN_LINES
        lines.append(chooser.choice(pool))
    return "".join(lines)


@pytest.mark.parametrize("seed", range(12))
def test_generated_config_files_get_dulwichs_answer(files: Files, seed: int) -> None:
    chooser = random.Random(seed)
    files.write("other", "[user]\n\temail = included@x\n")
    for _ in range(25):
        for place in (".gitconfig", ".config/git/config"):
            files.write(place, _generated(chooser, 8))
        files.repo.write_text(_generated(chooser, 4))

        ours, theirs = files.answers()

        shown = (files.repo.read_text(), (files.home / ".gitconfig").read_text())
        assert ours == theirs, shown


def test_a_restore_by_the_git_identity_reads_no_dulwich_config(
    run_cli: RunCli, store_path: Path, tmp_path: Path
) -> None:
    # The CLI's home is tmp_path/home (conftest): its ~/.gitconfig names the
    # author of a restore run without --actor or VPA_CONFIG_ACTOR.
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / ".gitconfig").write_text(PERSON)
    done = run_cli("init", "--example", store=store_path)
    assert done.returncode == 0, done.stderr
    done = run_cli(
        "set", "assistant.yaml", "llm.temperature", "0.3", "-m", "x", store=store_path
    )
    assert done.returncode == 0, done.stderr

    done = run_cli(
        "restore", "HEAD~1", "-m", "back", store=store_path,
        env={"VPA_CONFIG_ACTOR": "", "SUDO_USER": "", "PYTHONPROFILEIMPORTTIME": "1"},
    )

    assert done.returncode == 0, done.stderr
    assert "dulwich.config" not in done.stderr
    assert git(store_path, "log", "-1", "--format=%an <%ae>").strip() == (
        "Git Person <git@example.org>"
    )


def _set_with_git_config(
    run_cli: RunCli, store_path: Path, tmp_path: Path, config: str
) -> object:
    """A new example store, then a ``set`` whose author comes from ``config``."""
    done = run_cli("init", "--example", store=store_path)
    assert done.returncode == 0, done.stderr
    gitconfig = tmp_path / "identity.gitconfig"
    gitconfig.write_text(config)
    return run_cli(
        "set", "assistant.yaml", "llm.temperature", "0.3", store=store_path,
        env={"VPA_CONFIG_ACTOR": "", "SUDO_USER": "",
             "GIT_CONFIG_GLOBAL": str(gitconfig)},
    )


@pytest.mark.parametrize(
    ("config", "author"),
    [
        ('[user]\n\tname = "Evil <x>"\n\temail = e@x\n', "Evil x <e@x>"),
        ('[user]\n\tname = "Evil\\ncommitter Fake <f@f> 1 +0000"\n\temail = e@x\n',
         "Evilcommitter Fake f@f 1 +0000 <e@x>"),
        ("[user]\n\tname = Ann\n\temail = a>b@x\n", "Ann <ab@x>"),
    ],
    ids=["brackets in the name", "a newline in the name", "a bracket in the email"],
)
def test_a_git_identity_is_cleaned_as_git_cleans_it(
    run_cli: RunCli, store_path: Path, tmp_path: Path, config: str, author: str
) -> None:
    done = _set_with_git_config(run_cli, store_path, tmp_path, config)

    assert done.returncode == 0, done.stderr
    assert git(store_path, "log", "-1", "--format=%an <%ae>").strip() == author
    git(store_path, "fsck", "--strict")


def test_sudo_user_is_cleaned_as_a_git_identity_is(
    run_cli: RunCli, store_path: Path
) -> None:
    assert run_cli("init", "--example", store=store_path).returncode == 0

    done = run_cli(
        "set", "assistant.yaml", "llm.temperature", "0.3", store=store_path,
        env={"VPA_CONFIG_ACTOR": "", "SUDO_USER": "x> y"},
    )

    assert done.returncode == 0, done.stderr
    assert git(store_path, "log", "-1", "--format=%an").strip() == "x y"
    git(store_path, "fsck", "--strict")


@pytest.mark.parametrize(
    ("config", "name", "email"),
    [
        ("[user]\n\tname = Only Name\n", "Only Name", None),
        ("[user]\n\temail = only@example.org\n", None, "only@example.org"),
    ],
    ids=["name only", "email only"],
)
def test_a_git_identity_with_one_half_gets_the_other_as_git_makes_it(
    run_cli: RunCli, store_path: Path, tmp_path: Path,
    config: str, name: str | None, email: str | None,
) -> None:
    import os

    done = _set_with_git_config(run_cli, store_path, tmp_path, config)

    assert done.returncode == 0, done.stderr
    author = git(store_path, "log", "-1", "--format=%an|%ae").strip()
    got_name, got_email = author.split("|")
    if name is not None:
        assert got_name == name
        assert got_email.endswith("@" + os.uname().nodename)
    else:
        assert got_email == email
        assert got_name and got_name != email
