"""``vpa-config validate --schema`` beside ``check-jsonschema``, on the same files.

    python benchmarks/bench_validate.py            # 7 alternating runs per group
    python benchmarks/bench_validate.py --quick    # 2 runs, fewer files (smoke)
    python benchmarks/bench_validate.py --reps 11

Each group is one schema and its files, validated by both tools as whole
processes (``python -m vpa_config`` from this checkout and ``python -m
check_jsonschema``), alternating which goes first in every repetition so the
machine's drift hits both alike. check-jsonschema runs with ``--regex-variant
python``, the regex dialect vpa-config uses. Medians are printed with the ratio
check-jsonschema / vpa-config (above 1.00 vpa-config is faster) and each
tool's exit code, which must agree.

Groups:

* real JSON Schema documents written in YAML, as the Google Cloud SDK ships
  them (the machine's own copy, when it has one), against the draft-06
  metaschema;
* real GitHub workflow files found on this machine, against the workflow
  schema check-jsonschema vendors;
* renovate configurations (``benchmarks/data/renovate``) against the 2.2 MB
  renovate schema check-jsonschema vendors;
* Azure Pipelines files (``benchmarks/data/azure``) against its 1.6 MB schema.

vpa-config remembers schemas it has checked against their metaschema, by
content digest (``$XDG_CACHE_HOME/vpa-config/checked-schemas``); the table
shows a cold first run (empty cache) beside the warm median. check-jsonschema
checks the schema on every run.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from run import positive, verdict_line  # noqa: E402

VPA = [sys.executable, "-m", "vpa_config", "validate", "--schema"]
# Python's own regex dialect, as vpa-config uses: with its default dialect
# check-jsonschema rejects the Azure Pipelines schema and validates nothing.
CJS = [sys.executable, "-m", "check_jsonschema", "--regex-variant", "python", "--schemafile"]
GCLOUD = Path("/usr/lib/google-cloud-sdk/lib/googlecloudsdk/schemas")
WORKFLOW_ROOTS = (
    Path(sys.prefix),
    Path.home() / ".pyenv",
    Path("/usr/lib"),
    Path("/usr/share"),
    Path("/opt"),
)


@dataclass
class Group:
    """One schema and the files validated against it."""

    name: str
    schema: Path
    files: list[Path]


def vendored(name: str) -> Path:
    """A schema that check-jsonschema ships."""
    import check_jsonschema

    return Path(check_jsonschema.__file__).parent / "builtin_schemas" / "vendor" / name


def metaschema(folder: str) -> Path:
    """A draft's metaschema file, as jsonschema-specifications ships it."""
    import jsonschema_specifications

    return Path(jsonschema_specifications.__file__).parent / "schemas" / folder / "metaschema.json"


def workflow_files(limit: int) -> list[Path]:
    """GitHub workflow files that projects installed on this machine carry."""
    found: list[Path] = []
    for root in WORKFLOW_ROOTS:
        if not root.is_dir():
            continue
        for path in sorted(root.rglob(".github/workflows/*.y*ml")):
            if path.is_file() and path.stat().st_size < 200_000:
                found.append(path)
            if len(found) >= limit:
                return found
    return found


def groups(quick: bool) -> tuple[list[Group], list[str]]:
    """The groups this machine can run, and notes about those it cannot."""
    out: list[Group] = []
    notes: list[str] = []
    many = 40 if quick else 300
    gcloud = sorted(GCLOUD.rglob("*.yaml"))[:many] if GCLOUD.is_dir() else []
    if gcloud:
        out.append(Group("gcloud schemas (YAML) vs draft-06", metaschema("draft6"), gcloud))
    else:
        notes.append(f"skipped gcloud schemas: {GCLOUD} is not on this machine")
    workflows = workflow_files(20 if quick else 200)
    if workflows:
        out.append(Group("GitHub workflows", vendored("github-workflows.json"), workflows))
    else:
        notes.append("skipped GitHub workflows: none found on this machine")
    renovate = sorted((HERE / "data" / "renovate").glob("*.json"))
    out.append(Group("renovate (2.2 MB schema)", vendored("renovate.json"),
                     renovate[:12] if quick else renovate))
    azure = sorted((HERE / "data" / "azure").glob("*.yml"))
    out.append(Group("azure-pipelines (1.6 MB schema)", vendored("azure-pipelines.json"),
                     azure))
    return out, notes


def run(argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Seconds and exit code of one whole process."""
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, check=False)
    return time.perf_counter() - started, done.returncode


def versions() -> str:
    """The versions of everything measured."""
    from importlib.metadata import version

    import yaml

    libyaml = "with libyaml" if getattr(yaml, "__with_libyaml__", False) else "pure"
    parts = [
        f"Python {platform.python_version()}",
        f"vpa-config {version_of_checkout()}",
        f"check-jsonschema {version('check-jsonschema')}",
        f"jsonschema {version('jsonschema')}",
        f"PyYAML {yaml.__version__} ({libyaml})",
        f"ruamel.yaml {version('ruamel.yaml')}",
    ]
    return ", ".join(parts)


def version_of_checkout() -> str:
    sys.path.insert(0, str(ROOT))
    from vpa_config import __version__

    return __version__


def bench(group: Group, reps: int, base_env: dict[str, str]) -> dict[str, object]:
    """Cold first run, then ``reps`` alternating runs of each tool."""
    files = [str(path) for path in group.files]
    vpa_argv = [*VPA, str(group.schema), *files]
    cjs_argv = [*CJS, str(group.schema), *files]
    cache = Path(tempfile.mkdtemp(prefix="vpa-bench-cache-"))
    env = {**base_env, "XDG_CACHE_HOME": str(cache)}
    try:
        cold, vpa_code = run(vpa_argv, env)
        times: dict[str, list[float]] = {"vpa": [], "cjs": []}
        cjs_code = 0
        for rep in range(reps):
            order = ("vpa", "cjs") if rep % 2 == 0 else ("cjs", "vpa")
            for tool in order:
                seconds, code = run(vpa_argv if tool == "vpa" else cjs_argv, env)
                times[tool].append(seconds)
                if tool == "vpa":
                    vpa_code = code
                else:
                    cjs_code = code
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    vpa = statistics.median(times["vpa"])
    cjs = statistics.median(times["cjs"])
    return {
        "group": group.name,
        "files": len(files),
        "schema_kb": group.schema.stat().st_size // 1024,
        "cold": cold,
        "vpa": vpa,
        "cjs": cjs,
        "ratio": cjs / vpa,
        "codes": f"{vpa_code}/{cjs_code}",
    }


def table(rows: list[dict[str, object]]) -> str:
    """The results as a Markdown table."""
    head = (
        "| group | files | schema | vpa-config cold | vpa-config | check-jsonschema "
        "| ratio | exit (vpa/cjs) |\n|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for row in rows:
        lines.append(
            f"| {row['group']} | {row['files']} | {row['schema_kb']} KB "
            f"| {row['cold'] * 1000:.0f} ms | {row['vpa'] * 1000:.0f} ms "  # type: ignore[operator]
            f"| {row['cjs'] * 1000:.0f} ms | {row['ratio']:.2f}x "  # type: ignore[operator]
            f"| {row['codes']} |"
        )
    return "\n".join(lines)


def verdict(rows: list[dict[str, object]], quick: bool) -> str:
    """The target (faster than check-jsonschema on every group), met or not."""
    if quick:
        return "Verdict: not judged (--quick: fewer files than the target is for)."
    slowest = min(rows, key=lambda row: row["ratio"])  # type: ignore[arg-type,return-value]
    return verdict_line([(
        f"check-jsonschema takes {slowest['ratio']:.2f}x vpa-config's time on "
        f"{slowest['group']}, the closest group, and more on the others",
        slowest["ratio"] > 1,  # type: ignore[operator]
    )])


def main(argv: list[str] | None = None) -> int:
    """Run every group and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 runs, fewer files")
    parser.add_argument("--reps", type=positive, default=7,
                        help="runs of each tool per group")
    parser.add_argument("--no-header", action="store_true",
                        help="accepted for run.py, which prints the header; "
                        "this job prints its own versions")
    args = parser.parse_args(argv)
    reps = 2 if args.quick else args.reps
    base_env = {**os.environ, "PYTHONPATH": str(ROOT)}
    base_env.pop("VPA_CONFIG_TRACEBACK", None)
    found, notes = groups(args.quick)
    rows = [bench(group, reps, base_env) for group in found]
    print(f"### validate: vpa-config beside check-jsonschema, median of {reps} "
          "alternating whole-process runs\n")
    print(versions() + "\n")
    print(table(rows) + "\n")
    print(verdict(rows, args.quick) + "\n")
    for note in notes:
        print(f"note: {note}")
    disagree = [row["group"] for row in rows if len(set(str(row["codes"]).split("/"))) > 1]
    for name in disagree:
        print(f"note: the two tools disagree on {name} (see the exit codes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
