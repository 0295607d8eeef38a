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
SETTINGS_SCHEMA = "vpa-config/settings.schema.json"
# In the git dir: the record of a change in progress (see transaction.py).
JOURNAL = "vpa-config.journal"


def journal_left(controldir: Path) -> bool:
    """Whether a change's journal is there (an empty file is none)."""
    try:
        return os.stat(controldir / JOURNAL).st_size > 0
    except OSError:
        return False


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
