"""Small value classes without :mod:`dataclasses`.

``dataclasses`` imports :mod:`inspect` (with ``ast``, ``dis`` and
``tokenize``) and builds each class's methods from source text when the class
is defined: about 6 ms to import and half a millisecond a class, on every
start of a process that reads history. The classes of the read path derive
from these bases instead and write their ``__init__`` out. A subclass names
its fields in ``_fields`` (in ``__init__``'s order); ``_compared`` and
``_shown`` default to all of them and say which take part in ``==`` (and,
when frozen, ``hash``) and which ``repr`` shows, as a dataclass's
``field(compare=False, repr=False)`` would.

The modules a history read loads also leave :mod:`typing` unimported at run
time (about 3 ms): their annotations are postponed (``from __future__ import
annotations``), so the names they take from typing are imported only under
``TYPE_CHECKING``, which they set to False themselves, and type checkers
treat as true.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    from typing import Any, ClassVar



class Record:
    """A mutable record: field-wise ``==`` and ``repr``, unhashable (as a dataclass)."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()
    _compared: ClassVar[tuple[str, ...] | None] = None
    _shown: ClassVar[tuple[str, ...] | None] = None

    def _values(self, names: tuple[str, ...] | None) -> tuple[Any, ...]:
        chosen = self._fields if names is None else names
        return tuple(getattr(self, name) for name in chosen)

    def __repr__(self) -> str:
        names = self._fields if self._shown is None else self._shown
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{type(self).__qualname__}({shown})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        theirs: Record = other  # type: ignore[assignment]
        return self._values(self._compared) == theirs._values(self._compared)

    __hash__ = None  # type: ignore[assignment]

    def copy_with(self, **changes: Any) -> Any:
        """A copy with some fields changed (``dataclasses.replace``)."""
        values = dict(zip(self._fields, self._values(self._fields), strict=True))
        unknown = set(changes) - set(values)
        if unknown:
            name = sorted(unknown)[0]
            raise TypeError(f"{type(self).__qualname__} has no field {name!r}")
        values.update(changes)
        return type(self)(**values)


class FrozenRecord(Record):
    """An immutable record, hashable by its compared fields (a frozen dataclass).

    ``__init__`` sets fields with :func:`object.__setattr__`, as a frozen
    dataclass does; afterwards assignment raises :class:`FrozenError`.
    """

    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenError(f"cannot delete field {name!r}")

    def __hash__(self) -> int:
        return hash(self._values(self._compared))

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Copies and pickles are rebuilt through __init__ (slots cannot be
        # restored by assignment on a frozen record).
        return type(self), self._values(self._fields)


class FrozenError(AttributeError):
    """An assignment to a field of a frozen record."""
