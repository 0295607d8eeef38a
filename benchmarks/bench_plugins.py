"""What the plugin guard costs: one hook call, and one commit, side by side.

    python benchmarks/bench_plugins.py            # 300 calls, 15 commits per engine
    python benchmarks/bench_plugins.py --quick    # 30 calls, 3 commits

Per call: the plugin's ``validate`` called directly (the reference), through
the in-process guard (a worker thread with a timeout, result checks) and in
the sandbox (a JSON frame each way over a pipe to the child process). Per
commit: ``ConfigStore.set`` on the example store with no plugin, with the
plugin in-process and with it sandboxed. Engines alternate within every
repetition; figures are medians; ratios are to the reference (above 1.00 the
engine is slower than the reference).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

FIXTURES = str(ROOT / "tests" / "plugins_fixtures")
ACTOR = "Bench <bench@example.org>"


def median_of(fn: Callable[[], object], reps: int) -> float:
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def alternate(cases: dict[str, Callable[[], object]], reps: int) -> dict[str, float]:
    found: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(reps):
        for name, fn in cases.items():
            started = time.perf_counter()
            fn()
            found[name].append(time.perf_counter() - started)
    return {name: statistics.median(times) for name, times in found.items()}


def job_call(reps: int) -> dict[str, float]:
    from vpa_config import plugins
    from vpa_config.sandbox import SandboxRunner
    from vpa_config.settings import PluginEntry, PluginGuardSettings

    change = plugins.Change(
        (
            plugins.FileDelta(
                "assistant.yaml",
                "modified",
                (
                    plugins.KeyDelta(
                        "llm.temperature", ("llm", "temperature"), "changed", 0.7, 0.5
                    ),
                ),
            ),
        ),
        ACTOR,
        "set",
        "bench",
        None,
        None,
        "bench",
    )
    entry = PluginEntry(spec="vpa_good:Plugin", path=FIXTURES)
    direct = plugins.instantiate(plugins.import_spec(entry.spec, entry.path))
    direct.start({})
    slot = plugins.make_slot("good", entry, sandbox_all=False)
    local = plugins.InProcessRunner(slot)
    local.load()
    boxed = SandboxRunner(
        plugins.make_slot("good", entry, sandbox_all=True), PluginGuardSettings()
    )
    boxed.load()
    try:
        return alternate(
            {
                "direct call (reference)": lambda: direct.validate(change),
                "in-process guard": lambda: plugins.problems_from(
                    local.call("validate", change), "good", change
                ),
                "sandbox": lambda: plugins.problems_from(
                    boxed.call("validate", change), "good", change
                ),
            },
            reps,
        )
    finally:
        local.close()
        boxed.close()


def job_commit(reps: int) -> dict[str, float]:
    from vpa_config import plugins
    from vpa_config.store import ConfigStore

    work = Path(tempfile.mkdtemp(prefix="vpa-bench-plugins-"))
    stores = {}
    for name, fields in (
        ("no plugin (reference)", None),
        ("in-process plugin", {"trusted": True}),
        ("sandboxed plugin", {"trusted": False}),
    ):
        store, _ = ConfigStore.init(work / str(len(stores)), example=True, actor=ACTOR)
        if fields is not None:
            plugins.set_enabled(
                store,
                "good",
                True,
                actor=ACTOR,
                updates={
                    "spec": "vpa_good:Plugin",
                    "path": FIXTURES,
                    **fields,
                },
            )
        stores[name] = store
    values = iter(range(10**9))

    def commit(store: ConfigStore) -> Callable[[], object]:
        return lambda: store.set(
            "assistant.yaml", "llm.max_tokens", 1000 + next(values) % 500, actor=ACTOR
        )

    for store in stores.values():
        commit(store)()  # load the plugin before timing
    try:
        return alternate({name: commit(store) for name, store in stores.items()}, reps)
    finally:
        for store in stores.values():
            store.close()


def render(title: str, figures: dict[str, float]) -> str:
    reference = next(iter(figures.values()))
    lines = [title, f"  {'engine':<28}{'median':>12}{'ratio':>9}"]
    for name, seconds in figures.items():
        lines.append(f"  {name:<28}{fmt(seconds):>12}{seconds / reference:>9.2f}")
    return "\n".join(lines)


def fmt(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Few repetitions.")
    args = parser.parse_args(argv)
    calls, commits = (30, 3) if args.quick else (300, 15)
    print(render(f"plugin hook call ({calls} reps)", job_call(calls)))
    print()
    print(
        render(f"commit with a validating plugin ({commits} reps)", job_commit(commits))
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
