"""Where a store keeps its own files, and how a rule picks a file's schema.

Names and plain functions only, so that any module may import them without
pulling in the settings model.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

SETTINGS_FILE = ".vpa-config/settings.yaml"
SCHEMA_DIR = ".vpa-config/schemas/"
SETTINGS_SCHEMA = "vpa-config/settings.schema.json"


def first_matching_rule(rules: list[tuple[str, str]], path: str) -> str | None:
    """The schema of the first (glob, schema) rule whose glob matches ``path``."""
    for glob, schema in rules:
        if fnmatchcase(path, glob):
            return schema
    return None
