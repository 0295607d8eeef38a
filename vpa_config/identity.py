"""Who is acting: the author of every commit.

In order: the explicit actor (``--actor`` or the library argument), the
``VPA_CONFIG_ACTOR`` environment variable, the user who invoked ``sudo``
(``SUDO_USER``), the git identity (``user.name`` and ``user.email`` from the
global git config, read without the git binary), and finally the OS user at
the host name. An actor written ``Name <email>`` keeps its email; a bare name
gets an empty one.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from vpa_config.records import FrozenRecord

COMMITTER = b"vpa-config <vpa-config@localhost>"


class Actor(FrozenRecord):
    """A person or program: name, email, and how it was chosen."""

    _fields = ("name", "email", "origin")
    __slots__ = _fields

    name: str
    email: str
    origin: str

    def __init__(self, name: str, email: str, origin: str) -> None:
        init = object.__setattr__
        init(self, "name", name)
        init(self, "email", email)
        init(self, "origin", origin)

    @property
    def ident(self) -> bytes:
        """The git identity ``Name <email>``."""
        return f"{self.name} <{self.email}>".encode()

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.email else self.name


def parse_actor(text: str, origin: str = "explicit") -> Actor:
    """``Name <email>`` or a bare name; angle brackets and control characters
    (newlines, escape sequences) refused: the actor lands in commits, the audit
    trail and terminals."""
    text = text.strip()
    match = re.fullmatch(r"(.*?)\s*<([^<>\n]*)>", text)
    name, email = (match.group(1), match.group(2)) if match else (text, "")
    if not name or re.search(r"[<>]", name) or re.search(r"[\x00-\x1f\x7f]", text):
        from vpa_config.errors import UsageError

        raise UsageError(
            f"actor {text!r} is not usable; expected a name or 'Name <email>'"
        )
    return Actor(name=name, email=email.strip(), origin=origin)


def resolve_actor(
    explicit: str | None = None, repo_config: Path | None = None
) -> Actor:
    """The actor by the documented order of precedence.

    ``repo_config`` is the store repository's own git config file: its
    ``user.name`` and ``user.email`` come before the global ones, as in git.
    """
    if explicit:
        return parse_actor(explicit, "explicit")
    from_env = os.environ.get("VPA_CONFIG_ACTOR")
    if from_env:
        return parse_actor(from_env, "VPA_CONFIG_ACTOR")
    sudo_user = os.environ.get("SUDO_USER")
    if sudo_user and sudo_user != "root":
        return Actor(sudo_user, f"{sudo_user}@{_host()}", "sudo")
    git = _git_identity(repo_config)
    if git:
        return git
    user = _os_user()
    return Actor(user, f"{user}@{_host()}", "os")


def _git_identity(repo_config: Path | None = None) -> Actor | None:
    try:
        from dulwich.config import ConfigFile, StackedConfig
    except ImportError:  # pragma: no cover (dulwich is a hard dependency)
        return None
    try:
        backends = StackedConfig.default_backends()
        if repo_config is not None and repo_config.is_file():
            backends.insert(0, ConfigFile.from_path(str(repo_config)))
        config = StackedConfig(backends)
        name = config.get((b"user",), b"name").decode()
        email = config.get((b"user",), b"email").decode()
    except (KeyError, OSError, UnicodeDecodeError, ValueError):
        return None
    return Actor(name, email, "git config") if name else None


def _os_user() -> str:
    import getpass  # with termios: only when no actor is given

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid{os.getuid()}"


def _host() -> str:
    # gethostname(2), as the socket module would give it, without its import
    return os.uname().nodename or "localhost"
