"""builder.workers.each_bounded: the one concurrency helper (`build --jobs`, Glance regions, registry hosts, mirrors)."""
from __future__ import annotations

import os
import signal
import threading

import pytest

from builder.workers import Stopping, each_bounded

PATIENCE = 30  # seconds a worker waits for what is sure to come


@pytest.fixture
def ctrl_c():
    """SIGINT raises KeyboardInterrupt, as from a terminal (a background shell may start the tests with it ignored)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


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


def test_ctrl_c_stops_what_the_running_ones_run_and_a_later_interrupt_is_told_while_they_clean_up(ctrl_c):
    started, cleaned, said = [], [], []
    stopped, told_again = threading.Event(), threading.Event()

    def work(item: int, cancel: threading.Event) -> int:
        started.append(item)
        if item == 0:
            os.kill(os.getpid(), signal.SIGINT)
        assert stopped.wait(PATIENCE)  # a command that `cancel` alone does not stop
        if item == 0:
            os.kill(os.getpid(), signal.SIGTERM)  # interrupted again while it cleans up
            assert told_again.wait(PATIENCE)
        cleaned.append(item)
        return item

    def now() -> None:
        said.append("now")
        stopped.set()

    def again() -> None:
        said.append("again")
        told_again.set()

    with pytest.raises(KeyboardInterrupt):
        each_bounded(list(range(6)), work, jobs=2, name="test", stopping=Stopping(now, again=again))
    # the second interrupt was told and the waiting went on: every one that started returned first
    assert said == ["now", "again"]
    assert 0 in started and sorted(cleaned) == sorted(started) and len(started) <= 2


def test_a_running_one_that_outlives_the_patience_after_the_interrupt_is_escalated(ctrl_c):
    said = []
    killed = threading.Event()

    def work(item: int, cancel: threading.Event) -> int:
        if item == 0:
            os.kill(os.getpid(), signal.SIGINT)
        assert killed.wait(PATIENCE)  # it ignores `cancel` and the first stop, as a command that ignores SIGTERM
        return item

    def escalate() -> None:
        said.append("escalate")
        killed.set()

    stopping = Stopping(lambda: said.append("now"), escalate=escalate, patience=0.1)
    with pytest.raises(KeyboardInterrupt):
        each_bounded(list(range(4)), work, jobs=2, name="test", stopping=stopping)
    assert said == ["now", "escalate"]


def test_with_not_started_an_interrupt_returns_what_ran_and_the_others_as_not_started(ctrl_c):
    started, finished_items = [], []

    def work(item: int, cancel: threading.Event) -> str:
        started.append(item)
        if item == 1:
            os.kill(os.getpid(), signal.SIGINT)
        if item != 0:  # item 0 returns at once; the others run until told to stop, then clean up
            assert cancel.wait(PATIENCE)
        return f"ran {item}"

    def finished(item: int, result: str) -> None:
        assert result == f"ran {item}"
        finished_items.append(item)

    results = each_bounded(list(range(8)), work, jobs=2, name="test", finished=finished,
                           not_started=lambda item: f"not started {item}")
    assert results == [f"ran {i}" if i in started else f"not started {i}" for i in range(8)]
    # item 1 returned while the interrupt waited for it: it went through `finished` like the others that ran
    assert 1 in started and len(started) <= 3 and sorted(finished_items) == sorted(started)


def test_with_not_started_an_error_still_goes_on():
    def work(item: int, cancel: threading.Event) -> int:
        if item == 2:
            raise RuntimeError("item 2 failed")
        return item

    with pytest.raises(RuntimeError, match="item 2 failed"):
        each_bounded(list(range(4)), work, jobs=1, name="test", not_started=lambda item: -1)
