"""Three stages overlapped: items are produced (decoded) in one thread, worked on (upscaled)
in a second, and consumed (encoded) in the caller's, with at most ``depth`` items waiting
between two stages, so memory holds a few frames whatever the video's length. Order is
kept; the first error in any stage stops all three and is raised in the caller."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from typing import TypeVar

In = TypeVar("In")
Out = TypeVar("Out")
_END = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def _put(target: queue.Queue, item: object, stop: threading.Event) -> bool:
    """Put ``item``, waiting for room unless the run stops; False if it stopped."""
    while not stop.is_set():
        try:
            target.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _produce(items: Iterable[In], out: queue.Queue, stop: threading.Event) -> None:
    try:
        for item in items:
            if not _put(out, item, stop):
                return
        _put(out, _END, stop)
    except BaseException as exc:  # handed to the caller, raised there
        _put(out, _Failed(exc), stop)
    finally:  # a generator stopped early closes (its files) in this thread
        close = getattr(items, "close", None)
        if close is not None:
            close()


def _work(work: Callable[[In], Out], source: queue.Queue, out: queue.Queue, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            item = source.get(timeout=0.1)
        except queue.Empty:
            continue
        if item is _END or isinstance(item, _Failed):
            _put(out, item, stop)
            return
        try:
            result = work(item)
        except BaseException as exc:  # handed to the caller, raised there
            _put(out, _Failed(exc), stop)
            return
        if not _put(out, result, stop):
            return


def run_pipeline(
    items: Iterable[In], work: Callable[[In], Out], consume: Callable[[Out], None], *, depth: int = 3
) -> None:
    """``consume(work(item))`` for each item in order, the three overlapped (see the module
    docstring). An error in ``items``, ``work`` or ``consume`` (or a KeyboardInterrupt in
    the caller) stops the other stages before it propagates."""
    produced: queue.Queue = queue.Queue(maxsize=depth)
    worked: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    threads = [
        threading.Thread(target=_produce, args=(items, produced, stop), name="superres-decode", daemon=True),
        threading.Thread(
            target=_work, args=(work, produced, worked, stop), name="superres-upscale", daemon=True
        ),
    ]
    for thread in threads:
        thread.start()
    try:
        while True:
            item = worked.get()
            if item is _END:
                break
            if isinstance(item, _Failed):
                raise item.error
            consume(item)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
