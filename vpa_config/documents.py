"""Parse, locate and edit YAML, JSON and TOML documents.

Two ways in, on purpose:

* :func:`parse` is the fast path used for every read and validation. YAML goes
  through libyaml (PyYAML's C loader) with the YAML 1.2 core schema, so ``no``,
  ``off``, ``0755``, ``1.10`` and unquoted dates keep their YAML 1.2 meaning
  (strings, decimal, float, string) instead of YAML 1.1's booleans, octal and
  timestamps. Duplicate keys are refused, and size, depth and node-count
  limits stop alias bombs and runaway nesting.
* :func:`set_value` and :func:`unset_value` edit the text round-trip
  (ruamel.yaml, tomlkit, order-keeping JSON), so comments, key order, quoting
  and layout survive and only the lines that must change do.

:func:`locate` finds the line and column of a key path for error messages; it
runs only when there is an error to report.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence

from vpa_config.errors import KeyPathError, NotFoundError, ParseError
from vpa_config.keypath import Part, format_dotted, lookup, not_a_position
from vpa_config.yamlimport import import_yaml

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    from typing import Any

MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 1_000_000

YAML_SUFFIXES = (".yaml", ".yml")
SUFFIXES = (*YAML_SUFFIXES, ".json", ".toml")


def format_of(name: str) -> str:
    """``yaml``, ``json`` or ``toml`` from the file name's suffix."""
    lower = name.lower()
    if lower.endswith(YAML_SUFFIXES):
        return "yaml"
    if lower.endswith(".json"):
        return "json"
    if lower.endswith(".toml"):
        return "toml"
    raise ParseError(name, UNKNOWN_TYPE)


# What a file of any other name is told, wherever it is refused.
UNKNOWN_TYPE = (
    "unknown file type; a config file's name ends in .yaml, .yml, .json or .toml"
)


def decode(name: str, raw: bytes) -> str:
    """Bytes to text: UTF-8 only, a byte-order mark dropped, no binary."""
    if len(raw) > MAX_BYTES:
        raise ParseError(
            name, f"file is {len(raw)} bytes; the limit is {MAX_BYTES} bytes"
        )
    if b"\x00" in raw:
        raise ParseError(name, "binary content (NUL byte); expected a text file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ParseError(
            name,
            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            "expected UTF-8 text",
            line,
        ) from None
    return text.removeprefix("\ufeff")


_BOM = b"\xef\xbb\xbf"


def keep_bom(old: bytes | None, new: bytes) -> bytes:
    """``new``, led by a byte-order mark when ``old`` was (``decode`` drops it)."""
    if old is not None and old.startswith(_BOM) and not new.startswith(_BOM):
        return _BOM + new
    return new


def parse(name: str, raw: bytes | str) -> Any:
    """Parse a document to plain Python data (dict, list, str, int, ...)."""
    text = raw if isinstance(raw, str) else decode(name, raw)
    kind = format_of(name)
    if kind == "yaml":
        data = _parse_yaml(name, text)
    elif kind == "json":
        data = _parse_json(name, text)
    else:
        data = _parse_toml(name, text)
    check_limits(name, data, text)
    return data


# Documents parsed by content, shared between the readers of one change (and
# the next change, whose old document is this one's new): see parse_shared.
_SHARED_MAX = 32
_SHARED_MAX_TEXT = 256 * 1024
_shared: dict[tuple[str, str], Any] = {}


def parse_shared(name: str, raw: bytes | str) -> Any:
    """Like :func:`parse`, but the result may be shared: callers never mutate it.

    The change path reads the same texts several times (the edit, its check,
    validation, the key diff, secrets); one parse of each text serves them
    all. Refused texts are not remembered: each call raises the same error.
    """
    text = raw if isinstance(raw, str) else decode(name, raw)
    key = (format_of(name), text)
    try:
        found = _shared.pop(key)
    except KeyError:
        found = parse(name, text)
        if len(text) > _SHARED_MAX_TEXT:
            return found
        while len(_shared) >= _SHARED_MAX:
            try:
                del _shared[next(iter(_shared))]
            except (KeyError, StopIteration, RuntimeError):
                break  # another thread evicted first
    _shared[key] = found
    return found


def shared_parse(name: str, raw: bytes | str, default: Any = None) -> Any:
    """The document :func:`parse_shared` holds for ``raw``, else ``default``
    (it never parses)."""
    try:
        text = raw if isinstance(raw, str) else decode(name, raw)
        return _shared.get((format_of(name), text), default)
    except ParseError:
        return default


def share(name: str, text: str, data: Any) -> None:
    """Have :func:`parse_shared` answer ``text`` with ``data``, its parse as
    known another way (yamledit.py's in-place edit knows the edited one)."""
    if len(text) <= _SHARED_MAX_TEXT:
        while len(_shared) >= _SHARED_MAX:
            try:
                del _shared[next(iter(_shared))]
            except (KeyError, StopIteration, RuntimeError):
                break  # another thread evicted first
        _shared[(format_of(name), text)] = data


def parse_value(text: str) -> Any:
    """A command-line VALUE read as a YAML 1.2 scalar or flow value."""
    return _parse_yaml("VALUE", text)


def check_limits(name: str, data: Any, text: str | None = None) -> None:
    """Refuse documents nested deeper than MAX_DEPTH or larger than MAX_NODES.

    Aliases make a small YAML text expand into a huge tree; the walk counts
    every node as a reader would see it and stops at the limit. A document
    too deep is refused at the first key path that goes too deep, and with
    ``text``, at its line.
    """
    budget = MAX_NODES
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        node, depth = stack.pop()
        budget -= 1
        if budget < 0:
            raise ParseError(
                name,
                f"document expands to more than {MAX_NODES} values "
                "(an alias bomb?); refused",
            )
        if depth > MAX_DEPTH:
            raise _too_deep(name, data, text)
        if isinstance(node, dict):
            stack.extend((value, depth + 1) for value in node.values())
        elif isinstance(node, list):
            stack.extend((value, depth + 1) for value in node)


def _too_deep(name: str, data: Any, text: str | None) -> ParseError:
    """The refusal of a document nested too deep, at the path that goes deepest
    first (found by a second walk: the first keeps no paths, to stay cheap)."""
    path: list[Part] = []
    node = data
    while len(path) <= MAX_DEPTH:
        part, node = _deeper_child(node)
        path.append(part)
    spot = locate(name, text, path) if text is not None else None
    return ParseError(
        name, f"nested deeper than {MAX_DEPTH} levels; refused",
        spot[0] if spot else None, spot[1] if spot else None, tuple(path),
    )


def _deeper_child(node: Any) -> tuple[Part, Any]:
    """The first child of ``node`` that holds the most nesting below it."""
    items = list(node.items() if isinstance(node, dict) else enumerate(node))
    known: dict[tuple[int, int], int] = {}
    return max(items, key=lambda item: _depth(item[1], MAX_DEPTH + 1, known))


def _depth(node: Any, limit: int, known: dict[tuple[int, int], int]) -> int:
    """How deep ``node`` nests, counted up to ``limit``.

    ``known`` keeps each (node, limit) answered: YAML aliases share one node
    among many parents, and without it a chain of them is walked
    exponentially often.
    """
    if limit <= 0 or not isinstance(node, (dict, list)) or not node:
        return 0
    key = (id(node), limit)
    if key not in known:
        children = node.values() if isinstance(node, dict) else node
        known[key] = 1 + max(_depth(child, limit - 1, known) for child in children)
    return known[key]


# --- YAML, fast path ---------------------------------------------------------

_yaml_loader: Any = None


def _yaml_loader_class() -> Any:
    global _yaml_loader
    if _yaml_loader is None:
        _yaml_loader = _build_yaml_loader()
    return _yaml_loader


def _build_yaml_loader() -> Any:
    yaml = import_yaml()  # without work libyaml never needs (yamlimport.py)

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Yaml12Loader(base):  # type: ignore[misc, valid-type]
        """libyaml with the YAML 1.2 core schema and duplicate keys refused."""

    Yaml12Loader.yaml_implicit_resolvers = {}
    resolvers = [
        ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
        ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
        ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$",
         "-+0123456789"),
        ("tag:yaml.org,2002:float",
         r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
         r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
         "-+.0123456789"),
    ]
    for tag, pattern, first in resolvers:
        Yaml12Loader.add_implicit_resolver(tag, re.compile(pattern), list(first))
    # Merge keys (<<), as PyYAML, ruamel and the tools built on them read them.
    Yaml12Loader.add_implicit_resolver(_MERGE_TAG, re.compile(r"^(?:<<)$"), ["<"])
    Yaml12Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
    Yaml12Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)
    Yaml12Loader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)
    Yaml12Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
    Yaml12Loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_str)
    return Yaml12Loader


def _construct_int(loader: Any, node: Any) -> int:
    value = loader.construct_scalar(node)
    try:
        if value.startswith("0o"):
            return int(value[2:], 8)
        if value.startswith("0x"):
            return int(value[2:], 16)
        return int(value, 10)
    except ValueError:
        # Python refuses decimal strings of more than 4300 digits (CVE-2020-10735).
        mark = node.start_mark
        raise _YamlLimit(
            f"integer of {len(value)} digits is too long to read", mark.line, mark.column
        ) from None


# JSON Schema judges JSON numbers: NaN and the infinities are not among them
# (no "maximum" refuses NaN), and a JSON file cannot hold them.
NOT_FINITE = "is not a finite number; JSON Schema has no NaN or infinity"


def _construct_float(loader: Any, node: Any) -> float:
    value = loader.construct_scalar(node)
    lower = value.lower()
    if lower.endswith((".inf", ".nan")):
        mark = node.start_mark
        raise _YamlLimit(f"{value} {NOT_FINITE}", mark.line, mark.column)
    number = float(value)
    if math.isinf(number):
        mark = node.start_mark
        raise _YamlLimit(
            f"number {value} is beyond the range of a float", mark.line, mark.column
        )
    return number


def _construct_bool(loader: Any, node: Any) -> bool:
    return bool(loader.construct_scalar(node).lower() == "true")


def _construct_str(loader: Any, node: Any) -> str:
    return str(loader.construct_scalar(node))


_MERGE_TAG = "tag:yaml.org,2002:merge"


def _construct_mapping(loader: Any, node: Any) -> dict[Any, Any]:
    """A mapping, its merge keys (``<<: *base``) applied and duplicates refused.

    The keys a merge brings come first and the mapping's own keys override
    them, as PyYAML reads them; only two own keys of one name are duplicates.
    """
    mapping: dict[Any, Any] = {}
    yield mapping
    for key_node, value_node in node.value:
        if key_node.tag == _MERGE_TAG:  # rare: start again, merges applied
            mapping.clear()
            _fill_merged(loader, node, mapping)
            return
        key = _mapping_key(loader, key_node, mapping)
        mapping[key] = loader.construct_object(value_node, deep=True)


def _fill_merged(loader: Any, node: Any, mapping: dict[Any, Any]) -> None:
    own = sum(key_node.tag != _MERGE_TAG for key_node, _value in node.value)
    loader.flatten_mapping(node)  # the merged pairs first, then the own ones
    merged = len(node.value) - own
    own_keys: dict[Any, None] = {}
    for index, (key_node, value_node) in enumerate(node.value):
        if index < merged:
            key = loader.construct_object(key_node, deep=True)
        else:
            key = _mapping_key(loader, key_node, own_keys)
            own_keys[key] = None
        mapping[key] = loader.construct_object(value_node, deep=True)


def _mapping_key(loader: Any, key_node: Any, seen: dict[Any, Any]) -> Any:
    """The key of ``key_node``; refused when it is no scalar or is in ``seen``."""
    key = loader.construct_object(key_node, deep=True)
    try:
        duplicate = key in seen
    except TypeError:
        mark = key_node.start_mark
        message = "a mapping key must be a scalar"
        raise _YamlLimit(message, mark.line, mark.column) from None
    if duplicate:
        mark = key_node.start_mark
        raise _YamlLimit(
            f"duplicate key {key!r}; each key may appear once", mark.line, mark.column
        )
    return key


class _YamlLimit(Exception):
    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


def _char_at(text: str, line: int, column: int) -> str:
    lines = text.split("\n")
    if line < len(lines) and column < len(lines[line]):
        return lines[line][column]
    return ""


# libyaml composes nested nodes by C recursion and crashes the process (no
# RecursionError) somewhere past 20,000 levels; texts that could nest that deep
# get their depth counted from the event stream first, which does not recurse.
_SAFE_COMPOSE_DEPTH = 10_000


def _check_yaml_depth(name: str, text: str) -> None:
    if len(text) < _SAFE_COMPOSE_DEPTH:
        return
    bound = sum(text.count(char) for char in "[{-?") + max(
        (len(line) - len(line.lstrip(" ")) for line in text.split("\n")), default=0
    )
    if bound < _SAFE_COMPOSE_DEPTH:
        return
    yaml = import_yaml()

    depth = 0
    loader_cls = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        for event in yaml.parse(text, Loader=loader_cls):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    mark = event.start_mark
                    raise ParseError(
                        name,
                        f"nested deeper than {MAX_DEPTH} levels; refused",
                        mark.line + 1,
                        mark.column + 1,
                    )
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
    except yaml.YAMLError:
        return  # the real parse reports it, with its location


def _at_end(text: str, mark: Any) -> bool:
    """Whether ``mark`` is at the end of ``text``, or past its last line."""
    return mark is None or not text[mark.index:].strip()


def _parse_yaml(name: str, text: str) -> Any:
    yaml = import_yaml()  # without work libyaml never needs (yamlimport.py)

    _check_yaml_depth(name, text)
    loader = _yaml_loader_class()(text)
    try:
        return loader.get_single_data()
    except _YamlLimit as exc:
        from vpa_config.parsefault import yaml_path_at

        path = yaml_path_at(text, exc.line, exc.column)
        raise ParseError(
            name, exc.message, exc.line + 1, exc.column + 1, path
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        began = exc.context_mark
        if began and exc.context and _at_end(text, mark) and not _at_end(text, began):
            # The text ran out: where the unclosed part began says more than
            # a place past the last line.
            mark, problem = began, f"{problem} {exc.context} that starts here"
        if mark and _char_at(text, mark.line, mark.column) == "\t":
            problem += " (a tab; YAML indents with spaces only)"
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        if "nesting depth" in problem:
            # libyaml builds from PyYAML 6.0.4 on stop deep flows themselves.
            message = f"nested deeper than {MAX_DEPTH} levels"
            raise ParseError(name, message, line, column) from None
        raise ParseError(name, f"invalid YAML: {problem}", line, column) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        message = f"invalid YAML: character #x{exc.character:04x} is not allowed"
        raise ParseError(name, message, line, column) from None
    except yaml.YAMLError as exc:
        raise ParseError(name, f"invalid YAML: {exc}") from None
    except RecursionError:
        raise ParseError(name, f"nested deeper than {MAX_DEPTH} levels") from None
    finally:
        loader.dispose()


# --- JSON and TOML, fast path -------------------------------------------------


def _json_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    mapping: dict[str, Any] = {}
    for key, value in pairs:
        if key in mapping:
            raise _DuplicateJsonKey(key)
        mapping[key] = value
    return mapping


class _DuplicateJsonKey(Exception):
    pass


def finite_float(text: str) -> tuple[float, str | None]:
    """A JSON or TOML number's float, and what is wrong with it (None: nothing).

    NaN and infinity are refused, and so is a number too large for a float.
    """
    number = float(text)
    if math.isnan(number) or text.lstrip("+-").lower().startswith("inf"):
        return number, f"number {text} {NOT_FINITE}"
    if math.isinf(number):
        return number, f"number {text} is beyond the range of a float"
    return number, None


def _json_float(text: str) -> float:
    number, problem = finite_float(text)
    if problem is not None:
        raise ValueError(problem)
    return number


def _json_constant(text: str) -> float:
    """NaN and Infinity, which Python's reader takes and JSON does not have."""
    raise ValueError(f"number {text} {NOT_FINITE}")


def _parse_json(name: str, text: str) -> Any:
    try:
        return json.loads(
            text, object_pairs_hook=_json_pairs, parse_float=_json_float,
            parse_constant=_json_constant,
        )
    except json.JSONDecodeError as exc:
        raise ParseError(name, f"invalid JSON: {exc.msg}", exc.lineno, exc.colno) from None
    except _DuplicateJsonKey as exc:
        line = _find_json_key_line(text, str(exc), duplicate=True)
        message = f"duplicate key {str(exc)!r}; each key may appear once"
        raise _located(name, text, "json", message, line) from None
    except ValueError as exc:
        line = _line_of_number(text, exc)
        raise _located(name, text, "json", f"invalid JSON: {exc}", line) from None
    except RecursionError:
        raise ParseError(name, f"nested deeper than {MAX_DEPTH} levels") from None


def _located(
    name: str, text: str, kind: str, message: str, line: int | None = None
) -> ParseError:
    """A refused value's error, with its key path and line when they can be found.

    The text is read again to find the value (``parsefault``); ``line`` is the
    reader's own guess, kept when the path cannot be placed.
    """
    from vpa_config import parsefault

    fault = parsefault.json_fault if kind == "json" else parsefault.toml_fault
    found = fault(text)
    if found is None:
        return ParseError(name, message, line)
    path, detail = found
    if detail.startswith("duplicate key"):
        # locate() finds a key's first appearance; the reader's line is the second.
        return ParseError(name, detail, line, None, path)
    spot = locate(name, text, path) if path else None
    message = f"invalid {kind.upper()}: {detail}"
    return ParseError(name, message, spot[0] if spot else line, None, path)


def _line_of_number(text: str, exc: ValueError) -> int | None:
    match = re.match(r"number (\S+) is (?:beyond|not a finite)", str(exc))
    offset = text.find(match.group(1)) if match else -1
    return text.count("\n", 0, offset) + 1 if offset >= 0 else None


def _find_json_key_line(text: str, key: str, duplicate: bool = False) -> int | None:
    pattern = re.compile(r'"' + re.escape(json.dumps(key)[1:-1]) + r'"\s*:')
    lines = [m.start() for m in pattern.finditer(text)]
    if not lines:
        return None
    offset = lines[1] if duplicate and len(lines) > 1 else lines[0]
    return text.count("\n", 0, offset) + 1


def _parse_toml(name: str, text: str) -> Any:
    import tomllib

    try:
        data = tomllib.loads(text, parse_float=_json_float)
    except tomllib.TOMLDecodeError as exc:
        from vpa_config.parsefault import toml_syntax

        message, line, column = toml_syntax(text, str(exc))
        raise ParseError(name, f"invalid TOML: {message}", line, column) from None
    except ValueError as exc:
        raise _located(name, text, "toml", f"invalid TOML: {exc}") from None
    return _plain_toml(data)


def _plain_toml(node: Any) -> Any:
    """Dates and times from TOML become ISO 8601 strings, as JSON Schema sees them."""
    if isinstance(node, dict):
        return {key: _plain_toml(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_plain_toml(value) for value in node]
    if hasattr(node, "isoformat"):
        return node.isoformat()
    return node


# --- round-trip editing -------------------------------------------------------


def set_value(name: str, text: str, path: Sequence[Part], value: Any) -> str:
    """The text with ``path`` set to ``value``; containers made as needed."""
    if not path:
        raise KeyPathError("a key path is required to set a value")
    _check_storable(name, path, value)
    return _edit(name, text, path, value, remove=False)


def insert_item(
    name: str, text: str, path: Sequence[Part], index: int, value: Any
) -> str:
    """The text with ``value`` inserted at ``index`` of the list at ``path``.

    The items after it move down with their comments, which replacing the
    whole list (``set_value``) would lose.
    """
    _check_storable(name, path, value)
    newline = "\r\n" if "\r\n" in text else "\n"
    editor = _editor(name, format_of(name), text.replace("\r\n", "\n"))
    try:
        node = lookup(editor.root(), path)
    except KeyError as exc:
        raise NotFoundError(f"{name}: {exc.args[0]}: not found") from None
    if not isinstance(node, list):
        raise KeyPathError(f"{name}: {format_dotted(path)}: not a list")
    node.insert(index, value)
    result = editor.dump()
    return result.replace("\n", newline) if newline != "\n" else result


_STORABLE = (str, bool, int, float, type(None))


def _check_storable(name: str, path: Sequence[Part], value: Any) -> None:
    """Refuse a value no config format and no JSON Schema can hold.

    What can: strings, numbers (finite), booleans, null, lists of those and
    mappings with string keys. The refusal is the change's one problem
    (:class:`InvalidConfigError`), as a schema's would be.
    """
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            _refuse_value(name, path, f"{node} {NOT_FINITE}")
        if isinstance(node, dict):
            if not all(isinstance(key, str) for key in node):
                _refuse_value(name, path, "mapping keys must be strings")
            stack.extend(node.values())
        elif isinstance(node, (list, tuple)):
            stack.extend(node)
        elif not isinstance(node, _STORABLE):
            _refuse_value(
                name, path,
                f"a value of type {type(node).__name__} cannot be stored; expected "
                "a string, number, boolean, null, list or mapping",
            )


def _refuse_value(name: str, path: Sequence[Part], message: str) -> None:
    from vpa_config.errors import InvalidConfigError, Problem

    raise InvalidConfigError([Problem(name, tuple(path), message, "value")])


def unset_value(name: str, text: str, path: Sequence[Part]) -> str:
    """The text with the key at ``path`` removed."""
    if not path:
        raise KeyPathError("a key path is required to unset a value")
    return _edit(name, text, path, None, remove=True)


def _edit(name: str, text: str, path: Sequence[Part], value: Any, remove: bool) -> str:
    kind = format_of(name)
    newline = "\r\n" if "\r\n" in text else "\n"
    text = text.replace("\r\n", "\n")
    if kind == "yaml" and not remove:
        from vpa_config.yamledit import replace_scalar

        # A one-line scalar is rewritten in place, without the round trip.
        edited = replace_scalar(name, text, path, value)
        if edited is not None:
            return edited.replace("\n", newline) if newline != "\n" else edited
    if kind == "toml" and not remove and _holds_null(value):
        raise ParseError(
            name, f"{format_dotted(path)}: TOML has no null value; remove the key "
            'with "vpa-config unset" instead'
        )
    editor = _editor(name, kind, text)
    try:
        _apply(name, editor.root(), path, value, remove, editor.new_mapping)
        in_place = (
            _json_in_place(name, text, path, value, remove, editor)
            if kind == "json" else None
        )
        result = editor.dump() if in_place is None else in_place
    except (TypeError, ValueError) as exc:
        # tomlkit refuses what TOML cannot hold (null, for one) on assignment.
        raise ParseError(name, f"cannot be written as {kind.upper()}: {exc}") from None
    except (IndexError, KeyError) as exc:
        if kind != "toml":
            raise
        # tomlkit losing its place in a layout it keeps (a bug of its own):
        # refused, as nothing was written, rather than a crash.
        raise ParseError(
            name, f"{format_dotted(path)}: tomlkit cannot edit this TOML layout in "
            f"place ({type(exc).__name__}: {exc}); edit the file by hand and commit it"
        ) from None
    return result.replace("\n", newline) if newline != "\n" else result


def _json_in_place(
    name: str, text: str, path: Sequence[Part], value: Any, remove: bool,
    editor: Any,
) -> str | None:
    """The JSON text with only the entry at ``path`` rewritten, when that
    reads as the edited document (jsonedit.py); None to write it whole."""
    from vpa_config.jsonedit import edit, same_document

    edited = edit(text, path, value, remove, editor.indent)
    if edited is None:
        return None
    try:
        same = same_document(_parse_json(name, edited), editor.root())
    except ParseError:
        return None
    return edited if same else None


def _editor(name: str, kind: str, text: str) -> Any:
    """The round-trip editor of a document's format, loaded with ``text``."""
    if kind == "yaml":
        return _YamlEditor(name, text)
    if kind == "json":
        return _JsonEditor(name, text)
    return _TomlEditor(name, text)


def _holds_null(value: Any) -> bool:
    """Whether ``value`` is, or contains, None."""
    if value is None:
        return True
    if isinstance(value, dict):
        return any(_holds_null(item) for item in value.values())
    if isinstance(value, list):
        return any(_holds_null(item) for item in value)
    return False


def _apply(
    name: str,
    root: Any,
    path: Sequence[Part],
    value: Any,
    remove: bool,
    new_mapping: Any,
) -> None:
    node = root
    holder: tuple[Any, Any] | None = None  # (container, key) that holds node
    for depth, part in enumerate(path[:-1]):
        where = format_dotted(path[: depth + 1])
        holder = (node, part)
        if isinstance(node, list):
            if not isinstance(part, int):
                raise not_a_position(name, path, path[:depth], len(node), part)
            if part >= len(node):
                raise _no_position(name, where, len(node))
            node = node[part]
        elif isinstance(node, dict):
            if part not in node:
                if remove:
                    raise NotFoundError(f"{name}: {where}: no such key")
                node[_yaml11_safe(part)] = new_mapping()
            node = node[part]
        else:
            raise KeyPathError(
                f"{name}: {where}: cannot go inside {_a(_kind_of(node))} value"
            )
    last = path[-1]
    where = format_dotted(path)
    if isinstance(node, list):
        if not isinstance(last, int):
            raise not_a_position(name, path, path[:-1], len(node), last)
        if remove:
            if last >= len(node):
                raise _no_position(name, where, len(node))
            _remove_entry(node, last, holder)
        elif last < len(node):
            _assign(node, last, value)
        elif last == len(node) and hasattr(node, "ca"):
            _append_after_comments(node, _yaml11_safe(value))
        elif last == len(node):
            node.append(_yaml11_safe(value))
        else:
            raise _no_position(name, where, len(node), append=True)
    elif isinstance(node, dict):
        if remove:
            if last not in node:
                raise NotFoundError(f"{name}: {where}: no such key")
            if not _owns(node, last):
                raise KeyPathError(
                    f"{name}: {where}: comes from a merge key (<<), not from this "
                    "mapping; remove it where it is written, or set it here to "
                    "override it"
                )
            _remove_entry(node, last, holder)
        else:
            _assign(node, last, value)
    else:
        raise KeyPathError(
            f"{name}: {where}: cannot set a key inside {_a(_kind_of(node))} value"
        )


def _assign(container: Any, key: Part, value: Any) -> None:
    """``container[key] = value``, editing what is there in place where it can.

    A mapping set over a mapping, or a list over a list (of the same length,
    or of any length in YAML and JSON), changes only the entries that differ,
    so the comments and layout of the others stay; an entry equal to the new
    one is not touched at all.
    """
    # A key a merge (<<) brings is set as the mapping's own, new key.
    present = _owns(container, key) if isinstance(container, dict) else True
    old = container[key] if present else None
    # A mapping that merges another (<<) is replaced whole: edited in place
    # it would keep the merge, and with it keys the new value leaves out.
    merges = bool(getattr(old, "merge", None))
    if present and isinstance(old, dict) and isinstance(value, dict) and not merges:
        # Last first: tomlkit loses count of a table written in dotted keys
        # (a.x = 1, a.y = 2, a.z = 3) when an earlier one goes before a later.
        for gone in [name for name in _own_keys(old) if name not in value][::-1]:
            _remove_entry(old, gone, (container, key))
        for name, item in value.items():
            if name in old:
                _assign(old, name, item)
            else:
                _add_key(old, _yaml11_safe(name), _yaml11_safe(item))
    elif (
        present and isinstance(old, list) and isinstance(value, (list, tuple))
        and (len(old) == len(value) or _resizable(old))
    ):
        for index, item in enumerate(value[: len(old)]):
            _assign(old, index, item)
        while len(old) > len(value):
            _remove_entry(old, len(old) - 1, (container, key))
        for item in value[len(old) :]:
            if hasattr(old, "ca"):
                _append_after_comments(old, _yaml11_safe(item))
            else:
                old.append(item)
    elif not present and isinstance(container, dict):
        _add_key(container, _yaml11_safe(key), _yaml11_safe(value))
    elif not (present and _same_scalar(old, value)):
        container[key] = _yaml11_safe(value)


def _resizable(old: list[Any]) -> bool:
    """Whether a list is edited in place when set to a list of another length:
    a YAML list (it keeps its flow or block style and its items' comments) or
    a JSON one; a TOML array is replaced whole."""
    return type(old) is list or hasattr(old, "ca")


def _same_scalar(old: Any, new: Any) -> bool:
    """Whether two leaves are the same value of the same JSON type (1 is not true)."""
    kinds = (bool, int, float, str, type(None))
    old_kind = next((kind for kind in kinds if isinstance(old, kind)), None)
    new_kind = next((kind for kind in kinds if isinstance(new, kind)), None)
    return old_kind is not None and old_kind is new_kind and old == new


def _no_position(
    name: str, where: str, size: int, append: bool = False
) -> NotFoundError:
    """A list position past the end: not found (exit 5), whatever the command."""
    hint = f"; set position {size} to append" if append else ""
    return NotFoundError(
        f"{name}: {where}: no such list position (the list has {size} "
        f"item{'' if size == 1 else 's'}){hint}"
    )


# Words a YAML 1.1 reader (PyYAML, many applications) takes for booleans.
_YAML11_BOOLS = frozenset(
    word
    for base in ("y", "n", "yes", "no", "on", "off")
    for word in (base, base.upper(), base.capitalize())
)


# Base-60 numbers of YAML 1.1 (12:30 reads as 750 there, as text in 1.2).
_YAML11_SEXAGESIMAL = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")


def _yaml11_safe(value: Any) -> Any:
    """A string a YAML 1.1 reader would take for a boolean, marked to be quoted.

    YAML 1.2 reads ``no`` as text, so it would be written bare; the quotes keep
    older readers of the same file from seeing ``false`` (or, for ``12:30``,
    the base-60 number 750). The keys and items of a new mapping or list are
    marked too (``{on: yes}`` would otherwise read as ``{True: True}`` there);
    a value the document already holds (another type than a plain dict or
    list) is left as it is.
    """
    if isinstance(value, str):
        if value not in _YAML11_BOOLS and not _YAML11_SEXAGESIMAL.fullmatch(value):
            return value
        from ruamel.yaml.scalarstring import SingleQuotedScalarString

        return SingleQuotedScalarString(value)
    if type(value) is dict:
        return {_yaml11_safe(key): _yaml11_safe(item) for key, item in value.items()}
    if type(value) is list:
        return [_yaml11_safe(item) for item in value]
    return value


def _guess_yaml_indent(text: str) -> tuple[int, int]:
    """(mapping indent, offset of "- " under its key) as the file uses them."""
    mapping: int | None = None
    offset: int | None = None
    lines = [line for line in text.split("\n") if line.strip() and not
             line.lstrip().startswith("#")]
    for parent, child in zip(lines, lines[1:]):
        if not parent.rstrip().endswith(":"):
            continue
        parent_indent = len(parent) - len(parent.lstrip(" -"))
        if parent.lstrip().startswith("- "):
            parent_indent = len(parent) - len(parent.lstrip())
            parent_indent += 2
        child_indent = len(child) - len(child.lstrip())
        if child_indent <= parent_indent - (2 if "- " in parent else 0):
            continue
        if child.lstrip().startswith("- "):
            offset = offset if offset is not None else child_indent - parent_indent
        elif mapping is None:
            mapping = child_indent - parent_indent
        if mapping is not None and offset is not None:
            break
    return mapping or 2, max(offset or 0, 0)


def _append_after_comments(seq: Any, value: Any) -> None:
    """Append to a round-trip YAML list, keeping the comment lines after it there.

    ruamel keeps lines of comment that follow a block list on the list's last
    item, so a plain append would put the new item after them, under a
    comment about what follows the list. They move to the new last item; a
    comment on the old last item's own line stays with it.
    """
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.tokens import CommentToken

    slot = _last_comment_slot(seq)
    seq.append(value)
    if slot is None:
        return
    entry, index = slot
    token = entry[index]
    inline, _newline, lines = token.value.partition("\n")
    if not lines.strip():
        return
    entry[index] = (
        CommentToken(inline + "\n", token.start_mark, token.end_mark)
        if inline.strip() else None
    )
    moved = CommentToken("\n" + lines, token.start_mark, token.end_mark)
    if isinstance(value, dict) and value and not any(
        isinstance(item, (dict, list)) for item in value.values()
    ):
        item = seq[-1] = CommentedMap(value)
        item.ca.items[list(item)[-1]] = [None, None, moved, None]
    elif not isinstance(value, (dict, list)):
        seq.ca.items[len(seq) - 1] = [moved, None, None, None]
    else:
        entry[index] = token  # a nested new item: the comment stays where it was


def _add_key(mapping: Any, key: Any, value: Any) -> None:
    """Add a key at the end of a round-trip YAML mapping, before the lines after it.

    ruamel keeps the blank and comment lines that follow a block mapping on
    its last entry, so a plain addition would put the new key after them:
    inside the gap between this section and the next. They move to the new
    key when its value is a scalar; a comment on the old last entry's own
    line stays with it. A new mapping of scalars takes them after its last
    entry; deeper new values leave them where they were.
    """
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.tokens import CommentToken

    flat = isinstance(value, dict) and bool(value) and not any(
        isinstance(item, (dict, list)) for item in value.values()
    )
    slot = _last_comment_slot(mapping) if isinstance(mapping, CommentedMap) else None
    if slot is not None and flat:
        value = CommentedMap(value)  # the lines go after its last entry
    mapping[key] = value
    if slot is None or (isinstance(value, (dict, list)) and not flat):
        return
    entry, index = slot
    token = entry[index]
    inline, _newline, lines = token.value.partition("\n")
    if not lines:
        return
    entry[index] = (
        CommentToken(inline + "\n", token.start_mark, token.end_mark)
        if inline.strip() else None
    )
    moved = CommentToken("\n" + lines, token.start_mark, token.end_mark)
    owner, last = (value, list(value)[-1]) if flat else (mapping, key)
    owner.ca.items[last] = [None, None, moved, None]


def _last_comment_slot(node: Any) -> tuple[list[Any], int] | None:
    """Where ruamel keeps the comment after the last line of ``node``, if any."""
    key = _last_key(node)
    return None if key is _NO_KEY else _entry_comment_slot(node, key)


def _remove_entry(node: Any, key: Any, holder: tuple[Any, Any] | None = None) -> None:
    """``del node[key]``, the blank and comment lines after the entry kept.

    ruamel keeps the lines that follow an entry of a block mapping or list
    (up to the next entry, or past the end to what comes next) on that entry,
    so removing it would remove them too: they belong to what follows, and
    move to the entry before it. A comment on the removed entry's own line
    goes with it; so do the lines after the first entry, which has none
    before it (#2). When no entry is left (the mapping becomes ``{}``), they
    go with it, and so do the comment and blank lines between ``node``'s key
    (in ``holder``, its container and key) and its first entry: ruamel would
    write them before the ``{}``, which no longer reads as YAML.
    """
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.tokens import CommentToken

    previous = None
    if isinstance(node, CommentedMap):
        own = _own_keys(node)
        at = own.index(key) if key in own else 0
        previous = own[at - 1] if at else None
    elif isinstance(node, CommentedSeq):
        previous = key - 1 if key else None
    slot = _entry_comment_slot(node, key) if hasattr(node, "ca") else None
    token = slot[0][slot[1]] if slot else None
    del node[key]
    if not len(node) and getattr(node, "_is_super_table", None):
        # A TOML table only named on the way to others ([a.b] makes [a]) is
        # not written once empty: it is a table of its own now, "[a]".
        node._is_super_table = False
    if not len(node) and hasattr(node, "ca"):
        node.ca.comment = None
        node.ca.items.clear()
        above = getattr(holder[0], "ca", None) if holder else None
        entry = above.items.get(holder[1]) if above is not None else None
        if entry:
            entry[2:] = [None] * len(entry[2:])
        return
    _inline, _newline, lines = token.value.partition("\n") if token else ("", "", "")
    if not lines:
        return  # nothing follows the removed line
    if previous is None:
        _put_before_first(node, holder, lines)
        return
    container, last, index = _entry_end(node, previous)
    entry = container.ca.items.setdefault(last, [None, None, None, None])
    kept = entry[index]
    if kept is None:
        entry[index] = CommentToken("\n" + lines, token.start_mark, token.end_mark)
    else:
        entry[index] = CommentToken(kept.value + lines, kept.start_mark, kept.end_mark)


def _put_before_first(node: Any, holder: tuple[Any, Any] | None, lines: str) -> None:
    """Put comment lines before the first entry of ``node``, after what is there.

    ruamel keeps those of a nested mapping or list on its key's entry in the
    container above (``holder``), and those of the document's top on the
    mapping itself, each line without its indentation, which the token's
    column gives.
    """
    from ruamel.yaml.error import CommentMark
    from ruamel.yaml.tokens import CommentToken

    comments = [line for line in lines.splitlines() if line.strip()]
    column = len(comments[0]) - len(comments[0].lstrip(" ")) if comments else 0
    text = "".join(line.lstrip(" ") for line in lines.splitlines(keepends=True))
    if holder is None:
        text = text.lstrip("\n")  # the top of the document: no blank line first
    if not text:
        return
    token = CommentToken(text, CommentMark(column), None)
    if holder is not None and hasattr(holder[0], "ca"):
        entry = holder[0].ca.items.setdefault(holder[1], [None, None, None, None])
        entry[3] = [*(entry[3] or []), token]
    comment = node.ca.comment or [None, []]
    node.ca.comment = [comment[0], [*(comment[1] or []), token]]


def _entry_comment_slot(node: Any, key: Any) -> tuple[list[Any], int] | None:
    """Where ruamel keeps the comment after the last line of ``node[key]``."""
    from ruamel.yaml.comments import CommentedMap

    deeper = _last_comment_slot(node[key])
    if deeper is not None:
        return deeper
    entry = node.ca.items.get(key)
    index = 2 if isinstance(node, CommentedMap) else 0
    if entry and entry[index] is not None:
        return entry, index
    return None


def _entry_end(node: Any, key: Any) -> tuple[Any, Any, int]:
    """(container, key, comment index) of the entry that ends ``node[key]``'s text."""
    from ruamel.yaml.comments import CommentedMap

    deeper = _last_place(node[key])
    if deeper is not None:
        return deeper
    return node, key, 2 if isinstance(node, CommentedMap) else 0


def _last_place(node: Any) -> tuple[Any, Any, int] | None:
    """(container, key, comment index) of the entry that ends ``node``'s text:
    its last entry, or the last entry of that, down to a scalar."""
    from ruamel.yaml.comments import CommentedMap

    place = None
    while (key := _last_key(node)) is not _NO_KEY:
        place = (node, key, 2 if isinstance(node, CommentedMap) else 0)
        node = node[key]
    return place


_NO_KEY: Any = object()


def _last_key(node: Any) -> Any:
    """The key (or position) of the last entry a round-trip YAML mapping or
    list writes itself; ``_NO_KEY`` for an empty one, or no container."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(node, CommentedMap):
        own = _own_keys(node)
        return own[-1] if own else _NO_KEY
    if isinstance(node, CommentedSeq) and len(node):
        return len(node) - 1
    return _NO_KEY


def _own_keys(mapping: Any) -> list[Any]:
    """The keys a round-trip YAML mapping writes itself, not those of a ``<<``."""
    merged = getattr(mapping, "non_merged_items", None)
    return [key for key, _value in merged()] if merged else list(mapping)


def _owns(mapping: Any, key: Any) -> bool:
    """Whether ``mapping`` has ``key`` as its own, not brought by a ``<<``.

    Only a mapping that merges is asked for its own keys: every other, the
    mapping of each plain set, has all of its keys as its own.
    """
    if key not in mapping:
        return False
    return not getattr(mapping, "merge", None) or key in _own_keys(mapping)


class _YamlEditor:
    def __init__(self, name: str, text: str) -> None:
        from ruamel.yaml import YAML
        from ruamel.yaml.error import YAMLError

        mapping, offset = _guess_yaml_indent(text)
        self.yaml = YAML(typ="rt")
        self.yaml.Representer = _exact_float_representer()
        self.yaml.preserve_quotes = True
        self.yaml.width = 4096
        self.yaml.indent(mapping=mapping, sequence=offset + 2, offset=offset)
        self.yaml.explicit_start = text.lstrip().startswith("---")
        try:
            self.data = self.yaml.load(text)
        except YAMLError as exc:
            raise ParseError(name, f"invalid YAML: {exc}") from None
        if self.data is None:
            self.data = self.new_mapping()

    def root(self) -> Any:
        return self.data

    def new_mapping(self) -> Any:
        from ruamel.yaml.comments import CommentedMap

        return CommentedMap()

    def dump(self) -> str:
        import io

        out = io.StringIO()
        self.yaml.dump(self.data, out)
        return out.getvalue()


_REPRESENTER: list[Any] = []


def _exact_float_representer() -> Any:
    """ruamel's round-trip representer, but a float it keeps never changes value.

    ruamel writes an untouched float again in its original layout, and for
    some (``4.022670816594611e-159`` comes back ``...610e-159``) that layout
    holds another number: such a float is written as Python writes it.
    """
    if _REPRESENTER:
        return _REPRESENTER[0]
    from ruamel.yaml.representer import RoundTripRepresenter
    from ruamel.yaml.scalarfloat import ScalarFloat

    class ExactFloatRepresenter(RoundTripRepresenter):
        def represent_exact_float(self, data: Any) -> Any:
            node = self.represent_scalar_float(data)
            try:
                same = float(node.value.replace("_", "")) == float(data)
            except ValueError:
                return node  # .inf, .nan: no digits to lose
            return node if same else self.represent_float(float(data))

    ExactFloatRepresenter.add_representer(
        ScalarFloat, ExactFloatRepresenter.represent_exact_float
    )
    _REPRESENTER.append(ExactFloatRepresenter)
    return ExactFloatRepresenter


class _JsonEditor:
    def __init__(self, name: str, text: str) -> None:
        self.data = _parse_json(name, text) if text.strip() else {}
        match = re.search(r"\n([ \t]+)\S", text)
        self.indent: str | None = match.group(1) if match else None
        self.trailing_newline = text.endswith("\n") or not text

    def root(self) -> Any:
        return self.data

    def new_mapping(self) -> Any:
        return {}

    def dump(self) -> str:
        out = json.dumps(self.data, indent=self.indent, ensure_ascii=False)
        return out + "\n" if self.trailing_newline else out


class _TomlEditor:
    def __init__(self, name: str, text: str) -> None:
        import tomlkit
        from tomlkit.exceptions import TOMLKitError

        _parse_toml(name, text)
        try:
            self.doc = tomlkit.parse(text)
        except TOMLKitError as exc:
            raise ParseError(name, f"invalid TOML: {exc}") from None

    def root(self) -> Any:
        return self.doc

    def new_mapping(self) -> Any:
        import tomlkit

        return tomlkit.table()

    def dump(self) -> str:
        import tomlkit

        return tomlkit.dumps(self.doc)


def dump_document(name: str, data: Any) -> str:
    """A new document's text in the file's format (for files made from data)."""
    kind = format_of(name)
    if kind == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if kind == "toml":
        import tomlkit

        return tomlkit.dumps(data)
    import io

    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


# --- locating a key path in the source text ----------------------------------


def locate(name: str, text: str, path: Sequence[Part]) -> tuple[int, int] | None:
    """1-based (line, column) of the deepest existing part of ``path``.

    Best effort: ``None`` when the text cannot be read by the locating parser.
    """
    try:
        kind = format_of(name)
    except ParseError:
        return None
    if kind == "toml":
        return _locate_toml(text, path)
    try:
        return _locate_yaml(text, path)
    except Exception:  # noqa: BLE001 (locating only decorates an error already found)
        keys = [part for part in path if isinstance(part, str)]
        if kind == "json" and keys:
            line = _find_json_key_line(text, keys[-1])
            return (line, 1) if line else None
        return None


def _locate_yaml(text: str, path: Sequence[Part]) -> tuple[int, int] | None:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = True
    node = yaml.load(text.replace("\t", "    "))
    found: tuple[int, int] | None = (0, 0)  # 0-based, as ruamel gives them
    for part in path:
        lc = getattr(node, "lc", None)
        if isinstance(node, dict) and part in node:
            if lc is not None:
                found = lc.key(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            if lc is not None:
                found = lc.item(part)
            node = node[part]
        else:
            break
    if found is None:
        return None
    return found[0] + 1, found[1] + 1


def _locate_toml(text: str, path: Sequence[Part]) -> tuple[int, int] | None:
    """The line of the key (or table header) ``path`` names; list positions
    count the ``[[array]]`` tables (an inline array's item is on its key's line)."""
    if not path:
        return (1, 1)
    wanted = list(path)
    table: list[Part] = []
    counts: dict[tuple[str, ...], int] = {}
    best: tuple[int, int] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        header = re.match(r"^(\[\[?)\s*([^\]]+?)\s*\]\]?", stripped)
        if header:
            names = [part.strip().strip("\"'") for part in header.group(2).split(".")]
            if header.group(1) == "[[":
                counts[tuple(names)] = counts.get(tuple(names), -1) + 1
            table = _toml_table_path(names, counts)
            if table == wanted[: len(table)] and best is None:
                best = (number, 1)
            continue
        assign = re.match(r"^([A-Za-z0-9_\-\.\"' ]+?)\s*=", stripped)
        if not assign:
            continue
        dotted = [part.strip().strip("\"'") for part in assign.group(1).split(".")]
        key: list[Part] = [*table, *dotted]
        if key == wanted[: len(key)]:
            column = line.index(stripped[0]) + 1
            return number, column
    return best


def _toml_table_path(
    names: list[str], counts: dict[tuple[str, ...], int]
) -> list[Part]:
    """A header's key path: each array of tables it passes is at its latest item."""
    found: list[Part] = []
    for depth, name in enumerate(names, start=1):
        found.append(name)
        index = counts.get(tuple(names[:depth]))
        if index is not None:
            found.append(index)
    return found


def _a(word: str) -> str:
    """``a string``, ``an integer``."""
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"


def _kind_of(node: Any) -> str:
    """A value's kind in the words of JSON Schema, whatever editor made it."""
    for kind, name in (
        (bool, "boolean"),
        (int, "integer"),
        (float, "number"),
        (str, "string"),
    ):
        if isinstance(node, kind):
            return name
    return "null" if node is None else type(node).__name__
