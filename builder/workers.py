"""Work on several items at once, bounded: the one way builder runs things concurrently within a command.

Publishing to several clouds or registries is waiting on the network, and building several specs is waiting on
commands, so threads do it, at most `jobs` at a time, each item's work told through `cancel` when it should stop.
The results come back in the items' order, whatever order they finish in. Ctrl-C or SIGTERM (or an error) sets
`cancel` for the running ones, never starts the waiting ones, and waits for the running ones to return, so each
cleans up after itself (a half-made upload deleted, a build's mounts undone) before the interrupt goes on.

Work that runs commands is stopped by more than `cancel`: `Stopping` says how (`builder build` stops every job's
commands, tells a second Ctrl-C that it is still cleaning up, and kills a command that outlives its patience). With
`not_started`, an interrupt is an outcome rather than an error: the items that never started get `not_started(item)`
and every result comes back.
"""
from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from .host import terminate_as_interrupt

Item = TypeVar("Item")
Result = TypeVar("Result")


def _nothing() -> None:
    pass


@dataclass(frozen=True)
class Stopping:
    """What Ctrl-C (or SIGTERM) does to the running items besides setting their `cancel`, in the calling thread."""

    now: Callable[[], None]                     # the first interrupt: stop what the running items run
    again: Callable[[], None] = _nothing        # each later one, while the running ones still clean up
    escalate: Callable[[], None] = _nothing     # once, when they still run `patience` seconds after `now`
    patience: float = 60.0


def each_bounded(items: Sequence[Item], work: Callable[[Item, threading.Event], Result], jobs: int, *, name: str,
                 finished: Callable[[Item, Result], None] | None = None, stopping: Stopping | None = None,
                 not_started: Callable[[Item], Result] | None = None) -> list[Result]:
    """work(item, cancel) for every item, at most `jobs` at a time; the results in the items' order.

    `finished(item, result)` runs in the calling thread as each one finishes (to say and record it as it comes).
    An exception from `work` or `finished`, Ctrl-C or SIGTERM: `cancel` is set, the waiting items never start,
    the running ones are waited for (a later Ctrl-C or SIGTERM does not stop the waiting), then the exception goes on.
    On Ctrl-C or SIGTERM, `stopping` (if given) stops the running ones' commands too. With `not_started`, Ctrl-C or
    SIGTERM returns instead of raising: the results of the items that ran (each through `finished`), and
    `not_started(item)` for the others."""
    if not items:
        return []
    cancel = threading.Event()
    running = threading.Condition()
    active = 0
    # each item's end, recorded by its own thread before it counts as no longer running (after an interrupt, an item
    # whose future the calling thread never got to hold still has its end here; not here: it never started)
    returned: dict[int, Result] = {}
    raised: dict[int, BaseException] = {}

    def one(index: int) -> None:
        nonlocal active
        with running:
            if cancel.is_set():  # stopped before its turn came
                return
            active += 1
        try:
            returned[index] = work(items[index], cancel)
        except BaseException as exc:
            raised[index] = exc
            raise
        finally:
            with running:
                active -= 1
                running.notify_all()

    def wind_down(interrupted: bool) -> None:
        """Set `cancel`, and wait until no item runs (stopping them on an interrupt, a first or a later one)."""
        interrupts, deadline = 0, None   # deadline: when `stopping.escalate` is due
        while True:
            try:
                with running:
                    cancel.set()
                if interrupted:
                    interrupted = False
                    interrupts += 1
                    if stopping is not None and interrupts == 1:
                        deadline = time.monotonic() + stopping.patience
                        stopping.now()
                    elif stopping is not None:
                        stopping.again()
                if stopping is not None and deadline is not None and time.monotonic() >= deadline:
                    deadline = None
                    stopping.escalate()
                with running:
                    # a short timeout: this thread keeps returning to Python, where Ctrl-C and SIGTERM arrive
                    if running.wait_for(lambda: active == 0, timeout=0.5):
                        return
            except KeyboardInterrupt:
                interrupted = True

    results: dict[int, Result] = {}
    futures: dict[concurrent.futures.Future[None], int] = {}
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(jobs, len(items))), thread_name_prefix=name)
    with terminate_as_interrupt():
        try:
            for index in range(len(items)):
                futures[pool.submit(one, index)] = index
            pending = set(futures)
            while pending:
                # a short timeout: the calling thread keeps returning to Python, where Ctrl-C and SIGTERM arrive
                done, pending = concurrent.futures.wait(pending, timeout=0.5, return_when=concurrent.futures.FIRST_COMPLETED)
                for future in sorted(done, key=futures.__getitem__):
                    index = futures[future]
                    future.result()  # work's exception, if it raised one
                    results[index] = returned[index]
                    if finished is not None:
                        finished(items[index], results[index])
        except BaseException as exc:
            wind_down(interrupted=isinstance(exc, KeyboardInterrupt))
            pool.shutdown(wait=False, cancel_futures=True)
            if not_started is None or not isinstance(exc, KeyboardInterrupt):
                raise
    pool.shutdown(wait=True)
    for index, item in enumerate(items):  # after an interrupt with not_started: the rest, as they ended
        if index in results:
            continue
        if index in raised:
            raise raised[index]
        if index not in returned:  # only an interrupt with not_started gets here
            assert not_started is not None
            results[index] = not_started(item)
            continue
        results[index] = returned[index]
        if finished is not None:
            finished(item, results[index])
    return [results[index] for index in range(len(items))]
