"""What a command imports, seen from a real process (``-X importtime``).

Start-up speed is measured in ``benchmarks/``; these tests pin down the part
that can be asserted without a clock: a read loads none of the heavy
libraries, and a change at the default log level loads no settings model,
no host probes and no structured logger (#9).
"""

from __future__ import annotations

import json
import os
import re
import site
import subprocess
import sys
from pathlib import Path

import pytest
import stores
from conftest import RunCli, cli_env, git

# Never needed to answer a read.
READ_FORBIDDEN = (
    "pydantic", "jsonschema", "referencing", "jsonschema_specifications",
    "structlog", "psutil", "ruamel",
)
# Never needed by a change whose settings are known and whose events are off
# (a plain ``set`` command line is also run without click: cli/fast.py).
SET_FORBIDDEN = ("pydantic", "psutil", "structlog", "asyncio", "click")
IMPORTED = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s*([\w.]+)$", re.MULTILINE)

READS = [
    ("--version",),
    ("get", "assistant.yaml", "llm.temperature"),
    ("get", "assistant.yaml"),
    ("get", "--json", "assistant.yaml", "llm"),
    ("status",),
    ("log", "-n", "5"),
    ("log", "assistant.yaml"),
    ("audit", "assistant.yaml", "llm.temperature"),
    ("blame", "assistant.yaml"),
]


def imported(run_cli: RunCli, store: Path, *args: str) -> set[str]:
    """Top-level packages the command's process imported (it must succeed)."""
    done = run_cli(*args, store=store, env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    return {name.split(".")[0] for name in IMPORTED.findall(done.stderr)}


@pytest.fixture(name="example")
def _example(run_cli: RunCli, store_path: Path) -> Path:
    """An example store with a second revision of assistant.yaml."""
    return stores.build_with(
        run_cli, store_path,
        ("init", "--example"),
        ("set", "assistant.yaml", "llm.temperature", "0.3", "-m", "calmer"),
    )


@pytest.mark.parametrize("args", READS, ids=" ".join)
def test_a_read_imports_no_heavy_library(
    run_cli: RunCli, example: Path, args: tuple[str, ...]
) -> None:
    found = imported(run_cli, example, *args)

    assert not found & set(READ_FORBIDDEN), sorted(found & set(READ_FORBIDDEN))


# Never needed by a history read once the key index is current: HEAD comes
# from the ref files, today's secret judgement from the index and blame's
# document from the fact cache; these plain command lines skip click too.
INDEXED_FORBIDDEN = (
    "dulwich", "yaml", "vpa_config.verdict", "jsonschema", "pydantic", "click",
)
INDEXED_READS = [
    ("audit", "assistant.yaml", "llm.temperature"),
    ("audit", "--json", "assistant.yaml", "llm.api_key"),
    ("blame", "assistant.yaml"),
    ("log", "-n", "5"),
    ("log", "assistant.yaml"),
]


@pytest.mark.parametrize("args", INDEXED_READS, ids=" ".join)
def test_a_read_from_a_current_index_opens_no_repository_and_parses_nothing(
    run_cli: RunCli, example: Path, args: tuple[str, ...]
) -> None:
    first = _modules_of(run_cli, example, *args)
    second = _modules_of(run_cli, example, *args)

    # The first builds the index: it parses (and reads objects, without
    # dulwich since packread.py: see the set test below).
    assert "yaml" in {name.split(".")[0] for name in first}
    assert not second & set(INDEXED_FORBIDDEN), sorted(second & set(INDEXED_FORBIDDEN))
    assert not {n for n in second if n.split(".")[0] in INDEXED_FORBIDDEN}


# Not needed by those reads either: dataclasses (which imports inspect, ast,
# dis and tokenize, and builds every class from source text), typing (the
# names annotations use are imported only for type checkers), OpenSSL through
# hashlib, datetime (the sqlite3 package imports it for its date adapters),
# the validation module.
INDEXED_STDLIB_FORBIDDEN = (
    "dataclasses", "inspect", "ast", "dis", "tokenize", "typing", "hashlib",
    "_hashlib", "datetime", "vpa_config.validation",
)
FAST_READS = [
    *INDEXED_READS,
    ("audit", "--json", "assistant.yaml", "llm.temperature"),
    ("blame", "--json", "assistant.yaml"),
    ("log", "-n", "5", "assistant.yaml"),
]


@pytest.mark.parametrize("args", FAST_READS, ids=" ".join)
def test_a_read_from_a_current_index_imports_no_dataclasses_typing_or_openssl(
    run_cli: RunCli, example: Path, tmp_path: Path, args: tuple[str, ...]
) -> None:
    usual = run_cli(*args, store=example)  # brings the index up to HEAD
    # -S: without site, whose path hooks (an editable install) import typing
    # themselves; site-packages stay on the path, as the fact cache's keys
    # name the folders that hold jsonschema and PyYAML.
    env = cli_env(tmp_path)
    env["PYTHONPATH"] = os.pathsep.join([env["PYTHONPATH"], *site.getsitepackages()])
    done = subprocess.run(
        [sys.executable, "-S", "-X", "importtime", "-m", "vpa_config",
         "--store", str(example), *args],
        capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path,
    )
    found = set(IMPORTED.findall(done.stderr))

    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout == usual.stdout
    assert "vpa_config.store" in found  # the check sees the command's imports
    assert not found & set(INDEXED_STDLIB_FORBIDDEN), sorted(
        found & set(INDEXED_STDLIB_FORBIDDEN)
    )


# Not needed by a plain ``set`` of a scalar either: OpenSSL (the hashes of a
# change's objects, audit record and git index come from the interpreter's
# own SHA modules), typing, copy (a scalar's old and new values are not
# copied), the settings model.
SET_STDLIB_FORBIDDEN = (
    "hashlib", "_hashlib", "typing", "copy", "dataclasses", "inspect",
    "vpa_config.settings", "pydantic",
)


def test_a_set_imports_no_openssl_typing_or_copy(
    run_cli: RunCli, example: Path, tmp_path: Path
) -> None:
    args = ("set", "assistant.yaml", "llm.temperature", "0.45", "-m", "x")
    assert run_cli(*args, store=example).returncode == 0  # settings remembered
    env = cli_env(tmp_path)
    env["PYTHONPATH"] = os.pathsep.join([env["PYTHONPATH"], *site.getsitepackages()])
    done = subprocess.run(
        [sys.executable, "-S", "-X", "importtime", "-m", "vpa_config",
         "--store", str(example), "set", "assistant.yaml", "llm.temperature", "0.35",
         "-m", "x"],
        capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path,
    )
    found = set(IMPORTED.findall(done.stderr))

    assert done.returncode == 0, done.stderr[-2000:]
    assert "vpa_config.transaction" in found  # the check sees the command's imports
    assert not found & set(SET_STDLIB_FORBIDDEN), sorted(
        found & set(SET_STDLIB_FORBIDDEN)
    )
    assert git(example, "show", "HEAD:assistant.yaml").count("temperature: 0.35") == 1


@pytest.mark.parametrize(
    "args", [("restore", "HEAD~1", "-m", "back"), ("undo", "--json")], ids=" ".join
)
def test_a_plain_restore_or_undo_imports_no_click_or_dulwich(
    run_cli: RunCli, example: Path, args: tuple[str, ...]
) -> None:
    found = _modules_of(run_cli, example, *args)

    assert not {name for name in found if name.split(".")[0] in ("click", "dulwich")}
    assert "vpa_config.transaction" in found


def _modules_of(run_cli: RunCli, store: Path, *args: str) -> set[str]:
    done = run_cli(*args, store=store, env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    return set(IMPORTED.findall(done.stderr))


def test_a_set_imports_no_settings_model_probe_or_logger(
    run_cli: RunCli, example: Path
) -> None:
    found = imported(
        run_cli, example, "set", "assistant.yaml", "llm.temperature", "0.4", "-m", "x"
    )

    assert not found & set(SET_FORBIDDEN), sorted(found & set(SET_FORBIDDEN))


def test_a_read_with_the_settings_cache_gone_validates_once(
    run_cli: RunCli, example: Path
) -> None:
    # The first read validates HEAD's settings (pydantic) and remembers them;
    # the next one reads what was remembered.
    cache = example / ".git" / "vpa-config-cache"
    for entry in cache.glob("settings-*.json"):
        entry.unlink()
    args = ("audit", "assistant.yaml", "llm.temperature")

    first = imported(run_cli, example, *args)
    second = imported(run_cli, example, *args)

    assert "pydantic" in first
    assert list(cache.glob("settings-*.json"))
    assert "pydantic" not in second


def test_a_set_with_events_on_loads_the_logger(run_cli: RunCli, example: Path) -> None:
    # The counterpart of the test above: the check sees real imports.
    found = imported(
        run_cli, example, "--log-level", "info",
        "set", "assistant.yaml", "llm.temperature", "0.5", "-m", "x",
    )

    assert "structlog" in found


def test_plugins_named_in_the_settings_still_load_the_host(
    run_cli: RunCli, example: Path
) -> None:
    # A store without plugins never imports the plugin host; one whose
    # settings mention plugins does, for every change.
    settings = example / ".vpa-config" / "settings.yaml"
    text = settings.read_text() + "plugins:\n  entries: {}\n"
    settings.write_text(text)
    done = run_cli("commit", "-m", "plugins part", store=example)
    assert done.returncode == 0, done.stderr

    with_part = imported(
        run_cli, example, "set", "assistant.yaml", "llm.temperature", "0.6", "-m", "x"
    )
    reads = imported(run_cli, example, "get", "assistant.yaml", "llm.temperature")

    assert "vpa_config.plugins" in _modules(run_cli, example)
    assert "pydantic" in with_part
    assert "pydantic" not in reads


def _modules(run_cli: RunCli, store: Path) -> set[str]:
    done = run_cli(
        "set", "assistant.yaml", "llm.temperature", "0.7", "-m", "x",
        store=store, env={"PYTHONPROFILEIMPORTTIME": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return set(IMPORTED.findall(done.stderr))


def test_pyyaml_imported_lazily_still_refuses_control_characters(
    tmp_path: Path,
) -> None:
    # import_yaml() leaves the pure-Python reader's pattern uncompiled until a
    # pure-Python loader reads a document; that loader must still refuse.
    code = (
        "from vpa_config.yamlimport import LazyPattern, import_yaml\n"
        "yaml = import_yaml()\n"
        "import yaml.reader\n"
        "print(isinstance(yaml.reader.Reader.NON_PRINTABLE, LazyPattern))\n"
        "try:\n"
        "    yaml.safe_load('a: \\x07')\n"
        "except yaml.YAMLError as exc:\n"
        "    print(str(exc).splitlines()[0])\n"
        "print(yaml.safe_load('a: [1, b]'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True, text=True, env=cli_env(tmp_path), timeout=60,
    )

    assert done.returncode == 0, done.stderr
    lazy, refused, parsed = done.stdout.splitlines()
    assert lazy == "True"
    assert "unacceptable character #x0007" in refused
    assert parsed == "{'a': [1, 'b']}"


@pytest.mark.parametrize(
    "packing", [None, ("repack", "-adf", "-q"), ("gc", "--aggressive", "-q")],
    ids=["loose", "repacked", "gc-aggressive"],
)
def test_a_set_reads_and_commits_without_dulwich(
    run_cli: RunCli, example: Path, packing: tuple[str, ...] | None
) -> None:
    # HEAD's commit, trees and blobs come from the object folder itself,
    # loose or packed (whole objects and deltas), and the new objects, the
    # branch and its log are written as git writes them: dulwich is not
    # imported at all (the actor is given, so git's config is not read).
    if packing is not None:
        git(example, *packing)
        assert not list((example / ".git" / "objects").glob("??/*"))

    found = _modules_of(
        run_cli, example, "set", "assistant.yaml", "llm.temperature", "0.8", "-m", "x"
    )

    assert not {name for name in found if name.split(".")[0] == "dulwich"}
    # Nor what the change path's classes and threads used to pull in.
    assert not found & {"dataclasses", "inspect", "concurrent.futures", "logging"}
    assert git(example, "show", "HEAD:assistant.yaml").count("temperature: 0.8") == 1


YAML_TYPES = (
    "a: 2001-12-14\nb: yes\nc: 1.5e+3\nd: ~\ne: 0x1f\nf: {<<: {x: 1}, y: 2}\n"
    "g: 2001-12-14t21:59:43.10-05:00\nh: 190:20:30\ni: .NaN\nk: off\n"
)


def _yaml_answers(tmp_path: Path, lazily: bool) -> str:
    importer = (
        "from vpa_config.yamlimport import import_yaml\nyaml = import_yaml()\n"
        if lazily else "import yaml\n"
    )
    code = importer + (
        "import yaml.resolver, yaml.constructor\n"
        f"text = {YAML_TYPES!r}\n"
        "print(repr(yaml.safe_load(text)))\n"
        "print(repr(yaml.load(text, Loader=yaml.CSafeLoader)))\n"
        "print(repr(yaml.load(text, Loader=yaml.FullLoader)))\n"
        "print(yaml.safe_dump({'s': ['2001-12-14', 'yes', '1.5', '~', '<<']}))\n"
        "print(yaml.dump({'n': [1.5, True, None]}, Dumper=yaml.CSafeDumper))\n"
        "found = yaml.resolver.Resolver.yaml_implicit_resolvers.values()\n"
        "lazy = [type(r).__name__ for rs in found for _, r in rs]\n"
        "print(sorted(set(lazy)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True, text=True, env=cli_env(tmp_path), timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_pyyaml_with_lazy_patterns_reads_and_writes_yaml_1_1_types_as_before(
    tmp_path: Path,
) -> None:
    # Every pattern PyYAML compiles at import is compiled on first use
    # instead; its loaders and dumpers (pure and libyaml) answer the same.
    lazy = _yaml_answers(tmp_path, lazily=True).splitlines()
    plain = _yaml_answers(tmp_path, lazily=False).splitlines()

    assert lazy[:-1] == plain[:-1]
    assert "datetime.date(2001, 12, 14)" in lazy[0]
    assert lazy[-1] == "['LazyPattern']"
    assert plain[-1] == "['Pattern']"


# Listing or showing a schema reads it; it compiles nothing. A validate whose
# files and schemas all passed jsonschema's checks before is decided without it.
SCHEMA_READS = [
    ("schema", "list"),
    ("schema", "list", "--json"),
    ("schema", "show", "vpa/assistant.schema.json"),
    ("schema", "show", "app.schema.json"),
    ("validate",),
    ("validate", "app.json"),
]


@pytest.fixture(name="own_schema")
def _own_schema(run_cli: RunCli, example: Path, tmp_path: Path) -> Path:
    """The example store with a schema of its own and a file it applies to."""
    schema = tmp_path / "app.schema.json"
    schema.write_text(json.dumps({
        "type": "object", "additionalProperties": False,
        "properties": {"name": {"type": "string"}, "home": {"format": "uri"}},
    }))
    document = tmp_path / "app.json"
    document.write_text('{"name": "x", "home": "https://example.org/"}\n')
    return stores.build_with(
        run_cli, example,
        ("schema", "add", str(schema), "--for", "app.json", "-m", "app"),
        ("import", str(document), "--as", "app.json", "-m", "app"),
        ("validate",),
    )


@pytest.mark.parametrize("args", SCHEMA_READS, ids=" ".join)
def test_schema_reads_and_a_checked_validate_import_no_jsonschema(
    run_cli: RunCli, own_schema: Path, args: tuple[str, ...]
) -> None:
    found = imported(run_cli, own_schema, *args)

    assert "vpa_config" in found  # the check sees the command's imports
    assert not found & {"jsonschema", "referencing", "rfc3987_syntax", "lark"}
