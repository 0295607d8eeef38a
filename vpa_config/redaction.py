"""Removing secrets from events and audit records before they are written.

:class:`Redactor` is a structlog processor (a callable taking the logger, the
method name and the event dict) and a plain function of data (:meth:`scrub`).
It replaces, recursively through dicts, lists, tuples and sets:

* the value of any key whose name has a sensitive word part: names are split
  on ``_ - .``, spaces and camelCase humps, so ``client_secret``, ``apiToken``
  and ``private-key`` are caught while ``tokenizer`` and ``author`` are not;
* the value of any key whose path ends in a path the store knows is secret
  (marked by a schema or a settings pattern), and any string equal to or
  containing a secret value the store has seen;
* secret-looking text inside any string: the password of a URL, bearer and
  basic credentials, PEM private key blocks, API keys of well-known shapes,
  JWTs, and ``password=...`` style pairs (exception messages and stack traces
  included, since they are strings by then).

Only the standard library is used, so the audit trail can redact without
importing structlog.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from itertools import pairwise

from vpa_config.layout import SCHEMA_DIR, SCHEMA_VALUE_WORDS, SETTINGS_FILE

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    from typing import Any

REDACTED = "<redacted>"

# Word parts that make a key sensitive on their own. Plural "tokens" is left
# out on purpose: ``max_tokens`` is a model setting, not a credential.
SENSITIVE_WORDS = frozenset(
    {
        "apikey",
        "auth",
        "authorization",
        "bearer",
        "cookie",
        "credential",
        "credentials",
        "csrf",
        "passphrase",
        "passwd",
        "password",
        "privatekey",
        "pwd",
        "secret",
        "secrets",
        "sessionid",
        "signature",
        "token",
        "xsrf",
    }
)
# Adjacent word parts that are sensitive together but not apart.
SENSITIVE_PAIRS = frozenset(
    {
        ("api", "key"),
        ("private", "key"),
        ("access", "key"),
        ("secret", "key"),
        ("signing", "key"),
        ("encryption", "key"),
        ("client", "key"),
        ("session", "id"),
        ("set", "cookie"),
    }
)
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")

_PEM = re.compile(
    r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY( BLOCK)?-----"
    r".*?(?:-----END [A-Z0-9 ]*-----|\Z)",
    re.DOTALL,
)
_URL_PASSWORD = re.compile(
    r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)[^\s@/]+(?=@)"
)
_AUTH_SCHEME = re.compile(
    r"(?i)\b(?P<head>bearer|basic|token)(?P<sep>\s+)[A-Za-z0-9._~+/=-]{8,}"
)
_KNOWN_KEYS = re.compile(
    r"\b(?:sk-[A-Za-z0-9_-]{16,}|ghp_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}"
    r"|gh[ousr]_[A-Za-z0-9]{30,}|xox[abprs]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}"
    r"|AIza[0-9A-Za-z_-]{35}|glpat-[A-Za-z0-9_-]{20,}"
    r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})"
)
_PAIR = re.compile(
    r"(?P<key>[A-Za-z_][A-Za-z0-9_.-]*)(?P<sep>['\"]?\s*[=:]\s*)(?P<quote>['\"]?)"
    # A quoted value ends at its quote; a bare one where the text around it
    # goes on: "(password=x); refused".
    r"(?P<value>(?<=['\"])[^'\"\n]+|[^\s'\",;&)\]}]+)"
)
_MAX_DEPTH = 32
# Words after "KEY: " that are the text of a message, not a value: a
# problem reads "llm.api_key: expected string; got integer", and a comment
# "# secret: redacted in diffs" says what outputs print instead of one.
_NOT_A_VALUE = frozenset({
    "bearer", "basic", "token", "expected", "unexpected", "must", "not", "no",
    "missing", "required", "cannot", "is", "a", "an", "the", "should", "value",
    "redacted",
})


def key_words(name: str) -> list[str]:
    """The lower-case word parts of a key name (``apiToken`` -> api, token)."""
    return [word.lower() for word in _WORD.findall(name)]


def is_sensitive_key(name: object) -> bool:
    """Whether a key's name marks its value as secret."""
    return isinstance(name, str) and _sensitive_name(name)


def is_secret_key_path(path: Sequence[object], file: str = "") -> bool:
    """Whether a key path has a part whose name marks what is below it secret.

    The rule events follow (a sensitive key's whole value is redacted), for
    outputs that name values by key path: ``plugins.0.options.token`` and
    ``credentials.user`` are secret, ``llm.max_tokens`` is not. In a store
    schema (``file`` under ``.vpa-config/schemas/``) such a name describes a
    key: only the values the schema gives it (``default``, ``const``, ``enum``,
    ``examples``) are secret, not ``properties.api_key.minLength``. In the
    store's settings, ``secrets`` holds the patterns that name secret keys,
    which a reviewer of a change to them must see.
    """
    if file.startswith(SCHEMA_DIR):
        return _gives_a_secret_value(path)
    if file == SETTINGS_FILE:
        path = [part for part in path if part != "secrets"]
    return any(type(part) is str and _sensitive_name(part) for part in path)


def _gives_a_secret_value(path: Sequence[object]) -> bool:
    """Whether a schema path is inside a value the schema gives (a ``default``,
    ``const``, ``enum`` or ``examples``) and names a secret key: the one the
    value is for (``properties.password.default``), or one inside the value
    (``properties.db.default.password``)."""
    words = [part for part in path if type(part) is str]
    return any(word in SCHEMA_VALUE_WORDS for word in words) and any(
        _sensitive_name(word) for word in words if word not in SCHEMA_VALUE_WORDS
    )


# Records and events use the same few hundred key names over and over.
@lru_cache(maxsize=4096)
def _sensitive_name(name: str) -> bool:
    words = key_words(name)
    if any(word in SENSITIVE_WORDS for word in words):
        return True
    return any(pair in SENSITIVE_PAIRS for pair in pairwise(words))


class SecretRegistry:
    """Secret key paths and values the store has come across in this process."""

    MAX_VALUES = 4096
    # Scrubbed texts remembered (short ones: names, kinds, actors, paths).
    MEMO_TEXTS = 2048
    MEMO_LENGTH = 256

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.paths: frozenset[tuple[str, ...]] = frozenset()
        self.values: frozenset[str] = frozenset()
        # The pattern with the values it was made of (it may be made while
        # values are added: then it is made again).
        self._pattern: tuple[frozenset[str], re.Pattern[str] | None] = (
            frozenset(), None,
        )
        self._by_last: dict[str, tuple[tuple[str, ...], ...]] = {}
        # A new dict whenever the values change: a text scrubbed against the
        # values before is never answered from a memo kept after.
        self.texts: dict[tuple[str, str, frozenset[str]], str] = {}

    def add(
        self, paths: Iterable[Iterable[Any]] = (), values: Iterable[Any] = ()
    ) -> None:
        """Remember key paths (tuples of parts) and values that are secret."""
        new_paths = {tuple(str(part) for part in path) for path in paths}
        new_values = {v for v in values if isinstance(v, str) and len(v) >= 4}
        with self._lock:
            if not new_paths <= self.paths:
                self.paths = self.paths | new_paths
                self._by_last = _index_by_last(self.paths)
            if not new_values <= self.values and len(self.values) < self.MAX_VALUES:
                self.values = self.values | new_values
                # Last: a memo read from now on is filled with the new values.
                self.texts = {}

    def ends_in_secret(self, path: tuple[str, ...]) -> bool:
        """Whether ``path`` ends in a secret key path (``llm.api_key`` ends
        ``profiles.0.llm.api_key``)."""
        if not path:
            return False
        return any(
            len(secret) <= len(path) and path[-len(secret) :] == secret
            for secret in self._by_last.get(path[-1], ())
        )

    def value_pattern(self) -> re.Pattern[str] | None:
        """One regular expression matching any known secret value."""
        values = self.values
        made_of, pattern = self._pattern
        if made_of is not values:
            ordered = sorted(values, key=len, reverse=True)
            alternatives = "|".join(re.escape(value) for value in ordered)
            pattern = re.compile(alternatives) if alternatives else None
            self._pattern = (values, pattern)
        return pattern

    def clear(self) -> None:
        """Forget everything (tests, or an application that closes its stores)."""
        with self._lock:
            self.paths = frozenset()
            self.values = frozenset()
            self._by_last = {}
            self.texts = {}


SECRETS = SecretRegistry()


class Redactor:
    """Replace secrets in event dicts; see the module docstring for what counts."""

    def __init__(
        self,
        extra_keys: Iterable[str] = (),
        registry: SecretRegistry | None = None,
        marker: str = REDACTED,
    ) -> None:
        self.extra_keys = frozenset(key.lower() for key in extra_keys)
        self.registry = SECRETS if registry is None else registry
        self.marker = marker

    def __call__(
        self, logger: Any, method: str, event_dict: dict[str, Any]
    ) -> dict[str, Any]:
        return self.scrub(event_dict)

    def scrub(self, data: Any) -> Any:
        """A copy of ``data`` with every secret replaced by the marker."""
        return self._walk(data, (), 0)

    def _walk(self, data: Any, trail: tuple[str, ...], depth: int) -> Any:
        if isinstance(data, str):
            return self.scrub_text(data)
        if depth > _MAX_DEPTH:
            return self.marker if isinstance(data, Mapping | list | tuple) else data
        if isinstance(data, Mapping):
            return self._walk_mapping(data, trail, depth)
        if isinstance(data, list | tuple | set | frozenset):
            return [self._walk(item, trail, depth + 1) for item in data]
        if data is None or isinstance(data, bool | int | float):
            return data
        return self.scrub_text(_as_text(data))

    def _walk_mapping(
        self, data: Mapping[Any, Any], trail: tuple[str, ...], depth: int
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        secret_here = self._names_secret_path(data)
        for key, value in data.items():
            name = key if isinstance(key, str) else str(key)
            path = (*trail, name)
            if self._key_is_secret(name, path) or (secret_here and name in _VALUE_KEYS):
                out[name] = self.marker if value is not None else None
            else:
                out[name] = self._walk(value, path, depth + 1)
        return out

    def _key_is_secret(self, name: str, path: tuple[str, ...]) -> bool:
        if self.extra_keys and name.lower() in self.extra_keys:
            return True
        return _sensitive_name(name) or self.registry.ends_in_secret(path)

    def _names_secret_path(self, data: Mapping[Any, Any]) -> bool:
        """A ``{"path": "llm.api_key", "old": ..., "new": ...}`` record of a secret."""
        named = data.get("path") if "path" in data else data.get("key")
        if not isinstance(named, str) or not named:
            return False
        parts = tuple(named.split("."))
        return _sensitive_name(parts[-1]) or self.registry.ends_in_secret(parts)

    def scrub_text(self, text: str) -> str:
        """``text`` with secret-looking parts replaced."""
        if len(text) < 4:
            return text
        registry = self.registry
        if len(text) > registry.MEMO_LENGTH:
            return self._scrub_text(text)
        memo = registry.texts  # before the values: see SecretRegistry.add
        key = (text, self.marker, self.extra_keys)
        clean = memo.get(key)
        if clean is None:
            clean = self._scrub_text(text)
            if len(memo) >= registry.MEMO_TEXTS:
                memo.clear()
            memo[key] = clean
        return clean

    def _scrub_text(self, text: str) -> str:
        pattern = self.registry.value_pattern()
        if pattern is not None:
            text = pattern.sub(self.marker, text)
        if "PRIVATE KEY" in text:
            text = _PEM.sub(f"[{self.marker} private key]", text)
        if "://" in text:
            text = _URL_PASSWORD.sub(lambda m: m.group("head") + self.marker, text)
        if _may_name_scheme(text):
            text = _AUTH_SCHEME.sub(
                lambda m: m.group("head") + m.group("sep") + self.marker, text
            )
        if _may_hold_key(text):
            text = _KNOWN_KEYS.sub(self.marker, text)
        if "=" in text or ":" in text:
            text = _PAIR.sub(self._pair, text)
        return text

    def _pair(self, match: re.Match[str]) -> str:
        key = match.group("key")
        last = key.rsplit(".", 1)[-1]
        if not (_sensitive_name(last) or last.lower() in self.extra_keys):
            return match.group(0)
        value = match.group("value")
        if value == self.marker or value.lower() in _NOT_A_VALUE:
            return match.group(0)
        return key + match.group("sep") + match.group("quote") + self.marker

    def scrub_argv(self, argv: Sequence[str]) -> list[str]:
        """A command line with the VALUE after a secret key path replaced too.

        ``set FILE llm.api_key VALUE`` names the key in one word and gives
        the value in the next, which no pattern of one word can tell; the value
        need not be a secret the store has seen (a refused change's is not).
        """
        out = []
        for index, word in enumerate(argv):
            before = argv[index - 1] if index else ""
            if index > 1 and not word.startswith("-") and self._names_secret(before):
                out.append(self.marker)
            else:
                out.append(self.scrub_text(word))
        return out

    def _names_secret(self, word: str) -> bool:
        """Whether a command-line word is a key path (dotted or pointer) of a secret."""
        if word.startswith("-") or "=" in word:
            return False
        parts = tuple(part for part in re.split(r"(?<!\\)[./]", word) if part)
        if not parts:
            return False
        return self._key_is_secret(parts[-1], parts)


# What _AUTH_SCHEME and _KNOWN_KEYS cannot match without: a text with none
# (most reasons and subjects) is not scanned by them, which a log of
# thousands of revisions notices.
def _may_name_scheme(text: str) -> bool:
    # Every letter IGNORECASE matches to one of these words folds to it, but
    # the dotless i, which casefold() keeps.
    folded = text.casefold().replace("\u0131", "i")
    return "bearer" in folded or "basic" in folded or "token" in folded


def _may_hold_key(text: str) -> bool:
    return (
        "sk-" in text or "gh" in text or "xox" in text or "AKIA" in text
        or "AIza" in text or "glpat-" in text or "eyJ" in text
    )


def _as_text(value: Any) -> str:
    """Any other object as text (then scrubbed): JSON cannot carry it anyway."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    try:
        return str(value)
    except Exception:
        return f"<unprintable {type(value).__name__}>"


def _index_by_last(
    paths: Iterable[tuple[str, ...]],
) -> dict[str, tuple[tuple[str, ...], ...]]:
    """Secret key paths by their last part, the one a key path must end in."""
    index: dict[str, list[tuple[str, ...]]] = {}
    for path in paths:
        if path:
            index.setdefault(path[-1], []).append(path)
    return {last: tuple(found) for last, found in index.items()}


# Fields that hold the value of the key a record names (see _names_secret_path).
_VALUE_KEYS = frozenset({"old", "new", "value", "instance", "got", "default"})
