"""The benchmark runner still runs: a tiny store, one repetition, no timing asserted."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_run_prints_every_engine_of_the_chosen_jobs() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "run.py"),
            "--quick",
            "--reps",
            "1",
            "--only",
            "commit",
            "--only",
            "startup",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "Versions: python " in out and "dulwich " in out and "git " in out
    # The quick store's size, not the full one's, in every heading.
    assert "### commit: commit one key change, in-process, at 200 revisions" in out
    assert "10,000" not in out
    for engine in (
        "vpa-config set (validate+write+commit)",
        "pygit2 (libgit2)",
        "pygit2 with fsync (as durable as vpa-config)",
        "git CLI add+commit",
        "dulwich porcelain add+commit",
        "python -c pass",
        "vpa-config --version",
        "vpa-config log -n 20",
    ):
        row = next(
            (line for line in out.splitlines() if line.startswith(f"| {engine} |")),
            None,
        )
        assert row is not None, f"no row for {engine}:\n{out}"
        assert re.search(r"\| \d+(\.\d+)? (ms|s|µs) \| \d+\.\d\d \|", row), row


def test_quick_history_run_prints_the_whole_log_beside_git_log() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_history.py"), "--quick",
         "--reps", "1"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "### log-all: every revision (200) with its files" in out
    for engine in (
        "vpa-config library: log()",
        "vpa-config log (process)",
        "git log",
        "git log --name-only (the files too, as vpa-config shows)",
    ):
        row = next(
            (line for line in out.splitlines() if line.startswith(f"| {engine} |")),
            None,
        )
        assert row is not None, f"no row for {engine}:\n{out}"
        assert re.search(r"\| \d+(\.\d+)? (ms|s|µs) \| \d+\.\d\d \|", row), row
    assert "| `vpa-config log (every revision)` |" in out


def test_a_repetition_count_below_one_is_refused() -> None:
    for script in ("run.py", "bench_history.py", "bench_validate.py"):
        done = subprocess.run(
            [sys.executable, str(ROOT / "benchmarks" / script), "--reps", "0"],
            capture_output=True, text=True, timeout=60, check=False,
        )

        assert done.returncode == 2, (script, done.stderr)
        assert "'0' is not a whole number of 1 or more" in done.stderr, done.stderr


def test_the_companion_jobs_run_through_run_py_print_one_header() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--reps",
         "1", "--only", "history", "--only", "health", "--only", "validate"],
        capture_output=True, text=True, timeout=600, check=False,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert out.count("## vpa-config benchmarks") == 1, out[:3000]
    assert "Target: audit over 200 revisions under 150 MiB." in out
    assert "### health endpoint: median of 20 GETs" in out
    assert "### validate: vpa-config beside check-jsonschema" in out
    assert "exited" not in out, out[-3000:]


def _job(name: str, medians: dict[str, float], rss: dict[str, int] | None = None):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import run

    rows = [run.Row(name, engine, [seconds], [(rss or {}).get(engine, 0)])
            for engine, seconds in medians.items()]
    return run, run.Job(name, "t", rows, next(iter(medians)))


def test_a_job_is_judged_against_its_target_from_its_medians() -> None:
    run, job = _job("commit", {
        "vpa-config set (validate+write+commit)": 0.0030,
        "pygit2 (libgit2)": 0.0010,
        "git CLI add+commit": 0.0060,
    })
    run.set_quick(False)

    verdict = run.judge(job)

    assert verdict.startswith("Verdict: NOT met: ")
    assert "the git CLI takes 2.00x vpa-config's time (met)" in verdict
    assert "vpa-config takes 3.00x pygit2's, at most 2.50x (NOT met)" in verdict
    job.rows[0].samples = [0.0024]
    assert run.judge(job).startswith("Verdict: met: ")
    run.set_quick(True)
    assert "not judged" in run.judge(job)
    run.set_quick(False)


def test_a_job_missing_a_row_its_target_needs_is_not_judged() -> None:
    run, job = _job("set-process", {"vpa-config set": 0.04})  # no etckeeper
    run.set_quick(False)

    assert run.judge(job) == "Verdict: not judged (a row it needs was not measured)."
    _run, memory = _job("memory", {"vpa-config verify": 1.0, "git x": 1.0},
                        {"vpa-config verify": 200 * 1024 * 1024, "git x": 10})
    assert "the most is 200.0 MiB (vpa-config verify), under 150 MiB (NOT met)" in (
        run.judge(memory)
    )
