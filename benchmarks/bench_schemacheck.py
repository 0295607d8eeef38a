"""schemacheck beside jsonschema, in-process: speed, and how often it decides.

    python benchmarks/bench_schemacheck.py [--reps N] [--mutations N]

For each schema: the time to compile it (schemacheck) or build a validator
(jsonschema, with vpa-config's registry), the median time of one document
through ``is_valid`` and through ``iter_errors``, and over the real documents
and seeded mutations of them how often schemacheck answered valid, invalid or
undecided, with jsonschema's verdict beside it. A "valid" that jsonschema
contradicts would be a bug and is counted as UNSOUND.
"""

from __future__ import annotations

import argparse
import copy
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from vpa_config import documents, validation  # noqa: E402

ODD = [None, True, False, 0, 1, -1, 1.0, 1.5, 10**9, "", "x", "1", [], {}, {"x": 1}]


def vendored(name: str) -> Path:
    import check_jsonschema

    return Path(check_jsonschema.__file__).parent / "builtin_schemas" / "vendor" / name


def cases() -> list[tuple[str, Path, list[Path]]]:
    """(schema name, schema file, documents) for each measured schema."""
    found: list[tuple[str, Path, list[Path]]] = []
    service = _fixture_schema()
    if service is not None:
        services = sorted((service.parent.parent.parent / "services").glob("*.yaml"))
        found.append(("service.schema.json", service, services))
    shipped = HERE.parent / "schemas"
    for name, example in (
        ("vpa/assistant.schema.json", "assistant.yaml"),
        ("vpa/plugins.schema.json", "plugins.yaml"),
    ):
        found.append((name, shipped / name, [shipped / "examples" / example]))
    data = HERE / "data"
    found.append(
        (
            "renovate.json",
            vendored("renovate.json"),
            sorted((data / "renovate").glob("*")),
        )
    )
    found.append(
        (
            "azure-pipelines.json",
            vendored("azure-pipelines.json"),
            sorted((data / "azure").glob("*")),
        )
    )
    return found


def _fixture_schema() -> Path | None:
    for store in sorted((HERE / ".fixtures").glob("store-*")):
        path = store / ".vpa-config" / "schemas" / "service.schema.json"
        if path.is_file():
            return path
    return None


def mutations(doc: Any, rng: random.Random, count: int) -> list[Any]:
    """Seeded one-node mutations: odd values, removed and extra keys."""
    out = []
    for _ in range(count):
        data = copy.deepcopy(doc)
        nodes = list(_nodes(data))
        parent, key = rng.choice(nodes) if nodes else (None, None)
        if parent is None:
            out.append(rng.choice(ODD))
            continue
        op = rng.choice(["replace", "remove", "extra"])
        if op == "remove" and isinstance(parent, dict):
            del parent[key]
        elif op == "extra" and isinstance(parent[key], dict):
            parent[key]["unexpected"] = 1
        else:
            parent[key] = rng.choice(ODD)
        out.append(data)
    return out


def _nodes(data: Any) -> Any:
    if isinstance(data, dict):
        for key, value in data.items():
            yield data, key
            yield from _nodes(value)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield data, index
            yield from _nodes(value)


def median_time(fn: Any, arg: Any, reps: int) -> float:
    samples = []
    for _ in range(reps):
        start = time.perf_counter()
        fn(arg)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def measure(name: str, path: Path, docs: list[Path], reps: int, count: int) -> dict:
    content = path.read_bytes()
    registry = validation.SchemaRegistry(store_schemas={name: content})
    source = registry.get(name)
    start = time.perf_counter()
    validator = registry.validator(source)
    build = time.perf_counter() - start
    start = time.perf_counter()
    decider = registry.decider(source)
    compile_s = time.perf_counter() - start
    parsed = [documents.parse(doc.name, doc.read_bytes()) for doc in docs]
    rng = random.Random(9)
    every = parsed + [m for doc in parsed for m in mutations(doc, rng, count)]
    tally: Counter[str] = Counter()
    for data in every:
        verdict = decider.is_valid(data)
        valid = not any(True for _ in validator.iter_errors(data))
        if verdict is True and not valid:
            tally["UNSOUND"] += 1
        label = {True: "valid", False: "invalid", None: "undecided"}[verdict]
        tally[f"{label}/{'ok' if valid else 'bad'}"] += 1
    first = parsed[0]
    ours = median_time(decider.is_valid, first, reps)
    theirs = median_time(lambda d: list(validator.iter_errors(d)), first, reps)
    return {
        "schema": name,
        "docs": len(parsed),
        "checked": len(every),
        "compile_ms": compile_s * 1000,
        "build_ms": build * 1000,
        "ours_us": ours * 1e6,
        "theirs_us": theirs * 1e6,
        "first": decider.is_valid(first),
        "tally": dict(tally),
    }


def random_value(rng: random.Random, depth: int = 0) -> Any:
    """A small JSON value of any type (seeded), for the definitions sweep."""
    scalars = [
        None,
        True,
        False,
        0,
        1,
        -2,
        1.0,
        2.5,
        "",
        "a",
        "main",
        "1.0.0",
        "2024-01-01",
        "x@y",
        "https://example.org/a",
        "*",
    ]
    pick = rng.random()
    if depth >= 2 or pick < 0.6:
        return rng.choice(scalars)
    if pick < 0.8:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    keys = ["name", "type", "id", "on", "steps", "run", "version", "enabled"]
    return {
        rng.choice(keys): random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))
    }


def sweep(name: str, per_definition: int) -> Counter[str]:
    """Every definition of a vendored schema against seeded random values."""
    import json

    from jsonschema import validators

    from vpa_config import schemacheck

    schema = json.loads(vendored(name).read_bytes())
    keep = {
        k: v
        for k, v in schema.items()
        if k in ("$schema", "$id", "definitions", "$defs")
    }
    rng = random.Random(name)
    tally: Counter[str] = Counter()
    for word in ("definitions", "$defs"):
        for key in sorted(schema.get(word, {})):
            pointer = key.replace("~", "~0").replace("/", "~1")
            wrapped = {**keep, "$ref": f"#/{word}/{pointer}"}
            cls = validators.validator_for(wrapped)
            validator = cls(wrapped, format_checker=cls.FORMAT_CHECKER)
            decider = schemacheck.compile_schema(wrapped, uri="")
            for _ in range(per_definition):
                value = random_value(rng)
                verdict = decider.is_valid(value) if decider else None
                try:
                    valid = not any(True for _ in validator.iter_errors(value))
                except RecursionError:  # a $ref cycle: jsonschema cannot answer
                    tally["jsonschema failed"] += 1
                    continue
                if verdict is True and not valid:
                    tally["UNSOUND"] += 1
                label = {True: "valid", False: "invalid", None: "undecided"}[verdict]
                tally[f"{label}/{'ok' if valid else 'bad'}"] += 1
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=50)
    parser.add_argument("--mutations", type=int, default=20)
    parser.add_argument(
        "--sweep",
        type=int,
        default=0,
        metavar="N",
        help="also N random values per definition of every vendored schema",
    )
    args = parser.parse_args(argv)
    print(
        "| schema | docs checked | schemacheck compile | jsonschema build "
        "| is_valid (1st doc) | iter_errors (1st doc) | ratio | answers |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, path, docs in cases():
        if not docs:
            continue
        row = measure(name, path, docs, args.reps, args.mutations)
        tally = ", ".join(f"{k} {v}" for k, v in sorted(row["tally"].items()))
        print(
            f"| {row['schema']} | {row['checked']} | {row['compile_ms']:.2f} ms "
            f"| {row['build_ms']:.0f} ms | {row['ours_us']:.1f} µs ({row['first']}) "
            f"| {row['theirs_us']:.1f} µs | {row['theirs_us'] / row['ours_us']:.0f}x "
            f"| {tally} |"
        )
    if args.sweep:
        print()
        print(
            "| vendored schema | values | decided | valid/ok | invalid/bad "
            "| invalid/ok (stricter) | undecided | unsound |"
        )
        print("|---|---|---|---|---|---|---|---|")
        total: Counter[str] = Counter()
        for path in sorted(vendored("renovate.json").parent.glob("*.json")):
            tally = sweep(path.name, args.sweep)
            total.update(tally)
            print(_sweep_row(path.name, tally))
        print(_sweep_row("all", total))
    return 0


def _sweep_row(name: str, tally: Counter[str]) -> str:
    values = sum(v for k, v in tally.items() if "/" in k)
    undecided = tally["undecided/ok"] + tally["undecided/bad"]
    decided = (values - undecided) / values * 100 if values else 0.0
    return (
        f"| {name} | {values} | {decided:.1f}% | {tally['valid/ok']} "
        f"| {tally['invalid/bad']} | {tally['invalid/ok']} | {undecided} "
        f"| {tally['UNSOUND']} |"
    )


if __name__ == "__main__":
    raise SystemExit(main())
