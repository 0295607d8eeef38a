"""Where a store keeps its own files, and how a rule picks a file's schema.

Names and plain functions only, so that any module may import them without
pulling in the settings model.
"""

from __future__ import annotations

import os
from fnmatch import fnmatchcase
from pathlib import Path

SETTINGS_FILE = ".vpa-config/settings.yaml"
SCHEMA_DIR = ".vpa-config/schemas/"
# Schema keywords whose values are values of the key a schema describes. In a
# store schema a secret key's subschema is no secret, but these values are:
# a secret name or settings pattern hides only them (redaction.py, explain.py).
SCHEMA_VALUE_WORDS = frozenset({"default", "const", "enum", "examples"})
SETTINGS_SCHEMA = "vpa-config/settings.schema.json"
# In the git dir: the record of a change in progress (see transaction.py).
JOURNAL = "vpa-config.journal"


# The journal's file is kept between changes and written over in place. Its
# first byte says whether it holds a change in progress (JOURNAL_LIVE: the
# digest of the record, a space, the record as JSON and a newline follow;
# whatever follows that line is left from a longer record before) or none
# (JOURNAL_DONE). A file that starts with "{" is one whole JSON record, as
# earlier versions wrote it; an empty or missing file is no journal.
JOURNAL_LIVE = b"J"
JOURNAL_DONE = b"-"
_DIGEST_HEX = 32


def journal_left(controldir: Path) -> bool:
    """Whether a change's journal is there: a record in progress, whole or not."""
    try:
        fd = os.open(controldir / JOURNAL, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return os.pread(fd, 1, 0) in (JOURNAL_LIVE, b"{")
    except OSError:
        return False
    finally:
        os.close(fd)


def journal_bytes(record: bytes) -> bytes:
    """The journal's content for a change in progress whose record is ``record``."""
    return JOURNAL_LIVE + _digest(record) + b" " + record + b"\n"


def journal_record(data: bytes) -> bytes | None:
    """The JSON record of a change in progress in the journal's ``data``, or None.

    None for no journal (empty, or marked done) and for one cut short or
    torn by a kill or a power cut mid-write: its digest does not match (a
    journal is written before any file of its change is touched).
    """
    if data.startswith(b"{"):
        return data
    if not data.startswith(JOURNAL_LIVE):
        return None
    line = data[1:].split(b"\n", 1)[0]
    digest, record = line[:_DIGEST_HEX], line[_DIGEST_HEX + 1:]
    return record if digest == _digest(record) else None


def _digest(record: bytes) -> bytes:
    try:  # hashlib's BLAKE2 without hashlib's OpenSSL (see blobcache.py)
        from _blake2 import blake2b
    except ImportError:  # pragma: no cover (an interpreter built without it)
        from hashlib import blake2b

    return blake2b(record, digest_size=_DIGEST_HEX // 2).hexdigest().encode()


def shipped_schema_dir() -> Path:
    """The ``schemas/`` folder: inside the wheel, or beside a source checkout."""
    global _shipped_dir
    if _shipped_dir is None:
        here = Path(__file__).resolve().parent
        _shipped_dir = here / "schemas"
        for candidate in (here / "schemas", here.parent / "schemas"):
            if candidate.is_dir():
                _shipped_dir = candidate
                break
    return _shipped_dir


# Found once per process: every change builds a registry, and resolving the
# package's own path costs a stat of each folder on the way.
_shipped_dir: Path | None = None


def first_matching_rule(rules: list[tuple[str, str]], path: str) -> str | None:
    """The schema of the first (glob, schema) rule whose glob matches ``path``."""
    for glob, schema in rules:
        if fnmatchcase(path, glob):
            return schema
    return None


def default_settings_text(example: bool) -> str:
    """The settings file that ``init`` writes."""
    rules = (
        "  - files: assistant.yaml\n"
        "    schema: vpa/assistant.schema.json\n"
        "  - files: plugins.yaml\n"
        "    schema: vpa/plugins.schema.json\n"
        "  - files: logging.json\n"
        "    schema: vpa/logging.schema.json\n"
        "  - files: health.toml\n"
        "    schema: vpa/health.schema.json\n"
    )
    return (
        "# vpa-config store settings (validated against "
        f"{SETTINGS_SCHEMA}).\n"
        "# Which schema applies to which file: the first matching glob wins.\n"
        f"schemas:{'' if example else ' []'}\n"
        f"{rules if example else ''}"
        "# Files with no matching schema are refused unless this is true.\n"
        "allow_unschematized: false\n"
        "# Keys whose values never appear in output: FILE-GLOB:KEY-GLOB.\n"
        "secrets:\n"
        '  - "*:*.api_key"\n'
        '  - "*:*.password"\n'
        "# Seconds a change waits for another one to finish.\n"
        "lock_timeout_s: 10\n"
    )
