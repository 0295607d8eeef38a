"""The worker threads that run a change's fsyncs and closes (workers.py)."""

from __future__ import annotations

import os
import threading

import pytest

from vpa_config.workers import Workers


def test_a_job_gives_its_return_value_and_its_exception() -> None:
    workers = Workers(2, "test")

    done = workers.submit(sum, [1, 2, 3])
    failed = workers.submit(os.fsync, 987654)  # not an open descriptor

    assert done.result() == 6
    assert done.result() == 6  # asked again: the same answer
    with pytest.raises(OSError):
        failed.result()


def test_calls_run_at_once_up_to_the_size() -> None:
    workers = Workers(4, "test")
    # Four calls that can only end when all four are running together.
    together = threading.Barrier(4, timeout=30)

    jobs = [workers.submit(together.wait) for _ in range(4)]

    assert sorted(job.result() for job in jobs) == [0, 1, 2, 3]
    names = {thread.name for thread in threading.enumerate()}
    assert {f"test-{n}" for n in range(1, 5)} <= names
    assert "test-5" not in names


def test_more_calls_than_threads_all_run_in_order_of_arrival() -> None:
    workers = Workers(1, "test-one")
    seen: list[int] = []

    jobs = [workers.submit(seen.append, number) for number in range(50)]

    for job in jobs:
        job.result()
    assert seen == list(range(50))
