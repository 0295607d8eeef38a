"""Real-world files judged by real-world schemas: SchemaStore's, as check-jsonschema ships them.

The schemas go into the store as store schemas (``.vpa-config/schemas/``) with
settings rules, exactly as a user would add them; then real-looking files are
imported, and a broken one is refused with a located error and nothing written.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import stores
from conftest import RunCli, snapshot

check_jsonschema = pytest.importorskip("check_jsonschema")
VENDOR = Path(check_jsonschema.__file__).parent / "builtin_schemas" / "vendor"
SCHEMAS = ("github-workflows.json", "compose-spec.json", "dependabot.json")

SETTINGS = """\
# Which schema applies to which file.
schemas:
  - files: ".github/workflows/*.yml"
    schema: github-workflows.json
  - files: "compose.yaml"
    schema: compose-spec.json
  - files: ".github/dependabot.yml"
    schema: dependabot.json
allow_unschematized: false
lock_timeout_s: 10
"""

WORKFLOW = """\
name: CI
on:
  push:
    branches: [main]
  pull_request:
permissions:
  contents: read
jobs:
  test:
    runs-on: ubuntu-latest
    timeout-minutes: 15
    strategy:
      matrix:
        python: ["3.11", "3.12"]
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: ${{ matrix.python }}
      - run: pip install -e '.[test]' && python -m pytest
"""

COMPOSE = """\
services:
  web:
    image: nginx:1.27
    ports:
      - "8080:80"
    depends_on:
      - db
    restart: unless-stopped
  db:
    image: postgres:16
    environment:
      POSTGRES_DB: app
    volumes:
      - data:/var/lib/postgresql/data
volumes:
  data: {}
"""

DEPENDABOT = """\
version: 2
updates:
  - package-ecosystem: pip
    directory: "/"
    schedule:
      interval: weekly
  - package-ecosystem: github-actions
    directory: "/"
    schedule:
      interval: monthly
"""


def _build(run, store: Path, work: Path) -> None:
    run("init")
    for name in SCHEMAS:
        run("import", str(VENDOR / name), "--as", f".vpa-config/schemas/{name}",
            "-m", f"add the {name} schema")
    settings = work / "settings.yaml"
    settings.write_text(SETTINGS)
    run("import", str(settings), "--as", ".vpa-config/settings.yaml")


@pytest.fixture(name="rw_template", scope="module")
def _rw_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return stores.template(tmp_path_factory.mktemp("template"), _build)


@pytest.fixture(name="rw_store")
def _rw_store(rw_template: Path, store_path: Path) -> Path:
    """A store holding the three SchemaStore schemas and rules that apply them."""
    return stores.copy(rw_template, store_path)


def _import(run_cli: RunCli, store: Path, tmp_path: Path, name: str, text: str):
    src = tmp_path / "src" / Path(name).name
    src.parent.mkdir(exist_ok=True)
    src.write_text(text)
    return run_cli("import", str(src), "--as", name, store=store)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        (".github/workflows/ci.yml", WORKFLOW),
        ("compose.yaml", COMPOSE),
        (".github/dependabot.yml", DEPENDABOT),
    ],
    ids=["workflow", "compose", "dependabot"],
)
def test_valid_real_world_file_is_accepted(
    run_cli: RunCli, rw_store: Path, tmp_path: Path, name: str, text: str
) -> None:
    done = _import(run_cli, rw_store, tmp_path, name, text)

    assert done.returncode == 0, done.stderr
    assert (rw_store / name).read_text() == text
    trailers = run_cli("log", "-n", "1", "--json", store=rw_store).stdout
    assert name in trailers


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            ".github/workflows/ci.yml",
            WORKFLOW.replace("timeout-minutes: 15", "timeout-minutes: soon"),
            ".github/workflows/ci.yml:9:3: jobs.test: matches none of the 2 allowed "
            "forms (oneOf); closest: jobs.test.timeout-minutes",
        ),
        (
            "compose.yaml",
            COMPOSE.replace('ports:\n      - "8080:80"', "ports: 8080"),
            "compose.yaml:4:5: services.web.ports: expected array; got integer",
        ),
        (
            ".github/dependabot.yml",
            DEPENDABOT.replace("interval: monthly", "interval: fortnightly"),
            '.github/dependabot.yml:10:7: updates.1.schedule.interval: expected one of '
            '"daily", "weekly"',
        ),
    ],
    ids=["workflow", "compose", "dependabot"],
)
def test_invalid_real_world_file_is_refused_with_a_located_error(
    run_cli: RunCli, rw_store: Path, tmp_path: Path, name: str, text: str, expected: str
) -> None:
    before = snapshot(rw_store)

    done = _import(run_cli, rw_store, tmp_path, name, text)

    # The problem is located in the file imported, and says what it is imported as.
    src = tmp_path / "src" / Path(name).name
    assert done.returncode == 1, done.stderr
    assert f"{src}{expected[len(name):]}" in done.stderr
    assert f"(importing {src} as {name})" in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert snapshot(rw_store) == before


def test_set_on_real_world_file_changes_one_line_and_is_validated(
    run_cli: RunCli, rw_store: Path, tmp_path: Path
) -> None:
    assert _import(run_cli, rw_store, tmp_path, "compose.yaml", COMPOSE).returncode == 0

    good = run_cli("set", "compose.yaml", "services.web.image", "nginx:1.28",
                   store=rw_store)
    before = snapshot(rw_store)
    bad = run_cli("set", "compose.yaml", "services.web.restart", "[1, 2]",
                  store=rw_store)

    assert good.returncode == 0, good.stderr
    assert (rw_store / "compose.yaml").read_text() == COMPOSE.replace(
        "nginx:1.27", "nginx:1.28"
    )
    assert bad.returncode == 1
    assert "compose.yaml:8:5: services.web.restart: expected string" in bad.stderr
    assert snapshot(rw_store) == before


def test_readme_way_of_adding_a_schema_store_schema(run_cli: RunCli, store_path: Path,
                                                     tmp_path: Path) -> None:
    """The README's three commands: import the schema, add a rule, import a file."""
    assert run_cli("init", store=store_path).returncode == 0
    steps = [
        ("import", str(VENDOR / "github-workflows.json"), "--as",
         ".vpa-config/schemas/github-workflows.json"),
        ("set", ".vpa-config/settings.yaml", "schemas.0",
         '{files: ".github/workflows/*.yml", schema: github-workflows.json}'),
    ]
    for step in steps:
        done = run_cli(*step, store=store_path)
        assert done.returncode == 0, done.stderr
    broken = WORKFLOW.replace("runs-on: ubuntu-latest", "runs-on: [ubuntu-latest, 7]")

    good = _import(run_cli, store_path, tmp_path, ".github/workflows/ci.yml", WORKFLOW)
    bad = _import(run_cli, store_path, tmp_path, ".github/workflows/ci.yml", broken)

    assert good.returncode == 0, good.stderr
    assert bad.returncode == 1
    assert f"{tmp_path / 'src' / 'ci.yml'}:" in bad.stderr
    assert "as .github/workflows/ci.yml)" in bad.stderr
    assert (store_path / ".github/workflows/ci.yml").read_text() == WORKFLOW
