"""``iri`` formats still checked, their slow parser imported only when used.

jsonschema's ``format-nongpl`` extra checks ``iri`` and ``iri-reference`` with
rfc3987_syntax, which builds a grammar when imported. vpa-config imports
jsonschema through :mod:`vpa_config.formats`, which leaves that import to the
first check of such a format. Each test runs a fresh interpreter (the test
process may have imported jsonschema already) in which the GPL ``rfc3987``
package, which jsonschema would prefer, is hidden as a format-nongpl install
lacks it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from conftest import cli_env

PRELUDE = """
import json, sys
sys.modules["rfc3987"] = None  # a format-nongpl install: no GPL parser
from vpa_config.validation import CheckedSchemas, SchemaRegistry, validate

def loaded():
    return sorted(m for m in ("jsonschema", "rfc3987_syntax") if m in sys.modules)

def check(schema, data):
    content = json.dumps(schema).encode()
    registry = SchemaRegistry({"s.json": content}, checked=CheckedSchemas())
    source = registry.get("s.json")
    return [(p.dotted, p.message) for p in validate("f.json", data, source, registry)]

out = {}
"""


def run(tmp_path: Path, body: str) -> dict[str, Any]:
    (tmp_path / "home").mkdir(exist_ok=True)
    script = PRELUDE + textwrap.dedent(body) + "\nprint(json.dumps(out))\n"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True,
        env=cli_env(tmp_path), timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_validating_without_iri_formats_never_imports_rfc3987_syntax(
    tmp_path: Path,
) -> None:
    out = run(tmp_path, """
        schema = {"properties": {"home": {"type": "string", "format": "uri"},
                                 "when": {"type": "string", "format": "date-time"}}}
        out["problems"] = check(schema, {"home": "no scheme", "when": "soon"})
        out["loaded"] = loaded()
    """)

    assert [path for path, _ in out["problems"]] == ["home", "when"]
    assert out["loaded"] == ["jsonschema"]


@pytest.mark.parametrize("fmt", ["iri", "iri-reference"])
def test_an_iri_format_is_checked_by_rfc3987_syntax_on_first_use(
    tmp_path: Path, fmt: str
) -> None:
    out = run(tmp_path, f"""
        schema = {{"properties": {{"home": {{"type": "string", "format": "{fmt}"}}}}}}
        out["bad"] = check(schema, {{"home": "not an iri"}})
        out["good"] = check(schema, {{"home": "https://例え.テスト/パス?q=ü"}})
        out["loaded"] = loaded()
    """)

    assert [path for path, _ in out["bad"]] == ["home"]
    assert fmt in out["bad"][0][1]
    assert out["good"] == []
    assert out["loaded"] == ["jsonschema", "rfc3987_syntax"]


def test_jsonschema_own_format_checkers_know_the_iri_formats(tmp_path: Path) -> None:
    out = run(tmp_path, """
        from vpa_config import formats
        jsonschema = formats.load()
        checkers = [jsonschema.FormatChecker(),
                    jsonschema.Draft7Validator.FORMAT_CHECKER,
                    jsonschema.Draft202012Validator.FORMAT_CHECKER]
        out["before"] = loaded()
        out["verdicts"] = [
            [c.conforms(text, fmt) for c in checkers]
            for fmt in ("iri", "iri-reference")
            for text in ("http://a.example/ä", "a b")
        ]
        out["draft4"] = "iri" in jsonschema.Draft4Validator.FORMAT_CHECKER.checkers
    """)

    assert out["before"] == ["jsonschema"]
    assert out["verdicts"] == [[True] * 3, [False] * 3, [True] * 3, [False] * 3]
    assert out["draft4"] is False
