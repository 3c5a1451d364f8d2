"""Stopping a training run cleanly on Ctrl-C (SIGINT) or a scheduler's SIGTERM: the first signal
asks the loop to stop after the step under way (which then checkpoints); a second one
interrupts at once, as without this."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass
class StopRequest:
    """Set by a stop signal: the signal's number, or None while none came."""

    signal_number: int | None = None

    @property
    def requested(self) -> bool:
        return self.signal_number is not None

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signal_number).name if self.signal_number is not None else ""


@contextmanager
def stop_on_signals(enabled: bool = True) -> Iterator[StopRequest]:
    """A StopRequest that SIGINT and SIGTERM set while the block runs (in the main thread only,
    where Python delivers signals); the previous handlers come back on the first signal and at
    the end."""
    request = StopRequest()
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = {number: signal.getsignal(number) for number in STOP_SIGNALS}

    def restore() -> None:
        for number, handler in previous.items():
            signal.signal(number, handler)

    def handle(number: int, frame: object) -> None:
        request.signal_number = number
        restore()  # a second signal acts as it would have

    for number in STOP_SIGNALS:
        signal.signal(number, handle)
    try:
        yield request
    finally:
        restore()
