"""Values as the history and change outputs show them: secrets hidden.

``set``, ``diff``, ``show``, ``audit`` and ``blame`` print old and new values;
events and the audit trail print them too, through
:class:`vpa_config.redaction.Redactor`. Both hide the same things, decided in
one place (:mod:`vpa_config.redaction`):

* a value at or below a key the store knows is secret (the schema's
  ``writeOnly``/``x-secret`` or a settings pattern), passed in by the caller;
* a value at or below a key whose name marks a secret
  (:func:`vpa_config.redaction.is_secret_key_path`: ``token``, ``api_token``,
  ``password``, not ``max_tokens``);
* secret-looking text inside any other string: the password of a URL, API
  keys of known shapes, ``password=...`` pairs, values the store has seen as
  secret (:meth:`Redactor.scrub_text`).

A mapping is shown key by key, with only its secret keys hidden, never
hidden whole because a secret lies somewhere inside it. The subjects, reasons
and trailers of revisions are shown as events have them (:class:`Messages`).
"""

from __future__ import annotations

from vpa_config.explain import REDACTED

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from typing import Any

_REDACTOR: Any = None
_MAX_DEPTH = 64


def scrub_text(text: str) -> str:
    """``text`` with secret-looking parts replaced, as events have them."""
    return str(_redactor().scrub_text(text))


def _redactor() -> Any:
    """The redactor outputs share (its registry is the one events are scrubbed by)."""
    global _REDACTOR
    if _REDACTOR is None:
        from vpa_config.redaction import Redactor

        _REDACTOR = Redactor()
    return _REDACTOR


class Messages:
    """Commit subjects, reasons and trailers as outputs print them: secrets hidden.

    Scrubbed as events are (:func:`scrub_text`), once the secret values that
    ``known()`` gives (those of the store's history) are in the redactor's
    registry. They are asked for on the first text long enough to hold a
    secret, so an output that prints no reason asks for nothing.
    """

    __slots__ = ("_known", "_scrub")

    def __init__(self, known: Callable[[], Iterable[Any]] | None = None) -> None:
        self._known = known
        self._scrub: Callable[[str], str] | None = None

    def text(self, text: str) -> str:
        """``text`` (a subject, a reason, a trailer's value) with secrets hidden."""
        if len(text) < 4:
            return text
        scrub = self._scrub
        if scrub is None:
            redactor = _redactor()
            if self._known is not None:
                redactor.registry.add(values=self._known())
            scrub = self._scrub = redactor.scrub_text
        return scrub(text)

    def trailers(self, pairs: Iterable[Sequence[str]]) -> list[list[str]]:
        """[key, value] pairs with the values of trailers vpa-config did not write
        scrubbed (its own, ``Vpa-*``, hold names and ids it made)."""
        return [
            [key, value if key.startswith("Vpa-") else self.text(value)]
            for key, value in pairs
        ]

    def fields(self, data: dict[str, Any]) -> dict[str, Any]:
        """A revision's JSON form with its subject, reason and trailers scrubbed."""
        for name in ("subject", "reason"):
            if isinstance(data.get(name), str):
                data[name] = self.text(data[name])
        pairs = data.get("trailers")
        if pairs and not all(pair[0].startswith("Vpa-") for pair in pairs):
            data["trailers"] = self.trailers(pairs)
        return data


class Mask:
    """Which values of one file are secret, and values shown with those hidden.

    ``covered(path)`` says whether the store's rules make the value at
    ``path`` secret (it is, or lies below, a secret key); the key-name rule
    of :mod:`vpa_config.redaction` is added here.
    """

    __slots__ = ("_covered", "_file", "_rules")

    def __init__(
        self,
        covered: Callable[[tuple[Any, ...]], bool] | None = None,
        rules: object = None,
        file: str = "",
    ) -> None:
        self._covered = covered
        # What ``covered`` is made of: two masks of the same rules are equal.
        self._rules = rules
        # The file shown: the key-name rule reads a store schema differently.
        self._file = file

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mask):
            return NotImplemented
        return (self._rules, self._file) == (other._rules, other._file) and (
            self._rules is not None or self._covered is other._covered
        )

    def __hash__(self) -> int:
        return hash((self._rules, self._file))

    def __repr__(self) -> str:
        return f"Mask({self._rules!r})"

    @classmethod
    def of_paths(cls, secret_paths: Iterable[tuple[Any, ...]], file: str = "") -> Mask:
        """The mask of ``file``, whose secret key paths (typed parts) are known."""
        paths = tuple(secret_paths)
        if not paths:
            return cls(rules=frozenset(), file=file)

        def covered(path: tuple[Any, ...]) -> bool:
            return any(path[: len(secret)] == secret for secret in paths)

        return cls(covered, frozenset(paths), file)

    def covers(self, path: Sequence[Any]) -> bool:
        """Whether the value at ``path`` is secret as a whole."""
        from vpa_config.redaction import is_secret_key_path

        path = tuple(path)
        if is_secret_key_path(path, self._file):
            return True
        return self._covered is not None and self._covered(path)

    def show(self, value: Any, path: Sequence[Any], scrub: bool = True) -> Any:
        """``value`` (found at ``path``) with every secret in it replaced.

        ``scrub`` also takes out of text what reads as a secret in it
        (``password: x``); a schema's descriptions are shown as written.
        """
        return self._show(value, tuple(path), 0, scrub)

    def _show(self, value: Any, path: tuple[Any, ...], depth: int, scrub: bool) -> Any:
        if self.covers(path):
            return REDACTED
        if isinstance(value, str):
            return scrub_text(value) if scrub else value
        if depth > _MAX_DEPTH:
            return REDACTED if isinstance(value, dict | list) else value
        if isinstance(value, dict):
            return {
                key: self._show(item, (*path, key), depth + 1, scrub)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [
                self._show(item, (*path, index), depth + 1, scrub)
                for index, item in enumerate(value)
            ]
        return value

    def show_change(self, change: Any, base: Sequence[Any] = ()) -> dict[str, Any]:
        """A :class:`~vpa_config.history.KeyChange` as JSON, values shown masked.

        ``base`` is the key path the change's own path is relative to (an
        audited mapping's sub-key changes).
        """
        path = (*base, *change.path)
        data: dict[str, Any] = {"path": change.dotted, "change": change.kind}
        if change.kind != "added":
            data["old"] = self.show(change.old, path)
        if change.kind != "removed":
            data["new"] = self.show(change.new, path)
        return data
