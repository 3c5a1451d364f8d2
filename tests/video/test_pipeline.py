"""The three overlapped stages: order kept, few items in flight, errors raised in the caller."""

from __future__ import annotations

import threading

import pytest

from superres.video.pipeline import run_pipeline


def test_order_kept_and_items_in_flight_bounded():
    produced, consumed, ahead = [], [], []

    def items():
        for index in range(50):
            produced.append(index)
            yield index

    def consume(item):
        ahead.append(len(produced) - len(consumed))
        consumed.append(item)

    run_pipeline(items(), lambda x: x * 2, consume, depth=2)
    assert consumed == [2 * i for i in range(50)]
    assert max(ahead) <= 2 + 2 + 3  # two queues, one item in each stage's hands


@pytest.mark.parametrize("where", ["items", "work", "consume"])
def test_an_error_in_any_stage_stops_all_and_is_raised(where):
    closed = threading.Event()

    def items():
        try:
            for index in range(1000):
                if where == "items" and index == 5:
                    raise ValueError("bad frame")
                yield index
        finally:
            closed.set()

    def work(item):
        if where == "work" and item == 5:
            raise ValueError("bad frame")
        return item

    def consume(item):
        if where == "consume" and item == 5:
            raise ValueError("bad frame")

    with pytest.raises(ValueError, match="bad frame"):
        run_pipeline(items(), work, consume, depth=2)
    assert closed.is_set()  # the decoder's generator (its file) was closed
    assert not [t for t in threading.enumerate() if t.name in ("superres-decode", "superres-upscale")]
