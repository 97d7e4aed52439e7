"""builder.workers.each_bounded: the one concurrency helper (Glance regions, registry hosts, mirrors)."""
from __future__ import annotations

import os
import signal
import threading

import pytest

from builder.workers import each_bounded

PATIENCE = 30  # seconds a worker waits for what is sure to come


def test_at_most_jobs_run_at_once_all_run_and_the_results_keep_the_items_order():
    running, most, finished_order = 0, 0, []
    lock = threading.Lock()
    together = threading.Barrier(3, timeout=PATIENCE)  # broken unless 3 run at the same time
    others_done = threading.Event()

    def work(item: int, cancel: threading.Event) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        if item < 3:
            together.wait()
        if item == 0:  # the first item finishes last
            assert others_done.wait(PATIENCE)
        with lock:
            running -= 1
        return item * 10

    def finished(item: int, result: int) -> None:
        assert threading.current_thread() is threading.main_thread()
        finished_order.append(item)
        if len(finished_order) == 8:
            others_done.set()

    assert each_bounded(list(range(9)), work, jobs=3, name="test", finished=finished) == [i * 10 for i in range(9)]
    assert most == 3
    assert finished_order[-1] == 0 and sorted(finished_order) == list(range(9))
    assert each_bounded([], work, jobs=3, name="test") == []


def test_an_error_cancels_the_running_skips_the_waiting_and_goes_on():
    started, cancelled = [], []

    def work(item: int, cancel: threading.Event) -> int:
        started.append(item)
        if item == 0:
            return item
        if cancel.wait(PATIENCE):
            cancelled.append(item)
        return item

    def finished(item: int, result: int) -> None:
        raise RuntimeError(f"stop after {item}")

    with pytest.raises(RuntimeError, match="stop after 0"):
        each_bounded(list(range(5)), work, jobs=2, name="test", finished=finished)
    assert started[0] == 0 and sorted(cancelled) == sorted(started[1:]) and len(started) < 5


def test_sigterm_cancels_like_ctrl_c_and_the_running_clean_up_first():
    started, cleaned = [], []

    def work(item: int, cancel: threading.Event) -> int:
        started.append(item)
        if item == 0:
            os.kill(os.getpid(), signal.SIGTERM)  # the calling thread gets it, as from a service manager
        if cancel.wait(PATIENCE):
            cleaned.append(item)
        return item

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        each_bounded(list(range(6)), work, jobs=2, name="test")
    # every one that started was told and returned before the interrupt went on; the waiting ones never started
    assert 0 in started and sorted(cleaned) == sorted(started) and len(started) <= 2
    assert signal.getsignal(signal.SIGTERM) is before
