"""vpa-config beside the tools people use now, on the same work, in one run.

    python benchmarks/run.py                 # every job on the 50 x 10,000 store
    python benchmarks/run.py --quick         # a tiny store, 2 repetitions (smoke)
    python benchmarks/run.py --only commit --only startup --reps 9

Each job times vpa-config and its references on identical copies of one
fixture store, alternating engine by engine within every repetition so that
the machine's drift hits all of them alike, and reports medians. Ratios are
to vpa-config (above 1.00 the reference is slower). Whole-process jobs also
record each process's peak resident memory (``ru_maxrss`` from ``wait4``);
each process is started from a small launcher, so neither the fork of the
runner nor its memory counts.

vpa-config fsyncs every object, file and ref it writes; git and libgit2 do
not by default, dulwich's porcelain fsyncs the index and the ref. The figures
include that difference.

The validation and history jobs live in ``bench_validate.py`` and
``bench_history.py``; when present they are run after these jobs, with
``--quick`` passed through, so that one command prints every table.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from fixtures import history_store  # noqa: E402

FILE = "services/svc-07.yaml"
KEY = "service.replicas"
RESTORE_BACK = 5000
REVISIONS = 10_000  # the fixture's (main sets it: --quick builds 200)
# The commit job repeats at least this often (main sets 0 for --quick).
COMMIT_REPS = 41
MIB = 1024 * 1024
# The console script's three lines, run from this checkout.
VPA = [
    sys.executable,
    "-c",
    "import sys; from vpa_config.cli import main; sys.exit(main())",
]
JOBS = (
    "commit", "set-process", "restore", "startup", "memory", "validate", "history",
    "health",
)


@dataclass
class Row:
    """One engine's figure in one job."""

    job: str
    engine: str
    samples: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")


@dataclass
class Job:
    """A job's rows, the row the others are compared with, and its target."""

    name: str
    title: str
    rows: list[Row]
    base: str
    target: str = ""
    notes: list[str] = field(default_factory=list)


# --- environment -------------------------------------------------------------


def child_env() -> dict[str, str]:
    """The environment of every child process: this checkout first, quiet git."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(
        GIT_AUTHOR_NAME="Bench",
        GIT_AUTHOR_EMAIL="bench@example.org",
        GIT_COMMITTER_NAME="Bench",
        GIT_COMMITTER_EMAIL="bench@example.org",
        VPA_CONFIG_ACTOR="Bench <bench@example.org>",
        GIT_CONFIG_NOSYSTEM="1",
        HOME=env.get("HOME", "/tmp"),
        LC_ALL="C",
    )
    env.pop("VPA_CONFIG_STORE", None)
    # An installed vpa-config starts from bytecode; so do the measured runs.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def compile_checkout() -> None:
    """Write the bytecode of this checkout's package, as an install would."""
    import compileall

    compileall.compile_dir(str(ROOT / "vpa_config"), quiet=1)


def versions() -> dict[str, str]:
    """The version of everything measured."""
    from importlib import metadata

    found = {"python": platform.python_version()}
    for dist in (
        "vpa-config",
        "dulwich",
        "pygit2",
        "jsonschema",
        "check-jsonschema",
        "PyYAML",
        "ruamel.yaml",
        "pydantic",
        "click",
    ):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = "not installed"
    try:
        import pygit2

        found["libgit2"] = pygit2.LIBGIT2_VERSION
    except ImportError:
        pass
    found["git"] = _output(["git", "--version"]).replace("git version ", "") or "absent"
    found["etckeeper"] = (
        _output(["dpkg-query", "-W", "-f", "${Version}", "etckeeper"])
        or "not installed"
    )
    return found


def machine() -> str:
    """nproc, CPU model, kernel."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} x {model}, {platform.system()} {platform.release()}"


def _output(argv: list[str]) -> str:
    try:
        return subprocess.run(
            argv, capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        return ""


# --- measuring ---------------------------------------------------------------


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def run_process(
    argv: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> tuple[float, int]:
    """Run one process to its end: (seconds, peak RSS in bytes); fails loudly.

    The process is started from a small launcher, so the fork of this large
    one neither slows the start nor counts in the child's ``ru_maxrss``.
    """
    done = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *argv],
        env=env or child_env(),
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    fields = done.stdout.strip().split()
    if len(fields) != 3 or fields[2] != "0":
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()[-300:]}")
    return float(fields[0]), int(fields[1]) * 1024


# Runs ARGV from a small process, its output discarded; prints
# "SECONDS MAXRSS-KIB EXIT-CODE" of that one child.
LAUNCHER = """
import os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(time.perf_counter() - started, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def alternate(
    rows: dict[str, Callable[[int], float | tuple[float, int]]],
    reps: int,
    warmup: int = 1,
) -> dict[str, Row]:
    """Run each case once per repetition, in turn; warm-up rounds not kept.

    Dirty pages are written out (``sync``, untimed) before each case, so no
    engine's fsyncs pay for what the one before it left unwritten: git and
    libgit2 do not fsync, and on ext4 an fsync can commit the journal with
    the other files' data. Before that, the work an in-process vpa-config
    change leaves to its background threads (closing replaced files, making
    the next change's spare files) is waited for, untimed, so that it never
    runs inside another engine's case.
    """
    from vpa_config import fsutil

    out = {name: Row("", name) for name in rows}
    for rep in range(warmup + reps):
        order = list(rows.items())
        if rep % 2:
            order.reverse()
        for name, case in order:
            fsutil.settle()
            os.sync()
            result = case(rep)
            seconds, rss = result if isinstance(result, tuple) else (result, 0)
            if rep >= warmup:
                out[name].samples.append(seconds)
                if rss:
                    out[name].rss.append(rss)
    return out


def copy_store(
    source: Path, parent: Path, name: str, *, keep_hook: bool = True
) -> Path:
    """A private copy of the fixture store (a reference's copy runs no vpa hook)."""
    target = parent / name
    shutil.copytree(source, target, symlinks=True)
    if not keep_hook:
        (target / ".git" / "hooks" / "pre-commit").unlink(missing_ok=True)
    return target


def replicas_text(path: Path, value: int) -> bytes:
    """The file with ``service.replicas`` set to ``value``, by text substitution."""
    text = path.read_text()
    return re.sub(r"(?m)^(  replicas: )\d+", rf"\g<1>{value}", text, count=1).encode()


# --- jobs: commit one key change, in-process -----------------------------------


def job_commit(store_path: Path, work: Path, reps: int) -> Job:
    asked, reps = reps, max(reps, COMMIT_REPS)  # milliseconds each: more steady
    import pygit2
    from dulwich import porcelain
    from dulwich.repo import Repo

    from vpa_config.store import ConfigStore

    paths = {
        name: copy_store(store_path, work, f"commit-{name}", keep_hook=False)
        for name in ("vpa", "pygit2", "pygit2-fsync", "git", "dulwich")
    }
    env = child_env()
    store = ConfigStore.open(paths["vpa"])
    sig = pygit2.Signature("Bench", "bench@example.org")
    repo2 = pygit2.Repository(str(paths["pygit2"]))
    repo_synced = pygit2.Repository(str(paths["pygit2-fsync"]))
    drepo = Repo(str(paths["dulwich"]))

    def vpa(rep: int) -> float:
        return timed(
            lambda: store.set(
                FILE, KEY, 100 + rep, actor="Bench <bench@example.org>", reason="bench"
            )
        )

    def vpa_back_to_back(rep: int) -> float:
        """Ten changes in a row, and the fsyncs they leave to a background
        thread (each journal durable meanwhile), per change: each change
        waits at the lock for the last one's."""

        def changes() -> None:
            for step in range(10):
                store.set(
                    FILE, KEY, 300 + rep * 10 + step,
                    actor="Bench <bench@example.org>", reason="bench",
                )
            store.flush()

        return timed(changes) / 10

    def libgit2(rep: int) -> float:
        content = replicas_text(paths["pygit2"] / FILE, 100 + rep)

        def commit() -> None:
            (paths["pygit2"] / FILE).write_bytes(content)
            repo2.index.add(FILE)
            repo2.index.write()
            tree = repo2.index.write_tree()
            repo2.create_commit(
                "HEAD", sig, sig, f"set {FILE} {KEY}", tree, [repo2.head.target]
            )

        return timed(commit)

    def libgit2_synced(rep: int) -> float:
        """libgit2 with its fsyncs on (objects, refs, index), the file synced too:
        the durability vpa-config gives every change."""
        where = paths["pygit2-fsync"]
        content = replicas_text(where / FILE, 100 + rep)
        fsync_option = pygit2.enums.Option.ENABLE_FSYNC_GITDIR

        def commit() -> None:
            with open(where / FILE, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            repo_synced.index.add(FILE)
            repo_synced.index.write()
            tree = repo_synced.index.write_tree()
            repo_synced.create_commit(
                "HEAD", sig, sig, f"set {FILE} {KEY}", tree, [repo_synced.head.target]
            )

        pygit2.option(fsync_option, True)
        try:
            return timed(commit)
        finally:
            pygit2.option(fsync_option, False)

    def git(rep: int) -> float:
        content = replicas_text(paths["git"] / FILE, 100 + rep)
        cwd = paths["git"]

        def commit() -> None:
            (cwd / FILE).write_bytes(content)
            subprocess.run(["git", "add", FILE], cwd=cwd, env=env, check=True)
            subprocess.run(
                ["git", "commit", "-q", "-m", f"set {FILE} {KEY}"],
                cwd=cwd,
                env=env,
                check=True,
            )

        return timed(commit)

    def dulwich_porcelain(rep: int) -> float:
        content = replicas_text(paths["dulwich"] / FILE, 100 + rep)

        def commit() -> None:
            (paths["dulwich"] / FILE).write_bytes(content)
            porcelain.add(drepo, [str(paths["dulwich"] / FILE)])
            porcelain.commit(
                drepo,
                message=f"set {FILE} {KEY}".encode(),
                author=b"Bench <bench@example.org>",
                committer=b"Bench <bench@example.org>",
            )

        return timed(commit)

    try:
        rows = alternate(
            {
                "vpa-config set (validate+write+commit)": vpa,
                "vpa-config, 10 sets back to back, per set (with their fsyncs)": (
                    vpa_back_to_back
                ),
                "pygit2 (libgit2)": libgit2,
                "pygit2 with fsync (as durable as vpa-config)": libgit2_synced,
                "git CLI add+commit": git,
                "dulwich porcelain add+commit": dulwich_porcelain,
            },
            reps,
        )
    finally:
        store.close()
        drepo.close()
    return Job(
        "commit",
        f"commit one key change, in-process, at {REVISIONS:,} revisions",
        list(rows.values()),
        "vpa-config set (validate+write+commit)",
        "faster than git CLI; within 2.5x of pygit2",
        [
            *([f"{reps} repetitions per engine (a job of milliseconds: more "
               "than the others)"] if reps > asked else []),
            "references write the file, stage it and commit; vpa-config also "
            "parses, edits round-trip, validates and fsyncs",
            "a set returns once its journal (which carries all it wrote) is "
            "fsynced; its other 13 fsyncs follow on a background thread that "
            "holds the store lock (the back-to-back row includes them)",
            "the target is against pygit2 as it runs by default, without fsync; "
            "the fsync row turns on GIT_OPT_ENABLE_FSYNC_GITDIR and syncs the file",
        ],
    )


# --- jobs: set as a whole process, against etckeeper ---------------------------


def job_set_process(store_path: Path, work: Path, reps: int) -> Job:
    env = child_env()
    vpa_dir = copy_store(store_path, work, "setp-vpa")
    git_dir = copy_store(store_path, work, "setp-git", keep_hook=False)
    cases: dict[str, Callable[[int], tuple[float, int]]] = {
        "vpa-config set": lambda rep: run_process(
            [
                *VPA,
                "--store",
                str(vpa_dir),
                "set",
                FILE,
                KEY,
                str(200 + rep),
                "-m",
                "bench",
            ],
            env=env,
        ),
    }

    def git(rep: int) -> tuple[float, int]:
        (git_dir / FILE).write_bytes(replicas_text(git_dir / FILE, 200 + rep))
        return run_process(
            ["sh", "-c", f"git add {FILE} && git commit -q -m bench"],
            cwd=git_dir,
            env=env,
        )

    cases["git add && git commit (sh)"] = git
    notes = []
    etck = shutil.which("etckeeper")
    if etck:
        etc_dir = copy_store(store_path, work, "setp-etckeeper", keep_hook=False)
        try:
            _etckeeper_init(etc_dir, env)

            def etckeeper(rep: int) -> tuple[float, int]:
                (etc_dir / FILE).write_bytes(replicas_text(etc_dir / FILE, 200 + rep))
                return run_process(
                    [etck, "commit", "-d", str(etc_dir), "bench"], env=env
                )

            cases["etckeeper commit"] = etckeeper
        except (OSError, RuntimeError) as exc:
            notes.append(f"etckeeper skipped: {str(exc)[:120]}")
    else:
        notes.append("etckeeper skipped: not installed (apt-get install etckeeper)")
    rows = alternate(cases, reps)
    notes.append(
        "vpa-config parses the value, edits round-trip, validates, commits "
        "and fsyncs; the references only commit the file written before"
    )
    return Job(
        "set-process",
        f"change one key, whole process, at {REVISIONS:,} revisions",
        list(rows.values()),
        "vpa-config set",
        "faster than etckeeper commit",
        notes,
    )


def _etckeeper_init(directory: Path, env: dict[str, str]) -> None:
    run_process(["etckeeper", "init", "-d", str(directory)], env=env)
    run_process(
        ["etckeeper", "commit", "-d", str(directory), "etckeeper init"], env=env
    )


# --- jobs: restore a revision far back ----------------------------------------


def job_restore(store_path: Path, work: Path, reps: int) -> Job:
    from vpa_config.store import ConfigStore

    env = child_env()
    vpa_dir = copy_store(store_path, work, "restore-vpa")
    process_dir = copy_store(store_path, work, "restore-vpa-process")
    git_dir = copy_store(store_path, work, "restore-git", keep_hook=False)
    store = ConfigStore.open(vpa_dir)

    # Each repetition restores a revision 5,000 back from where the store is:
    # the original head's ancestor, then the original head again, in turn.
    far = _output(["git", "-C", str(git_dir), "rev-parse", f"HEAD~{RESTORE_BACK}"])
    near = _output(["git", "-C", str(git_dir), "rev-parse", "HEAD"])

    def vpa(rep: int) -> float:
        target = far if rep % 2 == 0 else near
        return timed(
            lambda: store.restore(
                target, actor="Bench <bench@example.org>", reason="bench"
            )
        )

    def vpa_process(rep: int) -> tuple[float, int]:
        target = far if rep % 2 == 0 else near
        argv = [*VPA, "--store", str(process_dir), "restore", target, "-m", "bench"]
        return run_process(argv, env=env)

    def git(rep: int) -> float:
        target = far if rep % 2 == 0 else near

        def restore() -> None:
            subprocess.run(
                ["git", "checkout", target, "--", "."],
                cwd=git_dir,
                env=env,
                check=True,
                capture_output=True,
            )
            subprocess.run(
                ["git", "commit", "-q", "-m", f"restore from {target[:12]}"],
                cwd=git_dir,
                env=env,
                check=True,
            )

        return timed(restore)

    try:
        # Two warm-up rounds: one restore to each of the two revisions, so
        # that the facts of both are cached (blobcache.py), as they are in a
        # store whose files were committed through vpa-config.
        rows = alternate(
            {
                "vpa-config restore (validates every file)": vpa,
                "git checkout REV -- . && git commit": git,
                "vpa-config restore REV (whole process)": vpa_process,
            },
            reps,
            warmup=2,
        )
    finally:
        store.close()
    return Job(
        "restore",
        f"restore the revision {RESTORE_BACK:,} back, as a new commit",
        list(rows.values()),
        "vpa-config restore (validates every file)",
        "within 2x of the git CLI",
        [
            "the full hash is given to both; vpa-config validates each restored file "
            "(verdicts by blob id from the cache after two warm-up rounds, one "
            "restore to each revision)",
            "the git row runs two processes (checkout, commit); the whole-process "
            "row is one vpa-config process, interpreter start included",
        ],
    )


# --- jobs: start-up and peak memory ------------------------------------------


def startup_cases(store_dir: Path) -> dict[str, list[str]]:
    store = ["--store", str(store_dir)]
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "vpa-config --version": [*VPA, "--version"],
        "vpa-config --help": [*VPA, "--help"],
        f"vpa-config get {FILE} {KEY}": [*VPA, *store, "get", FILE, KEY],
        "vpa-config log -n 20": [*VPA, *store, "log", "-n", "20"],
        "git log -20": ["git", "-C", str(store_dir), "log", "-20"],
    }


def job_startup(store_path: Path, work: Path, reps: int) -> Job:
    env = child_env()
    store_dir = copy_store(store_path, work, "startup-vpa")  # never the fixture
    cases = {
        name: (lambda rep, argv=argv: run_process(argv, env=env))
        for name, argv in startup_cases(store_dir).items()
    }
    rows = alternate(cases, reps)
    return Job(
        "startup",
        "start a process and do one small thing (whole process)",
        list(rows.values()),
        "python -c pass",
        "--version and --help under 4x python -c pass",
        ["ratios here are to the bare interpreter"],
    )


def job_memory(store_path: Path, work: Path, reps: int) -> Job:
    env = child_env()
    mem_dir = copy_store(store_path, work, "memory-vpa")
    store = ["--store", str(mem_dir)]
    target = _output(["git", "-C", str(mem_dir), "rev-parse", f"HEAD~{RESTORE_BACK}"])
    argvs = {
        "vpa-config --version": [*VPA, "--version"],
        f"vpa-config get {FILE}": [*VPA, *store, "get", FILE],
        "vpa-config log -n 20": [*VPA, *store, "log", "-n", "20"],
        f"vpa-config log (all {REVISIONS:,})": [*VPA, *store, "log"],
        f"vpa-config log {FILE}": [*VPA, *store, "log", FILE],
        "vpa-config status": [*VPA, *store, "status"],
        "vpa-config set": [*VPA, *store, "set", FILE, KEY, "5", "-m", "bench"],
        "vpa-config restore REV": [*VPA, *store, "restore", target, "-m", "bench"],
        f"vpa-config audit {FILE} {KEY}": [*VPA, *store, "audit", FILE, KEY],
        f"vpa-config blame {FILE}": [*VPA, *store, "blame", FILE],
        "vpa-config verify": [*VPA, *store, "verify"],
    }
    # A store whose changes were all made through vpa-config has its key index
    # current; the fixture's commits were written directly, so build it once,
    # untimed, as such a store would already have it.
    run_process([*VPA, *store, "audit", FILE, KEY], env=env)
    rows = []
    notes = ["the key index is built once before measuring (untimed)"]
    for name, argv in argvs.items():
        row = Row("memory", name)
        try:
            seconds, rss = run_process(argv, env=env)
        except RuntimeError as exc:
            text = str(exc)
            why = "not in this build" if "not available" in text else text[-90:]
            notes.append(f"{name}: skipped ({why})")
            continue
        row.samples.append(seconds)
        row.rss.append(rss)
        rows.append(row)
    return Job(
        "memory",
        f"peak memory of each command on the {REVISIONS:,}-revision store",
        rows,
        "vpa-config --version",
        "every command under 150 MiB",
        notes,
    )


# --- the table ---------------------------------------------------------------


def fmt_time(seconds: float) -> str:
    if seconds != seconds:
        return "-"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 0.001:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def render(job: Job) -> str:
    """A Markdown table: median, ratio to the base row, peak memory."""
    base = next((row for row in job.rows if row.engine == job.base), None)
    lines = [f"### {job.name}: {job.title}", ""]
    if job.target:
        lines += [f"Target: {job.target}.", ""]
    if job.name == "memory":
        lines += ["| command | peak RSS | wall time |", "|---|---:|---:|"]
        for row in job.rows:
            lines.append(
                f"| `{row.engine}` | {max(row.rss) / MIB:.1f} MiB | "
                f"{fmt_time(row.median)} |"
            )
    else:
        ratio_head = f"x {job.base}" if job.name == "startup" else "ratio (ref / vpa)"
        lines += [
            f"| engine | median | {ratio_head} | peak RSS |",
            "|---|---:|---:|---:|",
        ]
        for row in job.rows:
            if base is None or not base.samples:
                ratio = "-"
            elif job.name == "startup":
                ratio = f"{row.median / base.median:.2f}"
            else:
                ratio = f"{row.median / base.median:.2f}"
            rss = f"{max(row.rss) / MIB:.0f} MiB" if row.rss else "-"
            lines.append(f"| {row.engine} | {fmt_time(row.median)} | {ratio} | {rss} |")
    lines += [""] + [f"- {note}" for note in job.notes] + ([""] if job.notes else [])
    verdict = judge(job)
    if verdict:
        lines += [verdict, ""]
    return "\n".join(lines)


# --- whether each job met its target ------------------------------------------

# Set by main (and bench_history's): on --quick's tiny store nothing is judged.
QUICK = False


def set_quick(quick: bool) -> None:
    """Whether this run is --quick's (its figures are not judged)."""
    global QUICK
    QUICK = quick


def judge(job: Job) -> str:
    """One line: the job's target met or not, with the figures that decide it."""
    rule = VERDICTS.get(job.name)
    if rule is None:
        return ""
    if QUICK:
        return "Verdict: not judged (--quick: the targets are for the full store)."
    try:
        checks = rule({row.engine: row for row in job.rows})
    except (KeyError, StopIteration, ValueError, ZeroDivisionError):
        return "Verdict: not judged (a row it needs was not measured)."
    return verdict_line(checks)


def verdict_line(checks: list[tuple[str, bool]]) -> str:
    """``Verdict: met: ...`` (or NOT met) from each (claim, whether it held)."""
    met = all(ok for _claim, ok in checks)
    claims = "; ".join(
        f"{claim} {'(met)' if ok else '(NOT met)'}" for claim, ok in checks
    )
    return f"Verdict: {'met' if met else 'NOT met'}: {claims}."


def _median(rows: dict[str, Row], start: str) -> float:
    """The median of the one row whose engine starts with ``start``."""
    found = next(row for name, row in rows.items() if name.startswith(start))
    if not found.samples:
        raise ValueError(start)
    return found.median


def _times(factor: float) -> str:
    return f"{factor:.2f}x"


def _commit_checks(rows: dict[str, Row]) -> list[tuple[str, bool]]:
    vpa = _median(rows, "vpa-config set")
    git, libgit2 = _median(rows, "git CLI"), _median(rows, "pygit2 (libgit2)")
    return [
        (f"the git CLI takes {_times(git / vpa)} vpa-config's time", vpa < git),
        (f"vpa-config takes {_times(vpa / libgit2)} pygit2's, at most 2.50x",
         vpa <= 2.5 * libgit2),
    ]


def _set_process_checks(rows: dict[str, Row]) -> list[tuple[str, bool]]:
    vpa, etckeeper = _median(rows, "vpa-config set"), _median(rows, "etckeeper")
    return [(f"etckeeper commit takes {_times(etckeeper / vpa)} vpa-config set's time",
             vpa < etckeeper)]


def _restore_checks(rows: dict[str, Row]) -> list[tuple[str, bool]]:
    vpa, git = _median(rows, "vpa-config restore ("), _median(rows, "git checkout")
    return [(f"vpa-config takes {_times(vpa / git)} the git CLI's time, at most 2.00x",
             vpa <= 2 * git)]


def _startup_checks(rows: dict[str, Row]) -> list[tuple[str, bool]]:
    bare = _median(rows, "python -c pass")
    return [
        (f"{name} takes {_times(_median(rows, name) / bare)} python -c pass, under 4x",
         _median(rows, name) < 4 * bare)
        for name in ("vpa-config --version", "vpa-config --help")
    ]


def _memory_checks(rows: dict[str, Row]) -> list[tuple[str, bool]]:
    ours = {name: max(row.rss) for name, row in rows.items()
            if "vpa-config" in name and row.rss}
    name = max(ours, key=ours.__getitem__)
    return [(f"the most is {ours[name] / MIB:.1f} MiB ({name}), under 150 MiB",
             ours[name] < 150 * MIB)]


def _no_slower(ours: str, reference: str):
    def checks(rows: dict[str, Row]) -> list[tuple[str, bool]]:
        vpa, ref = _median(rows, ours), _median(rows, reference)
        return [(f"{ours} takes {_times(vpa / ref)} the time of {reference}",
                 vpa <= ref)]

    return checks


def _history_checks(ours: str, pipeline: str):
    def checks(rows: dict[str, Row]) -> list[tuple[str, bool]]:
        vpa, git = _median(rows, ours), _median(rows, pipeline)
        return [
            (f"{fmt_time(vpa)}, under 0.5 s", vpa < 0.5),
            (f"the git pipeline takes {_times(git / vpa)} its time, at least 5x",
             git >= 5 * vpa),
        ]

    return checks


def _cold_checks(rows: dict[str, Row]) -> list[tuple[str, bool]]:
    row = next(row for name, row in rows.items() if "rebuilds" in name)
    return [(f"the rebuild's peak is {max(row.rss) / MIB:.1f} MiB, under 150 MiB",
             max(row.rss) < 150 * MIB)]


VERDICTS = {
    "commit": _commit_checks,
    "set-process": _set_process_checks,
    "restore": _restore_checks,
    "startup": _startup_checks,
    "memory": _memory_checks,
    "log-all": _no_slower("vpa-config log (process)", "git log --name-only"),
    "file-history": _no_slower("vpa-config log FILE (process)", "git log -- FILE"),
    "audit": _history_checks("vpa-config audit FILE KEY (process)", "git pipeline"),
    "blame": _history_checks("vpa-config blame FILE (process)", "git pipeline"),
    "audit-cold": _cold_checks,
}


def interpreter() -> str:
    """The measuring interpreter, and the .pth files its start-up runs.

    Every Python process measured pays for those files (a .pth line can import
    anything), so the header names them.
    """
    import site

    kind = "virtual environment" if sys.prefix != sys.base_prefix else "system"
    folders = site.getsitepackages()
    if site.ENABLE_USER_SITE:
        folders.append(site.getusersitepackages())
    found = sorted(
        path.name for folder in folders if os.path.isdir(folder)
        for path in Path(folder).glob("*.pth")
    )
    runs = ", ".join(found) if found else "no .pth files"
    return f"{sys.executable} ({kind}; its start-up runs {runs})"


def header(reps: int, fixture: str) -> str:
    found = versions()
    listed = ", ".join(f"{name} {version}" for name, version in found.items())
    stamp = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    return (
        f"## vpa-config benchmarks, {stamp} UTC\n\n"
        f"Machine: {machine()}.  \nInterpreter: {interpreter()}.  \n"
        f"Versions: {listed}.  \n"
        f"Fixture: {fixture}; {reps} repetitions per engine, alternating, after one "
        "warm-up; medians; dirty pages written out (sync, untimed) before each "
        "case.  \nvpa-config fsyncs objects, files and refs; git and libgit2 do "
        "not by default.\n"
    )


# --- main ----------------------------------------------------------------------


RUNNERS: dict[str, Callable[[Path, Path, int], Job]] = {
    "commit": job_commit,
    "set-process": job_set_process,
    "restore": job_restore,
    "startup": job_startup,
    "memory": job_memory,
}
COMPANIONS = {
    "validate": "bench_validate.py",
    "history": "bench_history.py",
    "health": "bench_health.py",
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a tiny store (10 files x 200 revisions) and 2 repetitions",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=JOBS,
        metavar="JOB",
        help=f"run only this job (repeatable): {', '.join(JOBS)}",
    )
    parser.add_argument(
        "--reps", type=positive, help="repetitions per engine (default 7, quick 2)"
    )
    return parser.parse_args(argv)


def positive(text: str) -> int:
    """An argparse type: a whole number of 1 or more."""
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 1 or more")
    return number


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    reps = args.reps or (2 if args.quick else 7)
    files, revisions = (10, 200) if args.quick else (50, 10_000)
    global COMMIT_REPS, RESTORE_BACK, REVISIONS
    REVISIONS = revisions
    if args.quick:
        COMMIT_REPS = 0
        RESTORE_BACK = 100
    set_quick(args.quick)
    selected = args.only or list(JOBS)
    started = time.perf_counter()
    compile_checkout()
    store_path = history_store(files=files, revisions=revisions)
    fixture = f"{files} YAML files x {revisions:,} revisions ({store_path.name})"
    print(header(reps, fixture), flush=True)
    with tempfile.TemporaryDirectory(prefix="vpa-bench-") as tmp:
        for name in selected:
            if name in COMPANIONS:
                continue
            job = RUNNERS[name](store_path, Path(tmp), reps)
            print(render(job), flush=True)
    for name, script in COMPANIONS.items():
        if name in selected:
            run_companion(name, script, args.quick, args.reps)
    print(f"(all jobs in {time.perf_counter() - started:.0f} s)")
    return 0


def run_companion(name: str, script: str, quick: bool, reps: int | None) -> None:
    path = HERE / script
    if not path.is_file():
        print(f"### {name}: not run ({script} is not in this checkout)\n", flush=True)
        return
    # Its own header would repeat the one printed above.
    argv = [sys.executable, str(path), "--no-header"] + (["--quick"] if quick else [])
    if reps and name in ("history", "validate"):  # health has its own count
        argv += ["--reps", str(reps)]
    done = subprocess.run(argv, env=child_env(), check=False)
    if done.returncode != 0:
        print(f"### {name}: {script} exited {done.returncode}\n", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
