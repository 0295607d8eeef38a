"""Health endpoint latency beside a bare standard-library HTTP server.

    python benchmarks/bench_health.py            # 200 requests per row
    python benchmarks/bench_health.py --quick    # 20 requests per row

Every row is a real HTTP GET over 127.0.0.1 with ``urllib``, alternating row
by row within each round so the machine's drift hits all alike; figures are
medians. The reference is ``http.server.ThreadingHTTPServer`` answering a
fixed JSON body of the same size as vpa-config's ``/health`` report: the floor
that any endpoint built on the standard library pays. Ratios are to that
reference (above 1.00 the row is slower than the floor).

Rows: ``/health/live`` (no checks), ``/health`` and ``/metrics`` served from
the cache, ``/health`` with the cache off (every check of the example store
runs, concurrently), and ``/health`` while a hung check is registered (its
timeout passed once before timing; it must not slow the endpoint).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from vpa_config.health import HealthSettings, build_monitor, serve  # noqa: E402
from vpa_config.health.settings import CpuThresholds  # noqa: E402
from vpa_config.store import ConfigStore  # noqa: E402


def fetch(url: str) -> float:
    began = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as answer:
        answer.read()
    return time.perf_counter() - began


def static_server(body: bytes) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def measure(rows: dict[str, Callable[[], float]], rounds: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in rows}
    for _ in range(rounds):
        for name, row in rows.items():
            samples[name].append(row())
    return {name: statistics.median(values) for name, values in samples.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-header", action="store_true",
                        help="accepted for run.py; this job prints no header")
    rounds = 20 if parser.parse_args(argv).quick else 200
    release = threading.Event()
    with tempfile.TemporaryDirectory(prefix="vpa-bench-health-") as tmp:
        store, _ = ConfigStore.init(Path(tmp) / "store", example=True, actor="B <b@x>")
        quiet = CpuThresholds(degraded_percent=None)
        cached = build_monitor(store, settings=HealthSettings(cpu=quiet, cache_s=60))
        fresh = build_monitor(store, settings=HealthSettings(cpu=quiet, cache_s=0))
        hung = build_monitor(store, settings=HealthSettings(cpu=quiet, cache_s=0))
        hung.add_check("slow:thing", release.wait, timeout_s=0.5, critical=False)
        servers = [serve(m, port=0) for m in (cached, fresh, hung)]
        body = urllib.request.urlopen(servers[0].url + "/health").read()
        floor = static_server(body)
        fetch(servers[2].url + "/health")  # the hung check's one real wait
        base = f"http://127.0.0.1:{floor.server_address[1]}"
        rows = {
            "reference: static JSON, ThreadingHTTPServer": lambda: fetch(base + "/"),
            "/health/live": lambda: fetch(servers[0].url + "/health/live"),
            "/health (cached)": lambda: fetch(servers[0].url + "/health"),
            "/metrics (cached)": lambda: fetch(servers[0].url + "/metrics"),
            "/health (cache off: every check runs)": lambda: fetch(
                servers[1].url + "/health"
            ),
            "/health (cache off, one check hung)": lambda: fetch(
                servers[2].url + "/health"
            ),
        }
        medians = measure(rows, rounds)
        release.set()
        for server in servers:
            server.shutdown()
        floor.shutdown()
        for monitor in (cached, fresh, hung):
            monitor.close()
        store.close()
    reference = medians["reference: static JSON, ThreadingHTTPServer"]
    print(f"### health endpoint: median of {rounds} GETs over 127.0.0.1\n")
    print("| request | median | x reference |")
    print("|---|---|---|")
    for name, value in medians.items():
        print(f"| {name} | {value * 1000:.2f} ms | {value / reference:.2f} |")
    print(f"\n(report body {len(body):,} bytes)\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
