"""The learning-rate schedules."""

from __future__ import annotations

import pytest

from superres.train.optim import learning_rate
from superres.train.recipe import ScheduleConfig


def test_learning_rate_schedules():
    assert learning_rate(ScheduleConfig("multistep", [10, 20], 0.5), 1.0, 9, 30) == 1.0
    assert learning_rate(ScheduleConfig("multistep", [10, 20], 0.5), 1.0, 25, 30) == 0.25
    cosine = ScheduleConfig("cosine", min_lr=0.0)
    assert learning_rate(cosine, 1.0, 0, 100) == 1.0 and learning_rate(cosine, 1.0, 50, 100) == pytest.approx(
        0.5
    )
    assert learning_rate(ScheduleConfig("constant", warmup=4), 1.0, 1, 100) == 0.5
