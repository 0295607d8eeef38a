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

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    from typing import Any

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
    from vpa_config.values import text_argument

    text = text_argument("actor", text).strip()
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
    if explicit is not None:  # an empty --actor is refused, not passed over
        return parse_actor(explicit, "explicit")
    from_env = os.environ.get("VPA_CONFIG_ACTOR")
    if from_env:
        return parse_actor(from_env, "VPA_CONFIG_ACTOR")
    sudo_user = clean_ident(os.environ.get("SUDO_USER") or "")
    if sudo_user and sudo_user != "root":
        return Actor(sudo_user, f"{sudo_user}@{_host()}", "sudo")
    git = _git_identity(repo_config)
    if git:
        return git
    user = _clean_os_user()
    return Actor(user, f"{user}@{_host()}", "os")


# What git leaves out of a name or email from a config file or the
# environment: the brackets that delimit the email, and line breaks (which
# would start another header of the commit); NUL ends a header's text.
_CRUD = re.compile(r"[<>\n\x00]")


def clean_ident(text: str) -> str:
    """A name or email from the environment or a git config file, as git takes
    it: ``<``, ``>``, newlines and NUL dropped, the ends stripped."""
    return _CRUD.sub("", text).strip()


def _git_identity(repo_config: Path | None = None) -> Actor | None:
    """``user.name`` and ``user.email`` as git's config files stack them.

    The files are those dulwich's ``StackedConfig`` reads, in its order: the
    repository's own, then ``$GIT_CONFIG_GLOBAL`` or ``~/.gitconfig`` and
    ``$XDG_CONFIG_HOME/git/config``, then ``$GIT_CONFIG_SYSTEM`` or
    ``/etc/gitconfig`` (none with ``GIT_CONFIG_NOSYSTEM``). Plain files are
    read here (importing dulwich.config costs a command about 14 ms); a file
    with anything else (quotes, escapes, continued lines, includes, a line
    this reader does not know) is left to dulwich, whose answer stands.
    """
    files = _config_files(repo_config)
    try:
        found = _plain_identity(files)
    except (OSError, UnicodeDecodeError):
        return None
    if found is _NOT_PLAIN:
        found = _dulwich_identity(files)
    if found is None:
        return None
    # Only one of the two set: the other as git makes it, from the OS user.
    name, email = clean_ident(found.name), clean_ident(found.email)
    if not name and not email:
        return None
    user = _clean_os_user()
    return Actor(name or user, email or f"{user}@{_host()}", found.origin)


def _config_files(repo_config: Path | None) -> list[tuple[str, bool]]:
    """(path, whether a missing file is skipped) in the order they are read."""
    files = []
    if repo_config is not None and repo_config.is_file():
        files.append((str(repo_config), False))
    global_file = os.environ.get("GIT_CONFIG_GLOBAL")
    if global_file is not None:
        files.append((global_file, True))
    else:
        files.append((os.path.expanduser("~/.gitconfig"), True))
        xdg = os.environ.get("XDG_CONFIG_HOME", os.path.expanduser("~/.config/"))
        files.append((os.path.join(xdg, "git", "config"), True))
    if not _env_true("GIT_CONFIG_NOSYSTEM"):
        files.append((os.environ.get("GIT_CONFIG_SYSTEM", "/etc/gitconfig"), True))
    return files


def _env_true(name: str) -> bool:
    """An environment variable as git reads a boolean one (unset: false)."""
    value = os.environ.get(name, "").strip().lower()
    return value not in ("", "0", "false", "no", "off")


def _plain_identity(files: list[tuple[str, bool]]) -> Any:
    """The identity from plain config files, None if unset, or _NOT_PLAIN."""
    values: dict[bytes, bytes] = {}
    for path, optional in files:
        try:
            with open(path, "rb") as handle:
                lines = handle.readlines()
        except FileNotFoundError:
            if optional:
                continue
            raise
        found = _user_values(lines)
        if found is _NOT_PLAIN:
            return _NOT_PLAIN
        for key, value in found.items():
            values.setdefault(key, value)  # the first file that sets it wins
    if not values.get(b"name") and not values.get(b"email"):
        return None
    name, email = values.get(b"name", b"").decode(), values.get(b"email", b"").decode()
    return Actor(name, email, "git config")


_NOT_PLAIN: Any = object()
_NAME_CHARS = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-"
)
_SECTION_CHARS = _NAME_CHARS | {ord(".")}


def _user_values(lines: list[bytes]) -> Any:
    """The last ``name`` and ``email`` of the ``[user]`` section, or _NOT_PLAIN."""
    found: dict[bytes, bytes] = {}
    in_user: bool | None = None  # None: before the first section
    for number, raw in enumerate(lines):
        line = raw[3:] if number == 0 and raw.startswith(b"\xef\xbb\xbf") else raw
        line = line.lstrip()
        if not line or line[:1] in (b"#", b";"):
            continue
        if line[:1] == b"[":
            section = _section(line)
            if section is None:
                return _NOT_PLAIN
            in_user = section == (b"user",)
            continue
        setting = _setting(line)
        if setting is None or in_user is None:
            return _NOT_PLAIN
        if in_user and setting[0] in (b"name", b"email"):
            found[setting[0]] = setting[1]
    return found


def _section(line: bytes) -> tuple[bytes, ...] | None:
    """A header's section as dulwich keys it (name lowercased), None if unusual."""
    body, close, after = line[1:].partition(b"]")
    after = after.strip()
    if not close or (after and after[:1] not in (b"#", b";")):
        return None
    name, space, sub = body.partition(b" ")
    if not name or not _SECTION_CHARS.issuperset(name):
        return None
    if name.lower() in (b"include", b"includeif"):
        return None  # another file's settings: dulwich follows includes
    if space:
        inner = sub[1:-1]
        if len(sub) < 2 or sub[:1] != b'"' or sub[-1:] != b'"' or any(
            mark in inner for mark in (b'"', b"\\", b"\n")
        ):
            return None
        return (name.lower(), inner)
    head, dot, tail = name.partition(b".")
    return (head.lower(), tail) if dot else (head.lower(),)


def _setting(line: bytes) -> tuple[bytes, bytes] | None:
    """``(lowercased name, value)`` of a plain ``name = value`` line, else None."""
    name, equals, value = line.partition(b"=")
    name = name.strip()
    if not name or not _NAME_CHARS.issuperset(name):
        return None
    if not equals:
        return name.lower(), b"true"
    if b"\\" in value or b'"' in value:
        return None  # escapes, quotes and continued lines: dulwich's parser
    value = value.strip()
    for mark in (b"#", b";"):
        value = value.split(mark, 1)[0]
    return name.lower(), value.rstrip(b" \t")


def _dulwich_identity(files: list[tuple[str, bool]]) -> Actor | None:
    """The identity as dulwich's stacked config of ``files`` gives it."""
    try:
        from dulwich.config import ConfigFile, StackedConfig
    except ImportError:  # pragma: no cover (dulwich is a hard dependency)
        return None
    try:
        backends = [
            ConfigFile.from_path(path) for path, _optional in files
            if os.path.isfile(path)
        ]
        config = StackedConfig(backends)
        name, email = (_setting_of(config, key) for key in (b"name", b"email"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return Actor(name, email, "git config") if name or email else None


def _setting_of(config: Any, key: bytes) -> str:
    """``user.KEY`` from a dulwich config; "" when it is not set."""
    try:
        return config.get((b"user",), key).decode()
    except KeyError:
        return ""


def _os_user() -> str:
    import getpass  # with termios: only when no actor is given

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid{os.getuid()}"


def _clean_os_user() -> str:
    return clean_ident(_os_user()) or f"uid{os.getuid()}"


def _host() -> str:
    # gethostname(2), as the socket module would give it, without its import
    return os.uname().nodename or "localhost"
