"""History beside the git CLI: log -20, whole log, file history, audit, blame, memory.

    python benchmarks/bench_history.py            # the 50 x 10,000 store
    python benchmarks/bench_history.py --quick    # 10 x 200, 2 repetitions

vpa-config runs twice in every job: as an in-process library call on an open
store, and as a whole ``vpa-config`` process. The references are the git CLI
doing the nearest job: ``git log -20``, ``git log`` (with ``--name-only``
for the files each revision changed, which vpa-config lists),
``git log -- FILE``, ``git log -L``
and ``git log -p`` on the file, and for the key-level jobs a pipeline that
does what vpa-config answers (``git log --raw`` for the file's blob ids,
``git cat-file --batch`` for their contents, libyaml in Python for the key).
Every case runs once per repetition, in turn, the order reversed every other
repetition. "Warm" means the key-change index is current; "cold" deletes it
before each run, so that run rebuilds it from git first. Ratios are to the
whole-process vpa-config row of the job (above 1.00 the other is slower).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from fixtures import history_store  # noqa: E402
from run import (  # noqa: E402
    VPA,
    Job,
    Row,
    alternate,
    compile_checkout,
    copy_store,
    header,
    positive,
    render,
    run_process,
    set_quick,
    timed,
)

FILE = "services/svc-07.yaml"
KEY = "service.replicas"
INDEX = "vpa-config-history.sqlite"

# The git CLI pipeline for one key (argv: store, file, key or "*" for every
# leaf key, i.e. blame): blob ids from log --raw, contents from cat-file.
PIPELINE = r'''
import subprocess, sys, yaml
store, name, key = sys.argv[1:4]
log = subprocess.run(
    ["git", "-C", store, "log", "--raw", "--no-abbrev", "--format=C %H %an %at", "--", name],
    capture_output=True, text=True, check=True).stdout
commits, blobs = [], []
for line in log.splitlines():
    if line.startswith("C "):
        commits.append(line.split(" ", 3)[1:])
    elif line.startswith(":"):
        blobs.append(line.split()[3])
batch = subprocess.run(["git", "-C", store, "cat-file", "--batch"],
    input="".join(b + "\n" for b in blobs if set(b) != {"0"}).encode(),
    capture_output=True, check=True).stdout
docs, at = {}, 0
while at < len(batch):
    end = batch.index(b"\n", at)
    sha, _, size = batch[at:end].split()
    body = batch[end + 1:end + 1 + int(size)]
    docs[sha.decode()] = yaml.load(body, Loader=yaml.CSafeLoader)
    at = end + 2 + int(size)

def leaves(node, path=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from leaves(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from leaves(v, path + (i,))
    else:
        yield path, node

def value(doc, path):
    for part in path:
        doc = doc.get(part) if isinstance(doc, dict) else None
    return doc

states = [docs.get(b) for b in blobs][::-1]  # oldest first
paths = [tuple(key.split("."))] if key != "*" else [p for p, _ in leaves(states[-1])]
found = {}
for path in paths:
    last = None
    for number, doc in enumerate(states):
        current = value(doc, path)
        if number == 0 or current != last:
            found[path] = commits[len(states) - 1 - number]
        last = current
print(len(found))
'''


def job_log20(store: Path, reps: int) -> Job:
    from vpa_config.store import ConfigStore

    opened = ConfigStore.open(store)
    opened.log(limit=20)
    rows = alternate({
        "vpa-config library: log(limit=20)": lambda _: timed(lambda: opened.log(limit=20)),
        "vpa-config log -n 20 (process)": lambda _: run_process(
            [*VPA, "--store", str(store), "log", "-n", "20"]),
        "git log -20": lambda _: run_process(["git", "-C", str(store), "log", "-20"]),
        "python -c pass (interpreter floor)": lambda _: run_process(
            [sys.executable, "-c", "pass"]),
    }, reps)
    opened.close()
    return Job("log-20", "the newest 20 revisions", list(rows.values()),
               "vpa-config log -n 20 (process)",
               "none of its own: start-up is judged by run.py's startup job; "
               "shown beside git and the bare interpreter")


def job_log_all(store: Path, reps: int, revisions: int) -> Job:
    from vpa_config.store import ConfigStore

    opened = ConfigStore.open(store)
    opened.log()
    git_log = ["git", "-C", str(store), "log"]
    rows = alternate({
        "vpa-config library: log()": lambda _: timed(lambda: opened.log()),
        "vpa-config log (process)": lambda _: run_process(
            [*VPA, "--store", str(store), "log"]),
        "git log": lambda _: run_process(git_log),
        "git log --name-only (the files too, as vpa-config shows)": lambda _: run_process(
            [*git_log, "--name-only"]),
    }, reps)
    opened.close()
    return Job("log-all", f"every revision ({revisions:,}) with its files",
               list(rows.values()), "vpa-config log (process)",
               "no slower than git log --name-only")


def job_file_history(store: Path, reps: int) -> Job:
    from vpa_config.store import ConfigStore

    opened = ConfigStore.open(store)
    opened.log(FILE)
    rows = alternate({
        "vpa-config library: log(FILE)": lambda _: timed(lambda: opened.log(FILE)),
        "vpa-config log FILE (process)": lambda _: run_process(
            [*VPA, "--store", str(store), "log", FILE]),
        "git log -- FILE": lambda _: run_process(
            ["git", "-C", str(store), "log", "--", FILE]),
    }, reps)
    opened.close()
    return Job("file-history", f"every revision of {FILE}", list(rows.values()),
               "vpa-config log FILE (process)", "no slower than git log -- FILE")


def job_audit(store: Path, reps: int) -> Job:
    from vpa_config.store import ConfigStore

    opened = ConfigStore.open(store)
    count = len(opened.audit(FILE, KEY))
    rows = alternate({
        "vpa-config library: audit(FILE, KEY)": lambda _: timed(
            lambda: opened.audit(FILE, KEY)),
        "vpa-config audit FILE KEY (process)": lambda _: run_process(
            [*VPA, "--store", str(store), "audit", FILE, KEY]),
        "git pipeline (log --raw, cat-file --batch, libyaml)": lambda _: run_process(
            [sys.executable, "-c", PIPELINE, str(store), FILE, KEY]),
        "git log -L /replicas:/,+1:FILE": lambda _: run_process(
            ["git", "-C", str(store), "log", "-L", f"/replicas:/,+1:{FILE}"]),
        "git log -p -- FILE": lambda _: run_process(
            ["git", "-C", str(store), "log", "-p", "--", FILE]),
    }, reps)
    opened.close()
    return Job("audit", f"every change of {KEY} in {FILE} ({count} changes)",
               list(rows.values()), "vpa-config audit FILE KEY (process)",
               "under 0.5 s, at least 5x faster than the git CLI pipeline")


def job_blame(store: Path, reps: int) -> Job:
    from vpa_config.store import ConfigStore

    opened = ConfigStore.open(store)
    opened.blame(FILE)
    rows = alternate({
        "vpa-config library: blame(FILE)": lambda _: timed(lambda: opened.blame(FILE)),
        "vpa-config blame FILE (process)": lambda _: run_process(
            [*VPA, "--store", str(store), "blame", FILE]),
        "git pipeline, every leaf key": lambda _: run_process(
            [sys.executable, "-c", PIPELINE, str(store), FILE, "*"]),
        "git blame FILE (lines)": lambda _: run_process(
            ["git", "-C", str(store), "blame", FILE]),
    }, reps)
    opened.close()
    return Job("blame", f"the last change of each key of {FILE}", list(rows.values()),
               "vpa-config blame FILE (process)",
               "under 0.5 s, at least 5x faster than the git CLI pipeline")


def job_cold(store: Path, reps: int) -> Job:
    def cold(argv: list[str]) -> tuple[float, int]:
        for suffix in ("", "-wal", "-shm"):
            (store / ".git" / (INDEX + suffix)).unlink(missing_ok=True)
        return run_process(argv)

    audit = [*VPA, "--store", str(store), "audit", FILE, KEY]
    rows = alternate({
        "vpa-config audit, index deleted (rebuilds it)": lambda _: cold(audit),
        "vpa-config audit, index current": lambda _: run_process(audit),
        "git pipeline (log --raw, cat-file --batch, libyaml)": lambda _: run_process(
            [sys.executable, "-c", PIPELINE, str(store), FILE, KEY]),
    }, reps, warmup=0)
    return Job("audit-cold", "audit when the index must first be rebuilt from git",
               list(rows.values()), "vpa-config audit, index current",
               "a deleted index costs one rebuild, then answers are warm again; "
               "the rebuild's peak RSS counts toward the 150 MiB ceiling")


def job_memory(store: Path, revisions: int) -> Job:
    def rss(name: str, argv: list[str]) -> Row:
        seconds, peak = run_process(argv)
        return Row("memory", name, [seconds], [peak])

    vpa = [*VPA, "--store", str(store)]
    rows = [
        rss("vpa-config audit FILE KEY", [*vpa, "audit", FILE, KEY]),
        rss("vpa-config blame FILE", [*vpa, "blame", FILE]),
        rss("vpa-config log FILE", [*vpa, "log", FILE]),
        rss("vpa-config log -n 20", [*vpa, "log", "-n", "20"]),
        rss("vpa-config log (every revision)", [*vpa, "log"]),
        rss("git pipeline for the key", [sys.executable, "-c", PIPELINE, str(store), FILE,
                                         KEY]),
    ]
    return Job("memory", "peak resident memory (ru_maxrss of the process)", rows,
               rows[1].engine, f"audit over {revisions:,} revisions under 150 MiB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a tiny store (10 files x 200 revisions) and 2 repetitions")
    parser.add_argument(
        "--reps", type=positive, help="repetitions per case (default 9, quick 2)"
    )
    parser.add_argument("--no-header", action="store_true",
                        help="leave out the header (run.py printed it)")
    args = parser.parse_args(argv)
    # Processes here take 40-400 ms and this machine's noise comes in bursts of
    # about that length: more repetitions than run.py's jobs keep the medians.
    reps = args.reps or (2 if args.quick else 9)
    files, revisions = (10, 200) if args.quick else (50, 10_000)
    global FILE
    set_quick(args.quick)
    if args.quick:
        FILE = "services/svc-03.yaml"
    started = time.perf_counter()
    compile_checkout()
    fixture = history_store(files=files, revisions=revisions)
    if not args.no_header:
        print(header(reps, f"{files} YAML files x {revisions:,} revisions "
                           f"({fixture.name})"), flush=True)
    with tempfile.TemporaryDirectory(prefix="vpa-bench-history-") as tmp:
        store = copy_store(fixture, Path(tmp), "store")
        for suffix in ("", "-wal", "-shm"):
            (store / ".git" / (INDEX + suffix)).unlink(missing_ok=True)
        build = timed(lambda: _build_index(store))
        print(f"Index built from git in {build:.2f} s "
              f"({revisions / build:,.0f} revisions a second).\n", flush=True)
        jobs = [
            lambda: job_log20(store, reps), lambda: job_log_all(store, reps, revisions),
            lambda: job_file_history(store, reps),
            lambda: job_audit(store, reps), lambda: job_blame(store, reps),
            lambda: job_cold(store, 1), lambda: job_memory(store, revisions),
        ]
        for job in jobs:
            print(render(job()), flush=True)
        shutil.rmtree(store, ignore_errors=True)
    print(f"(history jobs in {time.perf_counter() - started:.0f} s)")
    return 0


def _build_index(store: Path) -> None:
    from vpa_config.store import ConfigStore

    opened = ConfigStore.open(store)
    opened.log(FILE)
    opened.close()


if __name__ == "__main__":
    raise SystemExit(main())
