"""Work on several items at once, bounded: the one way builder runs things concurrently within a command.

Publishing to several clouds or registries is waiting on the network, so threads do it, at most `jobs` at a
time, each item's work told through `cancel` when it should stop. The results come back in the items' order,
whatever order they finish in. Ctrl-C or SIGTERM (or an error) sets `cancel` for the running ones, never starts
the waiting ones, and waits for the running ones to return, so each cleans up after itself (a half-made upload
deleted) before the interrupt goes on.
"""
from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

from .host import terminate_as_interrupt

Item = TypeVar("Item")
Result = TypeVar("Result")


def each_bounded(items: Sequence[Item], work: Callable[[Item, threading.Event], Result], jobs: int, *, name: str,
                 finished: Callable[[Item, Result], None] | None = None) -> list[Result]:
    """work(item, cancel) for every item, at most `jobs` at a time; the results in the items' order.

    `finished(item, result)` runs in the calling thread as each one finishes (to say and record it as it comes).
    An exception from `work` or `finished`, Ctrl-C or SIGTERM: `cancel` is set, the waiting items never start,
    the running ones are waited for, then the exception goes on."""
    if not items:
        return []
    cancel = threading.Event()
    running = threading.Condition()
    active = 0

    def one(item: Item) -> Result | None:
        nonlocal active
        with running:
            if cancel.is_set():  # stopped before its turn came
                return None
            active += 1
        try:
            return work(item, cancel)
        finally:
            with running:
                active -= 1
                running.notify_all()

    results: dict[int, Result] = {}
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(jobs, len(items))), thread_name_prefix=name)
    try:
        with terminate_as_interrupt():
            futures = {pool.submit(one, item): index for index, item in enumerate(items)}
            pending = set(futures)
            while pending:
                # a short timeout: the calling thread keeps returning to Python, where Ctrl-C and SIGTERM arrive
                done, pending = concurrent.futures.wait(pending, timeout=0.5, return_when=concurrent.futures.FIRST_COMPLETED)
                for future in sorted(done, key=futures.__getitem__):
                    index = futures[future]
                    results[index] = future.result()  # type: ignore[assignment]  # None only once cancelled
                    if finished is not None:
                        finished(items[index], results[index])
    except BaseException:
        with running:
            cancel.set()
            running.wait_for(lambda: active == 0)
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return [results[index] for index in range(len(items))]
